"""The local commands: `run` an agent in this process, list `agents` and `tools`, build the `corpus`,
`ingest` a folder of documents.

`agent-platform run research "question"` runs a task in this process with live progress; with
no model endpoint configured it uses the offline model, and with no `--docs` it uses the
built-in corpus (the Python standard library documentation, rendered on first use).
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from agent_runtime.agents import AGENTS, get_agent
from agent_runtime.cli.approvals import TerminalApprover, policy_approver
from agent_runtime.cli.options import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    MAX_TASK_CHARS,
    AgentArgument,
    ApproveMode,
    JsonOption,
    TaskArgument,
    ToolModeOption,
    builtin_corpus,
    check_session,
    check_task_given,
    fail,
    settings_or_fail,
)
from agent_runtime.cli.render import EventRenderer
from agent_runtime.errors import AgentPlatformError, ConfigurationError, UnknownAgentError
from agent_runtime.events import ModelDelta

if TYPE_CHECKING:
    from agent_runtime.loop import Agent


def run(
    agent: AgentArgument,
    task: TaskArgument,
    docs: Annotated[Path | None, typer.Option(
        "--docs", help="Folder of .md/.txt/.csv/.json documents (default: the built-in Python docs corpus).")] = None,
    session: Annotated[str | None, typer.Option(
        "--session", help="Session id: the task sees earlier turns of this session (kept under the data dir).")] = None,
    model: Annotated[str | None, typer.Option(
        "--model", help="Model id, or 'offline'. Without an endpoint (OPENAI_BASE_URL/OPENAI_API_KEY) the "
        "offline model is used.")] = None,
    tool_mode: Annotated[ToolModeOption | None, typer.Option(
        "--tool-mode", help="Tool calling: native function calling or ReAct text.")] = None,
    json_output: JsonOption = False,
    approve: Annotated[ApproveMode, typer.Option(
        "--approve", help="Sensitive tool calls: ask in the terminal, approve all, or deny all. Without a "
        "terminal (or with --json) 'ask' denies.")] = ApproveMode.ask,
    max_steps: Annotated[int | None, typer.Option(
        "--max-steps", help="Stop after this many model calls, 1-200 (default: the agent's).")] = None,
    trace: Annotated[bool, typer.Option(
        "--trace", help="After the answer, print the task's span tree (name, duration, key attributes).")] = False,
) -> None:
    """Run AGENT on TASK in this process, with live progress and the answer as Markdown."""
    try:
        spec = get_agent(agent)
    except UnknownAgentError as exc:
        fail(str(exc))
    check_task_given(task)
    if len(task) > MAX_TASK_CHARS:
        fail(f"the task is {len(task):,} characters long; the limit is {MAX_TASK_CHARS:,}")
    if docs is not None and not docs.is_dir():
        fail(f"--docs {docs}: no such folder")
    if max_steps is not None and not 1 <= max_steps <= 200:
        fail(f"--max-steps {max_steps}: use a number from 1 to 200")
    check_session(session)
    settings = settings_or_fail(model=model, tool_mode=tool_mode.value if tool_mode else None)
    notes = Console(stderr=json_output, highlight=False)

    docs_dir = docs or settings.docs_dir
    if docs_dir is None:
        docs_dir = builtin_corpus(notes, settings.corpus_dir, quiet=json_output)
    elif not docs_dir.is_dir():
        fail(f"AGENT_PLATFORM_DOCS_DIR {docs_dir}: no such folder")
    if model and model.strip().lower() != "offline" and settings.uses_offline_model:
        notes.print(f"[yellow]note:[/] no model endpoint is configured (OPENAI_BASE_URL / OPENAI_API_KEY), "
                    f"so the offline model runs instead of {escape(model)}.")

    from agent_runtime.loop import Agent
    from agent_runtime.models.factory import build_model
    from agent_runtime.store.sqlite import SQLiteSessionMemory
    from agent_runtime.tools import build_tools

    try:
        tools = build_tools(spec.tools, settings, docs_dir=docs_dir, data_dir=settings.data_dir,
                            mcp_servers=spec.mcp_servers)
        llm = build_model(settings, spec)
        limits = spec.limits.merged({"max_steps": max_steps}) if max_steps else None
    except ConfigurationError as exc:
        fail(str(exc))
    memory = SQLiteSessionMemory(settings.data_dir / "sessions.sqlite3") if session else None
    interactive = not json_output and sys.stdin.isatty() and sys.stdout.isatty()
    terminal = TerminalApprover(Console()) if approve is ApproveMode.ask and interactive else None
    approver = terminal or policy_approver(approve, why="--json output" if json_output else "no terminal to ask in")
    runner = Agent(spec, llm, tools, memory=memory, approver=approver, limits=limits)
    from agent_runtime.tracing.tree import traced_run  # exports as the OTEL_* variables say; --trace prints

    with traced_run(show=trace, print_line=lambda line: notes.print(escape(line), soft_wrap=True)):
        code = asyncio.run(_stream(runner, task, session, json_output=json_output, terminal=terminal))
    raise typer.Exit(code)


async def _stream(runner: Agent, task: str, session: str | None, *, json_output: bool,
                  terminal: TerminalApprover | None) -> int:
    renderer = EventRenderer(Console(highlight=False))
    cancel = asyncio.Event()
    loop = asyncio.get_running_loop()
    try:
        loop.add_signal_handler(signal.SIGINT, cancel.set)
        handles_sigint = True
    except (NotImplementedError, RuntimeError):  # not the main thread, or Windows
        handles_sigint = False
    last_type = ""

    def on_delta(delta: ModelDelta) -> None:  # the model's text as it streams: live only, seq null
        if json_output:
            sys.stdout.write(delta.model_dump_json() + "\n")
            sys.stdout.flush()
        else:
            renderer.delta(delta)

    try:
        async for event in runner.stream(task, session_id=session, cancel=cancel, on_delta=on_delta):
            last_type = event.type
            if json_output:
                sys.stdout.write(event.model_dump_json() + "\n")
                sys.stdout.flush()
            else:
                renderer.handle(event)
            if terminal is not None and event.type == "approval.requested":
                await terminal.ask(event)
    finally:
        if handles_sigint:
            loop.remove_signal_handler(signal.SIGINT)
        await runner.model.aclose()
    return {"task.finished": EXIT_OK, "task.cancelled": EXIT_INTERRUPTED}.get(last_type, EXIT_FAILED)


# -- listing -----------------------------------------------------------------------------------


def agents(
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List the agents declared in the agents file: what each does, its tools and its step limit."""
    if json_output:
        rows = [{"name": a.name, "description": a.description, "tools": list(a.tools),
                 "mcp_tools": {m.name: list(m.tools) for m in a.mcp_servers},
                 "max_steps": a.limits.max_steps, "model": a.model, "concurrency": a.concurrency}
                for a in AGENTS.values()]
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(title="Agents", title_justify="left")
    table.add_column("agent", no_wrap=True)
    for column in ("description", "tools", "max steps"):
        table.add_column(column, overflow="fold")
    for a in AGENTS.values():
        mcp = [f"{tool} (MCP {m.name})" for m in a.mcp_servers for tool in m.tools]
        table.add_row(a.name, a.description, ", ".join([*a.tools, *mcp]), str(a.limits.max_steps))
    Console().print(table)


def tools(
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List the tools: which need approval, their timeouts and which agents use them."""
    from lambda_tools.catalog import CATALOG

    users = {t.name: [a.name for a in AGENTS.values() if t.name in a.tools] for t in CATALOG}
    if json_output:
        rows = [{"name": t.name, "description": t.description, "sensitive": t.sensitive, "timeout_s": t.timeout_s,
                 "agents": users[t.name]} for t in CATALOG]
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(title="Tools", title_justify="left")
    table.add_column("tool", no_wrap=True)
    table.add_column("approval", no_wrap=True)
    table.add_column("timeout", no_wrap=True, justify="right")
    table.add_column("agents", no_wrap=True)
    table.add_column("description", ratio=1)
    for t in CATALOG:
        first_sentence = re.split(r"(?<=[.!?])\s", t.description, maxsplit=1)[0]
        table.add_row(t.name, "required" if t.sensitive else "-", f"{t.timeout_s} s", "\n".join(users[t.name]),
                      first_sentence)
    Console().print(table)


# -- corpus and ingest -------------------------------------------------------------------------


def corpus(
    rebuild: Annotated[bool, typer.Option("--rebuild", help="Build it again even if it is current.")] = False,
) -> None:
    """Build (or show) the built-in corpus: Python's standard library docs rendered by pydoc."""
    from agent_runtime.corpus import ensure_corpus

    settings = settings_or_fail()
    try:
        built = ensure_corpus(settings.corpus_dir, rebuild=rebuild)
    except OSError as exc:
        fail(f"cannot build the corpus: {exc}", EXIT_FAILED)
    state = f"built in {built.seconds:.1f} s" if built.built else "already current"
    Console(highlight=False).print(f"{built.root}: {built.documents} documents from {len(built.modules)} modules "
                                   f"and the language reference ({state}).")
    if built.skipped:
        Console(highlight=False).print(f"[yellow]skipped:[/] {escape(', '.join(sorted(built.skipped)))}")


def ingest(
    directory: Annotated[Path, typer.Argument(help="Folder of .md/.txt (searchable) and .csv/.json documents.",
                                              show_default=False)],
    bucket: Annotated[str | None, typer.Option(
        "--bucket", help="Also upload the documents and the index to this S3 bucket.")] = None,
    prefix: Annotated[str, typer.Option("--prefix", help="Key prefix of the documents in the bucket.")] = "documents/",
) -> None:
    """Build the search index of a folder (and upload it with the documents to S3 with --bucket)."""
    if not directory.is_dir():
        fail(f"{directory}: no such folder")
    if bucket is not None and not re.match(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$", bucket):
        fail(f"--bucket {bucket!r} is not a valid S3 bucket name")
    from lambda_tools.search_documents.ingest import ingest as run_ingest

    try:
        summary = run_ingest(directory, bucket=bucket, prefix=prefix)
    except (ValueError, AgentPlatformError) as exc:
        fail(str(exc))
    except Exception as exc:  # boto3/botocore errors: report them in one line, not a traceback
        if type(exc).__module__.split(".")[0] not in ("botocore", "boto3"):
            raise
        fail(f"upload failed: {exc}", EXIT_FAILED)
    where = f" and uploaded {summary['uploaded']} files to {summary.get('location')}" if bucket else ""
    Console(highlight=False).print(
        f"Indexed {summary['documents']} documents ({summary['terms']:,} terms) in {summary['seconds']} s: "
        f"{summary['index_path']}{where}."
    )


