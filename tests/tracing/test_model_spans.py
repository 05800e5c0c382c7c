"""The chat spans of the real `openai` adapter over HTTP (the fake Chat Completions server): the provider's
finish reasons, the token usage, and the requests made again (429s retried by the client, a broken stream
called again) as `http.request.resend_count`; a model error ends the span and the task failed."""

from __future__ import annotations

from opentelemetry.trace import StatusCode

from agent_runtime.agents import AgentSpec
from agent_runtime.loop import Agent
from agent_runtime.models.openai_model import OpenAIModel
from tests.fakes.openai_server import FakeOpenAIServer, call, fail, fake_openai, say, use_tools  # noqa: F401
from tests.test_loop import RecordingTool
from tests.tracing.conftest import Spans

SPEC = AgentSpec(name="test", description="test agent", instructions="be brief", tools=("echo",))


def _agent(server: FakeOpenAIServer, max_retries: int = 2) -> Agent:
    model = OpenAIModel("gpt-4o-mini", base_url=server.base_url, api_key="test-key", max_retries=max_retries)
    return Agent(SPEC, model, {"echo": RecordingTool()})


async def test_chat_spans_carry_usage_finish_reasons_and_retries(fake_openai: FakeOpenAIServer, spans: Spans) -> None:  # noqa: F811
    fake_openai.script(fail(429, "Rate limit reached", retry_after=0.01), use_tools(call("echo", {"text": "x"})),
                       say("done"))
    agent = _agent(fake_openai)
    result = await agent.run("echo x")
    await agent.model.aclose()
    assert result.status == "succeeded"
    first, second = sorted(spans.named("chat gpt-4o-mini"), key=lambda s: s.start_time)
    assert first.attributes["http.request.resend_count"] == 1 and second.attributes["http.request.resend_count"] == 0
    assert first.attributes["gen_ai.response.finish_reasons"] == ("tool_calls",)
    assert second.attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert first.attributes["gen_ai.provider.name"] == "openai"
    assert first.attributes["gen_ai.usage.input_tokens"] == result.events[1].usage.prompt_tokens > 0


async def test_a_model_error_marks_its_chat_span_and_the_task(fake_openai: FakeOpenAIServer, spans: Spans) -> None:  # noqa: F811
    fake_openai.script(fail(400, "bad request"))
    agent = _agent(fake_openai, max_retries=0)
    result = await agent.run("echo x")
    await agent.model.aclose()
    assert result.status == "failed"
    chat, root = spans.one("chat gpt-4o-mini"), spans.one("invoke_agent test")
    assert chat.status.status_code == StatusCode.ERROR and chat.attributes["error.type"] == "ModelError"
    assert root.status.status_code == StatusCode.ERROR and root.attributes["error.type"] == "error"
    assert root.attributes["agent_platform.task.outcome"] == "failed"
