"""The spans of one task, recorded by the SDK's in-memory exporter: the tree of a research task, a failing
tool, a denied approval, a resumed task, and content capture (off unless switched on)."""

from __future__ import annotations

from pathlib import Path

from opentelemetry.trace import SpanKind, StatusCode

from agent_runtime.agents import get_agent
from agent_runtime.checkpoint import ApprovalDecision, ApprovalRequest, Checkpoint
from agent_runtime.loop import Agent
from agent_runtime.models.offline import OfflineModel
from agent_runtime.settings import load_settings
from agent_runtime.tools import build_tools
from tests.test_loop import RecordingTool, calls, final, make_agent
from tests.tracing.conftest import Spans

DOCS = {
    "asyncio.md": "# asyncio\n\nasyncio runs coroutines on an event loop. asyncio.create_task() schedules a "
                  "coroutine as a Task; blocking code belongs in asyncio.to_thread().\n",
    "threads.md": "# threading\n\nThreads run blocking code concurrently; the GIL allows one at a time.\n",
}


def _research_agent(tmp_path: Path) -> Agent:
    docs = tmp_path / "docs"
    docs.mkdir()
    for name, text in DOCS.items():
        (docs / name).write_text(text)
    spec = get_agent("research")
    tools = build_tools(spec.tools, load_settings(), docs_dir=docs, data_dir=tmp_path / "data")
    return Agent(spec, OfflineModel(spec), tools)


async def test_a_research_task_is_one_tree_of_genai_spans(spans: Spans, tmp_path: Path) -> None:
    result = await _research_agent(tmp_path).run("How does asyncio run blocking code?", task_id="t-1",
                                                  session_id="s-1")
    assert result.status == "succeeded"
    root = spans.one("invoke_agent research")
    assert root.parent is None and root.kind == SpanKind.INTERNAL
    attrs = root.attributes or {}
    assert attrs["gen_ai.operation.name"] == "invoke_agent" and attrs["gen_ai.agent.name"] == "research"
    assert attrs["agent_platform.task.id"] == "t-1" and attrs["gen_ai.conversation.id"] == "s-1"
    assert attrs["agent_platform.task.outcome"] == "succeeded"
    assert attrs["agent_platform.task.total_tokens"] == result.usage.total_tokens
    assert attrs["agent_platform.cost_usd"] == result.cost_usd

    chats = spans.named("chat ")
    assert len(chats) == result.steps and all(c.parent.span_id == root.context.span_id for c in chats)
    for chat in chats:
        a = chat.attributes or {}
        assert chat.name == "chat offline" and chat.kind == SpanKind.CLIENT
        assert a["gen_ai.operation.name"] == "chat" and a["gen_ai.request.model"] == "offline"
        assert {"gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens", "http.request.resend_count"} <= set(a)
    assert chats[-1].attributes["gen_ai.response.finish_reasons"] == ("stop",)

    started = [e for e in result.events if e.type == "tool.started"]
    tools = spans.named("execute_tool ")
    assert sorted(t.attributes["gen_ai.tool.call.id"] for t in tools) == sorted(e.call_id for e in started)
    for tool in tools:
        assert tool.parent.span_id == root.context.span_id
        assert tool.name == f"execute_tool {tool.attributes['gen_ai.tool.name']}"
        assert tool.attributes["agent_platform.tool.outcome"] == "ok" and tool.status.status_code != StatusCode.ERROR
    checkpoints = spans.named("save_checkpoint")
    assert checkpoints == []  # no store: nothing is written
    assert all(s.context.trace_id == root.context.trace_id for s in spans.all)


async def test_a_failing_tool_marks_its_span_with_the_error_type(spans: Spans) -> None:
    agent, _ = make_agent([calls(("echo", {"text": "x"})), final()], RecordingTool("echo", fail=True))
    await agent.run("x")
    tool = spans.one("execute_tool echo")
    assert tool.status.status_code == StatusCode.ERROR
    assert tool.attributes["error.type"] == "RuntimeError"
    assert tool.attributes["agent_platform.tool.outcome"] == "error"
    assert "disk on fire" in (tool.status.description or "")
    assert spans.one("invoke_agent").attributes["agent_platform.task.outcome"] == "succeeded"


async def test_a_denied_approval_is_a_wait_span_under_its_rejected_call(spans: Spans) -> None:
    async def approver(req: ApprovalRequest) -> ApprovalDecision:
        return ApprovalDecision(False, "not this week", "alice")

    agent, _ = make_agent([calls(("publish", {"text": "post"})), final()], RecordingTool("publish", sensitive=True),
                          approver=approver)
    await agent.run("publish it")
    tool, wait = spans.one("execute_tool publish"), spans.one("wait_approval publish")
    assert wait.parent.span_id == tool.context.span_id
    assert wait.attributes["agent_platform.approval.approved"] is False
    assert wait.attributes["agent_platform.approval.decided_by"] == "alice"
    assert tool.attributes["error.type"] == "rejected" and tool.status.status_code == StatusCode.ERROR


async def test_a_resumed_task_links_to_the_attempt_before(spans: Spans) -> None:
    saved: list[Checkpoint] = []

    async def keep(cp: Checkpoint) -> None:
        saved.append(Checkpoint.from_dict(cp.to_dict()))

    first, _ = make_agent([calls(("echo", {"text": "a"})), calls(("echo", {"text": "b"}), step=2)])
    # The first attempt dies after its first turn (no reply left for the second step).
    await first.run("two steps", task_id="t-9", on_checkpoint=keep)
    earlier = spans.one("invoke_agent")
    checkpoint = next(cp for cp in reversed(saved) if cp.step == 1 and len(cp.messages) == 4)
    assert checkpoint.attempt_span is not None
    second, _ = make_agent([calls(("echo", {"text": "b"}), step=2), final()])
    result = await second.run("two steps", task_id="t-9", resume=checkpoint, start_seq=checkpoint.seq)
    assert result.status == "succeeded"
    resumed = [s for s in spans.named("invoke_agent") if s is not earlier and s.context != earlier.context][0]
    assert resumed.attributes["agent_platform.resumed"] is True
    assert [link.context.span_id for link in resumed.links] == [earlier.context.span_id]
    assert resumed.links[0].context.trace_id == earlier.context.trace_id


async def test_content_is_not_recorded_unless_capture_is_on(spans: Spans) -> None:
    agent, _ = make_agent([calls(("echo", {"text": "secret plans"})), final("the hidden answer")])
    await agent.run("tell nobody: secret plans")
    for span in spans.all:
        text = repr(dict(span.attributes or {}))
        assert "secret plans" not in text and "hidden answer" not in text and "be brief" not in text


async def test_content_capture_records_prompts_completions_and_tool_io(captured_spans: Spans) -> None:
    agent, _ = make_agent([calls(("echo", {"text": "secret plans"})), final("the hidden answer")])
    await agent.run("tell nobody: secret plans")
    first_chat = captured_spans.named("chat ")[0]
    assert "tell nobody: secret plans" in first_chat.attributes["gen_ai.input.messages"]
    assert "the hidden answer" in captured_spans.named("chat ")[-1].attributes["gen_ai.output.messages"]
    tool = captured_spans.one("execute_tool echo")
    assert "secret plans" in tool.attributes["gen_ai.tool.call.arguments"]
    assert "secret plans" in tool.attributes["gen_ai.tool.call.result"]
