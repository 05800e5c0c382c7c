"""1. and 2. Overhead per step: our loop, and the same agent run durably through the
worker with the SQLite store, next to the reference loops, side by side in one run.

A zero-latency fake server in its own process scripts a 20-step task (19 turns
with one instant tool call, then the answer). Each round runs every loop for
`tasks_per_round` tasks, one loop after the other, starting with a different loop
each round, so that drifting background load (on a shared machine CPU time per
unit of work varies from second to second) hits all loops alike. Each figure is
the median over rounds of CPU ms (process time, all threads) and wall ms per
model step; a loop's ratio to the floor is the ratio of the two medians. `traced` is our loop
with tracing on (`bench.traced`); its ratio to ours is the cost of tracing, ours being tracing off.
"""

from __future__ import annotations

from typing import Any

from bench.common import TASK, Clock, Sample, fake_server, median
from bench.loops import LOOPS, Loop
from bench.traced import TracedLoop

STEPS = 20
# Result key prefix per loop.
KEYS = {"ours": "", "floor": "floor_", "sdk_create": "openai_sdk_", "sdk_post": "openai_post_",
        "durable": "durable_", "deployed": "deployed_", "traced": "traced_"}
LOOP_NAMES = ("floor", "sdk_create", "sdk_post", "ours", "durable", "traced")
ALL_LOOPS: dict[str, Any] = {**LOOPS, "traced": TracedLoop}


async def measure(base_url: str, names: list[str], *, rounds: int, tasks_per_round: int,
                  steps: int = STEPS) -> dict[str, list[Sample]]:
    """Samples per loop name; every task must make exactly `steps` model steps."""
    loops: dict[str, Loop] = {name: ALL_LOOPS[name](base_url) for name in names}
    samples: dict[str, list[Sample]] = {name: [] for name in names}
    try:
        for loop in loops.values():  # warm up: connections, imports, caches
            await loop.task(TASK)
        for r in range(rounds):
            for name in names[r % len(names):] + names[:r % len(names)]:
                loop = loops[name]
                made = 0
                with Clock() as clock:
                    for _ in range(tasks_per_round):
                        made += await loop.task(TASK)
                if made != steps * tasks_per_round:
                    raise RuntimeError(f"{name}: {made} steps, expected {steps * tasks_per_round}")
                samples[name].append(Sample(clock.cpu_s, clock.wall_s, made))
    finally:
        for loop in loops.values():
            await loop.aclose()
    return samples


def summarise(samples: dict[str, list[Sample]]) -> dict[str, float]:
    """Median CPU and wall ms per step per loop, under the result keys the issue names, and
    each loop's CPU ratio to the floor's when the floor ran."""
    out: dict[str, float] = {}
    cpu = {name: median([s.cpu_ms_per_step for s in runs]) for name, runs in samples.items()}
    for name, runs in samples.items():
        prefix = KEYS[name]
        out[f"{prefix}cpu_ms_per_step"] = round(cpu[name], 3)
        out[f"{prefix}wall_ms_per_step"] = round(median([s.wall_ms_per_step for s in runs]), 3)
        if "floor" in cpu and name != "floor":
            out[f"{prefix}ratio_to_floor"] = round(cpu[name] / cpu["floor"], 3)
    if "traced" in cpu and "ours" in cpu:
        out["traced_ratio_to_ours"] = round(cpu["traced"] / cpu["ours"], 3)
    return out


async def run(*, rounds: int = 40, tasks_per_round: int = 1,
              names: tuple[str, ...] = LOOP_NAMES) -> dict[str, Any]:
    """Every loop in `names` on one zero-latency server; see the module docstring."""
    with fake_server(latency_s=0.0, steps=STEPS) as url:
        samples = await measure(url, list(names), rounds=rounds, tasks_per_round=tasks_per_round)
    result: dict[str, Any] = {"steps_per_task": STEPS, "rounds": rounds, "tasks_per_round": tasks_per_round}
    result.update(summarise(samples))
    return result
