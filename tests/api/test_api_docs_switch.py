"""The API documentation is anonymous, so deployed services switch it off (AGENT_PLATFORM_API_DOCS=false)."""

from __future__ import annotations

from typing import Any, cast

import pytest
from fastapi.testclient import TestClient

from agent_runtime import envnames as env
from agent_runtime.api import ApiServices, create_app
from agent_runtime.settings import Settings
from agent_runtime.store.notify import Notifier
from agent_runtime.worker import AgentRuntime

DOC_PATHS = ("/docs", "/redoc", "/openapi.json")


def _client(*, docs: bool) -> TestClient:
    # Only the agent names matter here: nothing is stored, queued or run.
    services = ApiServices(store=cast(Any, None), queue=cast(Any, None),
                           agents={"research": cast(AgentRuntime, None)}, keys=cast(Any, None),
                           notifier=Notifier(), notify_cancel=lambda task_id: None)
    return TestClient(create_app(services, docs=docs))


@pytest.mark.parametrize("path", DOC_PATHS)
def test_docs_answer_404_when_off(path: str) -> None:
    assert _client(docs=False).get(path).status_code == 404


@pytest.mark.parametrize("path", DOC_PATHS)
def test_docs_are_served_when_on(path: str) -> None:
    assert _client(docs=True).get(path).status_code == 200


def test_docs_are_on_by_default_locally(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(env.API_DOCS, raising=False)
    assert Settings().api_docs is True


def test_the_variable_the_stack_sets_turns_them_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(env.API_DOCS, "false")
    assert Settings().api_docs is False
