"""The agents: network, cluster, one Fargate service and queue per agent, and the load balancer."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.constructs.agent_network import AgentNetwork
from stacks.constructs.agent_queue import AgentQueue
from stacks.constructs.agent_service import CONTAINER_PORT, HEALTH_PATH, AgentService
from stacks.constructs.api_domain import ApiDomain
from stacks.constructs.api_firewall import ApiFirewall
from stacks.constructs.api_load_balancer import ApiLoadBalancer
from stacks.constructs.platform_secrets import PlatformSecrets
from stacks.settings import PlatformSettings

REPO_ROOT = Path(__file__).resolve().parent.parent
_ECR_URI = re.compile(r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com/(?P<repo>[^:@]+)"
                      r"(:(?P<tag>[\w.-]+)|@(?P<digest>sha256:[0-9a-f]{64}))$")


class AgentsStack(Stack):
    """Everything that runs the agents; exposes `services`, `queues`, `cluster` and `api` for observability."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: PlatformSettings,
        table: dynamodb.ITable,
        access_logs: s3.IBucket,
        secrets: PlatformSecrets,
        tool_functions: Mapping[str, lambda_.IFunction],
        log_retention: logs.RetentionDays,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        network = AgentNetwork(self, "Network", nat_gateways=settings.nat_gateways, flow_logs=access_logs)
        self.cluster = ecs.Cluster(
            self, "Cluster", vpc=network.vpc, container_insights_v2=ecs.ContainerInsights.ENABLED,
            enable_fargate_capacity_providers=settings.fargate_spot,
        )
        domain = ApiDomain(
            self, "Domain", certificate_arn=settings.certificate_arn, domain_name=settings.domain_name,
            hosted_zone_id=settings.hosted_zone_id, zone_name=settings.zone_name,
        ) if settings.https else None
        self.api = ApiLoadBalancer(
            self,
            "Api",
            vpc=network.vpc,
            certificate=domain.certificate if domain else None,
            idle_timeout_s=settings.alb_idle_timeout_s,
            access_logs=access_logs,
            public_docs=settings.api_docs,
        )
        if domain:
            domain.point_at(self.api.alb)
        self.firewall = (ApiFirewall(self, "Firewall", alb=self.api.alb, rate_limit=settings.waf_rate_limit)
                         if settings.waf else None)
        image = self._image(settings)
        self.queues: dict[str, AgentQueue] = {}
        self.services: dict[str, AgentService] = {}
        for name, size in settings.agents.items():
            agent = settings.agent_specs[name]
            queue = AgentQueue(self, f"{name}Queue", max_receive_count=settings.max_receive_count,
                               visibility_s=settings.queue_visibility_s)
            service = AgentService(
                self,
                f"{name}Agent",
                agent=agent,
                size=size,
                settings=settings,
                cluster=self.cluster,
                image=image,
                queue=queue,
                table=table,
                secrets=secrets,
                tool_functions={tool: tool_functions[tool] for tool in agent.tools},
                subnets=network.task_subnets,
                assign_public_ip=network.assign_public_ip,
                log_retention=log_retention,
            )
            self.api.route(agent=name, service=service.service, container_name=service.container.container_name,
                           port=CONTAINER_PORT, health_path=HEALTH_PATH)
            self.queues[name] = queue
            self.services[name] = service
            CfnOutput(self, f"{name}QueueUrl", value=queue.queue.queue_url)
        CfnOutput(self, "ApiBaseUrl", value=self._base_url(settings), description="Base URL of the task API")

    def _image(self, settings: PlatformSettings) -> ecs.ContainerImage:
        """The one image all agents run: a prebuilt one from `image_uri`, else built from the repo's Dockerfile."""
        if settings.image_uri:
            match = _ECR_URI.match(settings.image_uri)
            if not match:
                return ecs.ContainerImage.from_registry(settings.image_uri)
            repo = ecr.Repository.from_repository_attributes(
                self,
                "ImageRepo",
                repository_name=match["repo"],
                repository_arn=f"arn:aws:ecr:{match['region']}:{match['account']}:repository/{match['repo']}",
            )
            return ecs.ContainerImage.from_ecr_repository(repo, match["tag"] or match["digest"])
        asset = ecr_assets.DockerImageAsset(
            self,
            "Image",
            directory=str(REPO_ROOT),
            platform=ecr_assets.Platform.LINUX_ARM64 if settings.container_arm64 else ecr_assets.Platform.LINUX_AMD64,
        )
        return ecs.ContainerImage.from_docker_image_asset(asset)

    def _base_url(self, settings: PlatformSettings) -> str:
        """The domain name pointed at the load balancer if configured, else the load balancer's own name."""
        return f"{self.api.scheme}://{settings.domain_name or self.api.alb.load_balancer_dns_name}"
