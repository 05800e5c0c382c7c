"""The local server (API + worker + SQLite) for the API benchmark, run as its own process.

    python -m bench.api_server MODEL_BASE_URL DATA_DIR

It serves the research agent on the benchmark's model endpoint with the
benchmark's tools, on a free port of 127.0.0.1, with the API key `bench-key`,
and prints `READY <url>` once the socket is bound.

For the delivery benchmark it also notes when each event's write to the store
came back to the worker (the write is committed; the worker is about to wake
the API's streams), and serves those times, with the worker's concurrency, at
`GET /bench/writes` (benchmark only, no key).
"""

from __future__ import annotations

import socket
import sys
import time
from pathlib import Path
from typing import Any

API_KEY = "bench-key"
WRITES_PATH = "/bench/writes"


def record_writes(store: Any) -> dict[str, dict[int, float]]:
    """Wrap the store's event writes (`save_progress`, `finish_task`) on this instance: task id -> seq ->
    the `time.time()` at which the write returned. An event written twice keeps its first time."""
    written: dict[str, dict[int, float]] = {}
    save_progress, finish_task = store.save_progress, store.finish_task

    async def recorded_save(task_id: str, *, events: Any = (), **kwargs: Any) -> None:
        await save_progress(task_id, events=events, **kwargs)
        now = time.time()
        seqs = written.setdefault(task_id, {})
        for event in events:
            seqs.setdefault(event.seq, now)

    async def recorded_finish(task_id: str, event: Any, **kwargs: Any) -> Any:
        record = await finish_task(task_id, event, **kwargs)
        written.setdefault(task_id, {}).setdefault(event.seq, time.time())
        return record

    store.save_progress = recorded_save
    store.finish_task = recorded_finish
    return written


def main(argv: list[str]) -> None:
    """Serve until SIGTERM; see the module docstring."""
    if len(argv) != 2 or not argv[0].startswith("http"):
        raise SystemExit("usage: python -m bench.api_server MODEL_BASE_URL DATA_DIR")
    import uvicorn

    from agent_runtime.api.auth import StaticKeys
    from agent_runtime.server import create_platform
    from agent_runtime.settings import load_settings
    from agent_runtime.worker import AgentRuntime
    from bench.loops import BENCH_TOOLS, bench_agent, bench_model

    base_url, data_dir = argv
    # The section measures delivery and throughput, not the per-key request rate and stream limits: off.
    settings = load_settings(agent="research", data_dir=Path(data_dir), store="sqlite", queue="local",
                             rate_limit_per_s=0, max_streams_per_key=0)

    def runtime(spec: object, _: object) -> AgentRuntime:
        return AgentRuntime(bench_agent(20), bench_model(base_url), BENCH_TOOLS)

    platform = create_platform(settings, runtime_factory=runtime, keys=StaticKeys([API_KEY]))
    written = record_writes(platform.store)

    async def writes() -> dict[str, Any]:
        return {"worker_concurrency": platform.worker.concurrency, "writes": written}

    platform.app.add_api_route(WRITES_PATH, writes, methods=["GET"], include_in_schema=False)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(platform.app, log_level="warning", timeout_graceful_shutdown=5))
    print(f"READY http://127.0.0.1:{port}", flush=True)
    server.run(sockets=[sock])


if __name__ == "__main__":
    main(sys.argv[1:])
