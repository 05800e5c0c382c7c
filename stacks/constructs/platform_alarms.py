"""Alarms that need a human: dead-letter queues, API 5xx rate, task failure rate, tasks below desired,
unhealthy targets, tool errors and throttles, and tasks waiting too long in a queue."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from agent_runtime.observability import STATE_METRICS
from stacks.constructs.agent_service import running_tasks
from stacks.constructs.platform_dashboard import task_metric

API_5XX_PERCENT = 5
TASK_FAILURE_PERCENT = 25
# The failure rate counts only windows with at least this many finished tasks: one failure out of
# two tasks at 3 a.m. is not an outage.
MIN_FINISHED_TASKS = 5
TOOL_ERRORS = 3  # unhandled errors of one tool function in a window
QUEUE_AGE_S = 600  # the oldest task waiting this long means the agent is not keeping up
_WINDOW = Duration.minutes(5)


class PlatformAlarms(Construct):
    """All alarms notify every topic in `topics`; `alarms` lists them (the dashboard shows their state)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        queues: Mapping[str, sqs.IQueue],
        dlqs: Mapping[str, sqs.IQueue],
        services: Mapping[str, ecs.IBaseService],
        target_groups: Mapping[str, elbv2.ApplicationTargetGroup],
        functions: Mapping[str, lambda_.IFunction],
        alb: elbv2.ApplicationLoadBalancer,
        topics: Sequence[sns.ITopic],
    ) -> None:
        super().__init__(scope, construct_id)
        self._actions = [actions.SnsAction(topic) for topic in topics]
        self.alarms: list[cloudwatch.Alarm] = []
        self._api(alb)
        for agent, dlq in dlqs.items():
            self._add(f"{agent}Dlq", dlq.metric_approximate_number_of_messages_visible(statistic="Maximum", period=_WINDOW),
                      threshold=1, periods=1, what=f"tasks of the {agent} agent failed repeatedly and wait in its DLQ")
        for agent, queue in queues.items():
            self._add(f"{agent}QueueAge", queue.metric_approximate_age_of_oldest_message(statistic="Maximum",
                                                                                         period=_WINDOW),
                      threshold=QUEUE_AGE_S, periods=2,
                      what=f"a task has waited {QUEUE_AGE_S} s or more in the {agent} agent's queue (10 minutes)")
        for agent, service in services.items():
            self._service(agent, service)
        for agent, group in target_groups.items():
            # Dimensions from the load balancer's own name (CDK's group.metrics derive it from the listener ARN
            # with Fn::Split, which does not survive the cross-stack reference).
            unhealthy = cloudwatch.Metric(
                namespace="AWS/ApplicationELB", metric_name="UnHealthyHostCount", statistic="Maximum", period=_WINDOW,
                dimensions_map={"TargetGroup": group.target_group_full_name,
                                "LoadBalancer": alb.load_balancer_full_name},
            )
            self._add(f"{agent}UnhealthyTargets", unhealthy, threshold=1, periods=3,
                      what=f"the load balancer has seen an unhealthy {agent} task for 15 minutes")
        for agent in services:
            self._failure_rate(agent)
        for tool, function in functions.items():
            self._add(f"{tool}Errors", function.metric_errors(statistic="Sum", period=_WINDOW), threshold=TOOL_ERRORS,
                      periods=1, what=f"the {tool} tool's function failed {TOOL_ERRORS} or more times in 5 minutes")
            self._add(f"{tool}Throttles", function.metric_throttles(statistic="Sum", period=_WINDOW), threshold=1,
                      periods=1, what=f"Lambda throttled calls of the {tool} tool (account concurrency exhausted)")

    def _api(self, alb: elbv2.IApplicationLoadBalancer) -> None:
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

    def _service(self, agent: str, service: ecs.IBaseService) -> None:
        """Fewer tasks running than desired for 15 minutes: tasks fail to start, or keep being replaced."""
        cluster, name = service.cluster.cluster_name, service.service_name
        missing = cloudwatch.MathExpression(
            expression="FILL(desired, 0) - FILL(running, 0)",
            using_metrics={"desired": running_tasks(cluster_name=cluster, service_name=name, period=_WINDOW,
                                                    metric="DesiredTaskCount"),
                           "running": running_tasks(cluster_name=cluster, service_name=name, period=_WINDOW)},
            label=f"{agent} tasks below desired",
            period=_WINDOW,
        )
        self._add(f"{agent}TasksBelowDesired", missing, threshold=1, periods=3,
                  what=f"fewer {agent} tasks have run than desired for 15 minutes")

    def _failure_rate(self, agent: str) -> None:
        failure = cloudwatch.MathExpression(
            expression=f"IF(done >= {MIN_FINISHED_TASKS}, 100 * FILL(failed, 0) / done, 0)",
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
                  what=f"{TASK_FAILURE_PERCENT}% or more of the {agent} agent's tasks failed "
                       f"(of at least {MIN_FINISHED_TASKS} finished in 5 minutes)")

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
        for action in self._actions:
            alarm.add_alarm_action(action)
            alarm.add_ok_action(action)
        self.alarms.append(alarm)
