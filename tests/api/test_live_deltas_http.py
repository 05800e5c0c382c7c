"""The model's streamed text over HTTP: a platform whose model is `OpenAIModel` against the fake Chat
Completions server (which streams as the real API does). SSE followers get live-only `model.delta`
events without an `id:` line between the stored events; the store holds none of them, a stream resumed
with Last-Event-ID replays none, and each model turn's text is its deltas put together.

A model call streams when someone follows the task as it begins (`ListenedModel`): the first step's may
begin before the follower connects, so the echo tool waits for the follower's first event, and the
second step's call surely streams."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from agent_runtime.agents import AgentSpec
from agent_runtime.models.openai_model import OpenAIModel
from agent_runtime.settings import Settings
from agent_runtime.worker import AgentRuntime
from tests.api.support import make_tools
from tests.fakes.openai_server import FakeOpenAIServer, call, say, use_tools
from tests.faults.harness import User, serving

THOUGHT = "Let me echo that before I answer."
ANSWER = "The echo tool said hi, so the answer is: hi. Nothing else was needed for this task."


@pytest.fixture(scope="module")
def gate() -> threading.Event:
    return threading.Event()


@pytest.fixture(scope="module")
def user(tmp_path_factory: pytest.TempPathFactory, module_fake_openai: FakeOpenAIServer, gate: threading.Event) -> Iterator[User]:
    tools = make_tools()
    tools["echo"].gate = gate

    def factory(spec: AgentSpec, settings: Settings) -> AgentRuntime:
        return AgentRuntime(spec, OpenAIModel("gpt-4o-mini", base_url=module_fake_openai.base_url), tools)  # type: ignore[arg-type]

    with serving(tmp_path_factory.mktemp("live-deltas"), factory) as u:
        yield u


def sse_messages(user: User, task_id: str, headers: dict[str, str] | None = None,
                 on_message: Callable[[], object] = lambda: None) -> list[dict[str, Any]]:
    """The stream's messages to its end, each as its raw fields (`id` only where an `id:` line came);
    `on_message` is called after each."""
    out: list[dict[str, Any]] = []
    fields: dict[str, Any] = {}
    with user.http.stream("GET", f"/tasks/{task_id}/events", headers=headers or {}) as r:
        assert r.status_code == 200
        for line in r.iter_lines():
            if line.startswith(":"):
                continue
            if not line:
                if "data" in fields:
                    fields["data"] = json.loads(fields["data"])
                    out.append(fields)
                    on_message()
                    if fields["event"] in ("task.finished", "task.failed", "task.cancelled"):
                        break
                fields = {}
                continue
            name, _, value = line.partition(":")
            fields[name] = value[1:] if value.startswith(" ") else value
    return out


def test_followers_see_deltas_live_and_the_store_keeps_none(user: User, module_fake_openai: FakeOpenAIServer,
                                                             gate: threading.Event) -> None:
    module_fake_openai.script(use_tools(call("echo", {"text": "hi"}), text=THOUGHT), say(ANSWER))
    task_id = user.submit("echo hi, then answer")
    messages = sse_messages(user, task_id, on_message=gate.set)  # the echo call ends once we follow

    deltas = [m for m in messages if m["event"] == "model.delta"]
    stored = [m for m in messages if m["event"] != "model.delta"]
    assert deltas and all("id" not in m and m["data"]["seq"] is None and m["data"]["task_id"] == task_id
                          for m in deltas)
    assert [int(m["id"]) for m in stored] == list(range(1, len(stored) + 1))  # gap-free, as without deltas
    assert [m["data"]["seq"] for m in stored] == list(range(1, len(stored) + 1))
    turns = {m["data"]["step"]: m["data"]["thought"] for m in stored if m["event"] == "model.turn"}
    text = {step: "".join(m["data"]["text"] for m in deltas if m["data"]["step"] == step) for step in turns}
    assert turns == {1: THOUGHT, 2: ANSWER}
    assert text[1] in ("", THOUGHT) and text[2] == ANSWER  # step 1 streams if we followed when it began
    # Each delta comes before its step's stored model.turn.
    order = [(m["event"], m["data"].get("step")) for m in messages]
    for step in (s for s in turns if text[s]):
        assert max(i for i, e in enumerate(order) if e == ("model.delta", step)) < order.index(("model.turn", step))
    assert stored[-1]["data"]["answer"] == ANSWER

    assert all(e["type"] != "model.delta" for e in user.events(task_id))  # the store holds none
    assert len(user.events(task_id)) == len(stored)
    resumed = sse_messages(user, task_id, {"Last-Event-ID": "1"})  # a reconnect replays no delta
    assert [m["event"] for m in resumed] == [m["event"] for m in stored[1:]]
    assert module_fake_openai.chat_requests[-1]["stream"] is True
