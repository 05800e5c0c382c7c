"""The CLI's live draft of the model's streamed text (`model.delta`): shown on a terminal while the step
streams, gone once its `model.turn` arrives; nothing when the output is not a terminal."""

from __future__ import annotations

import io

from rich.console import Console

from agent_runtime.cli.render import EventRenderer
from agent_runtime.events import ModelDelta, ModelTurn


def _delta(step: int, text: str) -> ModelDelta:
    return ModelDelta(task_id="t", ts=0.0, step=step, text=text)


def test_a_terminal_shows_the_draft_until_the_turn() -> None:
    out = io.StringIO()
    renderer = EventRenderer(Console(file=out, force_terminal=True, width=80, height=20))
    for piece in ("Streaming ", "the answer ", "now."):
        renderer.handle(_delta(1, piece))
    assert renderer._draft is not None and renderer._draft.text.plain == "Streaming the answer now."
    renderer.handle(ModelTurn(task_id="t", seq=2, ts=0.0, step=1, thought="Streaming the answer now."))
    assert renderer._draft is None
    renderer.handle(_delta(1, "late"))  # a delta of a step whose turn arrived is stale
    assert renderer._draft is None
    assert "Streaming" in out.getvalue() and "Step 1" in out.getvalue()


def test_no_draft_when_not_a_terminal() -> None:
    out = io.StringIO()
    renderer = EventRenderer(Console(file=out, force_terminal=False))
    renderer.handle(_delta(1, "Streaming"))
    assert renderer._draft is None and out.getvalue() == ""
