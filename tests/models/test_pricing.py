"""The price table: built-in prices, dated and regional ids, settings overrides, unknown models."""

from __future__ import annotations

import logging

import pytest

from agent_runtime.errors import ConfigurationError
from agent_runtime.events import Usage
from agent_runtime.models.pricing import PriceTable
from agent_runtime.settings import Settings

MILLION = Usage(prompt_tokens=1_000_000, completion_tokens=1_000_000)


@pytest.mark.parametrize(
    ("model", "usd"),
    [
        ("gpt-4o", 2.50 + 10.00),
        ("gpt-4o-mini", 0.15 + 0.60),
        ("gpt-4o-mini-2024-07-18", 0.15 + 0.60),  # dated id: its base model, not gpt-4o
        ("gpt-4o-2024-08-06", 2.50 + 10.00),
        ("gpt-4.1-mini", 0.40 + 1.60),
        ("o3-mini", 1.10 + 4.40),
        ("openai/gpt-4.1", 2.00 + 8.00),  # router prefix
        ("anthropic.claude-3-5-sonnet-20240620-v1:0", 3.00 + 15.00),
        ("us.anthropic.claude-3-5-haiku-20241022-v1:0", 0.80 + 4.00),  # cross-region profile
        ("meta.llama3-1-70b-instruct-v1:0", 0.72 + 0.72),
        ("offline", 0.0),
    ],
)
def test_builtin_prices(model: str, usd: float) -> None:
    assert PriceTable().cost(model, MILLION) == pytest.approx(usd)


def test_cost_is_per_million_tokens_each_way() -> None:
    cost = PriceTable().cost("gpt-4o", Usage(prompt_tokens=2_000, completion_tokens=500))
    assert cost == pytest.approx(2_000 * 2.50 / 1e6 + 500 * 10.00 / 1e6)


def test_unknown_model_costs_zero_and_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    table = PriceTable()
    with caplog.at_level(logging.WARNING, logger="agent_runtime.models.pricing"):
        assert table.cost("llama3.1:8b", MILLION) == 0.0
        assert table.cost("llama3.1:8b", MILLION) == 0.0
    assert not table.knows("llama3.1:8b")
    assert [r.getMessage() for r in caplog.records].count(
        "no price known for model 'llama3.1:8b': its cost counts as $0 (add it with AGENT_PLATFORM_PRICES)") == 1


def test_settings_extend_and_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENT_PLATFORM_PRICES", '{"llama3.1:8b": [0.1, 0.2], "gpt-4o": [1, 1]}')
    table = PriceTable(Settings().prices)
    assert table.cost("llama3.1:8b", MILLION) == pytest.approx(0.3)
    assert table.cost("gpt-4o", MILLION) == pytest.approx(2.0)
    assert table.cost("gpt-4o-mini", MILLION) == pytest.approx(0.75)  # the rest stays


@pytest.mark.parametrize("price", [(-1, 2), (1,), "cheap", (float("nan"), 1), (True, 1)])
def test_bad_prices_are_rejected(price: object) -> None:
    with pytest.raises(ConfigurationError, match="price table"):
        PriceTable({"m": price})
