"""Choose the model from settings: an OpenAI-compatible endpoint when one is configured,
else the offline model (so a fresh checkout runs with no key and no network)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agent_runtime.errors import ConfigurationError
from agent_runtime.models.base import Model

if TYPE_CHECKING:
    from agent_runtime.agents import AgentSpec
    from agent_runtime.settings import Settings

# Used when only an OpenAI key is given (api.openai.com); other endpoints must name their model.
DEFAULT_OPENAI_MODEL = "gpt-4o-mini"


def llm_key(settings: Settings, *, secrets_client: Any = None) -> str | None:
    """The endpoint's API key: from settings (OPENAI_API_KEY), else from the Secrets Manager secret
    named by AGENT_PLATFORM_LLM_SECRET (a plain string; in AWS the stack creates it)."""
    if settings.api_key:
        return settings.api_key.get_secret_value()
    if not settings.llm_secret:
        return None
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    client = secrets_client or boto3.client("secretsmanager")
    try:
        value = client.get_secret_value(SecretId=settings.llm_secret).get("SecretString")
    except (BotoCoreError, ClientError) as exc:
        raise ConfigurationError(f"cannot read the LLM API key from secret {settings.llm_secret!r}: {exc}") from None
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(f"the secret {settings.llm_secret!r} holds no LLM API key (put the key in it "
                                 "as a plain string)")
    return value.strip()


def build_model(settings: Settings, agent: AgentSpec, *, secrets_client: Any = None) -> Model:
    """The model `agent` runs on, as the settings say (see `Settings.uses_offline_model`)."""
    if settings.uses_offline_model:
        from agent_runtime.models.offline import OfflineModel  # imported only when used

        return OfflineModel(agent)

    from agent_runtime.models.openai_model import OpenAIModel
    from agent_runtime.models.pricing import PriceTable

    model = settings.model.strip() or (agent.model or "")  # a model set for the run wins over the agent's
    if not model:
        if settings.base_url:
            raise ConfigurationError(
                f"AGENT_PLATFORM_MODEL is not set: name the model served at {settings.base_url} "
                "(or set it to 'offline' to use the offline model)"
            )
        model = DEFAULT_OPENAI_MODEL
    return OpenAIModel(
        model,
        base_url=settings.base_url,
        api_key=llm_key(settings, secrets_client=secrets_client),
        tool_mode=settings.tool_mode,
        max_retries=settings.model_max_retries,
        timeout_s=settings.model_timeout_s,
        prices=PriceTable(settings.prices),
        stream=settings.model_stream,
    )
