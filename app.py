"""The CDK app: reads the settings once, creates the four stacks, adds the cdk-nag AwsSolutions checks.

`cdk synth` / `make synth` run this file; settings come from `cdk.json` context and `-c key=value`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_logs as logs
from cdk_nag import AwsSolutionsChecks

from stacks.agents_stack import AgentsStack
from stacks.data_stack import DataStack
from stacks.observability_stack import ObservabilityStack
from stacks.settings import PlatformSettings, SettingsError, load_settings
from stacks.tools_stack import ToolsStack

DEFAULT_REGION = "us-east-1"
_RETENTION = {days: member for days, member in (
    (1, logs.RetentionDays.ONE_DAY), (3, logs.RetentionDays.THREE_DAYS), (5, logs.RetentionDays.FIVE_DAYS),
    (7, logs.RetentionDays.ONE_WEEK), (14, logs.RetentionDays.TWO_WEEKS), (30, logs.RetentionDays.ONE_MONTH),
    (60, logs.RetentionDays.TWO_MONTHS), (90, logs.RetentionDays.THREE_MONTHS),
    (120, logs.RetentionDays.FOUR_MONTHS), (150, logs.RetentionDays.FIVE_MONTHS),
    (180, logs.RetentionDays.SIX_MONTHS), (365, logs.RetentionDays.ONE_YEAR),
    (400, logs.RetentionDays.THIRTEEN_MONTHS), (545, logs.RetentionDays.EIGHTEEN_MONTHS),
    (731, logs.RetentionDays.TWO_YEARS), (1096, logs.RetentionDays.THREE_YEARS),
    (1827, logs.RetentionDays.FIVE_YEARS), (2192, logs.RetentionDays.SIX_YEARS),
    (2557, logs.RetentionDays.SEVEN_YEARS), (2922, logs.RetentionDays.EIGHT_YEARS),
    (3288, logs.RetentionDays.NINE_YEARS), (3653, logs.RetentionDays.TEN_YEARS),
)}


@dataclass(frozen=True)
class Platform:
    """The composed app and its stacks (tests assert on them)."""

    app: cdk.App
    settings: PlatformSettings
    data: DataStack
    tools: ToolsStack
    agents: AgentsStack
    observability: ObservabilityStack


def build(context: Mapping[str, Any] | None = None, *, outdir: str | None = None) -> Platform:
    """Compose the platform; `context` is merged over `cdk.json` (as `-c` is). Raises `SettingsError`."""
    app = cdk.App(context=dict(context or {}), outdir=outdir)
    settings = load_settings(app.node.get_all_context())
    # A concrete region is needed (ALB access logging); the account may stay unresolved.
    region = settings.region or os.environ.get("CDK_DEFAULT_REGION") or os.environ.get("AWS_REGION") or DEFAULT_REGION
    env = cdk.Environment(account=os.environ.get("CDK_DEFAULT_ACCOUNT"), region=region)
    retention = _RETENTION[settings.log_retention_days]
    p = settings.prefix

    data = DataStack(app, f"{p}Data", settings=settings, env=env, description="Agent platform: table, buckets, secrets")
    tools = ToolsStack(app, f"{p}Tools", settings=settings, documents=data.documents, reports=data.reports,
                       reports_topic=data.reports_topic, log_retention=retention, env=env,
                       description="Agent platform: one Lambda function per tool")
    agents = AgentsStack(app, f"{p}Agents", settings=settings, table=data.table,
                         access_logs=data.access_logs, secrets=data.secrets,
                         tool_functions=tools.functions, log_retention=retention, env=env,
                         description="Agent platform: VPC, ECS services, queues, load balancer")
    observability = ObservabilityStack(app, f"{p}Observability", settings=settings, agents=agents,
                                       tool_functions=tools.functions, env=env,
                                       description="Agent platform: dashboard and alarms")
    cdk.Tags.of(app).add("project", "agent-platform")
    cdk.Aspects.of(app).add(AwsSolutionsChecks(verbose=True))
    return Platform(app, settings, data, tools, agents, observability)


def main() -> None:
    try:
        platform = build()
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        raise SystemExit(1) from None
    platform.app.synth()


if __name__ == "__main__":
    main()
