"""Soak (`make soak`, `python -m bench soak`; not in `make bench`'s default sections): SOAK_MINUTES
(default 10) of mixed traffic against a real `agent-platform serve` on the offline model.

Clients submit research tasks (they run to the end) and content tasks that ask to publish (each then
approved, denied or cancelled while it waits for the decision); every task has an SSE watcher that
disconnects after a few events and resumes with `Last-Event-ID`. Checked: each watcher received each
task's events exactly once, seqs 1..N (none lost, none repeated); every task ended within
`SETTLE_S` after the submits stopped (none stuck); the server's RSS, sampled from
/proc/<pid>/status, grew under 10% between the end of the warm-up and the end of the run.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from agent_runtime.events import TERMINAL_TYPES
from bench.common import REPO
from bench.table import Row
from bench.table import fmt as _f
from bench.table import missing as _missing

CLIENTS = 6  # concurrent submitters, each with its task's watcher (well under the 20 streams per key)
SETTLE_S = 60.0  # after the submits stop, every task must end within this
SAMPLE_S = 2.0  # RSS sampling period
WARMUP_SHARE = 0.25  # the first quarter of the run warms up (caches, pools, SQLite pages)
MAX_RSS_GROWTH_PCT = 10.0
PUBLISH = "Write a short post about blue/green deploys and publish it"
RESEARCH = "How are blue/green deploys rolled back?"


@dataclass
class Tally:
    """What the clients saw."""

    tasks: dict[str, str] = field(default_factory=dict)  # task id -> agent
    kinds: Counter[str] = field(default_factory=Counter)
    seqs: dict[str, list[int]] = field(default_factory=dict)  # task id -> seqs its watcher received
    reconnects: int = 0
    errors: Counter[str] = field(default_factory=Counter)


def rss_kb(pid: int) -> int:
    """The process's resident set size (VmRSS) in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


@contextmanager
def serve(data_dir: Path) -> Iterator[tuple[str, str, subprocess.Popen[bytes]]]:
    """`agent-platform serve` on the offline model, no rate limit: (URL, API key, process)."""
    port = _free_port()
    env = {**os.environ, "AGENT_PLATFORM_DATA_DIR": str(data_dir), "AGENT_PLATFORM_DOCS_DIR": str(REPO / "docs"),
           "AGENT_PLATFORM_MODEL": "offline", "AGENT_PLATFORM_LOG_LEVEL": "WARNING",
           "AGENT_PLATFORM_RATE_LIMIT_PER_S": "0"}
    env.pop("ECS_AGENT_URI", None)
    proc = subprocess.Popen([sys.executable, "-m", "agent_runtime", "serve", "--port", str(port)], cwd=REPO,
                            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"agent-platform serve exited ({proc.returncode})")
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("agent-platform serve did not become healthy")
            time.sleep(0.2)
        yield url, (data_dir / "api-key").read_text().strip(), proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def watch(client: httpx.AsyncClient, agent: str, task_id: str, rng: random.Random, tally: Tally) -> None:
    """Follow the task's events to its terminal one, hanging up after 1-5 events each time and
    resuming from the last seq received (`Last-Event-ID`)."""
    seqs = tally.seqs.setdefault(task_id, [])
    path = f"/v1/agents/{agent}/tasks/{task_id}/events"
    while True:
        headers = {"Last-Event-ID": str(seqs[-1])} if seqs else {}
        cut, got = rng.randint(1, 5), 0
        seq, kind = None, None
        async with client.stream("GET", path, headers=headers) as r:
            if r.status_code != 200:
                tally.errors[f"events {r.status_code}"] += 1
                await asyncio.sleep(0.2)
                continue
            async for line in r.aiter_lines():
                if line.startswith("id:"):
                    seq = int(line[3:].strip())
                elif line.startswith("event:"):
                    kind = line[6:].strip()
                elif not line and seq is not None:
                    seqs.append(seq)
                    if kind in TERMINAL_TYPES:
                        return
                    seq, kind, got = None, None, got + 1
                    if got >= cut:
                        break  # hang up mid-stream
        tally.reconnects += 1


async def decide(client: httpx.AsyncClient, task_id: str, action: str, tally: Tally) -> None:
    """Wait for the content task's approval request, then approve, deny or cancel."""
    path = f"/v1/agents/content/tasks/{task_id}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        view = (await client.get(path)).json()
        if view["state"] == "waiting_approval" and view["pending_approvals"]:
            call_id = view["pending_approvals"][0]["call_id"]
            if action == "cancel":
                r = await client.post(f"{path}/cancel")
            else:
                r = await client.post(f"{path}/approvals/{call_id}", json={"approve": action == "approve"})
            if r.status_code not in (200, 202):
                tally.errors[f"{action} {r.status_code}"] += 1
            return
        if view["state"] in ("succeeded", "failed", "cancelled"):
            tally.errors["ended before its approval"] += 1
            return
        await asyncio.sleep(0.05)
    tally.errors["no approval request"] += 1


async def one_task(client: httpx.AsyncClient, rng: random.Random, tally: Tally) -> None:
    """Submit one task (research, or content with a decision) and watch it to its end."""
    kind = rng.choice(["research", "research", "approve", "deny", "cancel"])
    agent, text = ("research", RESEARCH) if kind == "research" else ("content", PUBLISH)
    r = await client.post(f"/v1/agents/{agent}/tasks", json={"input": text, "limits": {"approval_timeout_s": 300}})
    if r.status_code != 202:
        tally.errors[f"submit {r.status_code}"] += 1
        return
    task_id = r.json()["task_id"]
    tally.tasks[task_id] = agent
    tally.kinds[kind] += 1
    jobs = [watch(client, agent, task_id, rng, tally)]
    if kind != "research":
        jobs.append(decide(client, task_id, kind, tally))
    await asyncio.gather(*jobs)


async def drive(url: str, key: str, pid: int, seconds: float) -> dict[str, Any]:
    """Run the clients for `seconds`, sampling the server's RSS; then let every task settle."""
    tally, samples = Tally(), []
    stop_at = time.monotonic() + seconds
    started = time.monotonic()

    async def client_loop(n: int) -> None:
        rng = random.Random(n)
        async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=60) as c:
            while time.monotonic() < stop_at:
                try:
                    await asyncio.wait_for(one_task(c, rng, tally), timeout=120)
                except Exception as exc:  # counted, and the soak goes on: a failure is a finding
                    tally.errors[type(exc).__name__] += 1

    async def sampler() -> None:
        while time.monotonic() < stop_at:
            samples.append((round(time.monotonic() - started, 1), rss_kb(pid)))
            await asyncio.sleep(SAMPLE_S)

    await asyncio.gather(sampler(), *(client_loop(n) for n in range(CLIENTS)))
    stuck = await settle(url, key, tally)
    return summary(tally, samples, seconds, stuck)


async def settle(url: str, key: str, tally: Tally) -> list[str]:
    """The tasks that have not ended `SETTLE_S` after the submits stopped."""
    deadline = time.monotonic() + SETTLE_S
    left = dict(tally.tasks)
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as c:
        while left and time.monotonic() < deadline:
            for task_id, agent in list(left.items()):
                view = (await c.get(f"/v1/agents/{agent}/tasks/{task_id}")).json()
                if view["state"] in ("succeeded", "failed", "cancelled"):
                    del left[task_id]
            if left:
                await asyncio.sleep(0.5)
    return sorted(left)


def summary(tally: Tally, samples: list[tuple[float, int]], seconds: float, stuck: list[str]) -> dict[str, Any]:
    """The figures: events lost and repeated per watcher, stuck tasks, RSS growth after the warm-up."""
    lost = repeated = events = 0
    for seqs in tally.seqs.values():
        events += len(seqs)
        repeated += len(seqs) - len(set(seqs))
        top = max(seqs, default=0)
        lost += top - len(set(seqs))  # seqs missing below the terminal one
    after_warmup = [kb for t, kb in samples if t >= seconds * WARMUP_SHARE]
    window = max(1, min(5, len(after_warmup) // 4))
    base = statistics.median(after_warmup[:window]) if after_warmup else None
    end = statistics.median(after_warmup[-window:]) if after_warmup else None
    growth = round((end - base) / base * 100, 2) if base and end else None
    return {
        "minutes": round(seconds / 60, 2), "clients": CLIENTS, "tasks": len(tally.tasks), "by_kind": dict(tally.kinds),
        "tasks_per_s": round(len(tally.tasks) / seconds, 2), "events_received": events,
        "reconnects": tally.reconnects, "lost_events": lost, "duplicated_events": repeated,
        "unfinished_watchers": sum(1 for t in tally.tasks if t not in tally.seqs),
        "stuck_tasks": len(stuck), "stuck_ids": stuck[:10], "client_errors": dict(tally.errors),
        "rss_mb_after_warmup": round(base / 1024, 1) if base else None,
        "rss_mb_end": round(end / 1024, 1) if end else None, "rss_growth_pct": growth,
        "rss_samples": len(samples),
        "ok": bool(tally.tasks) and lost == 0 and repeated == 0 and not stuck and growth is not None
        and growth < MAX_RSS_GROWTH_PCT,
    }


def run() -> dict[str, Any]:
    """The soak, `SOAK_MINUTES` long (default 10)."""
    seconds = float(os.environ.get("SOAK_MINUTES", "10")) * 60
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp, serve(Path(tmp)) as (url, key, proc):
        return asyncio.run(drive(url, key, proc.pid, seconds))


def rows(s: dict[str, Any]) -> list[Row]:
    """The soak's rows of the bench table."""
    why = _missing(s, "tasks", "lost_events", "stuck_tasks", "rss_growth_pct")
    if why:
        return [Row("K", "soak: events lost or repeated, stuck tasks", why, goal="0, 0")]
    where = f"{s['tasks']} tasks in {_f(s['minutes'])} min, {s['reconnects']} resumes"
    return [
        Row("K", "soak: events lost / repeated", f"{s['lost_events']} / {s['duplicated_events']}", where, "0 / 0",
            s["lost_events"] == 0 and s["duplicated_events"] == 0),
        Row("K", "soak: stuck tasks", str(s["stuck_tasks"]), f"settled within {SETTLE_S:g} s", "0",
            s["stuck_tasks"] == 0),
        Row("K", "soak: server RSS growth after warm-up, %", _f(s["rss_growth_pct"]),
            f"{_f(s['rss_mb_after_warmup'])} -> {_f(s['rss_mb_end'])} MB", f"< {MAX_RSS_GROWTH_PCT:g}%",
            s["rss_growth_pct"] < MAX_RSS_GROWTH_PCT),
    ]
