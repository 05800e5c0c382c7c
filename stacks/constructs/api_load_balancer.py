"""The public entry point: one internet-facing ALB routing `/v1/agents/{name}/*` to each agent's service."""

from __future__ import annotations

from aws_cdk import Annotations, Duration
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.nag import Waiver, suppress

NO_CERTIFICATE_WARNING = (
    "No certificate_arn is configured: the API listens on plain HTTP and bearer API keys cross the "
    "internet unencrypted. Set -c certificate_arn=arn:aws:acm:... to serve HTTPS."
)


class ApiLoadBalancer(Construct):
    """HTTPS on 443 (HTTP 80 redirects) when `certificate_arn` is given, plain HTTP on 80 otherwise.

    The idle timeout is long enough for SSE streams between heartbeats. Call `route` once per
    agent; the first routed agent also takes every other path (`/healthz`, `/v1/agents`, docs).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc: ec2.IVpc,
        certificate_arn: str | None,
        idle_timeout_s: int,
        access_logs: s3.IBucket,
    ) -> None:
        super().__init__(scope, construct_id)
        self.alb = elbv2.ApplicationLoadBalancer(
            self,
            "Alb",
            vpc=vpc,
            internet_facing=True,
            idle_timeout=Duration.seconds(idle_timeout_s),
            drop_invalid_header_fields=True,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC),
        )
        self.alb.log_access_logs(access_logs, prefix="alb")
        if certificate_arn:
            self.listener = self.alb.add_listener(
                "Https",
                port=443,
                certificates=[elbv2.ListenerCertificate.from_arn(certificate_arn)],
                ssl_policy=elbv2.SslPolicy.RECOMMENDED_TLS,
                open=True,
            )
            self.alb.add_redirect(source_port=80, target_port=443)
            self.scheme = "https"
        else:
            self.listener = self.alb.add_listener("Http", port=80, open=True)
            Annotations.of(self).add_warning(NO_CERTIFICATE_WARNING)
            self.scheme = "http"
        suppress(self.alb, Waiver(
            "AwsSolutions-EC23",
            "The task API is public by design: every request needs a bearer API key, and the load balancer "
            "only forwards to the agent services."))
        self._routes = 0

    def route(self, *, agent: str, service: ecs.FargateService, container_name: str, port: int,
              health_path: str) -> elbv2.ApplicationTargetGroup:
        """Send `/v1/agents/{agent}` and everything under it to `service`; return its target group."""
        self._routes += 1
        group = elbv2.ApplicationTargetGroup(
            self,
            f"{agent}Targets",
            vpc=self.alb.vpc,
            port=port,
            protocol=elbv2.ApplicationProtocol.HTTP,
            targets=[service.load_balancer_target(container_name=container_name, container_port=port)],
            health_check=elbv2.HealthCheck(
                path=health_path,
                healthy_http_codes="200",
                interval=Duration.seconds(15),
                timeout=Duration.seconds(5),
                healthy_threshold_count=2,
                unhealthy_threshold_count=3,
            ),
            deregistration_delay=Duration.seconds(30),
        )
        self.listener.add_target_groups(
            f"{agent}Route",
            target_groups=[group],
            conditions=[elbv2.ListenerCondition.path_patterns([f"/v1/agents/{agent}", f"/v1/agents/{agent}/*"])],
            priority=10 * self._routes,
        )
        if self._routes == 1:
            self.listener.add_target_groups("Default", target_groups=[group])
        return group
