"""Alarms that need a human: messages in a dead-letter queue, API 5xx rate, task failure rate."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from agent_runtime.observability import STATE_METRICS
from stacks.constructs.platform_dashboard import task_metric

API_5XX_PERCENT = 5
TASK_FAILURE_PERCENT = 25
_WINDOW = Duration.minutes(5)


class PlatformAlarms(Construct):
    """All alarms notify `topic`; `alarms` lists them (the dashboard shows their state)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        dlqs: Mapping[str, sqs.IQueue],
        alb: elbv2.IApplicationLoadBalancer,
        agents: list[str],
        topic: sns.ITopic,
    ) -> None:
        super().__init__(scope, construct_id)
        self._action = actions.SnsAction(topic)
        self.alarms: list[cloudwatch.Alarm] = []
        for agent, dlq in dlqs.items():
            self._add(f"{agent}Dlq", dlq.metric_approximate_number_of_messages_visible(statistic="Maximum", period=_WINDOW),
                      threshold=1, periods=1, what=f"tasks of the {agent} agent failed repeatedly and wait in its DLQ")
        api_5xx = cloudwatch.MathExpression(
            expression="IF(requests > 0, 100 * (FILL(lb, 0) + FILL(targets, 0)) / requests, 0)",
            using_metrics={
                "lb": alb.metrics.http_code_elb(elbv2.HttpCodeElb.ELB_5XX_COUNT, period=_WINDOW),
                "targets": alb.metrics.http_code_target(elbv2.HttpCodeTarget.TARGET_5XX_COUNT, period=_WINDOW),
                "requests": alb.metrics.request_count(period=_WINDOW),
            },
            label="API 5xx (%)",
            period=_WINDOW,
        )
        self._add("Api5xxRate", api_5xx, threshold=API_5XX_PERCENT, periods=2,
                  what=f"{API_5XX_PERCENT}% or more of API requests failed with 5xx")
        for agent in agents:
            failure = cloudwatch.MathExpression(
                expression="IF(done > 0, 100 * FILL(failed, 0) / done, 0)",
                using_metrics={
                    "failed": task_metric(agent, STATE_METRICS["failed"]),
                    "done": cloudwatch.MathExpression(
                        expression=" + ".join(f"FILL(m{i}, 0)" for i in range(len(STATE_METRICS))),
                        using_metrics={f"m{i}": task_metric(agent, m) for i, m in enumerate(STATE_METRICS.values())},
                        period=_WINDOW,
                    ),
                },
                label=f"{agent} task failure (%)",
                period=_WINDOW,
            )
            self._add(f"{agent}TaskFailureRate", failure, threshold=TASK_FAILURE_PERCENT, periods=2,
                      what=f"{TASK_FAILURE_PERCENT}% or more of the {agent} agent's tasks failed")

    def _add(self, alarm_id: str, metric: cloudwatch.IMetric, *, threshold: float, periods: int, what: str) -> None:
        alarm = cloudwatch.Alarm(
            self,
            alarm_id,
            metric=metric,
            threshold=threshold,
            evaluation_periods=periods,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=f"Alarms when {what}.",
        )
        alarm.add_alarm_action(self._action)
        alarm.add_ok_action(self._action)
        self.alarms.append(alarm)
