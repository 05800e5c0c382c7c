"""What a task costs in AWS, from the requests the rehearsal recorded, priced with a dated table.

Prices: AWS public list prices for us-east-1 as of 2026-12-01 (on-demand, no free tier), ARM64
for Lambda and Fargate as the stacks deploy them. The LLM is not included.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any

from rehearsal.gateway import PROGRESS_WRITE, Call

PRICES_DATE = "2026-12-01"
PRICES: dict[str, float] = {
    "dynamodb_write_unit": 0.625 / 1e6,  # on-demand write request unit (1 KB)
    "dynamodb_read_unit": 0.125 / 1e6,  # on-demand read request unit (4 KB strongly consistent)
    "sqs_request": 0.40 / 1e6,  # standard queue, per 64 KB chunk
    "lambda_request": 0.20 / 1e6,
    "lambda_gb_second": 0.0000133334,  # arm64
    "s3_write_request": 0.005 / 1e3,  # PUT, COPY, POST, LIST
    "s3_read_request": 0.0004 / 1e3,  # GET, HEAD and others
    "sns_publish": 0.50 / 1e6,
    "secretsmanager_call": 0.05 / 1e4,
    "logs_ingested_gb": 0.50,
    "fargate_vcpu_hour": 0.03238,  # Linux/ARM64
    "fargate_gb_hour": 0.00356,
    # fixed, per month (730 h)
    "alb_hour": 0.0225,
    "nat_gateway_hour": 0.045,
    "interface_endpoint_hour": 0.01,  # per AZ
    "secret_month": 0.40,
    "alarm_month": 0.10,
    "dashboard_month": 3.00,
    "public_ipv4_hour": 0.005,  # every public IPv4 address, in use or not
    "waf_web_acl_month": 5.00,
    "waf_rule_month": 1.00,  # per rule or managed rule group
}
HOURS_PER_MONTH = 730


def platform_calls(calls: Iterable[Call], task_id: str | None) -> list[Call]:
    """The calls the platform made for `task_id`: its services and functions (not the operator's probes)."""
    return [c for c in calls if task_id and c.task_id == task_id
            and c.principal.startswith(("service:", "function:"))]


def request_counts(calls: Iterable[Call], kind: str = "work") -> dict[str, int]:
    """service:Action -> count of one kind of the task's requests (`gateway.shape`):
    "work", the same in every run; "progress", the batched writes of its events and checkpoints (their
    number follows the timing of the batches; `items_batch_written` does not); "time", what repeats
    with time (polls, lease renewals, visibility extensions). Denied requests are included: AWS bills
    them too for most services."""
    def kind_of(c: Call) -> str:
        found = c.extra.get("shape")
        return "work" if not found else "progress" if found == PROGRESS_WRITE else "time"

    return dict(sorted(Counter(c.action for c in calls if kind_of(c) == kind).items()))


def items_batch_written(calls: Iterable[Call]) -> int:
    """Items the task's BatchWriteItem requests carried (the same in every run, however they were batched)."""
    return sum(int(c.extra.get("items", 0)) for c in calls if c.action == "dynamodb:BatchWriteItem")


def price_calls(calls: Iterable[Call]) -> dict[str, float]:
    """Dollars by service for a set of calls."""
    out: dict[str, float] = defaultdict(float)
    for c in calls:
        name = c.action.split(":", 1)[1]
        if c.service == "dynamodb":
            out["dynamodb"] += (c.extra.get("wru", 0) * PRICES["dynamodb_write_unit"]
                                + c.extra.get("rru", 0) * PRICES["dynamodb_read_unit"])
        elif c.service == "sqs":
            out["sqs"] += max(1, math.ceil(max(c.bytes_in, c.bytes_out) / 65536)) * PRICES["sqs_request"]
        elif c.service == "lambda":
            billed_s = math.ceil(c.duration_ms) / 1000
            out["lambda"] += PRICES["lambda_request"] + billed_s * c.memory_mb / 1024 * PRICES["lambda_gb_second"]
            out["logs"] += c.extra.get("log_bytes", 0) / 1e9 * PRICES["logs_ingested_gb"]
        elif c.service == "s3":
            write = name in ("PutObject", "ListBucket", "CopyObject", "ListBucketVersions")
            out["s3"] += PRICES["s3_write_request" if write else "s3_read_request"]
        elif c.service == "sns" and name == "Publish":
            out["sns"] += PRICES["sns_publish"]
        elif c.service == "secretsmanager":
            out["secretsmanager"] += PRICES["secretsmanager_call"]
    return dict(out)


def fargate_cost(cpu_seconds: float, cpu_units: int, memory_mib: int) -> float:
    """The share of a container's price the task used: its CPU seconds, with memory in proportion."""
    vcpus = cpu_units / 1024
    per_vcpu_second = (PRICES["fargate_vcpu_hour"] + (memory_mib / 1024 / vcpus) * PRICES["fargate_gb_hour"]) / 3600
    return cpu_seconds * per_vcpu_second


def log_cost(log_bytes: int) -> float:
    return log_bytes / 1e9 * PRICES["logs_ingested_gb"]


def fixed_monthly(assembly: Any) -> dict[str, float]:
    """The platform at rest, per month, from the templates: ALB, NAT, endpoints, minimum tasks, secrets,
    alarms and dashboards, public IPv4 addresses (the NAT's Elastic IPs, one per ALB subnet), WAF
    (request-priced items at rest are negligible and left out)."""
    count = Counter(res["Type"] for _, _, res in _all(assembly))
    out = {
        "load balancer": count["AWS::ElasticLoadBalancingV2::LoadBalancer"] * PRICES["alb_hour"] * HOURS_PER_MONTH,
        "NAT gateways": count["AWS::EC2::NatGateway"] * PRICES["nat_gateway_hour"] * HOURS_PER_MONTH,
        "secrets": count["AWS::SecretsManager::Secret"] * PRICES["secret_month"],
        "alarms and dashboard": (count["AWS::CloudWatch::Alarm"] * PRICES["alarm_month"]
                                 + count["AWS::CloudWatch::Dashboard"] * PRICES["dashboard_month"]),
    }
    interface = [r for _, _, r in _all(assembly) if r["Type"] == "AWS::EC2::VPCEndpoint"
                 and r["Properties"].get("VpcEndpointType") == "Interface"]
    azs = 2
    out["interface endpoints"] = len(interface) * azs * PRICES["interface_endpoint_hour"] * HOURS_PER_MONTH
    task_defs = {lid: r["Properties"] for _, lid, r in _all(assembly) if r["Type"] == "AWS::ECS::TaskDefinition"}
    fargate = 0.0
    for _, _, r in _all(assembly):
        if r["Type"] == "AWS::ECS::Service":
            td = task_defs[r["Properties"]["TaskDefinition"]["Ref"]]
            tasks = int(r["Properties"].get("DesiredCount", 1))
            fargate += tasks * HOURS_PER_MONTH * (int(td["Cpu"]) / 1024 * PRICES["fargate_vcpu_hour"]
                                                  + int(td["Memory"]) / 1024 * PRICES["fargate_gb_hour"])
    out["Fargate minimum tasks"] = fargate
    public = count["AWS::EC2::EIP"] + sum(len(r["Properties"].get("Subnets", [])) for _, _, r in _all(assembly)
                                          if r["Type"] == "AWS::ElasticLoadBalancingV2::LoadBalancer"
                                          and r["Properties"].get("Scheme") == "internet-facing")
    out["public IPv4 addresses"] = public * PRICES["public_ipv4_hour"] * HOURS_PER_MONTH
    out["WAF"] = sum(PRICES["waf_web_acl_month"] + len(r["Properties"].get("Rules", [])) * PRICES["waf_rule_month"]
                     for _, _, r in _all(assembly) if r["Type"] == "AWS::WAFv2::WebACL")
    return {k: round(v, 2) for k, v in out.items()}


def _all(assembly: Any) -> Iterable[tuple[str, str, dict[str, Any]]]:
    for stack, template in assembly.templates.items():
        for lid, res in template.get("Resources", {}).items():
            yield stack, lid, res
