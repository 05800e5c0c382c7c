"""Shared pieces of the fault tests: a platform served over real HTTP with a chosen runtime, and a
client that submits a task and reads what its user sees (the task and its events)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from agent_runtime.agents import AgentSpec
from agent_runtime.server import create_platform
from agent_runtime.settings import Settings
from agent_runtime.worker import AgentRuntime
from tests.api.support import API_KEY, ServerThread

ENDED = ("succeeded", "failed", "cancelled")


class User:
    """What a user of the task API sees of one agent's tasks."""

    def __init__(self, http: httpx.Client) -> None:
        self.http = http

    def submit(self, text: str) -> str:
        r = self.http.post("/tasks", json={"input": text})
        assert r.status_code == 202, r.text
        return str(r.json()["task_id"])

    def task(self, task_id: str) -> dict[str, Any]:
        r = self.http.get(f"/tasks/{task_id}")
        assert r.status_code == 200, r.text
        return dict(r.json())

    def ended(self, task_id: str, within_s: float = 15.0) -> dict[str, Any]:
        """The task once it has ended (fails the test after `within_s`: a stuck task)."""
        return self.until(task_id, lambda t: t["state"] in ENDED, within_s)

    def until(self, task_id: str, check: Callable[[dict[str, Any]], bool], within_s: float = 15.0) -> dict[str, Any]:
        deadline = time.monotonic() + within_s
        while True:
            task = self.task(task_id)
            if check(task):
                return task
            assert time.monotonic() < deadline, f"the task never reached the expected state: {task}"
            time.sleep(0.05)

    def until_event(self, task_id: str, event_type: str, within_s: float = 15.0) -> None:
        """Wait until the task's event log holds an event of `event_type` (fails the test after `within_s`)."""
        deadline = time.monotonic() + within_s
        while event_type not in (types := self.types(task_id)):
            assert time.monotonic() < deadline, f"no {event_type} event arrived: {types}"
            time.sleep(0.05)

    def events(self, task_id: str) -> list[dict[str, Any]]:
        r = self.http.get(f"/tasks/{task_id}/events", params={"format": "json"})
        assert r.status_code == 200, r.text
        return list(r.json()["events"])

    def types(self, task_id: str) -> list[str]:
        return [e["type"] for e in self.events(task_id)]


@contextmanager
def serving(data_dir: Path, factory: Callable[[AgentSpec, Settings], AgentRuntime], *, poll_s: float = 0.1,
            **settings: Any) -> Iterator[User]:
    """A platform (API and worker, SQLite store and local queue unless `settings` say otherwise) over
    HTTP on 127.0.0.1, and a user of its research agent."""
    config = Settings(data_dir=data_dir, api_keys=API_KEY, **{"store": "sqlite", "queue": "local", "agent": None,
                                                               **settings})
    platform = create_platform(config, runtime_factory=factory, heartbeat_s=0.3, poll_s=poll_s)
    with ServerThread(platform.app) as server, httpx.Client(
            base_url=f"{server.url}/v1/agents/research", headers={"Authorization": f"Bearer {API_KEY}"},
            timeout=20) as http:
        yield User(http)
