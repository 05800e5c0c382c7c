"""Dashboard, alarms, and the metric filters that turn the runtime's EMF lines into metrics."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agent_runtime.agents import AGENTS
from agent_runtime.observability import METRICS_NAMESPACE, STATE_METRICS, task_metrics_record
from lambda_tools.catalog import CATALOG
from stacks.constructs.platform_alarms import MIN_FINISHED_TASKS
from stacks.constructs.task_metric_filters import TASK_METRICS
from stacks.observability_stack import NOBODY_NOTIFIED_WARNING

from .support import TOPIC_ARN, Synth


def _dashboard(s: Synth) -> str:
    (dashboard,) = s.resources("Observability", "AWS::CloudWatch::Dashboard").values()
    return json.dumps(dashboard["Properties"]["DashboardBody"])


def _alarm_descriptions(s: Synth) -> list[str]:
    return [a["Properties"]["AlarmDescription"] for a in s.resources("Observability", "AWS::CloudWatch::Alarm").values()]


@pytest.mark.parametrize("metric", [*STATE_METRICS.values(), "Steps", "Tokens", "CostUsd"])
def test_dashboard_shows_task_metric_for_every_agent(default_synth: Synth, metric: str) -> None:
    body = _dashboard(default_synth)
    assert all(f'\\"{METRICS_NAMESPACE}\\",\\"{metric}\\",\\"Agent\\",\\"{a}\\"' in body for a in AGENTS)


@pytest.mark.parametrize("metric", ["Duration", "Errors", "ApproximateNumberOfMessagesVisible",
                                    "HTTPCode_Target_5XX_Count", "TargetResponseTime"])
def test_dashboard_shows_platform_metric(default_synth: Synth, metric: str) -> None:
    assert f'\\"{metric}\\"' in _dashboard(default_synth)


def test_an_alarm_per_dead_letter_queue(default_synth: Synth) -> None:
    assert sum("DLQ" in d for d in _alarm_descriptions(default_synth)) == len(AGENTS)


def test_an_alarm_on_api_5xx_rate(default_synth: Synth) -> None:
    assert sum("5xx" in d for d in _alarm_descriptions(default_synth)) == 1


def test_an_alarm_per_agent_task_failure_rate(default_synth: Synth) -> None:
    assert sum("tasks failed" in d for d in _alarm_descriptions(default_synth)) == len(AGENTS)


def test_rate_alarm_descriptions_match_their_comparison(default_synth: Synth) -> None:
    """The rate alarms fire at the threshold itself, and their descriptions say so ("N% or more")."""
    alarms = [a["Properties"] for a in default_synth.resources("Observability", "AWS::CloudWatch::Alarm").values()
              if "%" in a["Properties"]["AlarmDescription"]]
    assert {(a["ComparisonOperator"], f"{a['Threshold']:g}% or more of " in a["AlarmDescription"]) for a in alarms} == {
        ("GreaterThanOrEqualToThreshold", True)}


def _alarms(s: Synth) -> list[dict[str, Any]]:
    return [a["Properties"] for a in s.resources("Observability", "AWS::CloudWatch::Alarm").values()]


def _metric_names(alarm: dict[str, Any]) -> set[str]:
    if "MetricName" in alarm:
        return {alarm["MetricName"]}
    return {m["MetricStat"]["Metric"]["MetricName"] for m in alarm.get("Metrics", []) if "MetricStat" in m}


@pytest.mark.parametrize(("metric", "count"), [
    ("DesiredTaskCount", len(AGENTS)), ("UnHealthyHostCount", len(AGENTS)),
    ("ApproximateAgeOfOldestMessage", len(AGENTS)), ("Errors", len(CATALOG)), ("Throttles", len(CATALOG))])
def test_an_alarm_per_service_target_group_queue_and_tool(default_synth: Synth, metric: str, count: int) -> None:
    assert sum(metric in _metric_names(a) for a in _alarms(default_synth)) == count


def test_tasks_below_desired_compares_desired_with_running(default_synth: Synth) -> None:
    expressions = {m["Expression"] for a in _alarms(default_synth) if "DesiredTaskCount" in _metric_names(a)
                   for m in a["Metrics"] if "Expression" in m}
    assert expressions == {"FILL(desired, 0) - FILL(running, 0)"}


def test_failure_rate_counts_only_windows_with_enough_tasks(default_synth: Synth) -> None:
    expressions = [m["Expression"] for a in _alarms(default_synth) if "tasks failed" in a["AlarmDescription"]
                   for m in a["Metrics"] if m.get("ReturnData", True) and "Expression" in m]
    assert set(expressions) == {f"IF(done >= {MIN_FINISHED_TASKS}, 100 * FILL(failed, 0) / done, 0)"}


def test_without_a_recipient_synth_warns_that_alarms_notify_nobody(default_synth: Synth) -> None:
    assert NOBODY_NOTIFIED_WARNING in default_synth.warnings


@pytest.mark.parametrize("which", ["variant_synth", "domain_synth"])
def test_with_a_recipient_synth_does_not_warn(request: pytest.FixtureRequest, which: str) -> None:
    assert NOBODY_NOTIFIED_WARNING not in request.getfixturevalue(which).warnings


def test_alarms_also_notify_an_existing_topic(domain_synth: Synth) -> None:
    assert all(TOPIC_ARN in a["AlarmActions"] for a in _alarms(domain_synth))


def test_every_alarm_notifies_the_alarm_topic(default_synth: Synth) -> None:
    (topic,) = default_synth.resources("Observability", "AWS::SNS::Topic")
    alarms = default_synth.resources("Observability", "AWS::CloudWatch::Alarm").values()
    assert all(a["Properties"]["AlarmActions"] == [{"Ref": topic}] for a in alarms)


def test_alarm_email_is_subscribed_when_configured(variant_synth: Synth) -> None:
    (sub,) = variant_synth.resources("Observability", "AWS::SNS::Subscription").values()
    assert (sub["Properties"]["Protocol"], sub["Properties"]["Endpoint"]) == ("email", "ops@example.com")


def test_metric_filters_cover_every_metric_the_runtime_writes() -> None:
    record = task_metrics_record(agent="research", status="failed", steps=3, tokens=10, cost_usd=0.01, duration_ms=5)
    written = {m["Name"] for m in record["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert written <= set(TASK_METRICS)


def test_each_agent_log_group_has_a_filter_per_metric(default_synth: Synth) -> None:
    filters = default_synth.resources("Agents", "AWS::Logs::MetricFilter").values()
    names = sorted(t["MetricName"] for f in filters for t in f["Properties"]["MetricTransformations"])
    assert names == sorted(list(TASK_METRICS) * len(AGENTS))


def test_metric_filters_take_the_agent_dimension_from_the_line(default_synth: Synth) -> None:
    filters = default_synth.resources("Agents", "AWS::Logs::MetricFilter").values()
    dims = {json.dumps(t["Dimensions"]) for f in filters for t in f["Properties"]["MetricTransformations"]}
    assert dims == {json.dumps([{"Key": "Agent", "Value": "$.Agent"}])}
