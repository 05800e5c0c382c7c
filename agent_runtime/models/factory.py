"""Choose the model from settings: an OpenAI-compatible endpoint when one is configured,
else the offline model (so a fresh checkout runs with no key and no network)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from agent_runtime.errors import ConfigurationError
from agent_runtime.models.base import Model

if TYPE_CHECKING:
    from agent_runtime.agents import AgentSpec
    from agent_runtime.settings import Settings

# Used when only an OpenAI key is given (api.openai.com); other endpoints must name their model.
DEFAULT_OPENAI_MODEL = "gpt-4o-mini"


def build_model(settings: Settings, agent: AgentSpec) -> Model:
    """The model `agent` runs on, as the settings say (see `Settings.uses_offline_model`)."""
    if settings.uses_offline_model:
        from agent_runtime.models.offline import OfflineModel  # imported only when used

        return OfflineModel(agent)

    from agent_runtime.models.openai_model import OpenAIModel
    from agent_runtime.models.pricing import PriceTable

    model = settings.model.strip()
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
        api_key=settings.api_key.get_secret_value() if settings.api_key else None,
        tool_mode=settings.tool_mode,
        max_retries=settings.model_max_retries,
        timeout_s=settings.model_timeout_s,
        prices=PriceTable(settings.prices),
    )
