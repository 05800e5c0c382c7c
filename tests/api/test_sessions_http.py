"""One session, one task at a time, over real HTTP: a task submitted while an earlier task of its session
runs is accepted, waits (queued, `waiting_for` naming that task) and starts with the earlier turns in its
memory when that task ends; the order holds across two servers (two workers) sharing one SQLite store.
With AGENT_PLATFORM_SESSION_BUSY=reject such a submit is a 409 instead."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx

from agent_runtime.agents import AgentSpec
from agent_runtime.models.base import Message
from agent_runtime.server import create_platform
from agent_runtime.settings import Settings
from agent_runtime.worker import AgentRuntime
from tests.api.support import API_KEY, ServerThread, make_tools
from tests.fakes.scripted_model import ScriptedModel, call, final


def _seen(messages: list[Message]) -> str:
    """The final answer: every user message and tool result the model was given, in order."""
    return " | ".join(str(m["content"]) for m in messages if m.get("role") in ("user", "tool"))


# Every task: a slow tool call (the task runs for a while), then an answer quoting the model's input.
SCRIPT = {"": [call("slow", {"seconds": 1.5, "text": "slow result"}), final(_seen)]}


def _factory(spec: AgentSpec, settings: Settings) -> AgentRuntime:
    return AgentRuntime(spec, ScriptedModel(SCRIPT), make_tools())  # type: ignore[arg-type]


@contextmanager
def _servers(data_dir: Path, count: int = 1, **settings: Any) -> Iterator[list[httpx.Client]]:
    """`count` servers (API and worker each) on one SQLite store, and a client of each."""
    config = Settings(data_dir=data_dir, api_keys=API_KEY, store="sqlite", queue="local", agent=None, **settings)
    with ExitStack() as stack:
        clients = []
        for _ in range(count):
            platform = create_platform(config, runtime_factory=_factory, heartbeat_s=0.3, poll_s=0.1)
            server = stack.enter_context(ServerThread(platform.app))
            clients.append(stack.enter_context(httpx.Client(
                base_url=f"{server.url}/v1/agents/research", headers={"Authorization": f"Bearer {API_KEY}"},
                timeout=20)))
        yield clients


def _submit(client: httpx.Client, text: str, session: str = "chat-1") -> str:
    r = client.post("/tasks", json={"input": text, "session_id": session})
    assert r.status_code == 202, r.text
    return str(r.json()["task_id"])


def _until(client: httpx.Client, task_id: str, check: Callable[[dict[str, Any]], bool],
           within_s: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + within_s
    while True:
        task = client.get(f"/tasks/{task_id}").json()
        if check(task):
            return task
        assert time.monotonic() < deadline, f"task never reached the expected state: {task}"
        time.sleep(0.05)


def _ended(task: dict[str, Any]) -> bool:
    return task["state"] in ("succeeded", "failed", "cancelled")


def test_two_submits_at_once_run_one_after_the_other(tmp_path: Path) -> None:
    with _servers(tmp_path) as (api,), ThreadPoolExecutor(2) as pool:
        ids = list(pool.map(lambda text: _submit(api, text), ["question one", "question two"]))
        views = {i: _until(api, i, lambda t: t["state"] == "running" or t["waiting_for"] is not None) for i in ids}
        [first] = [i for i in ids if views[i]["waiting_for"] is None]
        [second] = [i for i in ids if i != first]
        running = _until(api, first, lambda t: t["state"] == "running")
        waiting = api.get(f"/tasks/{second}").json()
        assert waiting["state"] == "queued" and waiting["waiting_for"] == first  # while the first runs
        assert running["waiting_for"] is None and waiting["attempts"] == 0 and waiting["started_at"] is None
        done_first = _until(api, first, _ended)
        done_second = _until(api, second, _ended)
    assert done_first["state"] == done_second["state"] == "succeeded"
    assert done_second["started_at"] >= done_first["finished_at"]  # not before the first ended
    assert done_second["waiting_for"] is None
    # The second task's model saw the first task's turns: its input, its tool result, then its own.
    first_input, second_input = done_first["input"], done_second["input"]
    assert done_first["answer"] == f"{first_input} | {{\"tool\": \"slow\", \"text\": \"slow result\"}}"
    assert done_second["answer"] == f"{done_first['answer']} | {second_input} | " \
        '{"tool": "slow", "text": "slow result"}'


def test_the_order_holds_across_two_servers_on_one_store(tmp_path: Path) -> None:
    with _servers(tmp_path, count=2) as (one, two):
        first = _submit(one, "asked on server one")
        _until(one, first, lambda t: t["state"] == "running")
        second = _submit(two, "asked on server two")  # server two's worker receives it
        for api in (one, two):  # either server shows the wait
            view = api.get(f"/tasks/{second}").json()
            assert view["state"] == "queued" and view["waiting_for"] == first
        done_first = _until(two, first, _ended)
        done_second = _until(one, second, _ended)
    assert done_second["started_at"] >= done_first["finished_at"]
    assert done_second["answer"].startswith("asked on server one | ")
    assert "asked on server two" not in done_first["answer"]


def test_other_sessions_and_tasks_without_one_do_not_wait(tmp_path: Path) -> None:
    with _servers(tmp_path) as (api,):
        first = _submit(api, "a")
        _until(api, first, lambda t: t["state"] == "running")
        other = _submit(api, "b", session="chat-2")
        r = api.post("/tasks", json={"input": "c"})
        for task_id in (other, r.json()["task_id"]):
            assert _until(api, task_id, lambda t: t["state"] == "running")["waiting_for"] is None
        assert api.get(f"/tasks/{first}").json()["state"] == "running"  # all three at once


def test_reject_answers_409_while_the_session_s_task_runs(tmp_path: Path) -> None:
    with _servers(tmp_path, session_busy="reject") as (api,):
        first = _submit(api, "a")
        r = api.post("/tasks", json={"input": "b", "session_id": "chat-1"})
        assert r.status_code == 409 and r.json()["error"]["code"] == "session_busy"
        assert first in r.json()["error"]["message"]
        _until(api, first, _ended)
        second = _submit(api, "b")  # the session is free again
        assert "a | " in _until(api, second, _ended)["answer"]
