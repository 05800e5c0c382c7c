"""The loop with the real `openai` adapter against the fake Chat Completions server over HTTP.

What a user of a real endpoint sees: parallel tool calls that overlap, bad calls fed back
to the model, guards, cancellation in the middle of a tool, ReAct mode, and retries.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from pydantic import BaseModel, Field

from agent_runtime.agents import AgentSpec
from agent_runtime.limits import Limits
from agent_runtime.loop import Agent, TaskResult
from agent_runtime.models.openai_model import OpenAIModel
from lambda_tools.spec import ToolContext, ToolSpec
from tests.fakes.openai_server import FakeOpenAIServer, call, fail, fake_openai, say, use_tools

__all__ = ["fake_openai"]  # the fixture, imported for this module


class EchoIn(BaseModel):
    text: str = Field(min_length=1, description="text to echo")
    sleep_s: float = Field(0.0, ge=0, le=30, description="seconds to wait first")


def _echo(args: EchoIn, ctx: ToolContext) -> dict[str, Any]:
    return {"echo": args.text}


class EchoTool:
    """Echoes its input after `sleep_s`; records each call's [start, end] and whether it was cancelled."""

    def __init__(self) -> None:
        self.spec = ToolSpec(name="echo", description="Echo the text back after sleep_s seconds.",
                             input_model=EchoIn, run=_echo, handler="tests.test_loop_over_http", timeout_s=30)
        self.calls: list[dict[str, Any]] = []
        self.started = asyncio.Event()

    async def invoke(self, args: EchoIn, *, task_id: str, call_id: str) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        record: dict[str, Any] = {"call_id": call_id, "text": args.text, "start": loop.time(), "end": None,
                                  "cancelled": False}
        self.calls.append(record)
        self.started.set()
        try:
            await asyncio.sleep(args.sleep_s)
        except asyncio.CancelledError:
            record["cancelled"] = True
            raise
        record["end"] = loop.time()
        return _echo(args, ToolContext(task_id=task_id, call_id=call_id))


SPEC = AgentSpec(name="tester", description="test agent", instructions="Use the echo tool.", tools=("echo",))


@pytest.fixture
async def model(fake_openai: FakeOpenAIServer):
    m = OpenAIModel("gpt-4o-mini", base_url=fake_openai.base_url, api_key="test-key", max_retries=2)
    yield m
    await m.aclose()


def tool_messages(request: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in request["messages"] if m["role"] == "tool"]


async def run(model: OpenAIModel, tool: EchoTool, task: str = "go", **limits: Any) -> TaskResult:
    agent = Agent(SPEC, model, {"echo": tool}, limits=Limits(**limits) if limits else None)
    return await agent.run(task)


async def test_four_parallel_calls_overlap(fake_openai: FakeOpenAIServer, model: OpenAIModel) -> None:
    fake_openai.script(
        use_tools(*(call("echo", {"text": f"t{i}", "sleep_s": 0.2}) for i in range(4)), text="all at once"),
        say("Echoed four times."),
    )
    tool = EchoTool()
    result = await run(model, tool)
    assert result.status == "succeeded" and result.answer == "Echoed four times."
    assert len(tool.calls) == 4
    # All four [start, end] intervals share a point in time: they ran concurrently.
    assert max(c["start"] for c in tool.calls) < min(c["end"] for c in tool.calls)
    second = fake_openai.chat_requests[1]
    assert sorted(json.loads(m["content"])["echo"] for m in tool_messages(second)) == ["t0", "t1", "t2", "t3"]
    assert result.usage.total_tokens > 0 and result.cost_usd > 0


async def test_malformed_arguments_are_fed_back_then_fixed(fake_openai: FakeOpenAIServer, model: OpenAIModel) -> None:
    fake_openai.script(
        use_tools(call("echo", '{"text": "unterminated', id="bad_json"), call("echo", {"text": ""}, id="bad_schema")),
        use_tools(call("echo", {"text": "fixed"}, id="good")),
        say("Fixed it."),
    )
    tool = EchoTool()
    result = await run(model, tool)
    assert result.status == "succeeded" and result.answer == "Fixed it."
    assert [c["text"] for c in tool.calls] == ["fixed"]  # the bad calls never reached the tool
    errors = {m["tool_call_id"]: m["content"] for m in tool_messages(fake_openai.chat_requests[1])}
    assert "must be a JSON object" in errors["bad_json"]
    assert "invalid arguments for echo" in errors["bad_schema"] and "text" in errors["bad_schema"]
    assert json.loads(tool_messages(fake_openai.chat_requests[2])[-1]["content"]) == {"echo": "fixed"}


async def test_unknown_tool_is_fed_back(fake_openai: FakeOpenAIServer, model: OpenAIModel) -> None:
    fake_openai.script(use_tools(call("delete_everything", {}, id="c1")), say("Sorry."))
    result = await run(model, EchoTool())
    assert result.status == "succeeded"
    (msg,) = tool_messages(fake_openai.chat_requests[1])
    assert "unknown tool 'delete_everything'" in msg["content"] and "echo" in msg["content"]


async def test_max_steps_stops_the_task(fake_openai: FakeOpenAIServer, model: OpenAIModel) -> None:
    fake_openai.default_reply = use_tools(call("echo", {"text": "again"}))
    result = await run(model, EchoTool(), max_steps=3)
    assert result.status == "failed" and result.stop_reason == "max_steps"
    assert len(fake_openai.chat_requests) == 3


async def test_token_budget_stops_the_task(fake_openai: FakeOpenAIServer, model: OpenAIModel) -> None:
    fake_openai.default_reply = use_tools(call("echo", {"text": "x"}), usage=(400, 200))
    result = await run(model, EchoTool(), max_tokens=1000)
    assert result.status == "failed" and result.stop_reason == "max_tokens"
    assert result.usage.total_tokens == 1200
    assert len(fake_openai.chat_requests) == 2


async def test_cost_budget_stops_the_task(fake_openai: FakeOpenAIServer, model: OpenAIModel) -> None:
    # gpt-4o-mini: $0.15 per 1M input tokens, so 100k prompt tokens a turn cost $0.015.
    fake_openai.default_reply = use_tools(call("echo", {"text": "x"}), usage=(100_000, 0))
    result = await run(model, EchoTool(), max_cost_usd=0.025)
    assert result.status == "failed" and result.stop_reason == "max_cost"
    assert result.cost_usd == pytest.approx(0.030)
    assert len(fake_openai.chat_requests) == 2


async def test_cancel_while_a_tool_runs(fake_openai: FakeOpenAIServer, model: OpenAIModel) -> None:
    fake_openai.script(use_tools(call("echo", {"text": "slow", "sleep_s": 20})), say("never reached"))
    tool = EchoTool()
    cancel = asyncio.Event()
    agent = Agent(SPEC, model, {"echo": tool})
    task = asyncio.create_task(agent.run("go", cancel=cancel))
    await asyncio.wait_for(tool.started.wait(), 10)
    cancel.set()
    result = await asyncio.wait_for(task, 10)
    assert result.status == "cancelled" and result.stop_reason == "cancelled"
    assert tool.calls[0]["cancelled"] and tool.calls[0]["end"] is None
    assert len(fake_openai.chat_requests) == 1
    assert result.usage.total_tokens > 0  # the turn before the cancel still counts


async def test_react_mode_task_end_to_end(fake_openai: FakeOpenAIServer) -> None:
    model = OpenAIModel("local-llm", base_url=fake_openai.base_url, api_key="test-key", tool_mode="react")
    fake_openai.script(
        say("Thought: two echoes\n"
            'Action: echo\nAction Input: {"text": "a"}\n'
            'Action: echo\nAction Input: {\n  "text": "b"\n}'),
        say('Action: echo\nAction Input: {"text": '),  # malformed: a format error, not an answer
        say("Thought: done\nFinal Answer: a and b"),
    )
    tool = EchoTool()
    result = await run(model, tool)
    await model.aclose()
    assert result.status == "succeeded" and result.answer == "a and b"
    assert sorted(c["text"] for c in tool.calls) == ["a", "b"]
    first, second, third = fake_openai.chat_requests
    assert "tools" not in first and "Action Input:" in first["messages"][0]["content"]
    observation = second["messages"][-1]
    assert observation["role"] == "user"
    assert observation["content"].startswith('Observation 1 (echo): {"echo": "a"}')
    assert "Observation 2 (echo)" in observation["content"]
    assert third["messages"][-1]["role"] == "user" and "not valid JSON" in third["messages"][-1]["content"]
    assert all(m["role"] != "tool" for m in third["messages"])


async def test_rate_limit_then_success_inside_a_task(fake_openai: FakeOpenAIServer, model: OpenAIModel) -> None:
    fake_openai.script(fail(429, retry_after=0.01), say("Made it."))
    result = await run(model, EchoTool())
    assert result.status == "succeeded" and result.answer == "Made it."
    assert len(fake_openai.chat_requests) == 2
    assert [e.type for e in result.events] == ["task.started", "model.turn", "task.finished"]


async def test_server_errors_past_retries_fail_the_task_cleanly(
    fake_openai: FakeOpenAIServer, model: OpenAIModel
) -> None:
    fake_openai.script(*[fail(500, "upstream exploded", retry_after=0.01)] * 3)
    result = await run(model, EchoTool())
    assert result.status == "failed" and result.stop_reason == "error"
    assert "HTTP 500" in (result.error or "") and "upstream exploded" in (result.error or "")
    assert result.events[-1].type == "task.failed"
