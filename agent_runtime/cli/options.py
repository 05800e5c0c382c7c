"""What the `agent-platform` commands share: exit codes, option types, input checks, settings, the task
API's address and key, the built-in corpus, and the one red line that ends a command on bad input."""

from __future__ import annotations

import re
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from agent_runtime.agents import AGENTS

if TYPE_CHECKING:
    from agent_runtime.settings import Settings

EXIT_OK: int = 0
EXIT_FAILED: int = 1
EXIT_USAGE: int = 2
EXIT_INTERRUPTED: int = 130
MAX_TASK_CHARS = 100_000
_SESSION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")


class ApproveMode(StrEnum):
    """What happens to a sensitive tool call: ask in the terminal, approve all, or deny all."""

    ask = "ask"
    all = "all"
    none = "none"


class ToolModeOption(StrEnum):
    """How the model calls tools: native function calling or ReAct text."""

    native = "native"
    react = "react"


AgentArgument = Annotated[str, typer.Argument(help=f"Which agent: {', '.join(AGENTS)}.", show_default=False)]
TaskArgument = Annotated[str, typer.Argument(help="What to do, in plain words.", show_default=False)]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the events as JSON lines only.")]
UrlOption = Annotated[str | None, typer.Option(
    "--url", help="Base URL of the task API (default: AGENT_PLATFORM_URL or http://127.0.0.1:8080).",
    show_default=False)]
KeyOption = Annotated[str | None, typer.Option(
    "--key", help="API key (default: AGENT_PLATFORM_CLIENT_KEY or the local server's key file).",
    show_default=False)]


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """One red line on stderr, then exit (2 for bad input)."""
    line = " ".join(str(message).split())
    Console(stderr=True, highlight=False, soft_wrap=True).print(f"[bold red]error:[/] [red]{escape(line)}[/]")
    raise typer.Exit(code)


def _variable(loc: str, prefix: str) -> str:
    """The environment variable a settings error is about: pydantic reports a field read through an alias
    (OPENAI_BASE_URL, OTEL_*) by the alias's name, any other by the field's name (prefixed)."""
    from agent_runtime.settings import Settings

    return f"{prefix}{loc.upper()}" if loc in Settings.model_fields else loc


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
            problems.append(f"{_variable(name, PREFIX)}{where}: {err['msg']}")
        fail("bad settings: " + "; ".join(problems))


def check_task_given(task: str) -> None:
    """End the command when the task is blank."""
    if not task.strip():
        fail('the task is empty: say what the agent should do, e.g. "How do asyncio tasks work?"')


def check_session(session: str | None) -> None:
    """End the command when a session id is given and is not one the stores accept."""
    if session is not None and not _SESSION_ID.match(session):
        fail(f"--session {session!r}: use 1-128 letters, digits, '_', '.', ':' or '-'")


def api_endpoint(settings: Settings, url: str | None, key: str | None) -> tuple[str, str | None]:
    """The task API's base URL and key: the flags, else the settings, else the local server's key file."""
    key = key or (settings.client_key.get_secret_value() if settings.client_key else None)
    if key is None:
        from agent_runtime.server import local_key_file

        path = local_key_file(settings)
        if path.is_file():
            key = path.read_text().strip() or None
    if url is not None and not url.startswith(("http://", "https://")):
        fail(f"--url {url!r}: give an http:// or https:// URL, e.g. http://127.0.0.1:8080")
    return url or settings.url, key


def builtin_corpus(console: Console, root: Path | None, *, quiet: bool) -> Path:
    """The folder of the built-in corpus (`run` and `serve` use it when no documents are given),
    built first, with a note on `console`, when it is missing or stale."""
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
