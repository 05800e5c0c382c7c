"""The `agent-platform` command: run an agent locally, list agents and tools, index documents.

`agent-platform run research "question"` runs a task in this process with live progress; with
no model endpoint configured it uses the offline model, and with no `--docs` it uses the
built-in corpus (the Python standard library documentation, rendered on first use). Bad input
gets one red line on stderr and exit code 2.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import sys
import threading
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from agent_runtime.agents import AGENTS, get_agent
from agent_runtime.errors import AgentPlatformError, ConfigurationError, UnknownAgentError

if TYPE_CHECKING:
    from agent_runtime.events import ApprovalRequested
    from agent_runtime.loop import Agent, ApprovalDecision, ApprovalRequest, Approver
    from agent_runtime.settings import Settings

EXIT_OK: int = 0
EXIT_FAILED: int = 1
EXIT_USAGE: int = 2
EXIT_INTERRUPTED: int = 130
MAX_TASK_CHARS = 100_000
_SESSION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")

app = typer.Typer(
    name="agent-platform",
    help="AI agents (research, content, analysis) with tools; runs locally and offline, deploys to AWS.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class ApproveMode(StrEnum):
    ask = "ask"
    all = "all"
    none = "none"


class ToolModeOption(StrEnum):
    native = "native"
    react = "react"


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """One red line on stderr, then exit (2 for bad input)."""
    line = " ".join(str(message).split())
    Console(stderr=True, highlight=False, soft_wrap=True).print(f"[bold red]error:[/] [red]{escape(line)}[/]")
    raise typer.Exit(code)


def settings_or_fail(**overrides: Any) -> Settings:
    """Settings from the environment and flags; invalid ones end the command with one line."""
    from pydantic import ValidationError

    from agent_runtime.envnames import PREFIX
    from agent_runtime.settings import load_settings

    try:
        return load_settings(**overrides)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            name, *path = [str(p) for p in err["loc"]] or ["settings"]
            where = f" ({'.'.join(path)})" if path else ""
            problems.append(f"{PREFIX}{name.upper()}{where}: {err['msg']}")
        fail("bad settings: " + "; ".join(problems))


# -- run ---------------------------------------------------------------------------------------


@app.command()
def run(
    agent: Annotated[str, typer.Argument(help=f"Which agent: {', '.join(AGENTS)}.", show_default=False)],
    task: Annotated[str, typer.Argument(help="What to do, in plain words.", show_default=False)],
    docs: Annotated[Path | None, typer.Option(
        "--docs", help="Folder of .md/.txt/.csv/.json documents (default: the built-in Python docs corpus).")] = None,
    session: Annotated[str | None, typer.Option(
        "--session", help="Session id: the task sees earlier turns of this session (kept under the data dir).")] = None,
    model: Annotated[str | None, typer.Option(
        "--model", help="Model id, or 'offline'. Without an endpoint (OPENAI_BASE_URL/OPENAI_API_KEY) the "
        "offline model is used.")] = None,
    tool_mode: Annotated[ToolModeOption | None, typer.Option(
        "--tool-mode", help="Tool calling: native function calling or ReAct text.")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the events as JSON lines only.")] = False,
    approve: Annotated[ApproveMode, typer.Option(
        "--approve", help="Sensitive tool calls: ask in the terminal, approve all, or deny all. Without a "
        "terminal (or with --json) 'ask' denies.")] = ApproveMode.ask,
    max_steps: Annotated[int | None, typer.Option(
        "--max-steps", help="Stop after this many model calls, 1-200 (default: the agent's).")] = None,
) -> None:
    """Run AGENT on TASK in this process, with live progress and the answer as Markdown."""
    try:
        spec = get_agent(agent)
    except UnknownAgentError as exc:
        fail(str(exc))
    if not task.strip():
        fail('the task is empty: say what the agent should do, e.g. "How do asyncio tasks work?"')
    if len(task) > MAX_TASK_CHARS:
        fail(f"the task is {len(task):,} characters long; the limit is {MAX_TASK_CHARS:,}")
    if docs is not None and not docs.is_dir():
        fail(f"--docs {docs}: no such folder")
    if max_steps is not None and not 1 <= max_steps <= 200:
        fail(f"--max-steps {max_steps}: use a number from 1 to 200")
    if session is not None and not _SESSION_ID.match(session):
        fail(f"--session {session!r}: use 1-128 letters, digits, '_', '.', ':' or '-'")
    settings = settings_or_fail(model=model, tool_mode=tool_mode.value if tool_mode else None)
    notes = Console(stderr=json_output, highlight=False)

    docs_dir = docs or settings.docs_dir
    if docs_dir is None:
        docs_dir = _builtin_corpus(notes, settings.corpus_dir, quiet=json_output)
    elif not docs_dir.is_dir():
        fail(f"AGENT_PLATFORM_DOCS_DIR {docs_dir}: no such folder")
    if model and model.strip().lower() != "offline" and settings.uses_offline_model:
        notes.print(f"[yellow]note:[/] no model endpoint is configured (OPENAI_BASE_URL / OPENAI_API_KEY), "
                    f"so the offline model runs instead of {escape(model)}.")

    from agent_runtime.loop import Agent
    from agent_runtime.memory import SQLiteMemory
    from agent_runtime.models.factory import build_model
    from agent_runtime.tools import build_tools

    try:
        tools = build_tools(spec.tools, settings, docs_dir=docs_dir, data_dir=settings.data_dir)
        llm = build_model(settings, spec)
        limits = spec.limits.merged({"max_steps": max_steps}) if max_steps else None
    except ConfigurationError as exc:
        fail(str(exc))
    memory = SQLiteMemory(settings.data_dir / "sessions.sqlite3") if session else None
    interactive = not json_output and sys.stdin.isatty() and sys.stdout.isatty()
    terminal = TerminalApprover(Console()) if approve is ApproveMode.ask and interactive else None
    approver = terminal or policy_approver(approve, why="--json output" if json_output else "no terminal to ask in")
    runner = Agent(spec, llm, tools, memory=memory, approver=approver, limits=limits)
    code = asyncio.run(_stream(runner, task, session, json_output=json_output, terminal=terminal))
    raise typer.Exit(code)


def _builtin_corpus(console: Console, root: Path | None, *, quiet: bool) -> Path:
    from agent_runtime.corpus import corpus_is_current, default_corpus_dir, ensure_corpus

    root = root or default_corpus_dir()
    if corpus_is_current(root):
        return root
    if not quiet:
        console.print(f"[dim]Building the built-in corpus (Python {sys.version_info.major}."
                      f"{sys.version_info.minor} standard library docs, rendered by pydoc) in {root} ...[/]")
    try:
        corpus = ensure_corpus(root)
    except OSError as exc:
        fail(f"cannot write the built-in corpus to {root}: {exc}", EXIT_FAILED)
    if not quiet:
        console.print(f"[dim]{corpus.documents} documents ready in {corpus.seconds:.1f} s (built once, "
                      "then reused).[/]")
    return root


def policy_approver(mode: ApproveMode, *, why: str = "no terminal to ask in") -> Approver:
    """The approver when no one is asked: approve all, deny all, or deny because no one can answer (`why`)."""
    from agent_runtime.loop import ApprovalDecision

    if mode is ApproveMode.all:
        decision = ApprovalDecision(True, "approved by --approve all", "policy")
    elif mode is ApproveMode.none:
        decision = ApprovalDecision(False, "denied by --approve none", "policy")
    else:
        decision = ApprovalDecision(
            False, f"no one can approve ({why}); rerun with --approve all to allow it", "policy"
        )

    async def approver(request: ApprovalRequest) -> ApprovalDecision:
        return decision

    return approver


class TerminalApprover:
    """Asks in the terminal. The loop awaits `__call__`; the event consumer calls `ask` right after it
    has shown the approval request, so the question appears below the request, in order."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._decisions: dict[str, asyncio.Future[ApprovalDecision]] = {}

    def _future(self, call_id: str) -> asyncio.Future[ApprovalDecision]:
        return self._decisions.setdefault(call_id, asyncio.get_running_loop().create_future())

    async def __call__(self, request: ApprovalRequest) -> ApprovalDecision:
        try:
            return await self._future(request.call_id)
        finally:
            self._decisions.pop(request.call_id, None)

    async def ask(self, event: ApprovalRequested) -> None:
        from agent_runtime.loop import ApprovalDecision

        future = self._future(event.call_id)
        prompt = asyncio.ensure_future(
            _ask_yes_no(self.console, f"  Approve [bold]{escape(event.tool)}[/]? {escape('[y/n]')} "))
        # The decision may also come from elsewhere: the deadline passing, or the task being cancelled.
        await asyncio.wait([prompt, future], return_when=asyncio.FIRST_COMPLETED)  # type: ignore[type-var]
        if not prompt.done():
            prompt.cancel()
            self.console.print("\n  [dim](no longer waiting for an answer)[/]")
        elif not future.done():
            answer = prompt.result()
            reason = "approved in the terminal" if answer else "rejected in the terminal"
            future.set_result(ApprovalDecision(answer, reason, "approver"))


async def _ask_yes_no(console: Console, prompt: str) -> bool:
    """A y/n answer read in a daemon thread (an unanswered prompt never blocks the process from exiting)."""
    loop = asyncio.get_running_loop()
    result: asyncio.Future[bool] = loop.create_future()

    def read() -> None:
        answer = False
        try:
            while True:
                reply = console.input(prompt).strip().lower()
                if reply in ("y", "yes", "n", "no", ""):
                    answer = reply in ("y", "yes")
                    break
        except (EOFError, KeyboardInterrupt):
            answer = False

        def deliver() -> None:
            if not result.done():
                result.set_result(answer)

        loop.call_soon_threadsafe(deliver)

    threading.Thread(target=read, name="approval-prompt", daemon=True).start()
    return await result


async def _stream(runner: Agent, task: str, session: str | None, *, json_output: bool,
                  terminal: TerminalApprover | None) -> int:
    from agent_runtime.console import EventRenderer

    renderer = EventRenderer(Console(highlight=False))
    cancel = asyncio.Event()
    loop = asyncio.get_running_loop()
    try:
        loop.add_signal_handler(signal.SIGINT, cancel.set)
        handles_sigint = True
    except (NotImplementedError, RuntimeError):  # not the main thread, or Windows
        handles_sigint = False
    last_type = ""
    try:
        async for event in runner.stream(task, session_id=session, cancel=cancel):
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


@app.command()
def agents(
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List the agents: what each does, its tools and its step limit."""
    if json_output:
        rows = [{"name": a.name, "description": a.description, "tools": list(a.tools),
                 "max_steps": a.limits.max_steps} for a in AGENTS.values()]
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(title="Agents", title_justify="left")
    table.add_column("agent", no_wrap=True)
    for column in ("description", "tools", "max steps"):
        table.add_column(column, overflow="fold")
    for a in AGENTS.values():
        table.add_row(a.name, a.description, ", ".join(a.tools), str(a.limits.max_steps))
    Console().print(table)


@app.command()
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


@app.command()
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


@app.command()
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


# serve/submit/watch/cancel (the API side) live in their own module, which uses the helpers above.
from agent_runtime.cli_remote import register as _register_remote  # noqa: E402

_register_remote(app)


def main() -> None:
    """Console script entry point (`agent-platform`)."""
    app()


if __name__ == "__main__":
    main()
