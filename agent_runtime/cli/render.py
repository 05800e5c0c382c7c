"""Rich rendering of task events for a terminal: live progress, then the answer and its cost.

Works from events alone, so the local `run` command and the remote `watch` command (events
read back from the API's SSE stream) show a task the same way. The model's text, while it streams
(live-only `model.delta` events), is shown in a live draft below the progress lines on a terminal;
the step's stored `model.turn` replaces it.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from rich.console import Console, ConsoleOptions, RenderResult
from rich.live import Live
from rich.markdown import Markdown
from rich.markup import escape
from rich.rule import Rule
from rich.segment import Segment
from rich.text import Text

from agent_runtime.events import (
    ApprovalRequested,
    ApprovalResolved,
    Event,
    ModelDelta,
    ModelTurn,
    TaskCancelled,
    TaskFailed,
    TaskFinished,
    TaskStarted,
    ToolCallFinished,
    ToolCallStarted,
)

OK = "[green]\u2713[/]"
FAIL = "[red]\u2717[/]"


def _short(value: Any, limit: int) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def format_arguments(arguments: dict[str, Any] | str, limit: int = 60) -> str:
    """`key=value` pairs of a tool call, each value cut to `limit` characters."""
    if isinstance(arguments, str):
        return _short(arguments, limit * 2)
    return ", ".join(f"{key}={_short(value, limit)}" for key, value in arguments.items())


_FIELD = re.compile(r'"(title|id|url|location|summary)":\s*"((?:[^"\\]|\\.){0,200})')


def brief_result(result: str) -> str:
    """A few words on what a tool returned (the event's result may be cut, so parsing is lenient)."""
    try:
        data = json.loads(result)
    except ValueError:
        data = None
    if isinstance(data, dict):
        if "rows" in data:  # analyze_data
            return f"{data['rows']} rows, {len(data.get('results') or [])} results"
        if isinstance(data.get("results"), list):
            ids = [str(r.get("id", "?")) for r in data["results"][:3] if isinstance(r, dict)]
            more = ", ..." if len(data["results"]) > 3 else ""
            return f"{len(data['results'])} results" + (f": {', '.join(ids)}{more}" if ids else "")
        if isinstance(data.get("entities"), list):
            return f"{len(data['entities'])} entities"
        if "summary" in data:
            return f"summary of {len(str(data['summary'])):,} chars"
        if "location" in data:
            return f"stored at {data['location']}"
        if "best" in data:
            return f"best: {data['best']}"
    ids = re.findall(r'"id":\s*"([^"\\]{1,200})"', result)
    if len(ids) > 1:  # a list of hits, cut short in the event
        return "results: " + ", ".join(ids[:3]) + ", ..."
    fields = dict(_FIELD.findall(result))
    for key in ("title", "id", "url", "location"):
        if fields.get(key):
            return _short(fields[key], 80)
    return _short(result, 80)


# Redraws of the live draft a second, at most: a redraw costs far more than a delta.
DRAFT_REFRESH_S = 1 / 12


class _Tail:
    """The last lines of a text that fit the terminal (a long draft shows its newest lines)."""

    def __init__(self, text: Text) -> None:
        self.text = text

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        lines = console.render_lines(self.text, options, pad=False)
        for line in lines[-max(1, console.size.height - 2):]:
            yield from line
            yield Segment.line()


class _Draft:
    """The text of one step as it streams, in a transient rich `Live` (a terminal only)."""

    def __init__(self, console: Console, step: int) -> None:
        self.step = step
        self.text = Text(style="italic")
        self.live = Live(_Tail(self.text), console=console, auto_refresh=False, transient=True)
        self.live.start()
        self.drawn = 0.0

    def add(self, piece: str) -> None:
        self.text.append(piece)
        now = time.monotonic()
        if now - self.drawn >= DRAFT_REFRESH_S:
            self.drawn = now
            self.live.refresh()

    def close(self) -> None:
        self.live.stop()


class EventRenderer:
    """Prints each event as it arrives; the terminal event prints the answer and a usage line."""

    def __init__(self, console: Console | None = None, *, show_input: bool = True) -> None:
        self.console = console or Console()
        self.show_input = show_input
        self._draft: _Draft | None = None
        self._turn_step = 0  # the last model.turn's step: a later delta of it is stale

    def __call__(self, event: Event) -> None:
        self.handle(event)

    def delta(self, event: ModelDelta) -> None:
        """Add a piece of the model's streaming text to the live draft (nothing when not on a terminal:
        the step's `model.turn` and the answer carry the whole text)."""
        if not self.console.is_terminal or event.step <= self._turn_step:
            return
        if self._draft is not None and self._draft.step != event.step:
            self.end_draft()
        if self._draft is None:
            self._draft = _Draft(self.console, event.step)
        self._draft.add(event.text)

    def end_draft(self) -> None:
        """Clear the live draft (the stored events that follow show the text)."""
        if self._draft is not None:
            self._draft.close()
            self._draft = None

    def handle(self, event: Event | ModelDelta) -> None:
        if isinstance(event, ModelDelta):
            self.delta(event)
            return
        self.end_draft()
        print_ = self.console.print
        if isinstance(event, TaskStarted):
            mode = " [dim](offline: deterministic planner, no LLM)[/]" if event.offline else ""
            resumed = " [yellow](resumed)[/]" if event.resumed else ""
            session = f" \u00b7 session {escape(event.session_id)}" if event.session_id else ""
            print_(f"[bold]{escape(event.agent)}[/] \u00b7 model {escape(event.model)}{mode}{resumed}", highlight=False)
            print_(f"[dim]Task id:[/] {escape(event.task_id)}{session}", highlight=False)
            if self.show_input:
                print_(f"[dim]Task:[/] {escape(_short(event.input, 300))}", highlight=False)
        elif isinstance(event, ModelTurn):
            self._turn_step = event.step
            tokens = event.usage.total_tokens
            what = f"{len(event.tool_calls)} tool call{'s' if len(event.tool_calls) != 1 else ''}" \
                if event.tool_calls else "answer"
            print_(f"[bold cyan]Step {event.step}[/] [dim]\u00b7 {what} \u00b7 {event.duration_ms:,.0f} ms \u00b7 "
                   f"{tokens:,} tokens[/]", highlight=False)
            if event.tool_calls and event.thought.strip():
                print_(f"  [italic]{escape(_short(event.thought, 400))}[/]", highlight=False)
        elif isinstance(event, ToolCallStarted):
            print_(f"  [dim]\u2192 {escape(event.tool)}({escape(format_arguments(event.arguments))})[/]",
                   highlight=False)
        elif isinstance(event, ToolCallFinished):
            mark = OK if event.ok else FAIL
            detail = brief_result(event.result) if event.ok else (event.error or event.result)
            print_(f"  {mark} {escape(event.tool)} [dim]{event.duration_ms:,.0f} ms[/] \u00b7 "
                   f"{escape(_short(detail, 160))}", highlight=False)
        elif isinstance(event, ApprovalRequested):
            deadline = datetime.fromtimestamp(event.deadline).strftime("%H:%M:%S")
            print_(f"  [bold yellow]? approval needed[/] for {escape(event.tool)} (decide before {deadline}):",
                   highlight=False)
            for key, value in event.arguments.items():
                if value is None:
                    continue
                print_(f"      [dim]{escape(key)}:[/] {escape(_short(value, 200))}", highlight=False)
        elif isinstance(event, ApprovalResolved):
            verdict = f"{OK} approved" if event.approved else f"{FAIL} rejected"
            reason = f": {escape(event.reason)}" if event.reason else ""
            print_(f"  {verdict} ({escape(event.decided_by)}){reason}", highlight=False)
        elif isinstance(event, TaskFinished):
            print_(Rule("Answer"))
            print_(Markdown(event.answer))
            print_(Rule())
            self._summary(event)
        elif isinstance(event, TaskFailed):
            print_(f"[bold red]Task failed[/] ({event.stop_reason}): {escape(event.error)}", highlight=False)
            if event.answer:
                print_(Rule("Last thought"))
                print_(Markdown(event.answer))
                print_(Rule())
            self._summary(event)
        elif isinstance(event, TaskCancelled):
            print_(f"[bold yellow]Task cancelled[/]: {escape(event.reason)}", highlight=False)
            self._summary(event)

    def _summary(self, event: TaskFinished | TaskFailed | TaskCancelled) -> None:
        usage = event.usage
        self.console.print(
            f"[dim]{event.steps} step{'s' if event.steps != 1 else ''} \u00b7 {usage.total_tokens:,} tokens "
            f"({usage.prompt_tokens:,} in / {usage.completion_tokens:,} out) \u00b7 ${event.cost_usd:.4f} \u00b7 "
            f"{event.duration_ms / 1000:.2f} s[/]",
            highlight=False,
        )


def render_events(events: Iterable[Event], console: Console | None = None) -> None:
    """Render a finished or replayed stream of events."""
    renderer = EventRenderer(console)
    for event in events:
        renderer.handle(event)
