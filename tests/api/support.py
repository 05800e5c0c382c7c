"""Shared test pieces for the worker, the API and the crash test: counting tools, scripts, a uvicorn thread."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import uvicorn
from pydantic import BaseModel, Field

from agent_runtime.agents import AgentSpec
from agent_runtime.settings import Settings
from agent_runtime.worker import AgentRuntime
from lambda_tools.spec import ToolSpec
from tests.fakes.scripted_model import ScriptedModel, call, final, tool_results

API_KEY = "test-key-0123456789"


class ToolIn(BaseModel):
    text: str = Field("x", max_length=200)
    seconds: float = Field(0.0, ge=0, le=60)


class CountingTool:
    """A tool that sleeps `seconds` and echoes `text`, recording each start and finish.

    With `log_dir`, records are also appended to `<log_dir>/<name>.log`, so a test can
    count invocations made by another process (the crash test's killed worker). With `gate`, a call
    waits for the test to set it (up to 30 s) before it sleeps.
    """

    def __init__(self, name: str, *, sensitive: bool = False, log_dir: Path | None = None,
                 gate: threading.Event | None = None) -> None:
        self.spec = ToolSpec(name=name, description=f"test tool {name}", input_model=ToolIn, run=lambda a, c: {},
                             handler="tests.none", sensitive=sensitive, timeout_s=60)
        self.log_dir, self.gate = log_dir, gate
        self.intervals: list[list[float | None]] = []  # [start, end] per invocation (end also if cut short)
        self.records: list[tuple[str, str, str]] = []  # (started|finished, task id, call id)

    def started(self, task_id: str) -> list[str]:
        """Call ids of the task this tool started, in order (a repeated call appears twice)."""
        return [c for what, t, c in self.records if what == "started" and t == task_id]

    def finished(self, task_id: str) -> list[str]:
        return [c for what, t, c in self.records if what == "finished" and t == task_id]

    def _record(self, what: str, task_id: str, call_id: str) -> None:
        self.records.append((what, task_id, call_id))
        if self.log_dir is not None:
            with (self.log_dir / f"{self.spec.name}.log").open("a") as f:
                f.write(f"{what} {task_id} {call_id}\n")

    async def invoke(self, args: ToolIn, *, task_id: str, call_id: str) -> dict[str, Any]:
        interval: list[float | None] = [time.monotonic(), None]
        self.intervals.append(interval)
        self._record("started", task_id, call_id)
        try:
            if self.gate is not None:
                await asyncio.to_thread(self.gate.wait, 30)
            await asyncio.sleep(args.seconds)
        finally:  # also when cancelled or timed out
            interval[1] = time.monotonic()
        self._record("finished", task_id, call_id)
        return {"tool": self.spec.name, "text": args.text}


def logged(log_dir: Path, name: str, what: str) -> list[str]:
    """Call ids a tool logged as started or finished (across processes)."""
    path = log_dir / f"{name}.log"
    if not path.exists():
        return []
    return [line.split()[2] for line in path.read_text().splitlines() if line.startswith(what)]


SCRIPTS = {
    "hello": [call("echo", {"text": "hi"}), final(lambda m: f"echo said {tool_results(m)[-1]}")],
    "publish": [call("publish", {"text": "post"}), final(lambda m: tool_results(m)[-1])],
    "slow": [call("slow", {"seconds": 30}), final("the slow tool finished")],
    "steps": [call("echo", {"text": "1"}), call("echo", {"text": "2"}), call("echo", {"text": "3"}),
              call("echo", {"text": "4"}), final("four steps done")],
    "crash": [call("echo", {"text": "first"}), call("slow", {"text": "second", "seconds": 1}),
              final(lambda m: " | ".join(tool_results(m)))],
}


def make_tools(log_dir: Path | None = None) -> dict[str, CountingTool]:
    return {
        "echo": CountingTool("echo", log_dir=log_dir),
        "slow": CountingTool("slow", log_dir=log_dir),
        "publish": CountingTool("publish", sensitive=True, log_dir=log_dir),
    }


def scripted_factory(tools: dict[str, CountingTool]) -> Callable[[AgentSpec, Settings], AgentRuntime]:
    """A server runtime factory: every agent runs the scripted model over the counting tools."""

    def factory(spec: AgentSpec, settings: Settings) -> AgentRuntime:
        return AgentRuntime(spec, ScriptedModel(SCRIPTS), tools)  # type: ignore[arg-type]

    return factory


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerThread:
    """uvicorn serving an app on 127.0.0.1 in a background thread (its own event loop)."""

    def __init__(self, app: Any, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    timeout_graceful_shutdown=2))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)


async def wait_until(check: Callable[[], Awaitable[bool]], within_s: float = 10.0) -> None:
    """Poll `check` until true; fail the test after `within_s` (a hang, not a timing assertion)."""
    deadline = time.monotonic() + within_s
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)
