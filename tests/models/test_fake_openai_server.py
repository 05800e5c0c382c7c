"""The fake server speaks the Chat Completions protocol: checked with the official client's typed API."""

from __future__ import annotations

import json

import httpx
import openai
import pytest

from tests.fakes.openai_server import FakeOpenAIServer, call, fail, say, steps_responder, use_tools

USER = [{"role": "user", "content": "hi"}]
TOOLS = [{"type": "function", "function": {"name": "echo", "parameters": {"type": "object", "properties": {}}}}]


@pytest.fixture
async def client(fake_openai: FakeOpenAIServer):
    c = openai.AsyncOpenAI(base_url=fake_openai.base_url, api_key="test-key", max_retries=2)
    yield c
    await c.close()


async def test_text_reply_with_usage(fake_openai: FakeOpenAIServer, client: openai.AsyncOpenAI) -> None:
    fake_openai.script(say("hello there", usage=(12, 3)))
    r = await client.chat.completions.create(model="m1", messages=USER)
    assert r.choices[0].message.content == "hello there"
    assert r.choices[0].finish_reason == "stop"
    assert (r.usage.prompt_tokens, r.usage.completion_tokens, r.usage.total_tokens) == (12, 3, 15)
    assert r.model == "m1"
    assert fake_openai.chat_requests == [{"model": "m1", "messages": USER}]


async def test_parallel_tool_calls(fake_openai: FakeOpenAIServer, client: openai.AsyncOpenAI) -> None:
    fake_openai.script(use_tools(call("echo", {"a": 1}, id="c1"), call("echo", {"b": [1, {"c": 2}]}, id="c2")))
    r = await client.chat.completions.create(model="m", messages=USER, tools=TOOLS)
    calls = r.choices[0].message.tool_calls
    assert r.choices[0].finish_reason == "tool_calls"
    assert [(c.id, c.function.name, json.loads(c.function.arguments)) for c in calls] == [
        ("c1", "echo", {"a": 1}), ("c2", "echo", {"b": [1, {"c": 2}]})]


async def test_streaming_text_tool_call_deltas_and_usage(
    fake_openai: FakeOpenAIServer, client: openai.AsyncOpenAI
) -> None:
    long_args = {"query": "a long query that is split into several fragments", "n": [1, 2, 3]}
    fake_openai.script(use_tools(call("echo", long_args, id="c1"), call("echo", {}, id="c2"),
                                 text="let me look", usage=(7, 9)))
    stream = await client.chat.completions.create(
        model="m", messages=USER, tools=TOOLS, stream=True, stream_options={"include_usage": True})
    text, args, ids, finish, usage, deltas = "", {}, {}, None, None, 0
    async for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            text += choice.delta.content or ""
            finish = choice.finish_reason or finish
            for tc in choice.delta.tool_calls or ():
                deltas += 1
                if tc.id:
                    ids[tc.index] = (tc.id, tc.function.name)
                args[tc.index] = args.get(tc.index, "") + (tc.function.arguments or "")
    assert text == "let me look"
    assert ids == {0: ("c1", "echo"), 1: ("c2", "echo")}
    assert json.loads(args[0]) == long_args and json.loads(args[1]) == {}
    assert deltas > 4  # the arguments really came in fragments
    assert finish == "tool_calls"
    assert (usage.prompt_tokens, usage.completion_tokens) == (7, 9)


async def test_stream_without_usage_option_has_no_usage_chunk(
    fake_openai: FakeOpenAIServer, client: openai.AsyncOpenAI
) -> None:
    fake_openai.script(say("one two three"))
    chunks = [c async for c in await client.chat.completions.create(model="m", messages=USER, stream=True)]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "one two three"
    assert all(c.usage is None for c in chunks)


async def test_error_body_status_and_retry_after_header(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script(fail(429, "slow down", retry_after=3))
    async with httpx.AsyncClient() as http:
        r = await http.post(f"{fake_openai.base_url}/chat/completions", json={"model": "m", "messages": USER},
                            headers={"Authorization": "Bearer test-key"})
    assert r.status_code == 429
    assert r.headers["retry-after"] == "3"
    assert r.json() == {"error": {"message": "slow down", "type": "requests", "param": None,
                                  "code": "rate_limit_exceeded"}}


async def test_client_retries_429_then_succeeds(fake_openai: FakeOpenAIServer, client: openai.AsyncOpenAI) -> None:
    fake_openai.script(fail(429, retry_after=0.01), say("ok"))
    r = await client.chat.completions.create(model="m", messages=USER)
    assert r.choices[0].message.content == "ok"
    assert len(fake_openai.chat_requests) == 2


async def test_wrong_api_key_is_401(fake_openai: FakeOpenAIServer) -> None:
    c = openai.AsyncOpenAI(base_url=fake_openai.base_url, api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as err:
        await c.chat.completions.create(model="m", messages=USER)
    await c.close()
    assert err.value.code == "invalid_api_key"
    assert fake_openai.requests[-1].headers["authorization"] == "Bearer wrong"


@pytest.mark.parametrize(
    ("messages", "extra", "fragment"),
    [
        ([{"role": "tool", "tool_call_id": "x", "content": "r"}], {}, "must be a response to a preceeding"),
        ([{"role": "user", "content": "q"},
          {"role": "assistant", "content": None, "tool_calls": [
              {"id": "a", "type": "function", "function": {"name": "echo", "arguments": "{}"}}]},
          {"role": "user", "content": "next"}], {}, "did not have response messages: a"),
        (USER, {"temperatur": 0}, "Unrecognized request argument supplied: temperatur"),
        (USER, {"tools": []}, "too short"),
        (USER, {"tools": [{"type": "function", "function": {"name": "has space"}}]}, "does not match pattern"),
    ],
)
async def test_rejects_what_the_real_api_rejects(
    fake_openai: FakeOpenAIServer, client: openai.AsyncOpenAI, messages, extra, fragment
) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        await client.chat.completions.create(model="m", messages=messages, extra_body=extra)
    assert fragment in err.value.message


async def test_responder_and_default_reply() -> None:
    seen = []
    with FakeOpenAIServer(responder=lambda body: seen.append(body) or None, default_reply=say("fallback")) as s:
        c = openai.AsyncOpenAI(base_url=s.base_url, api_key="any", max_retries=0)
        s.script(lambda body: say(f"{len(body['messages'])} messages"))
        first = await c.chat.completions.create(model="m", messages=USER * 3)
        second = await c.chat.completions.create(model="m", messages=USER)
        await c.close()
    assert first.choices[0].message.content == "3 messages"
    assert second.choices[0].message.content == "fallback"
    assert len(seen) == 1  # the responder is asked only once the script is empty


async def test_steps_responder_calls_tools_then_answers() -> None:
    respond = steps_responder("echo", {"text": "x"}, steps=2, parallel=3, final_text="fin")
    first = respond({"messages": USER})
    assert [c.name for c in first.tool_calls] == ["echo"] * 3
    done = respond({"messages": USER + [{"role": "assistant", "content": "a"}] * 2})
    assert done.text == "fin" and not done.tool_calls


async def test_disconnect_is_a_connection_error(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script(say("never sent", disconnect=True))
    c = openai.AsyncOpenAI(base_url=fake_openai.base_url, api_key="test-key", max_retries=0)
    with pytest.raises(openai.APIConnectionError):
        await c.chat.completions.create(model="m", messages=USER)
    await c.close()


async def test_lists_models_and_404s_unknown_paths(fake_openai: FakeOpenAIServer, client) -> None:
    models = await client.models.list()
    assert [m.id for m in models.data] == ["fake-model"]
    with pytest.raises(openai.NotFoundError):
        await client.post("/embeddings", cast_to=httpx.Response, body={"input": "x"})
