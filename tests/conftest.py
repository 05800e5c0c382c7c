"""Shared test settings: no test touches real AWS, a real LLM, or the user's data directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fakes.openai_server import module_fake_openai  # one fake Chat Completions server per test module

__all__ = ["module_fake_openai"]

_CLEARED = ("OPENAI_BASE_URL", "OPENAI_API_KEY", "AGENT_PLATFORM_MODEL", "AGENT_PLATFORM_BASE_URL",
            "AGENT_PLATFORM_API_KEY", "AGENT_PLATFORM_TOOL_FUNCTIONS", "AWS_PROFILE", "AWS_ENDPOINT_URL")


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> Path:
    for name in _CLEARED:
        monkeypatch.delenv(name, raising=False)
    data_dir = tmp_path_factory.mktemp("agent-data")
    monkeypatch.setenv("AGENT_PLATFORM_DATA_DIR", str(data_dir))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    return data_dir
