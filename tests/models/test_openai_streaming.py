"""The `openai` adapter streaming (`stream: true` with usage) against the fake server over real HTTP:
text pieces arrive through `on_text`, tool calls are assembled from their fragments, and the reply
equals the one the same script gives without streaming."""

from __future__ import annotations

import json

import pytest

from agent_runtime.errors import ModelError
from agent_runtime.models.base import StreamingModel
from agent_runtime.models.openai_model import OpenAIModel
from tests.fakes.openai_server import FakeOpenAIServer, Reply, call, fail, say, use_tools

USER = {"role": "user", "content": "What is in the docs?"}
SEARCH = {"type": "function", "function": {"name": "search_documents", "description": "Search.",
                                           "parameters": {"type": "object", "properties": {"query": {"type": "string"}}}}}
SSE = "text/event-stream"
ANSWER = "The corpus covers asyncio tasks, event loops and cancellation, in three documents."


@pytest.fixture
async def model(fake_openai: FakeOpenAIServer):
    m = OpenAIModel("gpt-4o-mini", base_url=fake_openai.base_url, api_key="test-key", max_retries=1)
    yield m
    await m.aclose()


async def test_streams_text_with_usage_and_the_same_reply(fake_openai: FakeOpenAIServer, model: OpenAIModel) -> None:
    assert isinstance(model, StreamingModel) and model.streams
    fake_openai.script(say(ANSWER, usage=(1000, 500)), say(ANSWER, usage=(1000, 500)))
    pieces: list[str] = []
    streamed = await model.complete([USER], [SEARCH], on_text=pieces.append)
    plain = await model.complete([USER], [SEARCH])
    assert len(pieces) > 5 and "".join(pieces) == ANSWER
    assert streamed == plain
    assert (streamed.usage.prompt_tokens, streamed.usage.completion_tokens) == (1000, 500)
    first, second = fake_openai.chat_requests
    assert first["stream"] is True and first["stream_options"] == {"include_usage": True}
    assert "stream" not in second  # without a listener the call does not stream


async def test_tool_calls_are_assembled_from_fragments(fake_openai: FakeOpenAIServer, model: OpenAIModel) -> None:
    args = {"query": "asyncio tasks and cancellation, in depth", "limit": 5}
    reply = use_tools(call("search_documents", args, id="call_a"), call("search_documents", {"query": "x"}, id="call_b"),
                      text="Searching twice.", usage=(10, 20))
    fake_openai.script(reply, reply)
    pieces: list[str] = []
    streamed = await model.complete([USER], [SEARCH], on_text=pieces.append)
    plain = await model.complete([USER], [SEARCH])
    assert "".join(pieces) == "Searching twice."
    assert [(c.id, c.name, json.loads(c.arguments)) for c in streamed.tool_calls] == [
        ("call_a", "search_documents", args), ("call_b", "search_documents", {"query": "x"})]
    assert streamed.assistant_message() == plain.assistant_message()
    assert streamed.usage == plain.usage


async def test_errors_before_the_stream_are_retried_as_without(fake_openai: FakeOpenAIServer,
                                                               model: OpenAIModel) -> None:
    fake_openai.script(fail(503), say("ok"))
    pieces: list[str] = []
    reply = await model.complete([USER], [], on_text=pieces.append)
    assert reply.text == "ok" and pieces == ["ok"]
    fake_openai.script(fail(400, "bad thing"))
    with pytest.raises(ModelError, match="HTTP 400.*bad thing"):
        await model.complete([USER], [], on_text=pieces.append)


def _cut(text: str) -> Reply:
    """A stream that breaks off after `text`: no finish reason, no [DONE]."""
    head = json.dumps({"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]})
    return Reply(raw_body=f"data: {head}\n\n", content_type=SSE)


async def test_a_stream_cut_short_is_called_again_and_its_text_not_repeated(fake_openai: FakeOpenAIServer,
                                                                            model: OpenAIModel) -> None:
    fake_openai.script(_cut(ANSWER[:20]), say(ANSWER))
    pieces: list[str] = []
    reply = await model.complete([USER], [], on_text=pieces.append)
    assert reply.text == ANSWER and "".join(pieces) == ANSWER
    assert len(fake_openai.chat_requests) == 2


async def test_a_stream_cut_short_every_time_is_a_retryable_model_error(fake_openai: FakeOpenAIServer,
                                                                        model: OpenAIModel) -> None:
    fake_openai.script(_cut("Half an"), _cut("Half an"))  # max_retries=1: two attempts
    with pytest.raises(ModelError, match="ended its stream") as info:
        await model.complete([USER], [], on_text=lambda _: None)
    assert info.value.retryable and len(fake_openai.chat_requests) == 2


async def test_an_error_event_mid_stream(fake_openai: FakeOpenAIServer, model: OpenAIModel) -> None:
    body = 'data: {"choices": [{"index": 0, "delta": {"content": "Hi"}}]}\n\ndata: {"error": {"message": "overloaded"}}\n\n'
    fake_openai.script(Reply(raw_body=body, content_type=SSE))
    with pytest.raises(ModelError, match="overloaded"):
        await model.complete([USER], [], on_text=lambda _: None)


async def test_an_endpoint_answering_json_to_a_stream_request(fake_openai: FakeOpenAIServer,
                                                              model: OpenAIModel) -> None:
    model_body = {"choices": [{"index": 0, "message": {"role": "assistant", "content": "plain JSON"},
                               "finish_reason": "stop"}]}
    fake_openai.script(Reply(raw_body=json.dumps(model_body)))
    pieces: list[str] = []
    reply = await model.complete([USER], [], on_text=pieces.append)
    assert reply.text == "plain JSON" and pieces == []


def test_streaming_off_and_react_mode_never_stream(fake_openai: FakeOpenAIServer) -> None:
    assert not OpenAIModel("m", base_url=fake_openai.base_url, stream=False).streams
    assert not OpenAIModel("m", base_url=fake_openai.base_url, tool_mode="react").streams
