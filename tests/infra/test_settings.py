"""Deployment settings: coercion of `-c` strings and one readable error listing every problem."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import get_args

import pytest

from agent_runtime.agents import AGENTS
from agent_runtime.settings import DEFAULT_MAX_ATTEMPTS, DEFAULT_QUEUE_VISIBILITY_S, Settings
from stacks.settings import (
    APPROVAL_TIMEOUT_POLICIES,
    HTTPS_REQUIRED,
    AgentSize,
    PlatformSettings,
    SettingsError,
    load_settings,
)

from .support import CDK_JSON_CONTEXT, CERT_ARN, REPO

# What every deployment must choose: HTTPS (here a certificate) or plain HTTP on purpose.
HTTPS = {"certificate_arn": CERT_ARN}


def settings_from(context: dict[str, object]) -> PlatformSettings:
    """Settings from `context` over a certificate."""
    return load_settings({**HTTPS, **context})


def problems(**context: object) -> list[str]:
    with pytest.raises(SettingsError) as info:
        load_settings({**HTTPS, **context})
    return info.value.problems


def test_defaults_deploy_every_agent() -> None:
    assert set(settings_from({}).agents) == set(AGENTS)


def test_cli_strings_are_coerced() -> None:
    settings = settings_from({"nat_gateways": "0", "retain_data": "false", "agents": "research,analysis"})
    assert (settings.nat_gateways, settings.retain_data, list(settings.agents)) == (0, False, ["research", "analysis"])


def test_json_text_sizes_are_read() -> None:
    settings = settings_from({"agent_sizes": '{"research": {"cpu": 1024, "memory_mib": 2048}}'})
    assert settings.agents["research"] == AgentSize(cpu=1024, memory_mib=2048)


def test_bad_fargate_pair_is_explained() -> None:
    assert problems(task_size={"cpu": 256, "memory_mib": 4096}) == [
        "task_size: cpu 256 with memory_mib 4096 is not a Fargate size; with cpu 256 use memory_mib from 512 "
        "to 2048 in steps of 512"
    ]


def test_malformed_certificate_arn_is_rejected() -> None:
    assert problems(certificate_arn="arn:aws:acm:us-east-1:123:cert/abc")[0].startswith("certificate_arn: expected")


def test_well_formed_certificate_arn_is_accepted() -> None:
    assert load_settings({"certificate_arn": CERT_ARN}).certificate_arn == CERT_ARN


def test_unknown_agent_names_the_known_ones() -> None:
    assert problems(agents=["research", "reserch"]) == [
        "agents: unknown agent 'reserch'; known agents: analysis, content, research"
    ]


def test_unknown_setting_is_reported_not_ignored() -> None:
    assert problems(nat_gateway=0)[0].startswith("nat_gateway: unknown setting")


def test_cdk_keys_are_not_settings() -> None:
    assert settings_from({"@aws-cdk/core:target-partitions": ["aws"], "aws:cdk:enable-path-metadata": True})


def test_all_problems_are_reported_together() -> None:
    found = problems(task_size={"cpu": 300}, certificate_arn="nope", agents=["x"], log_retention_days=45,
                     max_receive_count=0)
    assert [p.split(":")[0] for p in found] == [
        "agents", "task_size", "certificate_arn", "max_receive_count", "log_retention_days"
    ]


def test_error_message_lists_each_problem_on_its_own_line() -> None:
    with pytest.raises(SettingsError) as info:
        settings_from({"nat_gateways": "three", "alarm_email": "ops"})
    assert str(info.value).splitlines()[1:] == [
        "  - nat_gateways: expected a whole number from 0 to 2, got 'three'",
        "  - alarm_email: expected an email address, got 'ops'",
    ]


def test_app_exits_with_the_readable_error_and_no_traceback() -> None:
    """What a user sees from `cdk synth -c ...`: the CLI passes context through CDK_CONTEXT_JSON."""
    env = {**os.environ, "CDK_CONTEXT_JSON": json.dumps({**HTTPS, "task_size": {"cpu": 256, "memory_mib": 4096}})}
    done = subprocess.run([sys.executable, "app.py"], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert (done.returncode, "Traceback" in done.stderr, "is not a Fargate size" in done.stderr) == (1, False, True)


def test_per_agent_size_problems_name_the_agent() -> None:
    assert problems(agent_sizes={"analysis": {"cpu": 1024, "memory_mib": 1024}, "writer": {}}) == [
        "agent_sizes: unknown agent 'writer'; known agents: analysis, content, research",
        "agent_sizes.analysis: cpu 1024 with memory_mib 1024 is not a Fargate size; with cpu 1024 use memory_mib "
        "from 2048 to 8192 in steps of 1024",
    ]


def test_aws_transport_is_light_or_boto3() -> None:
    assert settings_from({}).aws_transport == CDK_JSON_CONTEXT["aws_transport"] == "light"
    assert settings_from({"aws_transport": " Boto3"}).aws_transport == "boto3"
    with pytest.raises(SettingsError, match="aws_transport: expected one of light, boto3, got 'fast'"):
        settings_from({"aws_transport": "fast"})


def test_approval_timeout_policy_defaults_to_deny() -> None:
    assert settings_from({}).approval_timeout_policy == "deny"


def test_cdk_json_sets_the_approval_timeout_policy_default() -> None:
    assert CDK_JSON_CONTEXT["approval_timeout_policy"] == "deny"


def test_approval_timeout_policy_is_read_case_insensitively() -> None:
    assert settings_from({"approval_timeout_policy": " Approve "}).approval_timeout_policy == "approve"


def test_bad_approval_timeout_policy_is_explained() -> None:
    assert problems(approval_timeout_policy="allow") == [
        "approval_timeout_policy: expected one of deny, approve, got 'allow'"
    ]


def test_approval_timeout_policies_are_the_ones_the_runtime_accepts() -> None:
    assert set(APPROVAL_TIMEOUT_POLICIES) == set(get_args(Settings.model_fields["approval_timeout_policy"].annotation))


def test_queue_defaults_are_the_runtime_defaults() -> None:
    settings = settings_from({})
    assert (settings.queue_visibility_s, settings.max_attempts) == (DEFAULT_QUEUE_VISIBILITY_S, DEFAULT_MAX_ATTEMPTS)
    assert (Settings.model_fields["queue_visibility_s"].default, Settings.model_fields["max_attempts"].default) == (
        DEFAULT_QUEUE_VISIBILITY_S, DEFAULT_MAX_ATTEMPTS)


def test_redrive_leaves_the_workers_a_receive_to_fail_the_task_and_one_spare() -> None:
    assert (settings_from({}).max_receive_count, settings_from({"max_receive_count": "9"}).max_attempts) == (5, 7)


def test_cdk_json_does_not_restate_the_queue_defaults() -> None:
    assert {"max_receive_count", "queue_visibility_s"} & set(CDK_JSON_CONTEXT) == set()


def test_redrive_limit_that_leaves_the_workers_no_attempt_is_rejected() -> None:
    assert problems(max_receive_count=2) == ["max_receive_count: expected a whole number from 3 to 1000, got 2"]


def test_queue_visibility_beyond_what_sqs_allows_is_rejected() -> None:
    assert problems(queue_visibility_s=43201) == [
        "queue_visibility_s: expected a whole number from 30 to 43200, got 43201"]


def test_without_https_or_allow_http_synth_stops_and_says_how_to_pass_a_certificate() -> None:
    with pytest.raises(SettingsError) as info:
        load_settings({})
    assert info.value.problems == [HTTPS_REQUIRED]


def test_the_https_error_names_both_ways_and_the_escape_hatch() -> None:
    assert all(f"-c {key}=" in HTTPS_REQUIRED for key in ("certificate_arn", "domain_name", "hosted_zone_id",
                                                            "allow_http"))


def test_allow_http_is_an_explicit_choice() -> None:
    assert load_settings({"allow_http": "true"}).https is False


def test_a_domain_in_a_hosted_zone_is_https() -> None:
    assert load_settings({"domain_name": "api.example.com", "hosted_zone_id": "Z0123456789ABC"}).https is True


def test_the_zone_name_defaults_to_the_domain_parent() -> None:
    settings = load_settings({"domain_name": "api.agents.example.com", "hosted_zone_id": "Z0123456789ABC"})
    assert settings.zone_name == "agents.example.com"


def test_a_domain_outside_the_zone_is_rejected() -> None:
    assert problems(domain_name="api.example.com", hosted_zone_id="Z0123456789ABC",
                    hosted_zone_name="example.org") == ["hosted_zone_name: api.example.com is not in the zone example.org"]


def test_a_zone_without_a_domain_is_rejected() -> None:
    assert problems(hosted_zone_id="Z0123456789ABC")[0].startswith("hosted_zone_id: also set -c domain_name=")


def test_cdk_json_does_not_choose_plain_http() -> None:
    """A real deployment must choose HTTPS or allow_http itself; cdk.json leaves both unset."""
    assert {"allow_http", "certificate_arn", "domain_name"} & set(CDK_JSON_CONTEXT) == set()


def test_app_without_https_exits_with_the_one_line_hint() -> None:
    env = {**os.environ, "CDK_CONTEXT_JSON": json.dumps({})}
    done = subprocess.run([sys.executable, "app.py"], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert (done.returncode, HTTPS_REQUIRED in done.stderr.splitlines()[-1]) == (1, True)
