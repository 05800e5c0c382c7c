"""`build_model` picks the endpoint when one is configured, else the offline model."""

from __future__ import annotations

import pytest

from agent_runtime.agents import RESEARCH
from agent_runtime.errors import ConfigurationError
from agent_runtime.events import Usage
from agent_runtime.models.factory import build_model
from agent_runtime.models.openai_model import OpenAIModel
from agent_runtime.settings import Settings
from tests.fakes.openai_server import FakeOpenAIServer, say


async def test_endpoint_from_environment(monkeypatch: pytest.MonkeyPatch, fake_openai: FakeOpenAIServer) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", fake_openai.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.setenv("AGENT_PLATFORM_MODEL", "my-llm")
    monkeypatch.setenv("AGENT_PLATFORM_TOOL_MODE", "react")
    monkeypatch.setenv("AGENT_PLATFORM_PRICES", '{"my-llm": [1, 1]}')
    model = build_model(Settings(), RESEARCH)
    assert isinstance(model, OpenAIModel)
    assert (model.name, model.tool_mode, model.offline) == ("my-llm", "react", False)
    assert model.prices.cost("my-llm", Usage(prompt_tokens=1_000_000)) == 1.0
    fake_openai.script(say("Final Answer: yes"))
    reply = await model.complete([{"role": "user", "content": "q"}], [])
    await model.aclose()
    assert reply.text == "yes"
    assert fake_openai.requests[0].headers["authorization"] == "Bearer test-key"


def test_key_alone_means_openai_with_a_default_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    model = build_model(Settings(), RESEARCH)
    assert isinstance(model, OpenAIModel)
    assert model.name == "gpt-4o-mini" and model.endpoint == "https://api.openai.com/v1"


def test_custom_endpoint_must_name_its_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENT_PLATFORM_BASE_URL", "http://127.0.0.1:11434/v1")
    with pytest.raises(ConfigurationError, match="AGENT_PLATFORM_MODEL is not set"):
        build_model(Settings(), RESEARCH)


@pytest.mark.parametrize("env", [{}, {"AGENT_PLATFORM_MODEL": "offline", "OPENAI_BASE_URL": "http://127.0.0.1:1/v1"}])
def test_offline_without_endpoint_or_when_asked(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    model = build_model(Settings(), RESEARCH)
    assert model.offline is True and not isinstance(model, OpenAIModel)


async def test_in_aws_the_key_comes_from_the_llm_secret(monkeypatch: pytest.MonkeyPatch,
                                                        fake_openai: FakeOpenAIServer) -> None:
    """The ECS task gets AGENT_PLATFORM_LLM_SECRET, not the key: the model reads it from Secrets Manager."""
    import boto3
    from moto import mock_aws

    with mock_aws():
        client = boto3.client("secretsmanager", region_name="us-east-1")
        client.create_secret(Name="AgentPlatform/llm-api-key", SecretString="test-key\n")  # stored with a stray newline
        monkeypatch.setenv("AGENT_PLATFORM_LLM_SECRET", "AgentPlatform/llm-api-key")
        monkeypatch.setenv("OPENAI_BASE_URL", fake_openai.base_url)
        monkeypatch.setenv("AGENT_PLATFORM_MODEL", "my-llm")
        model = build_model(Settings(), RESEARCH)
    assert isinstance(model, OpenAIModel)
    fake_openai.script(say("done"))
    await model.complete([{"role": "user", "content": "q"}], [])
    await model.aclose()
    assert fake_openai.requests[0].headers["authorization"] == "Bearer test-key"


def test_the_llm_secret_alone_selects_openai_and_a_missing_secret_is_one_clear_error(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from moto import mock_aws

    monkeypatch.setenv("AGENT_PLATFORM_LLM_SECRET", "AgentPlatform/nope")
    assert Settings().uses_offline_model is False
    with mock_aws(), pytest.raises(ConfigurationError, match="cannot read the LLM API key from secret"):
        build_model(Settings(), RESEARCH)
