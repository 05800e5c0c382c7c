"""What every benchmark shares: the fake model server process, the task script, the
instant tool, and the CPU / wall / memory clocks.

The fake server always runs in its own process, so the CPU it spends never
counts against the loop being measured.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from lambda_tools.spec import ToolSpec

REPO = Path(__file__).resolve().parent.parent
MODEL = "gpt-4o-mini"
API_KEY = "sk-bench"
SYSTEM = (
    "You are the research agent. Search the documents, read the most relevant ones, extract the key entities "
    "and summaries, and write a concise cited report. Work step by step: think, call tools, read their results, "
    "repeat. Use only facts from tool results; cite documents by their id in square brackets."
)
TASK = "Take notes on asyncio event loops, one fact per step, then summarise them."
NOTE_ARGUMENTS = '{"text": "asyncio runs coroutines on one event loop per thread"}'


# -- the tools --------------------------------------------------------------


class NoteIn(BaseModel):
    text: str = Field(min_length=1, max_length=2000, description="the fact to note")


class SleepIn(BaseModel):
    ms: int = Field(ge=0, le=10_000, description="milliseconds to wait")


def note(text: str) -> dict[str, Any]:
    """The instant tool: returns at once, as a cheap tool (or a cache hit) would."""
    return {"ok": True, "data": {"noted": text[:80], "chars": len(text)}, "error": None}


NOTE_SPEC = ToolSpec(
    name="note", description="Note one fact for the final summary.", input_model=NoteIn,
    run=lambda args, ctx: note(args.text), handler="bench (not deployed)",
)
SLEEP_SPEC = ToolSpec(
    name="sleep", description="Wait, standing in for a slow tool (I/O bound, e.g. a Lambda call).",
    input_model=SleepIn, run=lambda args, ctx: {"ok": True}, handler="bench (not deployed)",
)
TOOLS = [NOTE_SPEC.openai_tool(), SLEEP_SPEC.openai_tool()]


class NoteTool:
    """The instant tool behind the runtime's `Tool` protocol."""

    spec = NOTE_SPEC

    async def invoke(self, args: NoteIn, *, task_id: str, call_id: str) -> dict[str, Any]:
        return note(args.text)


class SleepTool:
    """A tool that only waits: what an I/O-bound tool costs the loop."""

    spec = SLEEP_SPEC

    async def invoke(self, args: SleepIn, *, task_id: str, call_id: str) -> dict[str, Any]:
        await asyncio.sleep(args.ms / 1000)
        return {"ok": True, "data": {"slept_ms": args.ms}, "error": None}


# -- the fake model server ----------------------------------------------------


@contextlib.contextmanager
def child_server(module: str, *args: str, what: str) -> Iterator[str]:
    """Run `python -m module args` as a server process that prints `READY <url>`; yield the URL.

    The child's stderr goes to a temporary file whose tail is part of the error when
    the child does not start. The child is terminated (killed after 10 s) on exit.
    """
    with tempfile.TemporaryFile(mode="w+") as errors:
        proc = subprocess.Popen([sys.executable, "-m", module, *args], cwd=REPO, stdout=subprocess.PIPE,
                                stderr=errors, text=True)
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline().strip()
            if not line.startswith("READY "):
                proc.kill()
                proc.wait()
                errors.seek(0)
                raise RuntimeError(f"{what} did not start (exit code {proc.poll()}): {line!r} "
                                   f"{errors.read()[-1500:]}")
            yield line.split(" ", 1)[1]
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextlib.contextmanager
def fake_server(*, latency_s: float = 0.0, steps: int = 20, parallel: int = 1, tool: str = "note",
                arguments: str = NOTE_ARGUMENTS) -> Iterator[str]:
    """Run `tests.fakes.openai_server` in a child process; yield its base URL.

    The scripted model makes `steps` model turns per task: `steps - 1` turns asking for
    `parallel` calls of `tool`, then the final answer. The script is read from each
    request's conversation, so any number of concurrent tasks can share the server.
    """
    with child_server("tests.fakes.openai_server", "--latency", str(latency_s), "--api-key", API_KEY,
                      "--tool", tool, "--tool-args", arguments, "--tool-steps", str(steps - 1),
                      "--parallel", str(parallel), "--text", "All steps are done.",
                      what="the fake model server") as url:
        yield url


def run_child(module: str, *args: str, timeout_s: float = 300, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run `python -m module args` in a fresh process; its last stdout line is a JSON result."""
    proc = subprocess.run(
        [sys.executable, "-m", module, *args], cwd=REPO, capture_output=True, text=True, timeout=timeout_s,
        env={**os.environ, **(env or {})},
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"{module} {' '.join(args)} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return json.loads(lines[-1])


# -- clocks -----------------------------------------------------------------


@dataclass
class Sample:
    """CPU and wall time of one measured run, and how many model steps it made."""

    cpu_s: float
    wall_s: float
    steps: int

    @property
    def cpu_ms_per_step(self) -> float:
        """CPU milliseconds per model step."""
        return self.cpu_s * 1000 / self.steps

    @property
    def wall_ms_per_step(self) -> float:
        """Wall milliseconds per model step."""
        return self.wall_s * 1000 / self.steps


class Clock:
    """Process CPU time (all threads) and wall time between `start` and `stop`."""

    def __enter__(self) -> Clock:
        gc.collect()
        self.cpu0, self.wall0 = time.process_time(), time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cpu_s = time.process_time() - self.cpu0
        self.wall_s = time.perf_counter() - self.wall0


def rss_mb() -> float:
    """Current resident set size of this process."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far.

    Read from /proc/self/status (VmHWM), the high-water mark of this program's own
    memory: `getrusage().ru_maxrss` would do only in a process that was not started
    from a bigger one, since Linux carries the parent's peak over into it across
    fork and exec.
    """
    with contextlib.suppress(OSError), open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100), nearest-rank on sorted values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


def median(values: list[float]) -> float:
    """The median, NaN for no values."""
    return statistics.median(values) if values else float("nan")


def raise_fd_limit() -> None:
    """Allow one socket per concurrent task."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
