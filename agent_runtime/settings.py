"""Typed runtime settings, read once from the environment (prefix AGENT_PLATFORM_).

The OpenAI client's own names (OPENAI_BASE_URL, OPENAI_API_KEY) are honoured too.
Variable names live in `agent_runtime.envnames`, shared with the CDK stacks.
"""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Annotated, Any, Literal

import platformdirs
from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from agent_runtime import envnames as env
from agent_runtime.limits import ApprovalTimeoutPolicy
from agent_runtime.store.base import SessionBusyPolicy
from agent_runtime.tracing import EXPORTERS

# Queue defaults, written once: the CDK stacks deploy the same values (stacks.settings) and pass what
# they deploy back in through the environment, so the queue and its workers cannot disagree.
# A dead worker's task is picked up again after at most this long (the worker extends the message and
# renews its lease every third of it while the task runs), so a crashed container leaves a user's task
# frozen for at most ~40 s (this plus a long poll), not minutes.
DEFAULT_QUEUE_VISIBILITY_S = 30
MAX_QUEUE_VISIBILITY_S = 12 * 3600  # SQS's limit
DEFAULT_MAX_ATTEMPTS = 3
# Receives of a task's message beyond its attempts before SQS dead-letters it: one to see that the last
# attempt ended, so the worker fails the task with its reason (and dead-letters the message itself), and
# one spare for a delivery the worker could not claim (a store error). Give-backs spend none: a task handed
# back, or put back because another worker holds its lease, is requeued as a fresh message.
RECEIVES_BEYOND_ATTEMPTS = 2


def attempts_within(max_receive_count: int) -> int:
    """Attempts a worker may make at a task whose queue dead-letters after `max_receive_count` receives."""
    return max_receive_count - RECEIVES_BEYOND_ATTEMPTS


def _default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("agent-platform", appauthor=False))


class Settings(BaseSettings):
    """Everything the runtime reads from its environment."""

    model_config = SettingsConfigDict(env_prefix=env.PREFIX, extra="ignore", frozen=True)

    agent: str | None = None
    # Read by `agent_runtime.agent_file` when `agent_runtime.agents` is first imported (before settings are);
    # listed here so they are documented and checked with the rest.
    agents_file: Path | None = Field(None, description="the agents file (TOML); default: agents.toml at the "
                                     "repository root")
    agents_json: str | None = Field(None, description="the declared agents as JSON, read instead of the file; "
                                    "the stack sets it on each service")
    model: str = Field("", description="model id; empty or 'offline' uses the offline model")
    base_url: str | None = Field(
        None, validation_alias=AliasChoices(env.PREFIX + "BASE_URL", env.OPENAI_BASE_URL)
    )
    api_key: SecretStr | None = Field(
        None, validation_alias=AliasChoices(env.PREFIX + "API_KEY", env.OPENAI_API_KEY)
    )
    tool_mode: Literal["native", "react"] = "native"
    model_max_retries: int = Field(4, ge=0, le=10)
    model_timeout_s: float = Field(120.0, gt=0, le=3600)
    model_stream: bool = Field(True, description="stream the model's text as it is written (live-only "
                               "`model.delta` events; native tool mode); false: one JSON reply per call")
    # JSON settings are parsed by `_parse_json` (NoDecode), so bad JSON gets a message, not a traceback.
    prices: Annotated[dict[str, tuple[float, float]], NoDecode] = Field(
        default_factory=dict, description="extra price table entries: model -> (usd per 1M input, per 1M output)"
    )

    data_dir: Path = Field(default_factory=_default_data_dir)
    docs_dir: Path | None = None
    corpus_dir: Path | None = Field(None, description="cache folder of the built-in corpus (default: user cache)")

    store: Literal["sqlite", "dynamodb"] = "sqlite"
    queue: Literal["local", "sqs"] = "local"
    table_name: str | None = None
    queue_url: str | None = None
    api_keys: str = Field("", description="comma-separated API keys (local server)")
    api_keys_secret: str | None = None
    llm_secret: str | None = None
    tool_functions: Annotated[dict[str, str], NoDecode] = Field(default_factory=dict, description="tool name -> Lambda name/ARN")
    documents_bucket: str | None = None
    reports_bucket: str | None = None
    # Tasks one container runs at once: `make bench`'s packing figure (section P, tasks per core) times the
    # default Fargate size's vCPUs (0.5); tests/test_packing_defaults.py keeps the two in step.
    worker_concurrency: int = Field(200, ge=1, le=10_000)
    aws_transport: Literal["light", "boto3"] = Field(
        "light", description="how the per-step AWS calls (DynamoDB, SQS, Lambda Invoke) are made: `light` (signed "
        "JSON over kept-alive connections, a third of boto3's CPU) or `boto3` (every call through boto3)")
    approval_timeout_policy: ApprovalTimeoutPolicy = Field(
        "deny", description="what a sensitive call's approval becomes when nobody decides before its deadline"
    )
    queue_visibility_s: int = Field(DEFAULT_QUEUE_VISIBILITY_S, ge=1, le=MAX_QUEUE_VISIBILITY_S,
                                    description="seconds a received task message stays hidden (SQS); "
                                    "the worker extends it while the task runs")
    max_attempts: int = Field(DEFAULT_MAX_ATTEMPTS, ge=1,
                              description="attempts at a task (claims by a worker) before it is failed")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    api_docs: bool = Field(True, description="serve the API documentation (/docs, /redoc, /openapi.json) "
                           "without a key; the deployed services turn it off")
    require_second_approver: bool = Field(False, description="a sensitive call must be approved by a principal "
                                          "other than its task's submitter (admins excepted); the stack sets it")
    rate_limit_per_s: float = Field(20.0, ge=0, le=100_000, description="API requests a second per principal "
                                    "(token bucket, per process); 0 turns the limit off")
    rate_limit_burst: int = Field(60, ge=1, le=1_000_000, description="requests a principal may make at once")
    max_streams_per_key: int = Field(20, ge=0, le=100_000, description="open event streams per API key "
                                     "(per process); 0: no bound")
    body_timeout_s: float = Field(10.0, gt=0, le=600, description="seconds a request body may take to arrive")
    trusted_proxies: str = Field("", description="comma-separated addresses or CIDRs of the load balancers whose "
                                 "X-Forwarded-For the server believes; empty: none")
    session_busy: SessionBusyPolicy = Field(
        "queue", description="a submit on a session whose earlier task has not ended: 'queue' (it waits its "
        "turn) or 'reject' (409 session_busy)")
    quota_bytes_per_day: int = Field(50_000_000, ge=0, description="bytes of task input and metadata a "
                                     "principal may store per UTC day on each agent (429 quota_exceeded "
                                     "beyond); 0 turns the quota off")

    # Clients of the task API (`agent-platform submit/watch/cancel`).
    url: str = Field("http://127.0.0.1:8080", pattern=r"^https?://[^\s/]+(/\S*)?$",
                     description="base URL of the task API")
    client_key: SecretStr | None = Field(None, description="bearer key the client sends (default: the local "
                                         "server's key file)")

    @field_validator("prices", "tool_functions", mode="before")
    @classmethod
    def _parse_json(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return json.loads(value) if value.strip() else {}
            except ValueError as exc:
                raise ValueError(f"not valid JSON ({exc})") from None
        return value

    # OpenTelemetry's own variables, read by `agent_runtime.tracing` and the SDK (docs/traces.md); listed here
    # so they are documented and checked with the rest. Tracing is off unless an exporter or endpoint is set.
    otel_traces_exporter: str | None = Field(
        None, validation_alias=env.OTEL_TRACES_EXPORTER,
        description="span exporters: otlp, console (comma separated) or none; otlp when only an endpoint is set")
    otel_exporter_otlp_endpoint: str | None = Field(
        None, validation_alias=AliasChoices("OTEL_EXPORTER_OTLP_ENDPOINT", env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT),
        description="where OTLP/HTTP spans go (a collector, or X-Ray: https://xray.REGION.amazonaws.com, signed)")
    otel_exporter_otlp_protocol: Literal["http/protobuf"] | None = Field(
        None, validation_alias=AliasChoices("OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"),
        description="only OTLP over HTTP with protobuf is installed (send gRPC through a collector)")
    otel_service_name: str | None = Field(None, validation_alias=env.OTEL_SERVICE_NAME,
                                          description="the service the spans come from (default agent-platform)")
    trace_content: bool = Field(False, validation_alias=env.OTEL_CAPTURE_CONTENT,
                                description="record prompts, completions and tool arguments and results in spans")

    @field_validator("otel_traces_exporter")
    @classmethod
    def _check_exporters(cls, value: str | None) -> str | None:
        unknown = sorted({n.strip().lower() for n in (value or "").split(",") if n.strip()} - set(EXPORTERS))
        if unknown:
            raise ValueError(f"unknown exporter(s) {', '.join(unknown)}; use {', '.join(EXPORTERS)}")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _check_proxies(cls, value: str) -> str:
        for item in (p.strip() for p in value.split(",")):
            if item:
                try:
                    ipaddress.ip_network(item, strict=False)
                except ValueError:
                    raise ValueError(f"{item!r} is not an IP address or CIDR") from None
        return value

    @property
    def uses_offline_model(self) -> bool:
        """Offline when asked for, or when no endpoint or key (nor a secret holding one) is configured."""
        if self.model.strip().lower() == "offline":
            return True
        return not (self.base_url or self.api_key or self.llm_secret)

    def api_key_list(self) -> list[str]:
        return [k.strip() for k in self.api_keys.split(",") if k.strip()]

    def trusted_proxy_list(self) -> list[str]:
        return [p.strip() for p in self.trusted_proxies.split(",") if p.strip()]


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment, with explicit overrides (e.g. CLI flags) on top."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})
