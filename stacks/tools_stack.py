"""The tool functions: one Lambda function per entry of `lambda_tools.catalog.CATALOG`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk import Aws, CfnOutput, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct

from lambda_tools import envnames as env
from lambda_tools.catalog import CATALOG
from lambda_tools.spec import TOOL_RESOURCES, ToolResource
from stacks.constructs.tool_function import ToolFunction
from stacks.grants import grant_publish, grant_read_objects, grant_write_objects
from stacks.settings import PlatformSettings

REPO_ROOT = Path(__file__).resolve().parent.parent
# The asset is the repository root filtered down to the `lambda_tools` package: handlers are
# imported as `lambda_tools.<tool>.handler.handler`; pydantic comes from the Powertools layer.
LAMBDA_ASSET_EXCLUDE = ["*", "!lambda_tools", "!lambda_tools/**", "**/__pycache__", "**/*.pyc", "**/.*"]


def tool_function_name(prefix: str, tool: str) -> str:
    """The deployed function name of `tool` (also what the agents receive in TOOL_FUNCTIONS)."""
    return f"{prefix}-{tool}".replace("_", "-")


@dataclass(frozen=True)
class Access:
    """How a function is given one `ToolResource`: the variable that names it, and the grant."""

    variable: str
    value: str
    grant: Callable[[iam.IGrantable], None]


def resource_access(documents: s3.IBucket, reports: s3.IBucket, reports_topic: sns.ITopic) -> dict[ToolResource, Access]:
    """Every `ToolResource` with how it is given, so a catalog entry's declaration is all a tool gets."""
    return {
        "documents:read": Access(env.DOCUMENTS_BUCKET, documents.bucket_name,
                                 lambda role: grant_read_objects(documents, role)),
        "reports:read": Access(env.REPORTS_BUCKET, reports.bucket_name, lambda role: grant_read_objects(reports, role)),
        "reports:write": Access(env.REPORTS_BUCKET, reports.bucket_name,
                                lambda role: grant_write_objects(reports, role)),
        "reports_topic:publish": Access(env.REPORTS_TOPIC_ARN, reports_topic.topic_arn,
                                        lambda role: grant_publish(reports_topic, role)),
    }


def granted(declared: frozenset[ToolResource], access: Mapping[ToolResource, Access]) -> list[Access]:
    """The accesses a tool declared, in the fixed order of `TOOL_RESOURCES` (stable templates)."""
    return [access[resource] for resource in TOOL_RESOURCES if resource in declared]


class ToolsStack(Stack):
    """Deploys every catalog tool as a function; exposes `functions` keyed by tool name.

    Each function may reach exactly the resources its catalog entry declares (`ToolSpec.resources`):
    every tool reads the document corpus; only publishing writes reports and notifies.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: PlatformSettings,
        documents: s3.IBucket,
        reports: s3.IBucket,
        reports_topic: sns.ITopic,
        log_retention: logs.RetentionDays,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        code = lambda_.Code.from_asset(str(REPO_ROOT), exclude=LAMBDA_ASSET_EXCLUDE)
        layer_arn = settings.powertools_layer_arn.replace("{region}", Aws.REGION)
        powertools = lambda_.LayerVersion.from_layer_version_arn(self, "Powertools", layer_arn)
        access = resource_access(documents, reports, reports_topic)
        self.functions: dict[str, lambda_.Function] = {}
        for spec in CATALOG:
            accesses = granted(spec.resources, access)
            environment = {a.variable: a.value for a in accesses} | {
                env.LOG_LEVEL: settings.log_level,
                env.POWERTOOLS_SERVICE_NAME: spec.name,
            }
            tool = ToolFunction(
                self,
                spec.name,
                spec=spec,
                function_name=tool_function_name(settings.prefix, spec.name),
                code=code,
                layers=[powertools],
                environment=environment,
                log_retention=log_retention,
                retain_logs=settings.retain_data,
            )
            for a in accesses:
                a.grant(tool.role)
            self.functions[spec.name] = tool.function
            CfnOutput(self, f"{spec.name}FunctionName".replace("_", ""), value=tool.function.function_name)
