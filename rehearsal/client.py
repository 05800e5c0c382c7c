"""The user's side: the task API through the router, with the bearer key read from Secrets Manager."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

TERMINAL = {"succeeded", "failed", "cancelled"}
TERMINAL_EVENTS = {"task.finished", "task.failed", "task.cancelled"}


class ApiClient:
    """Retries 502/503 as a client behind an ALB must (a target may have just died)."""

    def __init__(self, base_url: str, key: str) -> None:
        self.http = httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30)

    def close(self) -> None:
        self.http.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        for _ in range(60):
            response = self.http.request(method, path, **kwargs)
            if response.status_code not in (502, 503):
                return response
            time.sleep(0.5)
        return response

    def submit(self, agent: str, text: str) -> str:
        response = self._call("POST", f"/v1/agents/{agent}/tasks", json={"input": text})
        response.raise_for_status()
        return str(response.json()["task_id"])

    def task(self, agent: str, task_id: str) -> dict[str, Any]:
        response = self._call("GET", f"/v1/agents/{agent}/tasks/{task_id}")
        response.raise_for_status()
        return dict(response.json())

    def wait(self, agent: str, task_id: str, until: Any, timeout_s: float) -> dict[str, Any]:
        """Poll the task until `until(task)` holds; the last view is returned either way."""
        deadline = time.monotonic() + timeout_s
        view = self.task(agent, task_id)
        while not until(view) and time.monotonic() < deadline:
            time.sleep(0.3)
            view = self.task(agent, task_id)
        return view

    def stream(self, agent: str, task_id: str, timeout_s: float) -> list[dict[str, Any]]:
        """The task's events over SSE until a terminal event."""
        events: list[dict[str, Any]] = []
        with self.http.stream("GET", f"/v1/agents/{agent}/tasks/{task_id}/events",
                              timeout=httpx.Timeout(timeout_s)) as response:
            response.raise_for_status()
            for line in response.iter_lines():
                if line.startswith("data:"):
                    try:
                        event = json.loads(line[5:])
                    except ValueError:
                        continue
                    events.append(event)
                    if event.get("type") in TERMINAL_EVENTS:
                        break
        return events

    def decide(self, agent: str, task_id: str, call_id: str, approve: bool) -> int:
        response = self._call("POST", f"/v1/agents/{agent}/tasks/{task_id}/approvals/{call_id}",
                              json={"approve": approve, "reason": "rehearsal"})
        return response.status_code

    def cancel(self, agent: str, task_id: str) -> int:
        return self._call("POST", f"/v1/agents/{agent}/tasks/{task_id}/cancel").status_code
