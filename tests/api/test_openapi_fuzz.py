"""Fuzzing: schemathesis generates requests from the served OpenAPI document and checks that no response is
a 5xx and every response matches the documented status codes, content types and schemas."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from agent_runtime.server import create_platform
from agent_runtime.settings import Settings
from agent_runtime.worker import AgentRuntime
from tests.api.support import API_KEY, ServerThread, make_tools
from tests.fakes.scripted_model import ScriptedModel, final

# Built at import: schemathesis parametrizes tests from the schema at collection time (its lazy
# fixture loader does not work with this pytest). The same app is then served over HTTP.
_DATA = Path(tempfile.mkdtemp(prefix="fuzz-data-"))
_TOOLS = make_tools()


def _factory(spec: Any, _: Settings) -> AgentRuntime:
    return AgentRuntime(spec, ScriptedModel({"": [final("ok")]}), _TOOLS)  # type: ignore[arg-type]


_PLATFORM = create_platform(
    Settings(data_dir=_DATA, api_keys=API_KEY, store="sqlite", queue="local", agent=None, rate_limit_per_s=0),
    runtime_factory=_factory, heartbeat_s=0.5, poll_s=0.1,
)
schema = schemathesis.openapi.from_dict(_PLATFORM.app.openapi())


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with ServerThread(_PLATFORM.app) as server:
        served = httpx.get(f"{server.url}/openapi.json").json()
        assert served == _PLATFORM.app.openapi()  # we fuzz exactly what is served
        yield server.url
    shutil.rmtree(_DATA, ignore_errors=True)


@schema.parametrize()
@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck), derandomize=False)
def test_no_5xx_and_responses_match_the_schema(case: Any, base_url: str) -> None:
    case.call_and_validate(base_url=base_url, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=10)
