"""P. Packing: how many concurrent tasks one process carries on one core within its latency and CPU goals.

The model takes `MODEL_LATENCY_S` a turn (the fake server) and every tool call goes through
`LambdaTool` to the local Lambda endpoint, which answers after `TOOL_LATENCY_S`; both run in
processes of their own. At each level C, a fresh child process pinned to one CPU
(`os.sched_setaffinity`) runs the worker as the server does (SQLite store, in-process queue,
worker concurrency C) and keeps C five-step tasks in flight: they start spread over one step,
and each finished task is replaced by a new one. After `WARM_S` the child measures, for
`WINDOW_S`, its CPU (process time over wall time: the share of its one core) and each event's
delivery latency, from the moment the loop makes it (`ts`) to the moment its write returns and
the worker wakes the event streams (the SSE hop to a client is section 5's). A level meets the
goals when the p99 of that latency is under `EVENT_P99_MAX_MS` and the CPU under `CPU_MAX`;
`tasks_per_core` is the largest level that does. Levels go up until one misses.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench.common import TASK, child_server, fake_server, percentile, raise_fd_limit, run_child
from bench.table import Row, fmt, missing

LEVELS = (50, 100, 200, 300, 400, 600, 800)
STEPS = 5
MODEL_LATENCY_S = 1.5
TOOL_LATENCY_S = 0.2
WARM_S = 3.0
WINDOW_S = 6.0
EVENT_P99_MAX_MS = 100.0
CPU_MAX = 0.70
CHILD_TIMEOUT_S = 60.0


class _Load:
    """The child's worker and its C tasks in flight, with every measured event's delivery latency."""

    def __init__(self, concurrency: int, model_url: str, lambda_url: str, folder: Path) -> None:
        from agent_runtime.queue.local import LocalQueue
        from agent_runtime.store.sqlite import SQLiteStore
        from agent_runtime.tools.lambda_ import LambdaTool, make_lambda_client
        from agent_runtime.worker import AgentRuntime, Worker
        from bench.common import NOTE_SPEC, SleepTool
        from bench.loops import bench_agent, bench_model

        load = self
        self.latencies_ms: list[float] = []
        self.measuring = False
        self.finished = 0

        class TimedStore(SQLiteStore):
            """The SQLite store, noting each event's latency from made to stored."""

            async def save_progress(self, task_id: str, **kwargs: Any) -> None:
                await super().save_progress(task_id, **kwargs)
                if load.measuring:
                    done = time.time()
                    load.latencies_ms.extend((done - e.ts) * 1000 for e in kwargs.get("events", ()))

        class RefillingQueue(LocalQueue):
            """The local queue; a task whose message is deleted (it ended) is replaced by a new one."""

            async def delete(self, message: Any) -> None:
                load.finished += 1
                asyncio.get_running_loop().create_task(load.submit())

        self.store = TimedStore(folder / "bench.db")
        self.queue = RefillingQueue()
        self.model = bench_model(model_url)
        lambda_client = make_lambda_client(60, max_calls=concurrency, endpoint_url=lambda_url,
                                           region_name="us-east-1", aws_access_key_id="bench",
                                           aws_secret_access_key="bench")
        tools: dict[str, Any] = {"note": LambdaTool(NOTE_SPEC, "bench-note", client=lambda_client,
                                                    max_calls=concurrency), "sleep": SleepTool()}
        runtime = AgentRuntime(bench_agent(STEPS + 5), self.model, tools)
        self.worker = Worker(store=self.store, queue=self.queue, runtimes={"research": runtime},
                             concurrency=concurrency, lease_s=120.0, poll_s=1.0, receive_wait_s=1.0)

    async def submit(self) -> None:
        """Create and queue one task."""
        from agent_runtime.store.base import TaskRecord

        task_id = f"research-{uuid.uuid4().hex}"
        await self.store.create_task(TaskRecord(task_id=task_id, agent="research", input=TASK))
        await self.queue.send(task_id, "research")

    async def close(self) -> None:
        """Stop the worker (its tasks are cancelled), then close model and store."""
        await self.worker.stop()
        await self.model.aclose()
        await self.store.close()


async def _child(concurrency: int, model_url: str, lambda_url: str) -> dict[str, Any]:
    """Run C tasks at a time for WARM_S + WINDOW_S; the window's CPU share and event latencies."""
    with tempfile.TemporaryDirectory(prefix="bench-packing-") as tmp:
        load = _Load(concurrency, model_url, lambda_url, Path(tmp))
        runner = asyncio.create_task(load.worker.run())
        try:
            step_s = MODEL_LATENCY_S + TOOL_LATENCY_S
            for _ in range(concurrency):  # spread over one step, as tasks arriving over time are
                await load.submit()
                await asyncio.sleep(step_s / concurrency)
            await asyncio.sleep(max(0.0, WARM_S - step_s))
            load.measuring = True
            cpu0, wall0, done0 = time.process_time(), time.perf_counter(), load.finished
            await asyncio.sleep(WINDOW_S)
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
            load.measuring = False
            finished, running = load.finished - done0, load.worker.running
        finally:
            await load.close()
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)
    latencies = load.latencies_ms
    return {"cpu_share": round(cpu / wall, 3), "event_p50_ms": round(percentile(latencies, 50), 1),
            "event_p99_ms": round(percentile(latencies, 99), 1), "events": len(latencies),
            "tasks_finished": finished, "tasks_running_at_end": running,
            "tasks_per_s": round(finished / wall, 1)}


def met(level: dict[str, Any]) -> bool:
    """Whether a level meets both goals."""
    return "error" not in level and level["event_p99_ms"] < EVENT_P99_MAX_MS and level["cpu_share"] < CPU_MAX


def run(levels: tuple[int, ...] = LEVELS) -> dict[str, Any]:
    """Levels in turn, each in a fresh pinned child, until one misses a goal."""
    raise_fd_limit()
    out: dict[str, Any] = {"levels": {}}
    with fake_server(latency_s=MODEL_LATENCY_S, steps=STEPS) as model_url, \
            child_server("bench.lambda_endpoint", "--latency", str(TOOL_LATENCY_S), what="the Lambda endpoint") \
            as lambda_url:
        for c in levels:
            try:
                level = run_child("bench.packing", str(c), model_url, lambda_url, timeout_s=CHILD_TIMEOUT_S)
            except Exception as exc:
                level = {"error": f"{type(exc).__name__}: {str(exc)[:300]}"}
            out["levels"][str(c)] = level
            if not met(level):
                break
    passing = [int(c) for c, lv in out["levels"].items() if met(lv)]
    out["tasks_per_core"] = max(passing, default=0)
    out["model_latency_ms"], out["tool_latency_ms"] = MODEL_LATENCY_S * 1000, TOOL_LATENCY_S * 1000
    if out["tasks_per_core"]:
        from bench.cost import container_packing

        out["container"] = container_packing(out)  # the default worker_concurrency and Fargate $ per task
    return out


def rows(p: dict[str, Any]) -> list[Row]:
    """The section's lines of the bench table."""
    goal = f"p99 < {EVENT_P99_MAX_MS:g} ms, CPU < {CPU_MAX:.0%}"
    why = missing(p, "tasks_per_core", "levels")
    if why:
        return [Row("P", "packing: concurrent tasks on one core", why, goal=goal)]
    levels = "; ".join(
        f"C={c}: " + (lv["error"][:40] if "error" in lv else
                      f"p99 {fmt(lv['event_p99_ms'], 0)} ms, CPU {lv['cpu_share']:.0%}")
        for c, lv in p["levels"].items())
    return [Row("P", f"packing: concurrent tasks on one core ({p['model_latency_ms']:g} ms model, "
                     f"{p['tool_latency_ms']:g} ms tools)", str(p["tasks_per_core"]), levels, goal,
                p["tasks_per_core"] > 0)]


def main(argv: list[str]) -> None:
    """The child: `python -m bench.packing CONCURRENCY MODEL_URL LAMBDA_URL` prints its figures as JSON."""
    if len(argv) != 3 or not argv[0].isdigit():
        raise SystemExit("usage: python -m bench.packing CONCURRENCY MODEL_URL LAMBDA_URL")
    raise_fd_limit()
    os.sched_setaffinity(0, {max(os.sched_getaffinity(0))})  # one core
    print(json.dumps(asyncio.run(_child(int(argv[0]), argv[1], argv[2]))))


if __name__ == "__main__":
    main(sys.argv[1:])
