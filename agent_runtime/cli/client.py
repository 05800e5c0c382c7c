"""A client of the task API: requests whose errors become one readable line, and a watcher that follows a
task's Server-Sent Events, reconnecting with `Last-Event-ID` when the connection drops (no event is
shown twice) and answering approvals."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from typing import Any, NoReturn

import httpx
from httpx_sse import SSEError, connect_sse
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from agent_runtime.cli.options import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, ApproveMode, fail
from agent_runtime.cli.render import EventRenderer
from agent_runtime.events import TERMINAL_TYPES, parse_live_event
from agent_runtime.store.base import ACTIVE_STATES

RECONNECTS = 5  # consecutive failed reconnects before `watch` gives up
_EXIT_OF = {"task.finished": EXIT_OK, "task.failed": EXIT_FAILED, "task.cancelled": EXIT_INTERRUPTED}


class ApiClient:
    """The task API over HTTP, with its errors turned into one readable line."""

    def __init__(self, url: str, key: str | None, *, timeout_s: float = 30.0) -> None:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.url = url.rstrip("/")
        self.http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout_s)

    def close(self) -> None:
        """Close the connection pool."""
        self.http.close()

    def request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """JSON body of a 2xx response; anything else ends the command with the API's message."""
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            self.unreachable(exc)
        if response.is_success:
            return dict(response.json())
        self.refused(response)

    def unreachable(self, exc: Exception) -> NoReturn:
        """End the command: the API could not be reached (exit 1, with a hint at --url)."""
        fail(f"cannot reach the task API at {self.url} ({type(exc).__name__}: {exc}); is `agent-platform serve` "
             "running, or is --url / AGENT_PLATFORM_URL right?", EXIT_FAILED)

    def refused(self, response: httpx.Response) -> NoReturn:
        """End the command with the API's error code and message (exit 1, with a hint at the key on 401)."""
        try:
            error = response.json()["error"]
            message = f"{error['code']}: {error['message']}"
        except (ValueError, KeyError, TypeError):
            message = response.text[:300] or response.reason_phrase
        hint = " (set --key or AGENT_PLATFORM_CLIENT_KEY)" if response.status_code == 401 else ""
        fail(f"the task API answered {response.status_code}: {message}{hint}", EXIT_FAILED)

    def events(self, path: str, after: int) -> Iterator[tuple[int | None, str, str]]:
        """(seq, type, JSON data) of the task's events after `after`, live until the stream ends; the seq of
        a live-only `model.delta` (sent without an id) is None."""
        headers = {"Last-Event-ID": str(after)} if after else {}
        # The server sends a heartbeat at least every 15 s, so a minute of silence is a dead connection.
        with connect_sse(self.http, "GET", path, headers=headers, timeout=httpx.Timeout(30.0, read=60.0)) as source:
            if not source.response.is_success:
                source.response.read()
                self.refused(source.response)
            for sse in source.iter_sse():
                if sse.event == "model.delta":  # httpx-sse gives it the last id seen: ignored
                    yield None, sse.event, sse.data
                elif sse.id and sse.id.isdigit():
                    yield int(sse.id), sse.event, sse.data


class Watcher:
    """Follows one task's events to its terminal event, rendering them and answering approvals."""

    def __init__(self, client: ApiClient, agent: str, task_id: str, *, approve: ApproveMode, json_output: bool,
                 console: Console | None = None) -> None:
        self.client = client
        self.base = f"/v1/agents/{agent}/tasks/{task_id}"
        self.task_id = task_id
        self.approve = approve
        self.json_output = json_output
        self.console = console or Console(highlight=False)
        self.notes = Console(stderr=True, highlight=False)
        self.renderer = EventRenderer(self.console)
        self.interactive = not json_output and sys.stdin.isatty() and sys.stdout.isatty()
        self.seen = 0

    def run(self) -> int:
        """Exit code of the task's outcome (0 succeeded, 1 failed, 130 cancelled)."""
        failures = 0
        while True:
            try:
                for seq, kind, data in self.client.events(self.base + "/events", self.seen):
                    if seq is None:  # live-only text of the model, shown as it streams
                        self.show(kind, data)
                        continue
                    if seq <= self.seen:  # never show an event twice
                        continue
                    self.seen = seq
                    failures = 0
                    self.show(kind, data)
                    if kind in TERMINAL_TYPES:
                        return _EXIT_OF[kind]
                # The stream ended without a terminal event: the server went away, or the task settled
                # some other way.
                response = self.client.http.get(self.base)
            except (httpx.TransportError, SSEError) as exc:
                why = f"connection lost ({type(exc).__name__})"
            else:
                if not response.is_success:
                    self.client.refused(response)
                task = response.json()
                if task["state"] not in ACTIVE_STATES:
                    self.notes.print(f"task {self.task_id} is {task['state']}"
                                     + (f": {escape(task['error'])}" if task.get("error") else ""))
                    return {"succeeded": EXIT_OK, "cancelled": EXIT_INTERRUPTED}.get(task["state"], EXIT_FAILED)
                why = "event stream ended"
            failures += 1
            if failures > RECONNECTS:
                fail(f"{why} {failures} times in a row following {self.task_id} at {self.client.url}; "
                     f"try `agent-platform watch {self.task_id}` later", EXIT_FAILED)
            self.notes.print(f"[dim]{why}; reconnecting after event {self.seen} ...[/]")
            time.sleep(min(2.0 ** failures / 4, 8.0))

    def show(self, kind: str, data: str) -> None:
        """Print one event (rendered, or its JSON line), then answer it if it asks for an approval."""
        if self.json_output:
            sys.stdout.write(" ".join(data.splitlines()) + "\n")
            sys.stdout.flush()
        else:
            try:
                event = parse_live_event(data)
            except ValidationError:
                self.console.print(f"  [dim]({escape(kind)} event this client does not know)[/]")
                return
            self.renderer.handle(event)
        if kind == "approval.requested":
            self.decide(json.loads(data))

    def decide(self, request: dict[str, Any]) -> None:
        """Answer an approval request as --approve says, or leave it pending when no one can be asked."""
        call_id, tool = str(request.get("call_id", "")), str(request.get("tool", "?"))
        if self.approve is ApproveMode.ask and not self.interactive:
            self.notes.print(f"[yellow]approval for {escape(tool)} is pending[/]: decide with `agent-platform watch "
                             f"{self.task_id}` in a terminal, or POST {self.base}/approvals/{call_id}")
            return
        if self.approve is ApproveMode.ask:
            answer = self._ask(f"  Approve [bold]{escape(tool)}[/]? {escape('[y/n]')} ")
            if answer is None:
                return
            body = {"approve": answer, "reason": f"{'approved' if answer else 'rejected'} in the terminal"}
        else:
            body = {"approve": self.approve is ApproveMode.all, "reason": f"--approve {self.approve.value}"}
        response = self.client.http.post(f"{self.base}/approvals/{call_id}", json=body)
        if response.status_code == 409:  # decided meanwhile: by another client, or by the deadline
            self.notes.print(f"[dim]too late: {escape(response.json()['error']['message'])}[/]")
        elif not response.is_success:
            self.client.refused(response)

    def _ask(self, prompt: str) -> bool | None:
        try:
            while True:
                reply = self.console.input(prompt).strip().lower()
                if reply in ("y", "yes", "n", "no"):
                    return reply in ("y", "yes")
        except EOFError:
            return None
