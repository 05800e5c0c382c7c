"""Traces in AWS (`traces` on): each agent's service exports straight to X-Ray's OTLP endpoint, its task role
may write spans there and nothing more, and the dashboard links to the trace views; off by default."""

from __future__ import annotations

import json

import pytest

from agent_runtime import envnames as env
from stacks.grants import TRACE_EXPORT_ACTIONS

from .support import Synth
from .test_agents_stack import _env, _task_role_statements
from .test_observability_stack import _dashboard

AGENTS = ("research", "content", "analysis")


@pytest.mark.parametrize("agent", AGENTS)
def test_each_service_exports_its_traces_to_xrays_otlp_endpoint(domain_synth: Synth, agent: str) -> None:
    endpoint = domain_synth.render(_env(domain_synth, agent)[env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT], "Agents")
    assert endpoint.startswith("https://xray.") and endpoint.endswith("/v1/traces")


@pytest.mark.parametrize("agent", AGENTS)
def test_each_service_names_itself_and_samples_the_configured_share(domain_synth: Synth, agent: str) -> None:
    variables = _env(domain_synth, agent)
    assert (variables[env.OTEL_SERVICE_NAME], variables[env.OTEL_TRACES_SAMPLER],
            variables[env.OTEL_TRACES_SAMPLER_ARG]) == (f"AgentPlatform-{agent}", "parentbased_traceidratio", "0.25")


@pytest.mark.parametrize("agent", AGENTS)
def test_the_task_role_may_write_spans(domain_synth: Synth, agent: str) -> None:
    statements = [st for st in _task_role_statements(domain_synth, agent) if "xray:PutSpans" in json.dumps(st)]
    assert [(sorted(st["Action"]), st["Resource"]) for st in statements] == [(sorted(TRACE_EXPORT_ACTIONS), "*")]


def test_traces_are_off_by_default(default_synth: Synth) -> None:
    assert not any(k.startswith("OTEL_") for a in AGENTS for k in _env(default_synth, a))
    assert not any("xray:PutSpans" in json.dumps(_task_role_statements(default_synth, a)) for a in AGENTS)


def test_the_dashboard_links_to_the_trace_views(domain_synth: Synth) -> None:
    assert "#xray:traces/query" in _dashboard(domain_synth)


def test_the_dashboard_has_no_trace_links_without_traces(default_synth: Synth) -> None:
    assert "xray:traces" not in _dashboard(default_synth)
