"""Composes the server from settings: store, queue, worker and API in one process.

The platform owns the worker's life: a lifespan recovers local tasks and starts the worker
when the app starts, and stops it (handing running tasks back to the queue) when it stops.

Locally (the defaults) that is SQLite under `Settings.data_dir`, the in-process queue
and all three agents; in ECS the environment selects DynamoDB, SQS, API keys from
Secrets Manager and the one agent the service runs (`AGENT_PLATFORM_AGENT`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from agent_runtime import tracing
from agent_runtime.agents import AGENTS, AgentSpec, get_agent
from agent_runtime.api.app import Lifespan, create_app
from agent_runtime.api.auth import CombinedKeys, FileKeys, KeySource, SecretsManagerKeys, StaticKeys
from agent_runtime.api.deps import ApiServices
from agent_runtime.api.gate import RateLimiter, StreamSlots
from agent_runtime.errors import ConfigurationError
from agent_runtime.protection import ScaleInProtection
from agent_runtime.queue.base import TaskQueue
from agent_runtime.queue.local import LocalQueue
from agent_runtime.redact import register_secret
from agent_runtime.settings import Settings, load_settings
from agent_runtime.store.base import Store
from agent_runtime.store.notify import Notifier
from agent_runtime.worker import AgentRuntime, Worker
from lambda_tools.private_files import private_dir

log = logging.getLogger(__name__)

RuntimeFactory = Callable[[AgentSpec, Settings], AgentRuntime]
LOCAL_KEY_FILE = "api-key"
KEYS_FILE = "api-keys.json"  # principals' keys as salted hashes (`agent-platform keys`)
DB_FILE = "platform.db"


def default_runtime(spec: AgentSpec, settings: Settings) -> AgentRuntime:
    """The agent's model (endpoint or offline) and its tools (Lambda or in-process) as settings say."""
    from agent_runtime.models.factory import build_model
    from agent_runtime.tools import build_tools

    tools = build_tools(spec.tools, settings, docs_dir=settings.docs_dir, data_dir=settings.data_dir,
                        mcp_servers=spec.mcp_servers)
    return AgentRuntime(spec, build_model(settings, spec), tools)


def served_agents(settings: Settings) -> list[AgentSpec]:
    """The agent named by the settings (an ECS service), or all of them (the local server)."""
    if settings.agent:
        return [get_agent(settings.agent)]
    return [AGENTS[name] for name in sorted(AGENTS)]


def build_store(settings: Settings) -> Store:
    if settings.store == "dynamodb":
        if not settings.table_name:
            raise ConfigurationError("AGENT_PLATFORM_TABLE_NAME is required with AGENT_PLATFORM_STORE=dynamodb")
        from agent_runtime.store.dynamodb import DynamoStore

        return DynamoStore(settings.table_name)
    from agent_runtime.store.sqlite import SQLiteStore

    return SQLiteStore(settings.data_dir / DB_FILE)


def build_queue(settings: Settings) -> TaskQueue:
    if settings.queue == "sqs":
        if not settings.queue_url:
            raise ConfigurationError("AGENT_PLATFORM_QUEUE_URL is required with AGENT_PLATFORM_QUEUE=sqs")
        from agent_runtime.queue.sqs import SqsQueue

        return SqsQueue(settings.queue_url, visibility_s=settings.queue_visibility_s)
    return LocalQueue()


def local_key_file(settings: Settings) -> Path:
    return settings.data_dir / LOCAL_KEY_FILE


def keys_file(settings: Settings) -> Path:
    """The local server's file of principals' hashed keys (written by `agent-platform keys`)."""
    return settings.data_dir / KEYS_FILE


def build_keys(settings: Settings) -> tuple[KeySource, Path | None]:
    """API keys: Secrets Manager in AWS, else the principals' key file (`keys_file`, re-read when it
    changes) beside AGENT_PLATFORM_API_KEYS when set, or a key generated once into the data directory
    (readable by this user only), which local clients pick up; plain keys are admin keys."""
    if settings.api_keys_secret:
        return SecretsManagerKeys(settings.api_keys_secret), None
    if settings.api_key_list():
        register_secret(*settings.api_key_list())  # redacted wherever an error might quote one
        return CombinedKeys(StaticKeys(settings.api_key_list()), FileKeys(keys_file(settings))), None
    path = local_key_file(settings)
    if not path.exists():
        private_dir(path.parent)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(32) + "\n")
    key = path.read_text().strip()
    if not key:
        raise ConfigurationError(f"{path} is empty; delete it to have a new key generated")
    register_secret(key)
    return CombinedKeys(StaticKeys([key]), FileKeys(keys_file(settings))), path


def worker_lifespan(worker: Worker, *, recover: bool, on_shutdown: Callable[[], Awaitable[None]]) -> Lifespan:
    """Run `worker` while the app runs: re-enqueue unfinished tasks first when `recover` (the local
    queue forgets them on exit), stop it on shutdown, then release the platform (`on_shutdown`)."""

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if recover:
            await worker.recover()
        runner = asyncio.create_task(worker.run(), name="worker")
        try:
            yield
        finally:
            await worker.stop()
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)
            await on_shutdown()

    return lifespan


@dataclass
class Platform:
    """Everything one server process runs, for callers that want the parts (tests, the CLI)."""

    settings: Settings
    store: Store
    queue: TaskQueue
    worker: Worker
    app: FastAPI
    runtimes: dict[str, AgentRuntime]
    key_file: Path | None


def create_platform(
    settings: Settings | None = None,
    *,
    runtime_factory: RuntimeFactory = default_runtime,
    keys: KeySource | None = None,
    heartbeat_s: float = 15.0,
    poll_s: float = 1.0,
    lease_s: float | None = None,
) -> Platform:
    """Build store, queue, worker and app from settings (factories and timings injectable for tests)."""
    settings = settings or load_settings()
    runtimes = {spec.name: runtime_factory(spec, settings) for spec in served_agents(settings)}
    store = build_store(settings)
    queue = build_queue(settings)
    key_file = None
    if keys is None:
        keys, key_file = build_keys(settings)
    notifier = Notifier()
    worker = Worker(
        store=store, queue=queue, runtimes=runtimes, notifier=notifier, concurrency=settings.worker_concurrency,
        lease_s=lease_s if lease_s is not None else float(settings.queue_visibility_s), poll_s=poll_s,
        receive_wait_s=10.0 if settings.queue == "sqs" else 1.0,
        max_attempts=settings.max_attempts, approval_timeout_policy=settings.approval_timeout_policy,
        emit_metrics=settings.store == "dynamodb", protection=ScaleInProtection.from_environ(),
    )

    async def close() -> None:
        for runtime in runtimes.values():
            with contextlib.suppress(Exception):
                await runtime.model.aclose()
        await queue.close()
        await store.close()

    services = ApiServices(store=store, queue=queue, agents=runtimes, keys=keys, notifier=notifier,
                           notify_cancel=worker.notify_cancel, heartbeat_s=heartbeat_s, poll_s=poll_s,
                           limiter=RateLimiter(per_s=settings.rate_limit_per_s, burst=settings.rate_limit_burst),
                           streams=StreamSlots(limit=settings.max_streams_per_key),
                           require_second_approver=settings.require_second_approver,
                           session_busy=settings.session_busy,
                           quota_bytes_per_day=settings.quota_bytes_per_day)
    lifespan = worker_lifespan(worker, recover=settings.queue == "local", on_shutdown=close)
    app = create_app(services, lifespan=lifespan, docs=settings.api_docs, body_timeout_s=settings.body_timeout_s)
    return Platform(settings, store, queue, worker, app, runtimes, key_file)


def console_url(host: str, port: int) -> str:
    """The web console's URL for a server bound to `host`: an all-interfaces bind is opened on this machine."""
    shown = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "[::1]"}.get(host, host)
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/console/"


def serve(settings: Settings | None = None, *, host: str = "127.0.0.1", port: int = 8080) -> None:
    """Run API and worker until interrupted (SIGINT/SIGTERM hand running tasks back to the queue)."""
    import uvicorn

    from agent_runtime.observability import configure_logging

    settings = settings or load_settings()
    configure_logging(settings.log_level, json_logs=not sys.stderr.isatty())
    if tracing.setup():  # as the OTEL_* variables say; off without them
        log.info("tracing on (OpenTelemetry)")
    platform = create_platform(settings)
    where = f"http://{host}:{port}"
    log.info("serving %s on %s (store %s, queue %s)", ", ".join(platform.runtimes), where, settings.store,
             settings.queue)
    log.info("console: %s", console_url(host, port))
    if platform.key_file is not None:
        log.info("API key in %s (clients on this machine read it from there)", platform.key_file)
    # log_config=None: uvicorn keeps the handlers configure_logging gave its loggers (JSON in containers)
    # instead of installing its own text ones.
    try:
        uvicorn.run(platform.app, host=host, port=port, log_level=settings.log_level.lower(), log_config=None,
                    timeout_graceful_shutdown=10, **proxy_options(settings))
    finally:
        tracing.shutdown()  # export the spans still buffered


def proxy_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's proxy settings: X-Forwarded-For/-Proto believed only from `trusted_proxies` (the load
    balancers' addresses or CIDRs); with none configured, not at all, so a client cannot pick its address."""
    trusted = settings.trusted_proxy_list()
    return {"proxy_headers": bool(trusted), "forwarded_allow_ips": trusted or None}
