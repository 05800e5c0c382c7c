"""5. Through the API: the local server (API, worker and SQLite store in one process).

`bench.api_server` runs in its own process against a fake model in a third one;
this process is only the clients. Two phases:

* event delivery: `CLIENTS` clients, each in a loop: submit a task (5 model
  steps, the model takes `MODEL_LATENCY_S` a turn), follow its events over SSE to
  the terminal one, submit the next. Their first submissions are spread over one
  task's duration, as independent callers' would be (with a constant model latency,
  clients started in the same millisecond would get every model reply in the same
  millisecond too), and only events written once all of them are streaming count,
  for `WINDOW_S`. An event's delivery latency runs from its write to the store
  (the moment the store call returned to the worker, noted by the server) to the
  moment the client has read the whole event. Also reported: the latency from the
  event's `ts` (stamped when the loop makes it, before the worker writes it), which
  includes the write. Events written before their client opened its stream are
  replays, not deliveries, and are left out. The server runs tasks with its
  default worker concurrency; tasks beyond it wait in the queue, their clients
  streaming.
* submit rate: `SUBMITS` tasks posted by `SUBMITTERS` concurrent clients, while
  the worker starts running them; accepted tasks per second.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx2

from agent_runtime.events import TERMINAL_TYPES
from bench.api_server import API_KEY, WRITES_PATH
from bench.common import TASK, child_server, fake_server, percentile

MODEL_LATENCY_S = 0.5
STEPS = 5
CLIENTS = 100
SUBMITS = 500
SUBMITTERS = 20
WINDOW_S = 6.0
TASKS_PATH = "/v1/agents/research/tasks"
CONNECTIONS_PER_POOL = 16  # as the floor loop does: an httpx pool's bookkeeping grows with its connections


@contextlib.contextmanager
def api_server(model_url: str) -> Iterator[str]:
    """The local server on a fresh SQLite file, in a child process; yields its base URL."""
    with tempfile.TemporaryDirectory(prefix="bench-api-") as data_dir, \
            child_server("bench.api_server", model_url, data_dir, what="the API server") as url:
        yield url


class Clients:
    """A few HTTP pools, handed out in turn, with the benchmark's API key."""

    def __init__(self, base_url: str, connections: int) -> None:
        limits = httpx2.Limits(max_connections=None, max_keepalive_connections=None, keepalive_expiry=30)
        self.pools = [
            httpx2.AsyncClient(base_url=base_url, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=60,
                               limits=limits)
            for _ in range(max(1, -(-connections // CONNECTIONS_PER_POOL)))
        ]
        self._next = itertools.cycle(self.pools)

    def next(self) -> httpx2.AsyncClient:
        """The next pool in turn."""
        return next(self._next)

    async def aclose(self) -> None:
        """Close every pool."""
        for pool in self.pools:
            await pool.aclose()


async def wait_ready(base_url: str, timeout_s: float = 30.0) -> None:
    """Poll /healthz until the server answers (its socket is bound before it listens)."""
    deadline = time.monotonic() + timeout_s
    async with httpx2.AsyncClient(base_url=base_url, timeout=5) as client:
        while True:
            try:
                if (await client.get("/healthz")).status_code == 200:
                    return
            except httpx2.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the API server at {base_url} did not become healthy in {timeout_s:g} s")
            await asyncio.sleep(0.05)


async def submit(client: httpx2.AsyncClient) -> str:
    """Submit the benchmark task; return its id."""
    resp = await client.post(TASKS_PATH, json={"input": TASK})
    if resp.status_code != 202:
        raise RuntimeError(f"submit answered {resp.status_code}: {resp.text[:200]}")
    return str(resp.json()["task_id"])


async def _sse(client: httpx2.AsyncClient, path: str) -> AsyncIterator[tuple[float, dict[str, Any]]]:
    """(receive time, event) for each SSE event of a stream; heartbeats and fields other than data skipped."""
    async with client.stream("GET", path) as resp:
        if resp.status_code != 200:
            raise RuntimeError(f"events answered {resp.status_code}")
        data: list[str] = []
        async for line in resp.aiter_lines():
            if line:
                if line.startswith("data:"):
                    data.append(line[6:] if line.startswith("data: ") else line[5:])
                continue
            if data:  # a blank line ends an event
                received = time.time()
                yield received, json.loads("\n".join(data))
                data = []


async def follow(client: httpx2.AsyncClient) -> dict[str, Any]:
    """Submit one task and follow its events to the terminal one.

    Returns the task id, when the stream was opened, and (seq, ts, received) per event.
    """
    task_id = await submit(client)
    opened = time.time()
    events: list[tuple[int, float, float]] = []
    last = ""
    async for received, event in _sse(client, f"{TASKS_PATH}/{task_id}/events"):
        events.append((event["seq"], event["ts"], received))
        last = event["type"]
        if last in TERMINAL_TYPES:
            break
    return {"task_id": task_id, "opened": opened, "events": events, "succeeded": last == "task.finished"}


async def _client(client: httpx2.AsyncClient, *, start_delay_s: float,
                  until: float) -> list[dict[str, Any] | BaseException]:
    """One streaming client: task after task until `until` (wall clock)."""
    await asyncio.sleep(start_delay_s)
    runs: list[dict[str, Any] | BaseException] = []
    while time.time() < until:
        try:
            runs.append(await follow(client))
        except Exception as exc:
            runs.append(exc)
    return runs


async def _writes(client: httpx2.AsyncClient) -> dict[str, Any]:
    resp = await client.get(WRITES_PATH)
    resp.raise_for_status()
    data = resp.json()
    return {"worker_concurrency": data["worker_concurrency"],
            "writes": {task: {int(seq): t for seq, t in seqs.items()} for task, seqs in data["writes"].items()}}


async def delivery(clients: Clients, count: int, *, window_s: float) -> dict[str, Any]:
    """`count` clients streaming at once; latency percentiles over the events written in a `window_s` window."""
    ramp_s = MODEL_LATENCY_S * STEPS
    count_from = time.time() + ramp_s
    until = count_from + window_s
    per_client = await asyncio.gather(*(
        _client(clients.next(), start_delay_s=i * ramp_s / count, until=until) for i in range(count)
    ))
    server = await _writes(clients.next())
    runs = [r for client_runs in per_client for r in client_runs]
    ok = [r for r in runs if isinstance(r, dict)]
    failed = [r for r in runs if isinstance(r, BaseException)]
    delivered: list[float] = []
    made: list[float] = []
    replayed = unmatched = 0
    for run in ok:
        writes = server["writes"].get(run["task_id"], {})
        for seq, ts, received in run["events"]:
            written = writes.get(seq)
            if written is None:
                unmatched += 1
            elif written < run["opened"]:
                replayed += 1
            elif count_from <= written < until:
                delivered.append((received - written) * 1000)
                made.append((received - ts) * 1000)
    return {
        "clients": count,
        "worker_concurrency": server["worker_concurrency"],
        "window_s": window_s,
        "tasks_followed": len(runs),
        "events": len(delivered),
        "events_per_s": round(len(delivered) / window_s, 1),
        "replayed_events": replayed,
        "unmatched_events": unmatched,
        "event_p50_ms": round(percentile(delivered, 50), 1),
        "event_p99_ms": round(percentile(delivered, 99), 1),
        "event_max_ms": round(max(delivered), 1) if delivered else float("nan"),
        "events_over_250ms": sum(1 for x in delivered if x > 250),
        "event_made_p50_ms": round(percentile(made, 50), 1),
        "event_made_p99_ms": round(percentile(made, 99), 1),
        "stream_errors": len(failed) + sum(1 for r in ok if not r["succeeded"]),
        "first_stream_error": repr(failed[0])[:300] if failed else None,
    }


async def submit_rate(clients: Clients, total: int, submitters: int) -> dict[str, Any]:
    """`total` submissions from `submitters` concurrent clients; accepted per second and errors."""
    remaining = itertools.count()
    errors: list[BaseException] = []
    latencies: list[float] = []

    async def submitter(client: httpx2.AsyncClient) -> None:
        while next(remaining) < total:
            t0 = time.perf_counter()
            try:
                await submit(client)
            except Exception as exc:
                errors.append(exc)
                continue
            latencies.append((time.perf_counter() - t0) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(submitter(clients.next()) for _ in range(submitters)))
    wall = time.perf_counter() - started
    return {
        "submits": total,
        "submitters": submitters,
        "submit_per_s": round(len(latencies) / wall, 1),
        "submit_p50_ms": round(percentile(latencies, 50), 1),
        "submit_p99_ms": round(percentile(latencies, 99), 1),
        "submit_errors": len(errors),
        "first_submit_error": repr(errors[0])[:300] if errors else None,
    }


async def run(*, clients: int = CLIENTS, submits: int = SUBMITS, submitters: int = SUBMITTERS,
              window_s: float = WINDOW_S) -> dict[str, Any]:
    """Both phases against one server; figures under the result keys the issue names."""
    with fake_server(latency_s=MODEL_LATENCY_S, steps=STEPS) as model_url, api_server(model_url) as api_url:
        await wait_ready(api_url)
        pools = Clients(api_url, max(clients, submitters))
        try:
            await follow(pools.next())  # warm up: imports, the first connection, SQLite
            result: dict[str, Any] = {"model_latency_ms": MODEL_LATENCY_S * 1000, "steps_per_task": STEPS}
            result.update(await delivery(pools, clients, window_s=window_s))
            result.update(await submit_rate(pools, submits, submitters))
        finally:
            await pools.aclose()
    return result
