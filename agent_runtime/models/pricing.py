"""Dollar cost of model calls: USD per 1M input and output tokens, per model.

Built-in prices cover common OpenAI models and the Bedrock model ids (Anthropic,
Meta Llama, Amazon Nova, OpenAI open-weight) as published at the time of writing;
`Settings.prices` (env `AGENT_PLATFORM_PRICES`) adds or overrides entries. Dated or
region-prefixed ids (`gpt-4o-2024-08-06`, `us.anthropic.claude-3-5-haiku-...-v1:0`)
match their base entry. An unknown model costs 0 and is logged once, so a task is
never failed for a missing price, but the gap is visible.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping
from typing import Any

from agent_runtime.errors import ConfigurationError
from agent_runtime.events import Usage

log = logging.getLogger(__name__)

Price = tuple[float, float]  # USD per 1M input tokens, USD per 1M output tokens

BUILTIN_PRICES: dict[str, Price] = {
    # OpenAI
    "gpt-5": (1.25, 10.00),
    "gpt-5-mini": (0.25, 2.00),
    "gpt-5-nano": (0.05, 0.40),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4-turbo": (10.00, 30.00),
    "gpt-3.5-turbo": (0.50, 1.50),
    "o1": (15.00, 60.00),
    "o1-mini": (1.10, 4.40),
    "o3": (2.00, 8.00),
    "o3-mini": (1.10, 4.40),
    "o4-mini": (1.10, 4.40),
    # OpenAI open-weight models (Bedrock, vLLM)
    "gpt-oss-120b": (0.15, 0.60),
    "gpt-oss-20b": (0.07, 0.30),
    "openai.gpt-oss-120b": (0.15, 0.60),
    "openai.gpt-oss-20b": (0.07, 0.30),
    # Anthropic on Bedrock
    "anthropic.claude-opus-4": (15.00, 75.00),
    "anthropic.claude-sonnet-4": (3.00, 15.00),
    "anthropic.claude-3-7-sonnet": (3.00, 15.00),
    "anthropic.claude-3-5-sonnet": (3.00, 15.00),
    "anthropic.claude-3-5-haiku": (0.80, 4.00),
    "anthropic.claude-3-haiku": (0.25, 1.25),
    "anthropic.claude-3-opus": (15.00, 75.00),
    # Meta Llama on Bedrock
    "meta.llama3-3-70b-instruct": (0.72, 0.72),
    "meta.llama3-1-405b-instruct": (2.40, 2.40),
    "meta.llama3-1-70b-instruct": (0.72, 0.72),
    "meta.llama3-1-8b-instruct": (0.22, 0.22),
    "meta.llama3-2-90b-instruct": (0.72, 0.72),
    "meta.llama3-2-11b-instruct": (0.16, 0.16),
    "meta.llama3-2-3b-instruct": (0.15, 0.15),
    "meta.llama3-2-1b-instruct": (0.10, 0.10),
    # Amazon Nova on Bedrock
    "amazon.nova-premier": (2.50, 12.50),
    "amazon.nova-pro": (0.80, 3.20),
    "amazon.nova-lite": (0.06, 0.24),
    "amazon.nova-micro": (0.035, 0.14),
    # No model, no cost.
    "offline": (0.0, 0.0),
}

# Cross-region inference profiles ("us.anthropic...") and router prefixes ("openai/gpt-4o").
_PREFIX = re.compile(r"^(?:(?:us|eu|apac|us-gov|global)\.(?=[a-z]+\.)|[a-z0-9_-]+/)")


class PriceTable:
    """Model id -> price; `cost(model, usage)` in USD. Lookups are memoised per model id."""

    def __init__(self, extra: Mapping[str, Any] | None = None, *, builtin: bool = True) -> None:
        self._prices: dict[str, Price] = dict(BUILTIN_PRICES) if builtin else {}
        for model, price in (extra or {}).items():
            self._prices[_normalise(model)] = _validate(model, price)
        # Longest keys first, so "gpt-4o-mini-2024-07-18" finds gpt-4o-mini before gpt-4o.
        self._keys = sorted(self._prices, key=len, reverse=True)
        self._resolved: dict[str, Price | None] = {}
        self._warned: set[str] = set()

    def price(self, model: str) -> Price | None:
        """The price of `model`, or None when the table does not know it."""
        try:
            return self._resolved[model]
        except KeyError:
            pass
        name = _normalise(model)
        found = self._prices.get(name)
        if found is None:
            for key in self._keys:  # a dated or versioned id: the key followed by -, :, @ or .
                if name.startswith(key) and name[len(key)] in "-:@.":
                    found = self._prices[key]
                    break
        self._resolved[model] = found
        return found

    def knows(self, model: str) -> bool:
        return self.price(model) is not None

    def cost(self, model: str, usage: Usage) -> float:
        """USD for `usage` tokens of `model`; 0.0 (logged once per model) when the price is unknown."""
        price = self.price(model)
        if price is None:
            if model not in self._warned:
                self._warned.add(model)
                log.warning("no price known for model %r: its cost counts as $0 (add it with %s)",
                            model, "AGENT_PLATFORM_PRICES")
            return 0.0
        return (usage.prompt_tokens * price[0] + usage.completion_tokens * price[1]) / 1_000_000


def _normalise(model: str) -> str:
    return _PREFIX.sub("", model.strip().lower(), count=1)


def _validate(model: str, price: Any) -> Price:
    if not isinstance(model, str) or not model.strip():
        raise ConfigurationError(f"price table: model ids must be non-empty strings, got {model!r}")
    if isinstance(price, Mapping):
        price = (price.get("input"), price.get("output"))
    if not isinstance(price, list | tuple) or len(price) != 2:
        raise ConfigurationError(
            f"price table: {model!r} needs [usd_per_1m_input, usd_per_1m_output] or {{input, output}}, got {price!r}"
        )
    out = []
    for value in price:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
            raise ConfigurationError(f"price table: {model!r} prices must be finite numbers >= 0, got {price!r}")
        out.append(float(value))
    return out[0], out[1]
