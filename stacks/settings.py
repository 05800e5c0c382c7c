"""Typed deployment settings, read once from CDK context (`cdk.json` and `-c key=value`).

Every problem is collected and reported together in one `SettingsError`, so a bad
`cdk.json` fails synth with a single readable message instead of a stack trace.
Values given with `-c` arrive as strings; they are coerced here.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from agent_runtime import envnames as env
from agent_runtime.agent_file import (
    FARGATE_MEMORY,
    AgentFileError,
    AgentSpec,
    agents_file_path,
    fargate_size_problem,
    read_agents_file,
)
from agent_runtime.limits import APPROVAL_TIMEOUT_POLICIES, ApprovalTimeoutPolicy
from agent_runtime.settings import (
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_QUEUE_VISIBILITY_S,
    MAX_QUEUE_VISIBILITY_S,
    RECEIVES_BEYOND_ATTEMPTS,
    attempts_within,
)

__all__ = ["FARGATE_MEMORY", "AgentSize", "PlatformSettings", "SettingsError", "load_settings"]
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192,
                      2557, 2922, 3288, 3653)
# Powertools for AWS Lambda (Python) V3, public layer, ARM64, Python 3.14. The layer is built with the
# `[all]` extras, so it ships pydantic v2 (the tools' only third-party dependency besides boto3).
DEFAULT_POWERTOOLS_LAYER = (
    "arn:aws:lambda:{region}:017000801446:layer:AWSLambdaPowertoolsPythonV3-python314-arm64:36"
)
_CERT_ARN = re.compile(r"^arn:aws[a-z-]*:acm:[a-z]{2}(-[a-z]+)+-\d:\d{12}:certificate/[0-9a-f-]{36}$")
_LAYER_ARN = re.compile(r"^arn:aws[a-z-]*:lambda:(\{region\}|[a-z]{2}(-[a-z]+)+-\d):\d{12}:layer:[\w-]+:\d+$")
_IMAGE_URI = re.compile(r"^[\w.-]+(:\d+)?/[\w./-]+(:[\w.-]+|@sha256:[0-9a-f]{64})$")
_PREFIX = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,24}$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
_HOSTNAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_ZONE_ID = re.compile(r"^Z[A-Z0-9]{1,31}$")
_TOPIC_ARN = re.compile(r"^arn:aws[a-z-]*:sns:[a-z]{2}(-[a-z]+)+-\d:\d{12}:[\w-]{1,256}$")
_TABLE_NAME = re.compile(r"^[\w.-]{3,255}$")
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_SECRET_ID = re.compile(r"^[\w/+=.@:-]{1,2048}$")
# What the message says when no HTTPS is configured and plain HTTP was not chosen explicitly.
HTTPS_REQUIRED = (
    "certificate_arn: the API must be served over HTTPS; pass -c certificate_arn=arn:aws:acm:... "
    "or -c domain_name=api.example.com -c hosted_zone_id=Z... (a DNS-validated certificate is issued), "
    "or -c allow_http=true for a throwaway test deployment")
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
# SQS's redrive limit (up to 1000): by default it gives the workers the runtime's default attempts,
# and it may not be so low that they get none (see `attempts_within`).
DEFAULT_MAX_RECEIVE_COUNT = DEFAULT_MAX_ATTEMPTS + RECEIVES_BEYOND_ATTEMPTS
MIN_MAX_RECEIVE_COUNT = 1 + RECEIVES_BEYOND_ATTEMPTS
MIN_QUEUE_VISIBILITY_S = 30  # the worker extends a message's visibility every third of it


class SettingsError(ValueError):
    """The deployment settings are invalid; `problems` lists every one found."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid deployment settings (cdk.json context / -c):\n" +
                         "\n".join(f"  - {p}" for p in problems))
        self.problems = problems


def _default_agents() -> dict[str, AgentSpec]:
    """The agents of the default agents file (AGENT_PLATFORM_AGENTS_FILE, else `agents.toml`)."""
    return read_agents_file(agents_file_path())


@dataclass(frozen=True)
class AgentSize:
    """Per-agent Fargate size and scaling bounds: `task_size`, then the agent's `[agents.service]` in the
    agents file, then its `agent_sizes` entry, each over the one before."""

    cpu: int = 512
    memory_mib: int = 1024
    min_tasks: int = 1
    max_tasks: int = 4


@dataclass(frozen=True)
class PlatformSettings:
    """Everything the stacks need to know, validated."""

    prefix: str = "AgentPlatform"
    region: str | None = None
    agents: Mapping[str, AgentSize] = field(default_factory=lambda: {n: AgentSize() for n in _default_agents()})
    # Every agent of the agents file (`agents_file`), deployed or not; `agents` says which are deployed.
    agent_specs: Mapping[str, AgentSpec] = field(default_factory=_default_agents)
    nat_gateways: int = 1
    certificate_arn: str | None = None
    domain_name: str | None = None
    hosted_zone_id: str | None = None
    hosted_zone_name: str | None = None
    allow_http: bool = False
    api_docs: bool = False
    waf: bool = True
    waf_rate_limit: int = 2000
    max_receive_count: int = DEFAULT_MAX_RECEIVE_COUNT
    queue_visibility_s: int = DEFAULT_QUEUE_VISIBILITY_S
    log_retention_days: int = 30
    model: str = "gpt-4o-mini"
    llm_base_url: str | None = None
    log_level: str = "INFO"
    worker_concurrency: int = 200  # bench section P's tasks per core x the default size's vCPUs
    image_uri: str | None = None
    container_arm64: bool = True
    powertools_layer_arn: str = DEFAULT_POWERTOOLS_LAYER
    alarm_email: str | None = None
    alarm_topic_arn: str | None = None
    retain_data: bool = True
    existing_table_name: str | None = None
    existing_documents_bucket: str | None = None
    existing_reports_bucket: str | None = None
    existing_llm_api_key_secret: str | None = None
    existing_api_keys_secret: str | None = None
    alb_idle_timeout_s: int = 300
    fargate_spot: bool = False
    backlog_per_task: int = 20
    approval_timeout_policy: ApprovalTimeoutPolicy = "deny"
    traces: bool = False  # the agents send OpenTelemetry traces to X-Ray's OTLP endpoint (docs/traces.md)
    trace_sample_percent: int = 100  # of the tasks (traces begun by the platform) that are traced
    aws_transport: str = "light"  # how the agents make their per-step AWS calls: light | boto3

    @property
    def https(self) -> bool:
        """Whether the API is served over HTTPS (a certificate given, or one issued for the domain)."""
        return bool(self.certificate_arn or (self.domain_name and self.hosted_zone_id))

    @property
    def zone_name(self) -> str | None:
        """The hosted zone's name: `hosted_zone_name`, else the domain name's parent (api.example.com -> example.com)."""
        if self.hosted_zone_name or not self.domain_name:
            return self.hosted_zone_name
        return self.domain_name.split(".", 1)[1]

    @property
    def deployed_agents(self) -> dict[str, AgentSpec]:
        """The declarations of the agents deployed (`agents`), in that order."""
        return {name: self.agent_specs[name] for name in self.agents}

    @property
    def max_attempts(self) -> int:
        """Attempts the workers make at a task, so that they, not SQS, fail it with its reason."""
        return attempts_within(self.max_receive_count)


class _Reader:
    """Reads context values with coercion, recording problems instead of raising."""

    def __init__(self, get: Callable[[str], Any]) -> None:
        self._get = get
        self.problems: list[str] = []

    def raw(self, key: str) -> Any:
        return self._get(key)

    def integer(self, key: str, default: int, lo: int, hi: int) -> int:
        value = self._get(key)
        if value is None:
            return default
        try:
            number = int(str(value).strip()) if not isinstance(value, bool) else None
        except ValueError:
            number = None
        if number is None or not lo <= number <= hi:
            self.problems.append(f"{key}: expected a whole number from {lo} to {hi}, got {value!r}")
            return default
        return number

    def boolean(self, key: str, default: bool) -> bool:
        value = self._get(key)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "1", "yes"):
            return True
        if text in ("false", "0", "no"):
            return False
        self.problems.append(f"{key}: expected true or false, got {value!r}")
        return default

    def text(self, key: str, default: str | None, pattern: re.Pattern[str] | None = None,
            hint: str = "") -> str | None:
        value = self._get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            return default
        if not isinstance(value, str) or (pattern is not None and not pattern.match(value.strip())):
            self.problems.append(f"{key}: {hint or 'invalid value'}, got {value!r}")
            return default
        return value.strip()

    def choice(self, key: str, default: str, choices: tuple[str, ...], *, upper: bool = True) -> str:
        """One of `choices`, matched case-insensitively and returned in their case (upper or lower)."""
        value = self._get(key)
        if value is None:
            return default
        text = str(value).strip().upper() if upper else str(value).strip().lower()
        if text not in choices:
            self.problems.append(f"{key}: expected one of {', '.join(choices)}, got {value!r}")
            return default
        return text


def _json_value(reader: _Reader, key: str) -> Any:
    """A context value that may be given as JSON text (as `-c key='{...}'` delivers it)."""
    value = reader.raw(key)
    if isinstance(value, str) and value.strip().startswith(("[", "{")):
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            reader.problems.append(f"{key}: not valid JSON ({exc.msg})")
            return None
    return value


def _size(reader: _Reader, where: str, raw: Any, base: AgentSize) -> AgentSize:
    """An `AgentSize` from an object with any of cpu, memory_mib, min_tasks, max_tasks over `base`."""
    if raw is None:
        return base
    if not isinstance(raw, dict):
        reader.problems.append(f"{where}: expected an object with cpu, memory_mib, min_tasks, max_tasks; got {raw!r}")
        return base
    sub = _Reader(raw.get)
    size = AgentSize(
        cpu=sub.integer("cpu", base.cpu, 256, 16384),
        memory_mib=sub.integer("memory_mib", base.memory_mib, 512, 122880),
        min_tasks=sub.integer("min_tasks", base.min_tasks, 1, 100),
        max_tasks=sub.integer("max_tasks", base.max_tasks, 1, 1000),
    )
    reader.problems += [f"{where}.{p}" for p in sub.problems]
    reader.problems += [f"{where}: unknown key {k!r}" for k in sorted(set(raw) - set(AgentSize.__dataclass_fields__))]
    return size


def _check_size(reader: _Reader, where: str, size: AgentSize) -> None:
    problem = fargate_size_problem(size.cpu, size.memory_mib)
    if problem:
        reader.problems.append(f"{where}: {problem}")
    if size.min_tasks > size.max_tasks:
        reader.problems.append(f"{where}: min_tasks {size.min_tasks} exceeds max_tasks {size.max_tasks}")


def _declared_agents(reader: _Reader) -> dict[str, AgentSpec]:
    """The agents of `agents_file` (else the default file), each problem of the file as one line."""
    given = reader.text("agents_file", None, None, "expected the path of an agents file (TOML)")
    try:
        return read_agents_file(Path(given).expanduser() if given else agents_file_path())
    except AgentFileError as exc:
        reader.problems += [f"agents_file: {exc.source}: {p}" for p in exc.problems]
        return {}


def _agent_sizes(reader: _Reader, declared: Mapping[str, AgentSpec]) -> dict[str, AgentSize]:
    """Which agents to deploy (`agents`, default all declared) and their sizes (`task_size`, the agents
    file's `[agents.service]`, `agent_sizes`)."""
    known = ", ".join(sorted(declared))
    names = _json_value(reader, "agents")
    if names is None:
        names = list(declared)
    elif isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    if not isinstance(names, list) or not names:
        reader.problems.append(f"agents: expected a non-empty list of agent names ({known}), got {names!r}")
        names = list(declared)
    for name in names:
        if name not in declared:
            reader.problems.append(f"agents: unknown agent {name!r}; known agents: {known}")
    base = _size(reader, "task_size", _json_value(reader, "task_size"), AgentSize())
    overrides = _json_value(reader, "agent_sizes") or {}
    if not isinstance(overrides, dict):
        reader.problems.append(f"agent_sizes: expected an object {{agent: {{cpu, memory_mib, ...}}}}, got {overrides!r}")
        overrides = {}
    for name in overrides:
        if name not in declared:
            reader.problems.append(f"agent_sizes: unknown agent {name!r}; known agents: {known}")
    _check_size(reader, "task_size", base)
    sizes = {}
    for name in dict.fromkeys(n for n in names if n in declared):
        sized = declared[name].service.model_dump(exclude_none=True)  # valid on its own, checked by the file
        declared_size = dataclasses.replace(base, **sized)
        sizes[name] = _size(reader, f"agent_sizes.{name}", overrides.get(name), declared_size)
        if name in overrides or sized:
            where = f"agent_sizes.{name}" if name in overrides else f"agents_file: agent {name!r}, service"
            _check_size(reader, where, sizes[name])
    return sizes


_KNOWN_KEYS = frozenset({
    "prefix", "region", "agents", "agents_file", "task_size", "agent_sizes", "nat_gateways", "certificate_arn", "domain_name",
    "hosted_zone_id", "hosted_zone_name", "allow_http", "api_docs", "waf", "waf_rate_limit",
    "max_receive_count", "queue_visibility_s", "log_retention_days", "model", "llm_base_url", "log_level",
    "worker_concurrency", "image_uri", "container_architecture", "powertools_layer_arn", "alarm_email",
    "alarm_topic_arn", "retain_data", "existing_table_name", "existing_documents_bucket", "existing_reports_bucket",
    "existing_llm_api_key_secret", "existing_api_keys_secret", "alb_idle_timeout_s", "fargate_spot", "backlog_per_task",
    "approval_timeout_policy", "traces", "trace_sample_percent", "aws_transport",
})


def _cross_checks(settings: PlatformSettings) -> list[str]:
    """Problems that involve more than one key (each key on its own was valid)."""
    problems = []
    if settings.log_retention_days not in LOG_RETENTION_DAYS:
        problems.append(f"log_retention_days: CloudWatch Logs accepts one of "
                        f"{', '.join(map(str, LOG_RETENTION_DAYS))}, got {settings.log_retention_days}")
    if settings.hosted_zone_id and not settings.domain_name:
        problems.append("hosted_zone_id: also set -c domain_name=<the API's host name in that zone>")
    if settings.hosted_zone_name and not settings.hosted_zone_id:
        problems.append("hosted_zone_name: also set -c hosted_zone_id=Z... (the zone's id)")
    zone = settings.hosted_zone_name
    if zone and settings.domain_name and not ("." + settings.domain_name).endswith("." + zone):
        problems.append(f"hosted_zone_name: {settings.domain_name} is not in the zone {zone}")
    return problems


def load_settings(context: Mapping[str, Any]) -> PlatformSettings:
    """Settings from CDK context (e.g. `app.node.get_all_context()`); raises `SettingsError`.

    Keys with '@' or ':' belong to CDK itself (feature flags, lookups) and are skipped; any
    other unknown key is reported, so a typo does not silently fall back to a default.
    """
    r = _Reader(context.get)
    r.problems += [f"{key}: unknown setting; known settings: {', '.join(sorted(_KNOWN_KEYS))}"
                   for key in sorted(context) if key not in _KNOWN_KEYS and not any(c in key for c in "@:")]
    declared = _declared_agents(r)
    agents = _agent_sizes(r, declared) if declared else {}
    settings = PlatformSettings(
        prefix=r.text("prefix", "AgentPlatform", _PREFIX, "expected letters and digits, starting with a letter")
        or "AgentPlatform",
        region=r.text("region", None, _REGION, "expected an AWS region like us-east-1"),
        agents=agents,
        agent_specs=declared,
        nat_gateways=r.integer("nat_gateways", 1, 0, 2),
        certificate_arn=r.text("certificate_arn", None, _CERT_ARN,
                              "expected an ACM certificate ARN like "
                              "arn:aws:acm:us-east-1:123456789012:certificate/<uuid>"),
        domain_name=r.text("domain_name", None, _HOSTNAME, "expected a lowercase DNS name like api.example.com"),
        hosted_zone_id=r.text("hosted_zone_id", None, _ZONE_ID, "expected a Route 53 hosted zone id like Z0123456789ABC"),
        hosted_zone_name=r.text("hosted_zone_name", None, _HOSTNAME, "expected a lowercase DNS name like example.com"),
        allow_http=r.boolean("allow_http", False),
        api_docs=r.boolean("api_docs", False),
        waf=r.boolean("waf", True),
        waf_rate_limit=r.integer("waf_rate_limit", 2000, 100, 2_000_000_000),
        max_receive_count=r.integer("max_receive_count", DEFAULT_MAX_RECEIVE_COUNT, MIN_MAX_RECEIVE_COUNT, 1000),
        queue_visibility_s=r.integer("queue_visibility_s", DEFAULT_QUEUE_VISIBILITY_S, MIN_QUEUE_VISIBILITY_S,
                                     MAX_QUEUE_VISIBILITY_S),
        log_retention_days=r.integer("log_retention_days", 30, 1, 3653),
        model=r.text("model", "gpt-4o-mini") or "gpt-4o-mini",
        llm_base_url=r.text("llm_base_url", None, re.compile(r"^https?://\S+$"), "expected an http(s) URL"),
        log_level=r.choice("log_level", "INFO", _LOG_LEVELS),
        worker_concurrency=r.integer("worker_concurrency", PlatformSettings.worker_concurrency, 1, 1000),
        image_uri=r.text("image_uri", None, _IMAGE_URI,
                        "expected a container image URI like 123456789012.dkr.ecr.us-east-1.amazonaws.com/repo:tag"),
        container_arm64=r.choice("container_architecture", "ARM64", ("ARM64", "X86_64")) == "ARM64",
        powertools_layer_arn=r.text("powertools_layer_arn", DEFAULT_POWERTOOLS_LAYER, _LAYER_ARN,
                                   "expected a Lambda layer version ARN (region may be '{region}')")
        or DEFAULT_POWERTOOLS_LAYER,
        alarm_email=r.text("alarm_email", None, _EMAIL, "expected an email address"),
        alarm_topic_arn=r.text("alarm_topic_arn", None, _TOPIC_ARN, "expected an SNS topic ARN"),
        retain_data=r.boolean("retain_data", True),
        existing_table_name=r.text("existing_table_name", None, _TABLE_NAME, "expected a DynamoDB table name"),
        existing_documents_bucket=r.text("existing_documents_bucket", None, _BUCKET_NAME, "expected an S3 bucket name"),
        existing_reports_bucket=r.text("existing_reports_bucket", None, _BUCKET_NAME, "expected an S3 bucket name"),
        existing_llm_api_key_secret=r.text("existing_llm_api_key_secret", None, _SECRET_ID,
                                           "expected a Secrets Manager secret name or ARN"),
        existing_api_keys_secret=r.text("existing_api_keys_secret", None, _SECRET_ID,
                                        "expected a Secrets Manager secret name or ARN"),
        alb_idle_timeout_s=r.integer("alb_idle_timeout_s", 300, 60, 4000),
        fargate_spot=r.boolean("fargate_spot", False),
        backlog_per_task=r.integer("backlog_per_task", 20, 1, 10_000),
        approval_timeout_policy=cast(ApprovalTimeoutPolicy, r.choice(
            "approval_timeout_policy", "deny", APPROVAL_TIMEOUT_POLICIES, upper=False)),
        traces=r.boolean("traces", False),
        trace_sample_percent=r.integer("trace_sample_percent", 100, 0, 100),
        aws_transport=r.choice("aws_transport", "light", env.AWS_TRANSPORTS, upper=False),
    )
    r.problems += _cross_checks(settings)
    if not (settings.https or settings.allow_http or context.get("certificate_arn")):  # a bad ARN is reported
        r.problems.append(HTTPS_REQUIRED)
    if r.problems:
        raise SettingsError(r.problems)
    return settings
