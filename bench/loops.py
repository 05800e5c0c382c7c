"""The loops under test: ours, and three hand-written references doing the same work.

Every loop sends the same system prompt, task and tool list to the same fake
server, appends the assistant message, runs the instant tool for each call and
appends its JSON result, until the model answers. What differs is only the
client code:

* `floor`      - plain `httpx2` with JSON: what any Python client must spend
                 (`httpx2` is the maintained httpx fork the `openai` package now
                 sends through; httpx 0.28's pool does work quadratic in its
                 connections, so it is no floor at 1000 connections);
* `sdk_create` - the `openai` package's `chat.completions.create`: what most
                 frameworks spend;
* `sdk_post`   - the same `openai` client's documented `post()` with a plain dict
                 body, parsing the reply itself (the approach our model uses);
* `ours`       - `agent_runtime.loop.Agent` with `OpenAIModel`: events, argument
                 validation, guards, context window, checkpoints hook;
* `durable`    - the same agent through the worker with the SQLite store: the task
                 is created and queued, claimed under a lease, and every event and
                 a checkpoint per step are written before the next step.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import tempfile
import uuid
from pathlib import Path
from typing import Any, Protocol

import httpx2

from bench.common import API_KEY, MODEL, SYSTEM, TOOLS, NoteTool, SleepTool, note

# The floor keeps every connection alive (no reconnects) and splits them over one
# pool per TASKS_PER_POOL concurrent tasks: a pool's bookkeeping scans its
# connections on every request, so one pool for 1000 connections costs more CPU
# than the request itself.
TASKS_PER_POOL = 16
FLOOR_LIMITS = httpx2.Limits(max_connections=None, max_keepalive_connections=None, keepalive_expiry=30)


class Loop(Protocol):
    name: str

    async def task(self, text: str) -> int:
        """Run one task to its final answer; return the number of model steps."""
        ...

    async def aclose(self) -> None:
        """Close the loop's clients."""
        ...


def _run_tool(call: dict[str, Any]) -> str:
    args = json.loads(call["function"]["arguments"] or "{}")
    return json.dumps(note(**args))


class FloorLoop:
    """The floor: httpx2, a JSON body, the reply parsed as JSON, nothing else."""

    name = "floor"

    def __init__(self, base_url: str, *, max_steps: int = 50, concurrency: int = 1) -> None:
        self.clients = [
            httpx2.AsyncClient(base_url=base_url, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=120,
                               limits=FLOOR_LIMITS)
            for _ in range(max(1, -(-concurrency // TASKS_PER_POOL)))
        ]
        self._next_client = itertools.cycle(self.clients)
        self.max_steps = max_steps

    async def task(self, text: str) -> int:
        client = next(self._next_client)  # a task keeps its pool, tasks spread evenly over pools
        messages: list[dict[str, Any]] = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": text}]
        for step in range(1, self.max_steps + 1):
            resp = await client.post("/chat/completions", json={"model": MODEL, "messages": messages,
                                                                     "tools": TOOLS})
            resp.raise_for_status()
            message = resp.json()["choices"][0]["message"]
            calls = message.get("tool_calls")
            messages.append({"role": "assistant", "content": message.get("content"), **({"tool_calls": calls}
                                                                                         if calls else {})})
            if not calls:
                return step
            for call in calls:
                messages.append({"role": "tool", "tool_call_id": call["id"], "content": _run_tool(call)})
        raise RuntimeError("the floor loop ran out of steps")

    async def aclose(self) -> None:
        for client in self.clients:
            await client.aclose()


class SdkCreateLoop:
    """What most frameworks do: `chat.completions.create`, typed objects back."""

    name = "sdk_create"

    def __init__(self, base_url: str, *, max_steps: int = 50, concurrency: int = 1) -> None:
        from openai import AsyncOpenAI

        self.client = AsyncOpenAI(base_url=base_url, api_key=API_KEY)
        self.max_steps = max_steps

    async def task(self, text: str) -> int:
        messages: list[dict[str, Any]] = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": text}]
        for step in range(1, self.max_steps + 1):
            completion = await self.client.chat.completions.create(
                model=MODEL, messages=messages, tools=TOOLS  # type: ignore[arg-type]
            )
            message = completion.choices[0].message
            calls = [c.model_dump() for c in message.tool_calls or ()]
            messages.append({"role": "assistant", "content": message.content, **({"tool_calls": calls}
                                                                                  if calls else {})})
            if not calls:
                return step
            for call in calls:
                messages.append({"role": "tool", "tool_call_id": call["id"], "content": _run_tool(call)})
        raise RuntimeError("the sdk_create loop ran out of steps")

    async def aclose(self) -> None:
        await self.client.close()


class SdkPostLoop:
    """The same client's `post()` with a dict body, the reply parsed by hand."""

    name = "sdk_post"

    def __init__(self, base_url: str, *, max_steps: int = 50, concurrency: int = 1) -> None:
        from openai import AsyncOpenAI

        self.client = AsyncOpenAI(base_url=base_url, api_key=API_KEY)
        self.max_steps = max_steps

    async def task(self, text: str) -> int:
        messages: list[dict[str, Any]] = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": text}]
        for step in range(1, self.max_steps + 1):
            resp = await self.client.post(
                "/chat/completions", cast_to=httpx2.Response,
                body={"model": MODEL, "messages": messages, "tools": TOOLS},
            )
            message = json.loads(resp.content)["choices"][0]["message"]
            calls = message.get("tool_calls")
            messages.append({"role": "assistant", "content": message.get("content"), **({"tool_calls": calls}
                                                                                         if calls else {})})
            if not calls:
                return step
            for call in calls:
                messages.append({"role": "tool", "tool_call_id": call["id"], "content": _run_tool(call)})
        raise RuntimeError("the sdk_post loop ran out of steps")

    async def aclose(self) -> None:
        await self.client.close()


class OurLoop:
    """The runtime's agent loop over the runtime's OpenAI model."""

    name = "ours"

    def __init__(self, base_url: str, *, max_steps: int = 50, concurrency: int = 1) -> None:
        from agent_runtime.loop import Agent

        self.model = bench_model(base_url)
        self.agent = Agent(bench_agent(max_steps), self.model, BENCH_TOOLS)

    async def task(self, text: str) -> int:
        result = await self.agent.run(text)
        if result.status != "succeeded":
            raise RuntimeError(f"task {result.status}: {result.error}")
        return result.steps

    async def aclose(self) -> None:
        await self.model.aclose()


def bench_agent(max_steps: int) -> Any:
    """The benchmark's agent spec: the research agent's prompt, the note and sleep tools."""
    from agent_runtime.agents import AgentSpec
    from agent_runtime.limits import Limits

    return AgentSpec(name="research", description="benchmark agent", instructions=SYSTEM, tools=("note", "sleep"),
                     limits=Limits(max_steps=max_steps, max_seconds=3600))


def bench_model(base_url: str) -> Any:
    """The runtime's OpenAI model (native tool calls) on the fake server."""
    from agent_runtime.models.openai_model import OpenAIModel

    return OpenAIModel(MODEL, base_url=base_url, api_key=API_KEY, tool_mode="native", max_retries=2, timeout_s=120)


BENCH_TOOLS: dict[str, Any] = {"note": NoteTool(), "sleep": SleepTool()}


class DurableLoop:
    """A task submitted to the store and queue, run by the worker, waited for until the queue settles it."""

    name = "durable"

    def __init__(self, base_url: str, *, max_steps: int = 50, concurrency: int = 1) -> None:
        from agent_runtime.queue.local import LocalQueue
        from agent_runtime.store.sqlite import SQLiteStore
        from agent_runtime.worker import AgentRuntime, Worker

        class SettlingQueue(LocalQueue):
            """The local queue, telling the benchmark when the worker deletes a finished task's message."""

            def __init__(self) -> None:
                super().__init__()
                self.settled: dict[str, asyncio.Future[None]] = {}

            async def delete(self, message: Any) -> None:
                fut = self.settled.pop(message.task_id, None)
                if fut is not None and not fut.done():
                    fut.set_result(None)

        self._tmp = tempfile.TemporaryDirectory(prefix="bench-durable-")
        self.store = SQLiteStore(Path(self._tmp.name) / "bench.db")
        self.queue = SettlingQueue()
        self.model = bench_model(base_url)
        runtime = AgentRuntime(bench_agent(max_steps), self.model, BENCH_TOOLS)
        # The local server's timings (agent_runtime.server.create_platform).
        self.worker = Worker(store=self.store, queue=self.queue, runtimes={"research": runtime},
                             concurrency=max(64, concurrency), lease_s=120.0, poll_s=1.0, receive_wait_s=1.0)
        self._runner: asyncio.Task[None] | None = None

    async def task(self, text: str) -> int:
        from agent_runtime.store.base import TaskRecord

        if self._runner is None:
            self._runner = asyncio.create_task(self.worker.run())
        task_id = f"research-{uuid.uuid4().hex}"
        settled = asyncio.get_running_loop().create_future()
        self.queue.settled[task_id] = settled
        await self.store.create_task(TaskRecord(task_id=task_id, agent="research", input=text))
        await self.queue.send(task_id, "research")
        await settled
        record = await self.store.get_task(task_id)
        if record.state != "succeeded":
            raise RuntimeError(f"durable task {record.state}: {record.error}")
        return record.steps

    async def aclose(self) -> None:
        await self.worker.stop()
        if self._runner is not None:
            self._runner.cancel()
            await asyncio.gather(self._runner, return_exceptions=True)
        await self.model.aclose()
        await self.store.close()
        self._tmp.cleanup()


LOOPS: dict[str, Any] = {
    "floor": FloorLoop, "sdk_create": SdkCreateLoop, "sdk_post": SdkPostLoop, "ours": OurLoop,
    "durable": DurableLoop,
}
