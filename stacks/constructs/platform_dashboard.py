"""The platform's CloudWatch dashboard: tasks, steps, tokens and cost per agent, tools, queues, load balancer."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aws_cdk import Aws, Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from agent_runtime.observability import METRIC_DIMENSION, METRICS_NAMESPACE, STATE_METRICS

PERIOD = Duration.minutes(5)


def task_metric(agent: str, name: str, statistic: str = "Sum") -> cloudwatch.Metric:
    """A metric the runtime writes per finished task (see `agent_runtime.observability`)."""
    return cloudwatch.Metric(namespace=METRICS_NAMESPACE, metric_name=name, dimensions_map={METRIC_DIMENSION: agent},
                             statistic=statistic, period=PERIOD, label=f"{agent} {name}")


def _graph(title: str, metrics: Sequence[cloudwatch.IMetric], *, width: int = 8, stacked: bool = False,
           right: Sequence[cloudwatch.IMetric] | None = None) -> cloudwatch.GraphWidget:
    return cloudwatch.GraphWidget(title=title, left=list(metrics), right=list(right or []), width=width, height=6, stacked=stacked)


def trace_links() -> cloudwatch.TextWidget:
    """Where the agents' traces are (`traces` on): X-Ray's trace list and map, Transaction Search."""
    console = f"https://{Aws.REGION}.console.{Aws.URL_SUFFIX}/cloudwatch/home?region={Aws.REGION}"
    return cloudwatch.TextWidget(width=6, height=3, markdown=(
        "### Traces\n"
        f"[Traces]({console}#xray:traces/query) · [Trace map]({console}#xray:service-map/map) · "
        f"[Transaction Search]({console}#application-signals:transaction-search)\n\n"
        "One trace per task: `invoke_agent`, `chat`, `execute_tool` (docs/traces.md)."))


class PlatformDashboard(Construct):
    """One dashboard named `<prefix>`; `alarms` are shown in a status row at the top."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name: str,
        agents: list[str],
        queues: Mapping[str, tuple[sqs.IQueue, sqs.IQueue]],
        functions: Mapping[str, lambda_.IFunction],
        services: Mapping[str, ecs.BaseService],
        alb: elbv2.IApplicationLoadBalancer,
        alarms: list[cloudwatch.IAlarm],
        traces: bool = False,
    ) -> None:
        super().__init__(scope, construct_id)
        states = list(STATE_METRICS.values())
        rows: list[list[cloudwatch.IWidget]] = [
            [cloudwatch.AlarmStatusWidget(title="Alarms", alarms=alarms, width=24 if not traces else 18, height=3),
             *([trace_links()] if traces else [])],
            [
                _graph("Tasks by state", [task_metric(a, s) for a in agents for s in states], stacked=True),
                _graph("Steps per agent", [task_metric(a, "Steps") for a in agents]),
                _graph("Tokens per agent", [task_metric(a, "Tokens") for a in agents]),
            ],
            [
                _graph("Cost (USD) per agent", [task_metric(a, "CostUsd") for a in agents]),
                _graph("Task duration p90 (ms)", [task_metric(a, "TaskDuration", "p90") for a in agents]),
                _graph("Queue depth", [q.metric_approximate_number_of_messages_visible(period=PERIOD, label=a)
                                       for a, (q, _) in queues.items()],
                       right=[q.metric_approximate_age_of_oldest_message(period=PERIOD, label=f"{a} oldest (s)")
                              for a, (q, _) in queues.items()]),
            ],
            [
                _graph("Tool latency p90 (ms)", [f.metric_duration(statistic="p90", period=PERIOD, label=n)
                                                 for n, f in functions.items()]),
                _graph("Tool errors and throttles", [f.metric_errors(period=PERIOD, label=n) for n, f in functions.items()]
                       + [f.metric_throttles(period=PERIOD, label=f"{n} throttled") for n, f in functions.items()]),
                _graph("Dead-letter queues", [d.metric_approximate_number_of_messages_visible(period=PERIOD, label=a)
                                              for a, (_, d) in queues.items()]),
            ],
            [
                _graph("API 5xx", [
                    alb.metrics.http_code_elb(elbv2.HttpCodeElb.ELB_5XX_COUNT, period=PERIOD, label="load balancer"),
                    alb.metrics.http_code_target(elbv2.HttpCodeTarget.TARGET_5XX_COUNT, period=PERIOD, label="agents"),
                ], right=[alb.metrics.request_count(period=PERIOD, label="requests")]),
                # SSE streams stay open for a whole task, so high percentiles reflect task length.
                _graph("API latency (s)", [
                    alb.metrics.target_response_time(statistic=s, period=PERIOD, label=s) for s in ("p50", "p90", "p99")
                ]),
                _graph("Service CPU (%)", [svc.metric_cpu_utilization(period=PERIOD, label=a) for a, svc in services.items()]),
            ],
        ]
        self.dashboard = cloudwatch.Dashboard(self, "Dashboard", dashboard_name=name, widgets=rows)
