"""The `openai` adapter end to end against the fake server over real HTTP."""

from __future__ import annotations

import asyncio
import json
import socket

import httpx
import pytest

from agent_runtime.errors import ConfigurationError, ModelError
from agent_runtime.models.base import Model
from agent_runtime.models.openai_model import OpenAIModel
from agent_runtime.models.pricing import PriceTable
from tests.fakes.openai_server import FakeOpenAIServer, call, fail, say, use_tools

SYSTEM = {"role": "system", "content": "You are terse."}
USER = {"role": "user", "content": "What is in the docs?"}
SEARCH = {
    "type": "function",
    "function": {
        "name": "search_documents",
        "description": "Ranked full-text search over the documents.",
        "parameters": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]},
    },
}
FETCH = {
    "type": "function",
    "function": {"name": "fetch-document", "description": "A document by id.",
                 "parameters": {"type": "object", "properties": {"id": {"type": "string"}}}},
}

REACT_ACTION = 'Thought: I should search.\nAction: search_documents\nAction Input: {"query": "asyncio tasks"}'


@pytest.fixture
async def model(fake_openai: FakeOpenAIServer):
    m = OpenAIModel("gpt-4o-mini", base_url=fake_openai.base_url, api_key="test-key", max_retries=2)
    yield m
    await m.aclose()


async def test_is_a_model(model: OpenAIModel) -> None:
    assert isinstance(model, Model)
    assert model.name == "gpt-4o-mini" and model.offline is False


async def test_text_reply_usage_cost_and_request(fake_openai: FakeOpenAIServer, model: OpenAIModel) -> None:
    fake_openai.script(say("Nothing relevant.", usage=(1000, 500)))
    messages = [SYSTEM, USER]
    reply = await model.complete(messages, [SEARCH])
    assert reply.is_final and reply.text == "Nothing relevant."
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (1000, 500)
    assert reply.cost_usd == pytest.approx((1000 * 0.15 + 500 * 0.60) / 1e6)
    assert reply.assistant_message() == {"role": "assistant", "content": "Nothing relevant."}
    (request,) = fake_openai.requests
    assert request.headers["authorization"] == "Bearer test-key"
    assert request.body == {"model": "gpt-4o-mini", "messages": messages, "tools": [SEARCH]}
    assert messages == [SYSTEM, USER]  # the caller's list is not changed


async def test_each_call_sends_what_the_clients_post_would(fake_openai: FakeOpenAIServer, model: OpenAIModel) -> None:
    """The request options are built once per model: call after call, the request is the one `post()` sends."""
    fake_openai.script(say("one"), say("two"), say("three"))
    await model.complete([SYSTEM, USER], [SEARCH])
    await model.complete([USER], [])
    await model._clients[0].post("/chat/completions", cast_to=httpx.Response,
                                 body={"model": "gpt-4o-mini", "messages": [USER]})
    ours_first, ours, posted = fake_openai.requests
    assert ours_first.body == {"model": "gpt-4o-mini", "messages": [SYSTEM, USER], "tools": [SEARCH]}
    assert (ours.method, ours.path, ours.headers, ours.body) == (posted.method, posted.path, posted.headers,
                                                                 posted.body)
    assert ours.path == "/v1/chat/completions"


async def test_the_client_joins_its_base_url_with_the_path_once() -> None:
    model = OpenAIModel("gpt-4o-mini", base_url="http://127.0.0.1:9/v1", api_key="k")
    client = model._clients[0]
    url = client._prepare_url("/chat/completions")
    assert str(url) == "http://127.0.0.1:9/v1/chat/completions"
    assert client._prepare_url("/chat/completions") is url
    assert str(client._prepare_url("/models")) == "http://127.0.0.1:9/v1/models"
    client.base_url = "http://127.0.0.1:9/v2"  # a new base URL is joined again
    assert str(client._prepare_url("/chat/completions")) == "http://127.0.0.1:9/v2/chat/completions"
    await model.aclose()


async def test_no_tools_param_when_there_are_no_tools(fake_openai: FakeOpenAIServer, model: OpenAIModel) -> None:
    fake_openai.script(say("hi"))
    await model.complete([USER], [])
    assert "tools" not in fake_openai.chat_requests[0]


async def test_single_tool_call(fake_openai: FakeOpenAIServer, model: OpenAIModel) -> None:
    fake_openai.script(use_tools(call("search_documents", {"query": "asyncio"}, id="call_1"), text="Searching."))
    reply = await model.complete([SYSTEM, USER], [SEARCH])
    assert not reply.is_final
    assert reply.text == "Searching."
    assert [(c.id, c.name, json.loads(c.arguments)) for c in reply.tool_calls] == [
        ("call_1", "search_documents", {"query": "asyncio"})]


async def test_parallel_tool_calls_round_trip(fake_openai: FakeOpenAIServer, model: OpenAIModel) -> None:
    fake_openai.script(
        use_tools(call("search_documents", {"query": "a"}), call("search_documents", {"query": "b"}),
                  call("fetch-document", {"id": "x"})),
        say("Done."),
    )
    messages = [SYSTEM, USER]
    reply = await model.complete(messages, [SEARCH, FETCH])
    assert [c.name for c in reply.tool_calls] == ["search_documents", "search_documents", "fetch-document"]
    assert len({c.id for c in reply.tool_calls}) == 3
    messages.append(reply.assistant_message())
    messages += [{"role": "tool", "tool_call_id": c.id, "content": f"result {i}"} for i, c in enumerate(reply.tool_calls)]
    final = await model.complete(messages, [SEARCH, FETCH])
    assert final.text == "Done."
    sent = fake_openai.chat_requests[1]["messages"]
    assert sent[2]["tool_calls"] == [c.as_message_part() for c in reply.tool_calls]
    assert [m["tool_call_id"] for m in sent[3:]] == [c.id for c in reply.tool_calls]


async def test_react_mode_round_trip(fake_openai: FakeOpenAIServer) -> None:
    model = OpenAIModel("llama3.1", base_url=fake_openai.base_url, api_key="test-key", tool_mode="react")
    fake_openai.script(
        say(REACT_ACTION),
        say("Thought: I know now.\nFinal Answer: Tasks wrap coroutines [asyncio-task]."),
    )
    messages = [SYSTEM, USER]
    reply = await model.complete(messages, [SEARCH])
    first = fake_openai.chat_requests[0]
    assert "tools" not in first
    assert first["stop"] == ["\nObservation:"]
    system = first["messages"][0]["content"]
    assert system.startswith("You are terse.")
    assert "search_documents" in system and '"query":{"type":"string"}' in system and "Action Input:" in system
    assert reply.text == "I should search."
    (tc,) = reply.tool_calls
    assert (tc.name, json.loads(tc.arguments)) == ("search_documents", {"query": "asyncio tasks"})

    messages.append(reply.assistant_message())
    messages.append({"role": "tool", "tool_call_id": tc.id, "content": '{"hits": ["asyncio-task"]}'})
    final = await model.complete(messages, [SEARCH])
    await model.aclose()
    assert final.is_final and final.text == "Tasks wrap coroutines [asyncio-task]."
    sent = fake_openai.chat_requests[1]["messages"]
    assert sent[2] == {"role": "assistant", "content": REACT_ACTION}
    assert sent[3] == {"role": "user", "content": 'Observation: {"hits": ["asyncio-task"]}'}
    assert all(m["role"] != "tool" and "tool_calls" not in m for m in sent)


async def test_react_mode_malformed_action_is_a_format_error(fake_openai: FakeOpenAIServer) -> None:
    model = OpenAIModel("llama3.1", base_url=fake_openai.base_url, api_key="test-key", tool_mode="react")
    fake_openai.script(say('Action: search_documents\nAction Input: {"query": '))
    reply = await model.complete([SYSTEM, USER], [SEARCH])
    await model.aclose()
    assert not reply.is_final and not reply.tool_calls
    assert "not valid JSON" in (reply.format_error or "")


async def test_429_with_retry_after_is_retried(fake_openai: FakeOpenAIServer, model: OpenAIModel) -> None:
    fake_openai.script(fail(429, "Rate limit reached", retry_after=0.05), say("ok"))
    reply = await model.complete([USER], [])
    assert reply.text == "ok"
    assert len(fake_openai.chat_requests) == 2


async def test_500_exhaustion_is_a_clean_model_error(fake_openai: FakeOpenAIServer, model: OpenAIModel) -> None:
    fake_openai.script(*[fail(500, "boom", retry_after=0.01)] * 3, say("too late"))
    with pytest.raises(ModelError) as err:
        await model.complete([USER], [])
    assert err.value.status_code == 500 and err.value.retryable
    assert "HTTP 500" in str(err.value) and "boom" in str(err.value)
    assert len(fake_openai.chat_requests) == 3  # the first try and max_retries=2 retries
    assert fake_openai.pending == 1


async def test_5xx_without_retry_after_backs_off_and_retries(fake_openai: FakeOpenAIServer) -> None:
    model = OpenAIModel("gpt-4o", base_url=fake_openai.base_url, api_key="test-key", max_retries=1)
    fake_openai.script(fail(503), say("recovered"))
    reply = await model.complete([USER], [])
    await model.aclose()
    assert reply.text == "recovered" and len(fake_openai.chat_requests) == 2


async def test_400_is_not_retried(fake_openai: FakeOpenAIServer, model: OpenAIModel) -> None:
    fake_openai.script(fail(400, "context_length_exceeded: too long", code="context_length_exceeded"))
    with pytest.raises(ModelError) as err:
        await model.complete([USER], [])
    assert err.value.status_code == 400 and not err.value.retryable
    assert "context_length_exceeded" in str(err.value)
    assert len(fake_openai.chat_requests) == 1


async def test_wrong_key_is_a_401_model_error(fake_openai: FakeOpenAIServer) -> None:
    model = OpenAIModel("gpt-4o", base_url=fake_openai.base_url, api_key="wrong", max_retries=0)
    with pytest.raises(ModelError) as err:
        await model.complete([USER], [])
    await model.aclose()
    assert err.value.status_code == 401 and "invalid_api_key" in str(err.value)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_connection_refused_is_a_model_error() -> None:
    url = f"http://127.0.0.1:{_closed_port()}/v1"
    model = OpenAIModel("gpt-4o", base_url=url, api_key="k", max_retries=0)
    with pytest.raises(ModelError) as err:
        await model.complete([USER], [])
    await model.aclose()
    assert err.value.status_code is None and err.value.retryable
    assert "cannot reach the model endpoint" in str(err.value) and url in str(err.value)


async def test_timeout_is_a_model_error(fake_openai: FakeOpenAIServer) -> None:
    model = OpenAIModel("gpt-4o", base_url=fake_openai.base_url, api_key="test-key", max_retries=0, timeout_s=0.2)
    fake_openai.script(say("slow", delay_s=2))
    with pytest.raises(ModelError) as err:
        await model.complete([USER], [])
    await model.aclose()
    assert "did not answer within 0.2 s" in str(err.value)


async def test_reply_that_is_not_a_completion(fake_openai: FakeOpenAIServer, model: OpenAIModel) -> None:
    fake_openai.script(say("", raw_body='{"object": "error?"}'))
    with pytest.raises(ModelError) as err:
        await model.complete([USER], [])
    assert "not a chat completion" in str(err.value)


async def test_empty_reply_is_a_format_error_not_an_empty_answer(
    fake_openai: FakeOpenAIServer, model: OpenAIModel
) -> None:
    fake_openai.script(say("", finish_reason="length"))
    reply = await model.complete([USER], [])
    assert not reply.is_final and "empty" in (reply.format_error or "")
    assert reply.assistant_message() == {"role": "assistant", "content": ""}


async def test_unknown_model_costs_nothing(fake_openai: FakeOpenAIServer) -> None:
    model = OpenAIModel("my-local-llm", base_url=fake_openai.base_url, api_key="test-key")
    fake_openai.script(say("hi", usage=(100, 100)))
    reply = await model.complete([USER], [])
    await model.aclose()
    assert reply.cost_usd == 0.0 and not model.prices.knows("my-local-llm")


async def test_price_table_from_settings_is_used(fake_openai: FakeOpenAIServer) -> None:
    model = OpenAIModel("my-local-llm", base_url=fake_openai.base_url, api_key="test-key",
                        prices=PriceTable({"my-local-llm": (1.0, 2.0)}))
    fake_openai.script(say("hi", usage=(1_000_000, 500_000)))
    reply = await model.complete([USER], [])
    await model.aclose()
    assert reply.cost_usd == pytest.approx(2.0)


async def test_extra_params_are_sent(fake_openai: FakeOpenAIServer) -> None:
    model = OpenAIModel("gpt-4o", base_url=fake_openai.base_url, api_key="test-key", params={"temperature": 0})
    fake_openai.script(say("hi"))
    await model.complete([USER], [])
    await model.aclose()
    assert fake_openai.chat_requests[0]["temperature"] == 0


async def test_endpoint_without_key_gets_a_placeholder() -> None:
    with FakeOpenAIServer() as open_server:  # e.g. a local vLLM or Ollama
        model = OpenAIModel("llama3.1", base_url=open_server.base_url)
        open_server.script(say("hi"))
        assert (await model.complete([USER], [])).text == "hi"
        await model.aclose()


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"model": " "}, "model must be"),
        ({"tool_mode": "json"}, "tool_mode"),
        ({"max_retries": -1}, "max_retries"),
        ({"timeout_s": 0}, "timeout_s"),
        ({"base_url": "localhost:8000"}, "base_url"),
        ({"params": {"messages": []}}, "params may not set messages"),
    ],
)
def test_bad_settings_are_rejected_clearly(kwargs: dict, fragment: str) -> None:
    args = {"model": "gpt-4o", "base_url": "http://127.0.0.1:1/v1", "api_key": "k", **kwargs}
    with pytest.raises(ConfigurationError, match=fragment):
        OpenAIModel(args.pop("model"), **args)


async def test_concurrent_calls_spread_over_clients_and_a_lone_task_keeps_one(
        fake_openai: FakeOpenAIServer, model: OpenAIModel) -> None:
    """Past CALLS_PER_CLIENT calls in flight a new client (its own connection pool) takes the rest,
    so many concurrent tasks neither queue for a connection nor share one huge pool."""
    from agent_runtime.models.openai_model import CALLS_PER_CLIENT

    calls = CALLS_PER_CLIENT + 8
    fake_openai.script(*[say(f"answer {i}", delay_s=0.3) for i in range(calls)])
    replies = await asyncio.gather(*(model.complete([SYSTEM, USER], []) for _ in range(calls)))
    assert sorted(r.text for r in replies) == sorted(f"answer {i}" for i in range(calls))
    assert len(model._clients) == 2 and model._in_flight == [0, 0]
    fake_openai.script(say("alone"))
    assert (await model.complete([SYSTEM, USER], [])).text == "alone"
    assert len(model._clients) == 2
