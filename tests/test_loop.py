"""The ReAct loop with an in-process scripted model: the loop's own rules, one per test."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from pydantic import BaseModel, Field

from agent_runtime.agents import AgentSpec
from agent_runtime.checkpoint import ApprovalDecision, ApprovalRequest, Checkpoint
from agent_runtime.events import Usage
from agent_runtime.limits import Limits
from agent_runtime.loop import Agent
from agent_runtime.memory import ContextWindow, InMemoryMemory
from agent_runtime.models.base import Message, ModelReply, ToolCall
from lambda_tools.spec import ToolSpec


class EchoIn(BaseModel):
    text: str = Field(min_length=1)
    delay: float = Field(0.0, ge=0, le=5)


class RecordingTool:
    """A tool that records each call (name, call id, start, end) and echoes its input."""

    def __init__(self, name: str = "echo", *, sensitive: bool = False, fail: bool = False, timeout_s: int = 5):
        self.spec = ToolSpec(
            name=name, description="echo text back", input_model=EchoIn, run=lambda a, c: {},
            handler="tests.none", sensitive=sensitive, timeout_s=timeout_s,
        )
        self.fail = fail
        self.calls: list[dict[str, Any]] = []

    async def invoke(self, args: EchoIn, *, task_id: str, call_id: str) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        record = {"call_id": call_id, "start": loop.time(), "end": None}
        self.calls.append(record)
        await asyncio.sleep(args.delay)
        record["end"] = loop.time()
        if self.fail:
            raise RuntimeError("disk on fire")
        return {"echo": args.text}


class Scripted:
    """A model that replays scripted replies and records the messages it was sent."""

    name = "scripted"
    offline = True

    def __init__(self, replies: list[ModelReply]):
        self.replies = list(replies)
        self.seen: list[list[Message]] = []

    async def complete(self, messages: list[Message], tools: list[dict[str, Any]]) -> ModelReply:
        self.seen.append([dict(m) for m in messages])
        reply = self.replies.pop(0)
        return reply

    async def aclose(self) -> None:
        return None


def calls(*specs: tuple[str, dict[str, Any] | str], step: int = 1) -> ModelReply:
    tcs = [
        ToolCall(f"c{step}_{i}", name, args if isinstance(args, str) else json.dumps(args))
        for i, (name, args) in enumerate(specs)
    ]
    return ModelReply(text=f"thinking {step}", tool_calls=tcs, usage=Usage(prompt_tokens=10, completion_tokens=5))


def final(text: str = "done") -> ModelReply:
    return ModelReply(text=text, usage=Usage(prompt_tokens=10, completion_tokens=5))


SPEC = AgentSpec(name="test", description="test agent", instructions="be brief", tools=("echo",))


def make_agent(replies: list[ModelReply], *tools: RecordingTool, **kwargs: Any) -> tuple[Agent, Scripted]:
    model = Scripted(replies)
    tools = tools or (RecordingTool(),)
    return Agent(SPEC, model, {t.spec.name: t for t in tools}, **kwargs), model


def tool_messages(messages: list[Message]) -> list[str]:
    return [m["content"] for m in messages if m["role"] == "tool"]


async def test_final_answer_events_are_numbered_and_typed() -> None:
    agent, _ = make_agent([calls(("echo", {"text": "hi"})), final("the answer")])
    result = await agent.run("say hi", task_id="t1")
    assert result.status == "succeeded" and result.answer == "the answer"
    assert [e.seq for e in result.events] == list(range(1, len(result.events) + 1))
    assert [e.type for e in result.events] == [
        "task.started", "model.turn", "tool.started", "tool.finished", "model.turn", "task.finished",
    ]
    assert result.usage.total_tokens == 30 and result.steps == 2


async def test_parallel_calls_overlap_in_time() -> None:
    tool = RecordingTool()
    agent, _ = make_agent([calls(*[("echo", {"text": str(i), "delay": 0.2}) for i in range(4)]), final()], tool)
    await agent.run("four at once")
    latest_start = max(c["start"] for c in tool.calls)
    earliest_end = min(c["end"] for c in tool.calls)
    assert len(tool.calls) == 4 and latest_start < earliest_end  # all four intervals intersect


async def test_invalid_arguments_and_unknown_tool_are_fed_back_to_the_model() -> None:
    agent, model = make_agent(
        [calls(("echo", {"text": ""}), ("nope", {}), ("echo", "{not json")), calls(("echo", {"text": "ok"}), step=2),
         final()]
    )
    result = await agent.run("try")
    observed = tool_messages(model.seen[1])
    assert "invalid arguments for echo: text" in observed[0]
    assert "unknown tool 'nope'; available tools: echo" in observed[1]
    assert "must be a JSON object" in observed[2]
    assert result.status == "succeeded"


async def test_tool_exception_and_timeout_become_observations() -> None:
    broken = RecordingTool("echo", fail=True)
    agent, model = make_agent([calls(("echo", {"text": "x"})), final()], broken)
    await agent.run("x")
    assert "echo failed unexpectedly: RuntimeError: disk on fire" in tool_messages(model.seen[1])[0]

    slow = RecordingTool("echo")
    agent, model = make_agent([calls(("echo", {"text": "x", "delay": 2})), final()], slow,
                              limits=Limits(tool_timeout_s=0.05))
    result = await agent.run("x")
    assert "echo timed out after 0.05 s" in tool_messages(model.seen[1])[0]
    assert result.status == "succeeded"


@pytest.mark.parametrize(
    ("limits", "replies", "reason"),
    [
        (Limits(max_steps=2), [calls(("echo", {"text": "a"})), calls(("echo", {"text": "b"}), step=2)], "max_steps"),
        (Limits(max_tokens=20), [calls(("echo", {"text": "a"})), calls(("echo", {"text": "b"}), step=2)],
         "max_tokens"),
    ],
)
async def test_guards_stop_with_a_reason(limits: Limits, replies: list[ModelReply], reason: str) -> None:
    agent, _ = make_agent(replies, limits=limits)
    result = await agent.run("loop forever")
    assert result.status == "failed" and result.stop_reason == reason


async def test_cost_and_wall_clock_guards() -> None:
    pricey = calls(("echo", {"text": "a"}))
    pricey.cost_usd = 0.5
    agent, _ = make_agent([pricey], limits=Limits(max_cost_usd=0.1))
    assert (await agent.run("x")).stop_reason == "max_cost"

    agent, _ = make_agent([calls(("echo", {"text": "a", "delay": 3})), final()], limits=Limits(max_seconds=0.1))
    result = await agent.run("x")
    assert result.stop_reason == "timeout" and "wall-clock" in (result.error or "")


async def test_cancel_during_a_slow_tool_cancels_it_and_keeps_usage() -> None:
    tool = RecordingTool()
    agent, _ = make_agent([calls(("echo", {"text": "a", "delay": 3})), final()], tool)
    cancel = asyncio.Event()
    events = []
    async for event in agent.stream("x", cancel=cancel):
        events.append(event)
        if event.type == "tool.started":
            cancel.set()
    assert events[-1].type == "task.cancelled"
    assert events[-1].usage.total_tokens == 15
    assert tool.calls[0]["end"] is None  # the tool never finished


async def test_cancel_set_before_start_still_ends_with_a_terminal_event() -> None:
    agent, _ = make_agent([final()])
    cancel = asyncio.Event()
    cancel.set()
    result = await agent.run("x", cancel=cancel)
    assert result.status == "cancelled"


async def test_sensitive_call_waits_for_approval_and_rejection_reaches_the_model() -> None:
    tool = RecordingTool("publish", sensitive=True)
    asked: list[ApprovalRequest] = []

    async def approver(req: ApprovalRequest) -> ApprovalDecision:
        asked.append(req)
        return ApprovalDecision(False, "not this week")

    agent, model = make_agent([calls(("publish", {"text": "post"})), final()], tool, approver=approver)
    result = await agent.run("publish it")
    assert asked[0].tool == "publish" and asked[0].arguments == {"text": "post", "delay": 0.0}
    assert tool.calls == []  # never executed
    assert "rejected (approver): not this week" in tool_messages(model.seen[1])[0]
    types = [e.type for e in result.events]
    assert types.index("approval.requested") < types.index("approval.resolved")


async def test_approval_times_out_as_a_rejection() -> None:
    tool = RecordingTool("publish", sensitive=True)

    async def never(req: ApprovalRequest) -> ApprovalDecision:
        await asyncio.sleep(10)
        raise AssertionError("unreachable")

    agent, model = make_agent([calls(("publish", {"text": "p"})), final()], tool, approver=never,
                              limits=Limits(approval_timeout_s=0.05))
    result = await agent.run("x")
    resolved = [e for e in result.events if e.type == "approval.resolved"][0]
    assert resolved.approved is False and resolved.decided_by == "timeout"
    assert tool.calls == []


async def test_without_an_approver_sensitive_calls_are_denied() -> None:
    tool = RecordingTool("publish", sensitive=True)
    agent, model = make_agent([calls(("publish", {"text": "p"})), final()], tool)
    await agent.run("x")
    assert "no approver is available" in tool_messages(model.seen[1])[0]


async def test_resume_runs_only_unanswered_calls_and_continues_numbering() -> None:
    tool = RecordingTool()
    saved: list[dict[str, Any]] = []

    async def save(cp: Checkpoint) -> None:
        saved.append(json.loads(json.dumps(cp.to_dict())))

    agent, _ = make_agent([calls(("echo", {"text": "a"}), ("echo", {"text": "b", "delay": 5}))], tool)
    events = []
    async for event in agent.stream("x", task_id="t", on_checkpoint=save):
        events.append(event)
        if event.type == "tool.finished":
            break  # the worker "dies" with one call done and one in flight
    checkpoint = Checkpoint.from_dict(saved[-1])
    assert len(tool_messages(checkpoint.messages)) == 1

    tool2 = RecordingTool()
    agent2, model2 = make_agent([final("resumed answer")], tool2)
    result = await agent2.run("x", task_id="t", resume=checkpoint, start_seq=events[-1].seq)
    assert [c["call_id"] for c in tool2.calls] == ["c1_1"]  # only the unfinished one
    assert result.events[0].seq == events[-1].seq + 1 and result.events[0].resumed
    assert result.answer == "resumed answer"
    assert len(tool_messages(model2.seen[0])) == 2


async def test_session_memory_carries_earlier_turns() -> None:
    memory = InMemoryMemory()
    agent, model = make_agent([final("Paris"), final("about 2 million")], memory=memory)
    await agent.run("capital of France?", session_id="s1")
    await agent.run("its population?", session_id="s1")
    contents = [m["content"] for m in model.seen[1]]
    assert contents[1:] == ["capital of France?", "Paris", "its population?"]


def test_context_window_trims_whole_groups_and_keeps_the_task() -> None:
    msgs: list[Message] = [{"role": "system", "content": "s"}, {"role": "user", "content": "task"}]
    window = ContextWindow(msgs, budget=120, pinned=1)
    for i in range(10):
        msgs.append({"role": "assistant", "content": None, "tool_calls": [
            {"id": f"c{i}", "type": "function", "function": {"name": "echo", "arguments": "{}"}}]})
        msgs.append({"role": "tool", "tool_call_id": f"c{i}", "content": "x" * 100})
        view = window.view()
    assert view[0]["content"] == "s" and view[1]["content"] == "task"
    assert view[2]["role"] == "assistant"  # never starts with an orphan tool result
    assert view[-1] is msgs[-1] and len(view) < len(msgs)
