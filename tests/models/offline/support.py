"""Shared by the offline model tests: a small corpus, an agent over it, and hand-built conversations."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from agent_runtime.agents import get_agent
from agent_runtime.events import ModelTurn
from agent_runtime.loop import Agent, TaskResult
from agent_runtime.models.offline import OfflineModel
from agent_runtime.settings import load_settings
from agent_runtime.tools import build_tools

CORPUS = {
    "asyncio/tasks.md": "# Asyncio tasks and coroutines\n\nA coroutine is declared with `async def`. Wrapping a "
    "coroutine in a task with asyncio.create_task() schedules it on the event loop so that it runs concurrently "
    "with other tasks. Awaiting the task returns its result. Tasks can be cancelled, and asyncio.gather() waits "
    "for several tasks at once.\n",
    "asyncio/blocking.md": "# Running blocking code\n\nBlocking calls such as time.sleep() or a slow file read "
    "stall the event loop: no other coroutine runs until they return. Run blocking functions in a worker thread "
    "with asyncio.to_thread() or loop.run_in_executor(), so the event loop keeps serving other tasks while the "
    "thread waits. Guido van Rossum designed asyncio at Google in 2012.\n",
    "asyncio/event-loop.md": "# The event loop\n\nThe event loop runs tasks and callbacks, performs network IO "
    "and runs subprocesses. asyncio.run() creates a new event loop, runs a coroutine until it completes, and "
    "closes the loop.\n",
    "cooking/sourdough.txt": "Sourdough bread\n\nMix flour, water and salt with an active starter. Let the dough "
    "rise overnight, shape the loaf and bake it in a hot Dutch oven.\n",
    "reports/sales-notes.md": "# Sales notes\n\nThe monthly sales figures are in data/sales.csv, one row per "
    "month and region.\n",
    "data/sales.csv": "month,region,units,revenue\n2024-01-01,north,10,100\n2024-02-01,south,12,130\n"
    "2024-03-01,north,15,150\n2024-04-01,south,11,120\n2024-05-01,north,20,200\n",
}


QUESTION = "How do asyncio tasks and the event loop work, and how do I run blocking code?"


def make_agent(name: str, docs: Path, data_dir: Path, *, approver: Any = None, memory: Any = None) -> Agent:
    spec = get_agent(name)
    tools = build_tools(spec.tools, load_settings(), docs_dir=docs, data_dir=data_dir)
    return Agent(spec, OfflineModel(spec), tools, approver=approver, memory=memory)


def tool_steps(result: TaskResult) -> list[list[str]]:
    """The tool names the model asked for, turn by turn."""
    return [[c["name"] for c in e.tool_calls] for e in result.events if isinstance(e, ModelTurn) and e.tool_calls]


def cited(answer: str) -> set[str]:
    return set(re.findall(r"\[([A-Za-z0-9_][\w./\-]*)\]", answer))


def doc_ids(root: Path) -> set[str]:
    return {p.relative_to(root).with_suffix("").as_posix() for p in root.rglob("*") if p.is_file()}


def conversation(task: str, *turns: tuple[list[tuple[str, dict[str, Any]]], list[str]]) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = [{"role": "system", "content": "x"}, {"role": "user", "content": task}]
    for n, (calls, results) in enumerate(turns, start=1):
        ids = [f"call_{n}_{i}" for i in range(1, len(calls) + 1)]
        messages.append({"role": "assistant", "content": None, "tool_calls": [
            {"id": i, "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}
            for i, (name, args) in zip(ids, calls, strict=True)]})
        messages += [{"role": "tool", "tool_call_id": i, "content": r} for i, r in zip(ids, results, strict=True)]
    return messages


def search_result(*hits: tuple[str, float]) -> str:
    return json.dumps({"query": "q", "total_documents": 9, "results": [
        {"id": doc, "title": doc.title(), "score": score, "snippet": f"about {doc}"} for doc, score in hits]})
