"""`agent-platform serve`, and `submit`, `watch` and `cancel`: clients of the task API.

The clients work against the local server and a deployed platform alike: the URL comes from
`--url` or AGENT_PLATFORM_URL (default http://127.0.0.1:8080), the key from `--key`,
AGENT_PLATFORM_CLIENT_KEY, or else the key file the local server generated in its data
directory. `watch` follows a task's Server-Sent Events, reconnects with `Last-Event-ID` when
the connection drops (no event is shown twice), and asks for approvals in the terminal.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console

from agent_runtime.agents import AGENTS
from agent_runtime.api.schemas import MAX_INPUT_CHARS
from agent_runtime.cli.client import ApiClient, Watcher
from agent_runtime.cli.options import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    AgentArgument,
    ApproveMode,
    JsonOption,
    KeyOption,
    TaskArgument,
    UrlOption,
    api_endpoint,
    builtin_corpus,
    check_session,
    check_task_given,
    fail,
    settings_or_fail,
)
from agent_runtime.errors import ConfigurationError

ApproveOption = Annotated[ApproveMode, typer.Option(
    "--approve", help="Sensitive tool calls: ask in the terminal, approve all, or reject all. Without a "
    "terminal (or with --json) 'ask' leaves the decision to another client or to the deadline.")]
AgentOfTaskOption = Annotated[str | None, typer.Option(
    "--agent", help="The task's agent (default: read from the task id).", show_default=False)]


def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port to listen on.")] = 8080,
) -> None:
    """Run the task API and its worker (SQLite store and in-process tools unless settings say otherwise)."""
    from agent_runtime.server import serve as run_server
    from lambda_tools.catalog import TOOL_NAMES

    settings = settings_or_fail()
    # Like `run`: the built-in corpus, unless documents come from S3 or every tool runs on Lambda (a
    # deployed container, which would otherwise build a corpus no tool reads at each start).
    on_lambda = set(settings.tool_functions) >= set(TOOL_NAMES)
    if settings.docs_dir is None and settings.documents_bucket is None and not on_lambda:
        settings = settings_or_fail(docs_dir=builtin_corpus(Console(stderr=True), settings.corpus_dir,
                                                            quiet=False))
    try:
        run_server(settings, host=host, port=port)
    except ConfigurationError as exc:
        fail(str(exc))


def submit(
    agent: AgentArgument,
    task: TaskArgument,
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
    check_task_given(task)
    if len(task) > MAX_INPUT_CHARS:
        fail(f"the task is {len(task):,} characters long; the task API takes at most {MAX_INPUT_CHARS:,}")
    check_session(session)
    client = _client(url, key)
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


def watch(
    task_id: Annotated[str, typer.Argument(help="The task's id, as `submit` printed it.", show_default=False)],
    agent: AgentOfTaskOption = None,
    url: UrlOption = None,
    key: KeyOption = None,
    approve: ApproveOption = ApproveMode.ask,
    json_output: JsonOption = False,
) -> None:
    """Follow a task's events from the start (replayed) to its end, answering approvals."""
    name = _agent_of(task_id, agent)
    _follow(_client(url, key), name, task_id, approve=approve, json_output=json_output)


def cancel(
    task_id: Annotated[str, typer.Argument(help="The task's id.", show_default=False)],
    agent: AgentOfTaskOption = None,
    url: UrlOption = None,
    key: KeyOption = None,
) -> None:
    """Cancel a task: its loop stops, in-flight tool calls included; usage so far is kept."""
    name = _agent_of(task_id, agent)
    client = _client(url, key)
    try:
        view = client.request("POST", f"/v1/agents/{name}/tasks/{task_id}/cancel")
    finally:
        client.close()
    typer.echo(f"{task_id}: {view['state']}" + (" (cancel requested)" if view["state"] != "cancelled" else ""))


def _client(url: str | None, key: str | None) -> ApiClient:
    return ApiClient(*api_endpoint(settings_or_fail(), url, key))


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
