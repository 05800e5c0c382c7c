"""ContextWindow: whatever the budget, the model never sees a tool result without the assistant turn
that asked for it, however unequal a turn's parallel results are."""

from __future__ import annotations

import random

from agent_runtime.memory import ContextWindow
from agent_runtime.models.base import Message


def _conversation(rng: random.Random, turns: int) -> list[Message]:
    """System, task, then turns of parallel tool calls with results of very unequal sizes."""
    messages: list[Message] = [{"role": "system", "content": "s" * 40}, {"role": "user", "content": "task " * 10}]
    for turn in range(turns):
        n = rng.randint(1, 4)
        ids = [f"call_{turn}_{i}" for i in range(n)]
        messages.append({"role": "assistant", "content": f"step {turn}", "tool_calls": [
            {"id": i, "type": "function", "function": {"name": "fetch", "arguments": "{}"}} for i in ids]})
        for i in ids:
            messages.append({"role": "tool", "tool_call_id": i, "content": "x" * rng.choice([5, 80, 2_000, 12_000])})
    return messages


def _check(view: list[Message], messages: list[Message]) -> None:
    assert view[0] is messages[0] and view[1] is messages[1]  # system prompt and the pinned task
    asked: set[str] = set()
    for m in view[2:]:
        if m["role"] == "assistant":
            asked = {c["id"] for c in m.get("tool_calls", ())}
        else:  # every tool result follows the turn that asked for it: never an orphan
            assert m["role"] == "tool" and m["tool_call_id"] in asked, m.get("tool_call_id")
    assert view[-1] is messages[-1]  # the newest group is never dropped


def test_a_trimmed_window_never_starts_with_an_orphan_tool_result() -> None:
    rng = random.Random(7)
    for budget in [50, 200, 500, 1_000, 3_000, 5_000, 8_000, *rng.sample(range(10, 20_000), 60)]:
        messages = _conversation(rng, turns=0)
        window = ContextWindow(messages, budget=budget, pinned=1)
        for extra in _conversation(rng, turns=8)[2:]:  # grows as the loop appends, result by result
            messages.append(extra)
            _check(window.view(), messages)
