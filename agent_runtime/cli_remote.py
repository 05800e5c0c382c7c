"""`agent-platform serve`, and `submit`, `watch` and `cancel`: clients of the task API.

The clients work against the local server and a deployed platform alike: the URL comes from
`--url` or AGENT_PLATFORM_URL (default http://127.0.0.1:8080), the key from `--key`,
AGENT_PLATFORM_CLIENT_KEY, or else the key file the local server generated in its data
directory. `watch` follows a task's Server-Sent Events, reconnects with `Last-Event-ID` when
the connection drops (no event is shown twice), and asks for approvals in the terminal.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from typing import Annotated, Any, NoReturn

import httpx
import typer
from httpx_sse import SSEError, connect_sse
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from agent_runtime.agents import AGENTS
from agent_runtime.api.schemas import MAX_INPUT_CHARS
from agent_runtime.cli import (
    _SESSION_ID,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    ApproveMode,
    _builtin_corpus,
    fail,
    settings_or_fail,
)
from agent_runtime.console import EventRenderer
from agent_runtime.errors import ConfigurationError
from agent_runtime.events import TERMINAL_TYPES, parse_event
from agent_runtime.settings import Settings
from agent_runtime.store.base import ACTIVE_STATES

RECONNECTS = 5  # consecutive failed reconnects before `watch` gives up
_EXIT_OF = {"task.finished": EXIT_OK, "task.failed": EXIT_FAILED, "task.cancelled": EXIT_INTERRUPTED}

UrlOption = Annotated[str | None, typer.Option(
    "--url", help="Base URL of the task API (default: AGENT_PLATFORM_URL or http://127.0.0.1:8080).",
    show_default=False)]
KeyOption = Annotated[str | None, typer.Option(
    "--key", help="API key (default: AGENT_PLATFORM_CLIENT_KEY or the local server's key file).",
    show_default=False)]
ApproveOption = Annotated[ApproveMode, typer.Option(
    "--approve", help="Sensitive tool calls: ask in the terminal, approve all, or reject all. Without a "
    "terminal (or with --json) 'ask' leaves the decision to another client or to the deadline.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the events as JSON lines only.")]


class ApiClient:
    """The task API over HTTP, with its errors turned into one readable line."""

    def __init__(self, url: str, key: str | None, *, timeout_s: float = 30.0) -> None:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.url = url.rstrip("/")
        self.http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout_s)

    def close(self) -> None:
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
        fail(f"cannot reach the task API at {self.url} ({type(exc).__name__}: {exc}); is `agent-platform serve` "
             "running, or is --url / AGENT_PLATFORM_URL right?", EXIT_FAILED)

    def refused(self, response: httpx.Response) -> NoReturn:
        try:
            error = response.json()["error"]
            message = f"{error['code']}: {error['message']}"
        except (ValueError, KeyError, TypeError):
            message = response.text[:300] or response.reason_phrase
        hint = " (set --key or AGENT_PLATFORM_CLIENT_KEY)" if response.status_code == 401 else ""
        fail(f"the task API answered {response.status_code}: {message}{hint}", EXIT_FAILED)

    def events(self, path: str, after: int) -> Iterator[tuple[int, str, str]]:
        """(seq, type, JSON data) of the task's events after `after`, live until the stream ends."""
        headers = {"Last-Event-ID": str(after)} if after else {}
        # The server sends a heartbeat at least every 15 s, so a minute of silence is a dead connection.
        with connect_sse(self.http, "GET", path, headers=headers, timeout=httpx.Timeout(30.0, read=60.0)) as source:
            if not source.response.is_success:
                source.response.read()
                self.refused(source.response)
            for sse in source.iter_sse():
                if sse.id and sse.id.isdigit():
                    yield int(sse.id), sse.event, sse.data


def _client(settings: Settings, url: str | None, key: str | None) -> ApiClient:
    key = key or (settings.client_key.get_secret_value() if settings.client_key else None)
    if key is None:
        from agent_runtime.server import local_key_file

        path = local_key_file(settings)
        if path.is_file():
            key = path.read_text().strip() or None
    if url is not None and not url.startswith(("http://", "https://")):
        fail(f"--url {url!r}: give an http:// or https:// URL, e.g. http://127.0.0.1:8080")
    return ApiClient(url or settings.url, key)


def _agent_of(task_id: str, agent: str | None) -> str:
    """Task ids start with their agent's name (`research-...`); --agent is only needed for other ids."""
    if agent is not None:
        if agent not in AGENTS:
            fail(f"unknown agent {agent!r}; choose one of: {', '.join(AGENTS)}")
        return agent
    prefix = task_id.split("-", 1)[0]
    if prefix not in AGENTS:
        fail(f"cannot tell the agent of task {task_id!r}; pass --agent ({', '.join(AGENTS)})")
    return prefix


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
        if self.json_output:
            sys.stdout.write(" ".join(data.splitlines()) + "\n")
            sys.stdout.flush()
        else:
            try:
                event = parse_event(data)
            except ValidationError:
                self.console.print(f"  [dim]({escape(kind)} event this client does not know)[/]")
                return
            self.renderer.handle(event)
        if kind == "approval.requested":
            self.decide(json.loads(data))

    def decide(self, request: dict[str, Any]) -> None:
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


def _follow(client: ApiClient, agent: str, task_id: str, *, approve: ApproveMode, json_output: bool) -> NoReturn:
    watcher = Watcher(client, agent, task_id, approve=approve, json_output=json_output)
    try:
        code = watcher.run()
    except KeyboardInterrupt:
        Console(stderr=True, highlight=False).print(
            f"\n[yellow]stopped watching[/]; the task goes on. Follow it again with `agent-platform watch "
            f"{task_id}`, or stop it with `agent-platform cancel {task_id}`.")
        code = EXIT_INTERRUPTED
    finally:
        client.close()
    raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    """Add serve, submit, watch and cancel to the `agent-platform` command."""

    @app.command()
    def serve(
        host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
        port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port to listen on.")] = 8080,
    ) -> None:
        """Run the task API and its worker (SQLite store and in-process tools unless settings say otherwise)."""
        from agent_runtime.server import serve as run_server

        settings = settings_or_fail()
        if settings.docs_dir is None and settings.documents_bucket is None:  # like `run`: the built-in corpus
            settings = settings_or_fail(docs_dir=_builtin_corpus(Console(stderr=True), settings.corpus_dir,
                                                                 quiet=False))
        try:
            run_server(settings, host=host, port=port)
        except ConfigurationError as exc:
            fail(str(exc))

    @app.command()
    def submit(
        agent: Annotated[str, typer.Argument(help=f"Which agent: {', '.join(AGENTS)}.", show_default=False)],
        task: Annotated[str, typer.Argument(help="What to do, in plain words.", show_default=False)],
        url: UrlOption = None,
        key: KeyOption = None,
        session: Annotated[str | None, typer.Option(
            "--session", help="Session id: tasks in one session see the earlier turns.")] = None,
        max_steps: Annotated[int | None, typer.Option(
            "--max-steps", min=1, max=200, help="Stop after this many model calls (default: the agent's).")] = None,
        idempotency_key: Annotated[str | None, typer.Option(
            "--idempotency-key", help="Submitting again with the same key returns the same task.")] = None,
        watch_task: Annotated[bool, typer.Option(
            "--watch/--no-watch", help="Follow the task's progress (default), or print its id and return.")] = True,
        approve: ApproveOption = ApproveMode.ask,
        json_output: JsonOption = False,
    ) -> None:
        """Submit TASK to AGENT through the task API, then follow it live."""
        if agent not in AGENTS:
            fail(f"unknown agent {agent!r}; choose one of: {', '.join(AGENTS)}")
        if not task.strip():
            fail('the task is empty: say what the agent should do, e.g. "How do asyncio tasks work?"')
        if len(task) > MAX_INPUT_CHARS:
            fail(f"the task is {len(task):,} characters long; the task API takes at most {MAX_INPUT_CHARS:,}")
        if session is not None and not _SESSION_ID.match(session):
            fail(f"--session {session!r}: use 1-128 letters, digits, '_', '.', ':' or '-'")
        client = _client(settings_or_fail(), url, key)
        body: dict[str, Any] = {"input": task}
        if session:
            body["session_id"] = session
        if max_steps:
            body["limits"] = {"max_steps": max_steps}
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        accepted = client.request("POST", f"/v1/agents/{agent}/tasks", json=body, headers=headers)
        task_id = accepted["task_id"]
        if not watch_task:
            client.close()
            typer.echo(json.dumps(accepted) if json_output else task_id)
            raise typer.Exit(EXIT_OK)
        if not json_output:
            Console(stderr=True, highlight=False).print(f"[dim]submitted {task_id} to {client.url}[/]")
        _follow(client, agent, task_id, approve=approve, json_output=json_output)

    @app.command()
    def watch(
        task_id: Annotated[str, typer.Argument(help="The task's id, as `submit` printed it.", show_default=False)],
        agent: Annotated[str | None, typer.Option(
            "--agent", help="The task's agent (default: read from the task id).", show_default=False)] = None,
        url: UrlOption = None,
        key: KeyOption = None,
        approve: ApproveOption = ApproveMode.ask,
        json_output: JsonOption = False,
    ) -> None:
        """Follow a task's events from the start (replayed) to its end, answering approvals."""
        name = _agent_of(task_id, agent)
        _follow(_client(settings_or_fail(), url, key), name, task_id, approve=approve, json_output=json_output)

    @app.command()
    def cancel(
        task_id: Annotated[str, typer.Argument(help="The task's id.", show_default=False)],
        agent: Annotated[str | None, typer.Option(
            "--agent", help="The task's agent (default: read from the task id).", show_default=False)] = None,
        url: UrlOption = None,
        key: KeyOption = None,
    ) -> None:
        """Cancel a task: its loop stops, in-flight tool calls included; usage so far is kept."""
        name = _agent_of(task_id, agent)
        client = _client(settings_or_fail(), url, key)
        try:
            view = client.request("POST", f"/v1/agents/{name}/tasks/{task_id}/cancel")
        finally:
            client.close()
        typer.echo(f"{task_id}: {view['state']}" + (" (cancel requested)" if view["state"] != "cancelled" else ""))

