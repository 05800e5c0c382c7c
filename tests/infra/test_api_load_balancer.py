"""The load balancer: one route per agent, health checks, SSE-friendly idle timeout, HTTPS when configured."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agent_runtime.agents import AGENTS
from stacks.constructs.api_load_balancer import NO_CERTIFICATE_WARNING

from .support import CERT_ARN, ZONE_ID, Synth


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
    (action,) = _listeners(default_synth)[443]["DefaultActions"]
    assert action["Type"] == "forward"


def test_health_checks_hit_healthz(default_synth: Synth) -> None:
    groups = default_synth.resources("Agents", "AWS::ElasticLoadBalancingV2::TargetGroup").values()
    assert {g["Properties"]["HealthCheckPath"] for g in groups} == {"/healthz"}


def test_idle_timeout_outlasts_sse_heartbeats(default_synth: Synth) -> None:
    assert int(_attributes(default_synth)["idle_timeout.timeout_seconds"]) >= 120


def test_access_logs_are_on(default_synth: Synth) -> None:
    assert _attributes(default_synth)["access_logs.s3.enabled"] == "true"


def test_allow_http_serves_only_plain_http(variant_synth: Synth) -> None:
    assert [(p, listener["Protocol"]) for p, listener in _listeners(variant_synth).items()] == [(80, "HTTP")]


def test_allow_http_synth_warns(variant_synth: Synth) -> None:
    assert NO_CERTIFICATE_WARNING in variant_synth.warnings


def test_with_certificate_https_serves_the_api(default_synth: Synth) -> None:
    https = _listeners(default_synth)[443]
    assert (https["Protocol"], https["Certificates"]) == ("HTTPS", [{"CertificateArn": CERT_ARN}])


def test_https_uses_the_recommended_tls_policy(default_synth: Synth) -> None:
    assert _listeners(default_synth)[443]["SslPolicy"].startswith("ELBSecurityPolicy-TLS13")


def test_with_certificate_http_redirects_to_https(default_synth: Synth) -> None:
    (action,) = _listeners(default_synth)[80]["DefaultActions"]
    assert (action["Type"], action["RedirectConfig"]["Protocol"], action["RedirectConfig"]["Port"]) == (
        "redirect", "HTTPS", "443")


def test_with_certificate_routes_are_on_https(default_synth: Synth) -> None:
    listeners = {r["Properties"]["ListenerArn"]["Ref"]
                 for r in default_synth.resources("Agents", "AWS::ElasticLoadBalancingV2::ListenerRule").values()}
    assert [default_synth.path_of("Agents", lid).split("/")[3] for lid in listeners] == ["Https"]


def test_with_certificate_synth_does_not_warn(default_synth: Synth) -> None:
    assert NO_CERTIFICATE_WARNING not in default_synth.warnings


def test_with_a_hosted_zone_a_dns_validated_certificate_is_issued(domain_synth: Synth) -> None:
    (cert,) = domain_synth.resources("Agents", "AWS::CertificateManager::Certificate").values()
    assert (cert["Properties"]["DomainName"], cert["Properties"]["DomainValidationOptions"][0]["HostedZoneId"]) == (
        "agents.example.com", ZONE_ID)


def test_with_a_hosted_zone_the_issued_certificate_serves_https(domain_synth: Synth) -> None:
    (cert,) = domain_synth.resources("Agents", "AWS::CertificateManager::Certificate")
    assert _listeners(domain_synth)[443]["Certificates"] == [{"CertificateArn": {"Ref": cert}}]


def test_with_a_hosted_zone_the_domain_is_an_alias_of_the_load_balancer(domain_synth: Synth) -> None:
    (record,) = domain_synth.resources("Agents", "AWS::Route53::RecordSet").values()
    props = record["Properties"]
    assert (props["Name"], props["Type"], props["HostedZoneId"], "DNSName" in json.dumps(props["AliasTarget"])) == (
        "agents.example.com.", "A", ZONE_ID, True)


def test_a_given_certificate_makes_no_dns_record(default_synth: Synth) -> None:
    assert default_synth.resources("Agents", "AWS::Route53::RecordSet") == {}


def test_api_base_url_output(default_synth: Synth, variant_synth: Synth, domain_synth: Synth) -> None:
    urls = [s.template("Agents")["Outputs"]["ApiBaseUrl"]["Value"] for s in (default_synth, variant_synth, domain_synth)]
    assert (urls[0]["Fn::Join"][1][0], urls[1]["Fn::Join"][1][0], urls[2]) == (
        "https://", "http://", "https://agents.example.com")


def _web_acl(s: Synth) -> dict[str, Any]:
    (acl,) = s.resources("Agents", "AWS::WAFv2::WebACL").values()
    return acl["Properties"]


def test_waf_guards_the_load_balancer(default_synth: Synth) -> None:
    (assoc,) = default_synth.resources("Agents", "AWS::WAFv2::WebACLAssociation").values()
    (alb,) = default_synth.resources("Agents", "AWS::ElasticLoadBalancingV2::LoadBalancer")
    assert assoc["Properties"]["ResourceArn"] == {"Ref": alb}


def test_waf_limits_each_source_ip_to_the_configured_rate(default_synth: Synth) -> None:
    (rate,) = [r["Statement"]["RateBasedStatement"] for r in _web_acl(default_synth)["Rules"]
               if "RateBasedStatement" in r["Statement"]]
    assert (rate["AggregateKeyType"], rate["Limit"]) == ("IP", 2000)


def test_waf_applies_the_aws_common_rule_set(default_synth: Synth) -> None:
    groups = [r["Statement"]["ManagedRuleGroupStatement"]["Name"] for r in _web_acl(default_synth)["Rules"]
              if "ManagedRuleGroupStatement" in r["Statement"]]
    assert groups == ["AWSManagedRulesCommonRuleSet"]


def test_waf_can_be_turned_off(domain_synth: Synth) -> None:
    assert domain_synth.resources("Agents", "AWS::WAFv2::WebACL") == {}
