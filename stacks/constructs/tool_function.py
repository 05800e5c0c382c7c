"""One Lambda function for one catalog tool: ARM64, current Python, traced, with its own log group."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from lambda_tools.spec import ToolSpec
from stacks.nag import Waiver, suppress

# Must match the Powertools layer's Python version (settings.DEFAULT_POWERTOOLS_LAYER) and the agent image's
# (the Dockerfile's FROM): one Python minor for everything deployed. tests/infra/test_dockerfile.py checks both.
RUNTIME = lambda_.Runtime.PYTHON_3_14


class ToolFunction(Construct):
    """The Lambda function behind `spec`, named `<prefix>-<tool name>`.

    Timeout and memory come from the catalog; the log group is kept on `cdk destroy` with `retain_logs`. The role is written out (no AWS managed
    policy): it may write only to this function's log group and send X-Ray traces; the
    stack adds the tool's data access.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        spec: ToolSpec,
        function_name: str,
        code: lambda_.Code,
        layers: list[lambda_.ILayerVersion],
        environment: Mapping[str, str],
        log_retention: logs.RetentionDays,
        retain_logs: bool,
    ) -> None:
        super().__init__(scope, construct_id)
        self.spec = spec
        removal = RemovalPolicy.RETAIN if retain_logs else RemovalPolicy.DESTROY
        self.log_group = logs.LogGroup(self, "Logs", retention=log_retention, removal_policy=removal)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Runs the {spec.name} tool",
        )
        self.log_group.grant_write(self.role)
        self.function = lambda_.Function(
            self,
            "Function",
            function_name=function_name,
            description=spec.description[:256],
            runtime=RUNTIME,
            architecture=lambda_.Architecture.ARM_64,
            handler=spec.handler,
            code=code,
            layers=layers,
            timeout=Duration.seconds(spec.timeout_s),
            memory_size=spec.memory_mb,
            environment=dict(environment),
            tracing=lambda_.Tracing.ACTIVE,
            logging_format=lambda_.LoggingFormat.JSON,
            log_group=self.log_group,
            role=self.role,
        )
        suppress(self.role, Waiver(
            "AwsSolutions-IAM5",
            "X-Ray PutTraceSegments/PutTelemetryRecords support no resource-level permissions.",
            applies_to=("Resource::*",),
        ))
