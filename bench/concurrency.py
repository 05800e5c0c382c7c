"""4. Concurrency per process: C tasks at once against a model that takes 200 ms a turn.

Each (loop, C) pair runs in a fresh child process so its peak RSS is its own:
the child starts its loop, notes its resident memory, starts C five-step tasks
at once and waits for all of them. It reports tasks per second (C / wall time),
CPU seconds, peak RSS, the RSS added per concurrent task, and errors (tasks that
raised or did not make exactly five steps). Our loop and the floor loop run
against the same fake server, one after the other at each level.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

from bench.common import TASK, fake_server, peak_rss_mb, raise_fd_limit, rss_mb, run_child
from bench.loops import LOOPS

LEVELS = (50, 200, 1000)
STEPS = 5
LATENCY_S = 0.2
CHILD_TIMEOUT_S = 150.0


async def _child(loop_name: str, concurrency: int, base_url: str) -> dict[str, Any]:
    loop = LOOPS[loop_name](base_url, concurrency=concurrency)
    try:
        await loop.task(TASK)  # warm up: imports, first connection
        base_rss = rss_mb()
        cpu0, wall0 = time.process_time(), time.perf_counter()
        results = await asyncio.gather(*(loop.task(TASK) for _ in range(concurrency)), return_exceptions=True)
        wall = time.perf_counter() - wall0
        cpu = time.process_time() - cpu0
    finally:
        await loop.aclose()
    errors = [r for r in results if isinstance(r, BaseException) or r != STEPS]
    peak = peak_rss_mb()
    return {
        "tasks_per_s": round(concurrency / wall, 1),
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "cpu_ms_per_step": round(cpu * 1000 / (concurrency * STEPS), 3),
        "peak_rss_mb": round(peak, 1),
        "mb_per_task": round(max(0.0, peak - base_rss) / concurrency, 4),
        "errors": len(errors),
        "first_error": repr(errors[0])[:300] if errors else None,
    }


def measure_level(base_url: str, concurrency: int) -> dict[str, Any]:
    """Ours and the floor at one level, each in its own process."""
    ours = run_child("bench.concurrency", "ours", str(concurrency), base_url, timeout_s=CHILD_TIMEOUT_S)
    floor = run_child("bench.concurrency", "floor", str(concurrency), base_url, timeout_s=CHILD_TIMEOUT_S)
    out = dict(ours)
    out["floor_tasks_per_s"] = floor["tasks_per_s"]
    out["floor_peak_rss_mb"] = floor["peak_rss_mb"]
    out["floor_mb_per_task"] = floor["mb_per_task"]
    out["floor_cpu_ms_per_step"] = floor["cpu_ms_per_step"]
    out["floor_errors"] = floor["errors"]
    out["ratio_to_floor"] = round(ours["tasks_per_s"] / floor["tasks_per_s"], 3) if floor["tasks_per_s"] else 0.0
    return out


def run(levels: tuple[int, ...] = LEVELS) -> dict[str, Any]:
    """Every level against one fake server; a level that cannot be measured says why under `error`."""
    out: dict[str, Any] = {}
    with fake_server(latency_s=LATENCY_S, steps=STEPS) as url:
        for c in levels:
            try:
                out[str(c)] = measure_level(url, c)
            except Exception as exc:
                out[str(c)] = {"error": f"{type(exc).__name__}: {str(exc)[:300]}"}
    return out


def main(argv: list[str]) -> None:
    """The child: `python -m bench.concurrency LOOP CONCURRENCY BASE_URL` prints its figures as JSON."""
    if len(argv) != 3 or argv[0] not in LOOPS or not argv[1].isdigit() or int(argv[1]) < 1:
        raise SystemExit(f"usage: python -m bench.concurrency {{{'|'.join(LOOPS)}}} CONCURRENCY BASE_URL")
    raise_fd_limit()
    print(json.dumps(asyncio.run(_child(argv[0], int(argv[1]), argv[2]))))


if __name__ == "__main__":
    main(sys.argv[1:])
