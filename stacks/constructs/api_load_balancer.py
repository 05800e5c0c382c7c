"""The public entry point: one internet-facing ALB routing `/v1/agents/{name}/*` to each agent's service."""

from __future__ import annotations

from aws_cdk import Annotations, Duration
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.nag import Waiver, suppress

NO_CERTIFICATE_WARNING = (
    "allow_http=true: the API listens on plain HTTP and bearer API keys cross the internet unencrypted; "
    "use this only for a throwaway test deployment. Set -c certificate_arn=arn:aws:acm:... or "
    "-c domain_name=... -c hosted_zone_id=... to serve HTTPS."
)


class ApiLoadBalancer(Construct):
    """HTTPS on 443 (HTTP 80 redirects) with `certificate`; plain HTTP on 80 without one (settings allow
    that only with `allow_http`, and synth warns).

    The idle timeout is long enough for SSE streams between heartbeats. Call `route` once per
    agent; the first routed agent also takes every other path (`/healthz`, `/v1/agents`, docs).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc: ec2.IVpc,
        certificate: acm.ICertificate | None,
        idle_timeout_s: int,
        access_logs: s3.IBucket,
        public_docs: bool,
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
        if certificate is not None:
            self.listener = self.alb.add_listener(
                "Https",
                port=443,
                certificates=[elbv2.ListenerCertificate.from_certificate_manager(certificate)],
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
            "The task API is public by design: every /v1 route needs a bearer API key; the only anonymous "
            "path is the /healthz liveness check, " + (
                "and the API documentation (/docs, /redoc, /openapi.json) because api_docs is set; "
                if public_docs else "and the API documentation is switched off (api_docs=false); ")
            + "the load balancer only forwards to the agent services."))
        self.target_groups: dict[str, elbv2.ApplicationTargetGroup] = {}

    def route(self, *, agent: str, service: ecs.FargateService, container_name: str, port: int,
              health_path: str) -> elbv2.ApplicationTargetGroup:
        """Send `/v1/agents/{agent}` and everything under it to `service`; return its target group."""
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
            priority=10 * (len(self.target_groups) + 1),
        )
        if not self.target_groups:
            self.listener.add_target_groups("Default", target_groups=[group])
        self.target_groups[agent] = group
        return group
