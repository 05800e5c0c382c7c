"""The load balancer: one route per agent, health checks, SSE-friendly idle timeout, HTTPS when configured."""

from __future__ import annotations

from typing import Any

import pytest

from agent_runtime.agents import AGENTS
from stacks.constructs.api_load_balancer import NO_CERTIFICATE_WARNING

from .support import CERT_ARN, Synth


def _attributes(s: Synth) -> dict[str, str]:
    (alb,) = s.resources("Agents", "AWS::ElasticLoadBalancingV2::LoadBalancer").values()
    return {a["Key"]: a["Value"] for a in alb["Properties"]["LoadBalancerAttributes"] if isinstance(a["Value"], str)}


def _listeners(s: Synth) -> dict[int, dict[str, Any]]:
    found = s.resources("Agents", "AWS::ElasticLoadBalancingV2::Listener").values()
    return {listener["Properties"]["Port"]: listener["Properties"] for listener in found}


def _routes(s: Synth) -> dict[str, list[str]]:
    """Path patterns per target group's agent."""
    routes = {}
    for rule in s.resources("Agents", "AWS::ElasticLoadBalancingV2::ListenerRule").values():
        (action,) = rule["Properties"]["Actions"]
        group = s.path_of("Agents", action["TargetGroupArn"]["Ref"])
        (condition,) = rule["Properties"]["Conditions"]
        routes[group.split("/")[2].removesuffix("Targets")] = condition["PathPatternConfig"]["Values"]
    return routes


def test_load_balancer_is_internet_facing(default_synth: Synth) -> None:
    (alb,) = default_synth.resources("Agents", "AWS::ElasticLoadBalancingV2::LoadBalancer").values()
    assert alb["Properties"]["Scheme"] == "internet-facing"


@pytest.mark.parametrize("agent", sorted(AGENTS))
def test_each_agent_has_its_route(default_synth: Synth, agent: str) -> None:
    assert _routes(default_synth)[agent] == [f"/v1/agents/{agent}", f"/v1/agents/{agent}/*"]


def test_no_other_routes(default_synth: Synth) -> None:
    assert sorted(_routes(default_synth)) == sorted(AGENTS)


def test_other_paths_go_to_one_agent_service(default_synth: Synth) -> None:
    (action,) = _listeners(default_synth)[80]["DefaultActions"]
    assert action["Type"] == "forward"


def test_health_checks_hit_healthz(default_synth: Synth) -> None:
    groups = default_synth.resources("Agents", "AWS::ElasticLoadBalancingV2::TargetGroup").values()
    assert {g["Properties"]["HealthCheckPath"] for g in groups} == {"/healthz"}


def test_idle_timeout_outlasts_sse_heartbeats(default_synth: Synth) -> None:
    assert int(_attributes(default_synth)["idle_timeout.timeout_seconds"]) >= 120


def test_access_logs_are_on(default_synth: Synth) -> None:
    assert _attributes(default_synth)["access_logs.s3.enabled"] == "true"


def test_without_certificate_only_http_is_served(default_synth: Synth) -> None:
    assert [(p, listener["Protocol"]) for p, listener in _listeners(default_synth).items()] == [(80, "HTTP")]


def test_without_certificate_synth_warns(default_synth: Synth) -> None:
    assert NO_CERTIFICATE_WARNING in default_synth.warnings


def test_with_certificate_https_serves_the_api(variant_synth: Synth) -> None:
    https = _listeners(variant_synth)[443]
    assert (https["Protocol"], https["Certificates"]) == ("HTTPS", [{"CertificateArn": CERT_ARN}])


def test_with_certificate_http_redirects_to_https(variant_synth: Synth) -> None:
    (action,) = _listeners(variant_synth)[80]["DefaultActions"]
    assert (action["Type"], action["RedirectConfig"]["Protocol"], action["RedirectConfig"]["Port"]) == (
        "redirect", "HTTPS", "443")


def test_with_certificate_routes_are_on_https(variant_synth: Synth) -> None:
    listeners = {r["Properties"]["ListenerArn"]["Ref"]
                 for r in variant_synth.resources("Agents", "AWS::ElasticLoadBalancingV2::ListenerRule").values()}
    assert [variant_synth.path_of("Agents", lid).split("/")[3] for lid in listeners] == ["Https"]


def test_with_certificate_synth_does_not_warn(variant_synth: Synth) -> None:
    assert NO_CERTIFICATE_WARNING not in variant_synth.warnings


def test_api_base_url_output(default_synth: Synth, variant_synth: Synth) -> None:
    urls = [s.template("Agents")["Outputs"]["ApiBaseUrl"]["Value"] for s in (default_synth, variant_synth)]
    assert (urls[0]["Fn::Join"][1][0], urls[1]) == ("http://", "https://agents.example.com")
