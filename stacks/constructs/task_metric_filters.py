"""Turns the runtime's Embedded Metric Format lines into CloudWatch metrics.

CloudWatch extracts EMF only from log events sent with the `json/emf` format header
(the CloudWatch agent or a direct PutLogEvents call); the ECS `awslogs` driver does not
send it. Metric filters on the agent's log group extract the same metrics from the
same lines instead, with no sidecar and no change to the runtime.
"""

from __future__ import annotations

from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_logs as logs
from constructs import Construct

from agent_runtime.observability import METRIC_DIMENSION, METRICS_NAMESPACE, STATE_METRICS

# Metric name -> unit; the names are the ones `agent_runtime.observability` writes.
TASK_METRICS: dict[str, cloudwatch.Unit] = {
    **{name: cloudwatch.Unit.COUNT for name in STATE_METRICS.values()},
    "Steps": cloudwatch.Unit.COUNT,
    "Tokens": cloudwatch.Unit.COUNT,
    "CostUsd": cloudwatch.Unit.NONE,
    "TaskDuration": cloudwatch.Unit.MILLISECONDS,
}


class TaskMetricFilters(Construct):
    """One metric filter per task metric on `log_group`, with the `Agent` dimension taken from the line."""

    def __init__(self, scope: Construct, construct_id: str, *, log_group: logs.ILogGroup) -> None:
        super().__init__(scope, construct_id)
        is_emf = logs.FilterPattern.string_value("$._aws.CloudWatchMetrics[0].Namespace", "=", METRICS_NAMESPACE)
        for name, unit in TASK_METRICS.items():
            logs.MetricFilter(
                self,
                name,
                log_group=log_group,
                filter_pattern=logs.FilterPattern.all(is_emf, logs.FilterPattern.number_value(f"$.{name}", ">=", 0)),
                metric_namespace=METRICS_NAMESPACE,
                metric_name=name,
                metric_value=f"$.{name}",
                dimensions={METRIC_DIMENSION: f"$.{METRIC_DIMENSION}"},
                unit=unit,
            )
