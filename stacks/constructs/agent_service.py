"""One agent as a Fargate service: API and worker in one container, scaled on its queue's work per task."""

from __future__ import annotations

import json
from collections.abc import Mapping

from aws_cdk import Aws, Duration, RemovalPolicy, Stack
from aws_cdk import aws_applicationautoscaling as autoscaling
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from agent_runtime import envnames as env
from agent_runtime.agent_file import AgentSpec, agents_document
from stacks.constructs.agent_queue import AgentQueue
from stacks.constructs.platform_secrets import PlatformSecrets, import_secret
from stacks.constructs.task_metric_filters import TaskMetricFilters
from stacks.grants import (
    grant_dead_letter,
    grant_invoke,
    grant_own_items,
    grant_secret_value,
    grant_task_protection,
    grant_trace_export,
    grant_work_queue,
)
from stacks.nag import Waiver, suppress
from stacks.settings import AgentSize, PlatformSettings

CONTAINER_PORT = 8080
CONTAINER_DATA_DIR = "/tmp/agent-platform"
HEALTH_PATH = "/healthz"
_HEALTH_COMMAND = (
    f"import urllib.request; urllib.request.urlopen('http://127.0.0.1:{CONTAINER_PORT}{HEALTH_PATH}', timeout=4)"
)


def runtime_platform(settings: PlatformSettings) -> ecs.RuntimePlatform:
    """Linux on the CPU architecture the image is built for."""
    arm64 = settings.container_arm64
    return ecs.RuntimePlatform(
        cpu_architecture=ecs.CpuArchitecture.ARM64 if arm64 else ecs.CpuArchitecture.X86_64,
        operating_system_family=ecs.OperatingSystemFamily.LINUX,
    )


def container_environment(
    *,
    agent: AgentSpec,
    settings: PlatformSettings,
    table_name: str,
    queue_url: str,
    secrets: PlatformSecrets,
    tool_functions_json: str,
) -> dict[str, str]:
    """What the runtime reads (`agent_runtime.settings.Settings`), by the names in `agent_runtime.envnames`."""
    environment = {
        env.AGENT_NAME: agent.name,
        # The deployed agents' declarations, as the CDK app read them: each service runs (and lists) exactly
        # those, whichever agents file was deployed and whatever image runs.
        env.AGENTS_JSON: json.dumps(agents_document(settings.deployed_agents), separators=(",", ":")),
        env.STORE: "dynamodb",
        env.QUEUE: "sqs",
        env.TABLE_NAME: table_name,
        env.QUEUE_URL: queue_url,
        env.API_KEYS_SECRET: secrets.api_keys_id,
        env.LLM_SECRET: secrets.llm_api_key_id,
        env.TOOL_FUNCTIONS: tool_functions_json,
        env.MODEL: agent.model or settings.model,
        env.LOG_LEVEL: settings.log_level,
        # The API documentation is anonymous, so it is off unless `api_docs` is set.
        env.API_DOCS: "true" if settings.api_docs else "false",
        # As the Dockerfile sets it, for images given as image_uri too: the container user has no home.
        env.DATA_DIR: CONTAINER_DATA_DIR,
        env.WORKER_CONCURRENCY: str(agent.concurrency or settings.worker_concurrency),
        env.APPROVAL_TIMEOUT_POLICY: settings.approval_timeout_policy,
        env.AWS_TRANSPORT: settings.aws_transport,
        # Four eyes on sensitive calls: a submitter may not approve its own (admin keys excepted).
        env.REQUIRE_SECOND_APPROVER: "true",
        # What the queue was deployed with: the worker receives with this visibility and fails a task
        # after these attempts, before SQS's redrive policy would dead-letter it silently.
        env.QUEUE_VISIBILITY_S: str(settings.queue_visibility_s),
        env.MAX_ATTEMPTS: str(settings.max_attempts),
    }
    if settings.llm_base_url:
        environment[env.OPENAI_BASE_URL] = settings.llm_base_url
    if settings.traces:
        environment.update(trace_environment(agent=agent, settings=settings))
    return environment


def trace_environment(*, agent: AgentSpec, settings: PlatformSettings) -> dict[str, str]:
    """Traces straight to X-Ray's OTLP endpoint, signed with the task role (`agent_runtime.tracing.sigv4`):
    no collector sidecar. A task begun by a caller that sampled its trace stays in it (parent based)."""
    return {
        env.OTEL_TRACES_EXPORTER: "otlp",
        env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: f"https://xray.{Aws.REGION}.{Aws.URL_SUFFIX}/v1/traces",
        env.OTEL_SERVICE_NAME: f"{settings.prefix}-{agent.name}",
        env.OTEL_TRACES_SAMPLER: "parentbased_traceidratio",
        env.OTEL_TRACES_SAMPLER_ARG: f"{settings.trace_sample_percent / 100:g}",
    }


def running_tasks(*, cluster_name: str, service_name: str, metric: str = "RunningTaskCount",
                  period: Duration = Duration.minutes(1)) -> cloudwatch.Metric:
    """A Container Insights service metric (RunningTaskCount, DesiredTaskCount), averaged over `period`."""
    return cloudwatch.Metric(
        namespace="ECS/ContainerInsights",
        metric_name=metric,
        dimensions_map={"ClusterName": cluster_name, "ServiceName": service_name},
        statistic="Average",
        period=period,
    )


WORK_PER_TASK = "IF(FILL(running, 0) > 0, (visible + inflight) / running, (visible + inflight) * 1000)"


def work_per_task(*, cluster_name: str, service_name: str, queue: AgentQueue) -> cloudwatch.MathExpression:
    """Waiting plus in-flight task messages per running task; with no task running any work reads as huge."""
    period = Duration.minutes(1)
    return cloudwatch.MathExpression(
        expression=WORK_PER_TASK,
        using_metrics={
            "visible": queue.queue.metric_approximate_number_of_messages_visible(statistic="Maximum", period=period),
            "inflight": queue.queue.metric_approximate_number_of_messages_not_visible(
                statistic="Maximum", period=period),
            "running": running_tasks(cluster_name=cluster_name, service_name=service_name),
        },
        label="Task messages per running task",
        period=period,
    )


def spot_strategy() -> list[ecs.CapacityProviderStrategy]:
    """Fargate Spot for all but the first task: one on-demand task keeps the agent up through Spot reclaims
    (a reclaimed task gets SIGTERM and two minutes, within the 120 s stop timeout the worker checkpoints in)."""
    return [ecs.CapacityProviderStrategy(capacity_provider="FARGATE", base=1, weight=0),
            ecs.CapacityProviderStrategy(capacity_provider="FARGATE_SPOT", weight=1)]


def health_check() -> ecs.HealthCheck:
    """The container checks its own API with the image's own Python (a slim image has no curl)."""
    return ecs.HealthCheck(
        command=["CMD", "python", "-c", _HEALTH_COMMAND],
        interval=Duration.seconds(15),
        timeout=Duration.seconds(5),
        start_period=Duration.seconds(30),
        retries=3,
    )


class AgentService(Construct):
    """The Fargate service for `agent`.

    Its task role may invoke only `tool_functions` (the agent's own tools), use only its
    own queue (and send to that queue's dead-letter queue), read and write only its own
    items of the shared table, and read the two secrets and its MCP servers' token secrets. No bucket: every tool runs in its
    Lambda function, so the runtime never reads the documents in ECS.
    The execution role (image pull, log delivery) is a separate role made by CDK.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        agent: AgentSpec,
        size: AgentSize,
        settings: PlatformSettings,
        cluster: ecs.ICluster,
        image: ecs.ContainerImage,
        queue: AgentQueue,
        table: dynamodb.ITable,
        secrets: PlatformSecrets,
        tool_functions: Mapping[str, lambda_.IFunction],
        subnets: ec2.SubnetSelection,
        assign_public_ip: bool,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, construct_id)
        self.agent = agent
        removal = RemovalPolicy.RETAIN if settings.retain_data else RemovalPolicy.DESTROY
        self.log_group = logs.LogGroup(self, "Logs", retention=log_retention, removal_policy=removal)
        TaskMetricFilters(self, "TaskMetrics", log_group=self.log_group)
        self.task_definition = ecs.FargateTaskDefinition(
            self, "Task", cpu=size.cpu, memory_limit_mib=size.memory_mib, runtime_platform=runtime_platform(settings)
        )
        environment = container_environment(
            agent=agent, settings=settings, table_name=table.table_name, queue_url=queue.queue.queue_url,
            secrets=secrets,
            tool_functions_json=Stack.of(self).to_json_string(
                {name: fn.function_name for name, fn in sorted(tool_functions.items())}
            ),
        )
        self.container = self.task_definition.add_container(
            "agent",
            image=image,
            environment=environment,
            port_mappings=[ecs.PortMapping(container_port=CONTAINER_PORT)],
            logging=ecs.LogDrivers.aws_logs(
                stream_prefix=agent.name, log_group=self.log_group, mode=ecs.AwsLogDriverMode.NON_BLOCKING
            ),
            health_check=health_check(),
            # Time for the worker to checkpoint and release its messages after SIGTERM.
            stop_timeout=Duration.seconds(120),
        )
        self.service = ecs.FargateService(
            self,
            "Service",
            cluster=cluster,
            task_definition=self.task_definition,
            desired_count=size.min_tasks,
            min_healthy_percent=100,
            max_healthy_percent=200,
            circuit_breaker=ecs.DeploymentCircuitBreaker(enable=True, rollback=True),
            vpc_subnets=subnets,
            assign_public_ip=assign_public_ip,
            health_check_grace_period=Duration.seconds(60),
            propagate_tags=ecs.PropagatedTagSource.SERVICE,
            capacity_provider_strategies=spot_strategy() if settings.fargate_spot else None,
        )
        self._waive()
        self._grant(queue, table, secrets, tool_functions)
        grant_task_protection(cluster, self.task_definition.task_role)  # the worker protects its busy task
        if settings.traces:
            grant_trace_export(self.task_definition.task_role)
        self.scaling = self._scale(size, settings, cluster, queue)

    def _waive(self) -> None:
        """The cdk-nag findings this service accepts, each with its reason."""
        suppress(self.task_definition, Waiver(
            "AwsSolutions-ECS2",
            "The environment holds only non-secret configuration (resource names, model id, log level); "
            "the LLM key and API keys are read at run time from Secrets Manager by their names."))
        if self.task_definition.execution_role is not None:
            suppress(self.task_definition.execution_role, Waiver(
                "AwsSolutions-IAM5",
                "ecr:GetAuthorizationToken supports no resource-level permissions; image pulls and log writes "
                "are scoped to the image repository and this agent's log group.",
                applies_to=("Resource::*",)))

    def _grant(self, queue: AgentQueue, table: dynamodb.ITable, secrets: PlatformSecrets,
               tool_functions: Mapping[str, lambda_.IFunction]) -> None:
        """Exactly the calls the runtime makes, on this agent's own resources."""
        role = self.task_definition.task_role
        for function in tool_functions.values():
            grant_invoke(function, role)
        grant_work_queue(queue.queue, role)
        # The runtime finds the DLQ through the queue's RedrivePolicy (GetQueueAttributes, granted
        # above), then moves poison messages there itself.
        grant_dead_letter(queue.dlq, role)
        grant_own_items(table, role, agent=self.agent.name)
        for secret in (secrets.llm_api_key, secrets.api_keys):
            grant_secret_value(secret, role)
        for server in self.agent.mcp_servers:  # an MCP server's token: exactly the secret its declaration names
            if server.secret:
                grant_secret_value(import_secret(self, f"McpSecret-{server.name}", server.secret)[0], role)

    def _scale(self, size: AgentSize, settings: PlatformSettings, cluster: ecs.ICluster,
                queue: AgentQueue) -> ecs.ScalableTaskCount:
        """Step scaling in both directions on the agent's work per running task (no CPU policy).

        A task's work is waiting plus in-flight messages: an agent mostly waits on the model, so CPU
        says little about load. Out by 1 at `backlog_per_task`, by 3 at four times that; in by 1
        once below half of it for 10 minutes (a stopped task's runs resume elsewhere from their
        checkpoints).
        """
        scaling = self.service.auto_scale_task_count(min_capacity=size.min_tasks, max_capacity=size.max_tasks)
        target = settings.backlog_per_task
        scaling.scale_on_metric(
            "Backlog",
            metric=work_per_task(cluster_name=cluster.cluster_name, service_name=self.service.service_name,
                                 queue=queue),
            scaling_steps=[
                autoscaling.ScalingInterval(upper=target / 2, change=-1),
                autoscaling.ScalingInterval(lower=target, change=1),
                autoscaling.ScalingInterval(lower=target * 4, change=3),
            ],
            adjustment_type=autoscaling.AdjustmentType.CHANGE_IN_CAPACITY,
            cooldown=Duration.minutes(2),
            evaluation_periods=2,
        )
        return scaling
