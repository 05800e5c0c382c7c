"""L. Lambda tools: 1,000 concurrent tasks whose tool calls go through `LambdaTool` to a Lambda endpoint.

The endpoint is `bench.lambda_endpoint` in its own process (real HTTP, the Invoke route boto3
calls), answering every invocation after 200 ms. The tools are built as a container builds
them, by `build_tools` from settings naming a function per tool, with `worker_concurrency`
1,000: one process carrying 1,000 concurrent tasks is deployed with concurrency 1,000, which
sizes the Lambda executor and the connection pool. The client finds the endpoint through
`AWS_ENDPOINT_URL_LAMBDA`, set only while the tools are built.

The tasks call the tools directly, without the agent loop (its cost is section 4's): each
task waits a model turn, calls a tool, and repeats; the tasks start spread over one cycle,
as tasks arriving over time are. Each call's wall time runs from `invoke` to its result, so
a call that waits for a thread or a connection shows here. Only the calls' CPU is the
process's own: a real model turn would be an HTTP request, not a sleep.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import time
from collections.abc import Iterator
from typing import Any

from agent_runtime.settings import Settings
from agent_runtime.tools import build_tools
from bench.common import Clock, child_server, percentile, raise_fd_limit
from lambda_tools.catalog import get_tool

TASKS = 1000
CALLS_PER_TASK = 3
LATENCY_S = 0.2
# A model turn, between two tool calls of a task. Real models take seconds; 2 s keeps about a
# container's worth of calls in flight at once (1000 x 0.2 / 2.2, about 90) while the calls'
# own CPU (about 1.5 ms each) stays well within the one core a Python process can use.
MODEL_TURN_S = 2.0
TOOLS = ("classify_content", "extract_entities")
_ENV = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_SESSION_TOKEN": "", "AWS_PROFILE": "",
        "AWS_DEFAULT_REGION": "us-east-1"}


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables (an empty value unsets one) and restore them on exit."""
    saved = {k: os.environ.get(k) for k in values}
    try:
        for key, value in values.items():
            if value:
                os.environ[key] = value
            else:
                os.environ.pop(key, None)
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def _arguments() -> dict[str, Any]:
    """Each tool's arguments, validated by its catalog input model as the loop's would be."""
    text = "Acme Corp's revenue rose 5% to $3 million in Berlin on 2024-03-01, baking bread and flour."
    return {
        "classify_content": get_tool("classify_content").input_model(text=text, categories=["cooking", "finance"]),
        "extract_entities": get_tool("extract_entities").input_model(text=text),
    }


async def _tasks(tools: dict[str, Any]) -> dict[str, Any]:
    """Run the tasks; every call's wall time in ms, the errors, and the most calls in flight at once."""
    arguments = _arguments()
    walls: list[float] = []
    errors: list[str] = []
    in_flight = peak = 0
    rng = random.Random(7)

    async def task(number: int) -> None:
        nonlocal in_flight, peak
        await asyncio.sleep(rng.uniform(0, MODEL_TURN_S + LATENCY_S))
        for step in range(CALLS_PER_TASK):
            name = TOOLS[(number + step) % len(TOOLS)]
            in_flight += 1
            peak = max(peak, in_flight)
            started = time.perf_counter()
            try:
                data = await tools[name].invoke(arguments[name], task_id=f"task-{number}", call_id=f"call-{step}")
                if data.get("task_id") != f"task-{number}":
                    raise RuntimeError(f"reply for another call: {data}")
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
            finally:
                walls.append((time.perf_counter() - started) * 1000)
                in_flight -= 1
            await asyncio.sleep(MODEL_TURN_S)

    await asyncio.gather(*(task(n) for n in range(TASKS)))
    return {"walls": walls, "errors": errors, "peak_in_flight": peak}


def run() -> dict[str, Any]:
    """The section's figures: tool wall time p50/p95/max, errors, calls in flight, CPU per call."""
    raise_fd_limit()
    settings = Settings(worker_concurrency=TASKS,
                        tool_functions={name: f"bench-{name.replace('_', '-')}" for name in TOOLS})
    with child_server("bench.lambda_endpoint", "--latency", str(LATENCY_S), what="the Lambda endpoint") as url:
        with _environment({**_ENV, "AWS_ENDPOINT_URL_LAMBDA": url}):
            tools = build_tools(TOOLS, settings)
        with Clock() as clock:
            out = asyncio.run(_tasks(tools))
    walls, errors = out["walls"], out["errors"]
    return {
        "tasks": TASKS, "calls": len(walls), "latency_ms": LATENCY_S * 1000, "model_turn_ms": MODEL_TURN_S * 1000,
        "worker_concurrency": settings.worker_concurrency,
        "tool_wall_p50_ms": round(percentile(walls, 50), 1), "tool_wall_p95_ms": round(percentile(walls, 95), 1),
        "tool_wall_max_ms": round(max(walls, default=float("nan")), 1),
        "errors": len(errors), "first_errors": errors[:3], "peak_in_flight": out["peak_in_flight"],
        "cpu_ms_per_call": round(clock.cpu_s * 1000 / max(len(walls), 1), 3), "wall_s": round(clock.wall_s, 1),
    }
