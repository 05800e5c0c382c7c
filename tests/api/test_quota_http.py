"""Per-principal quotas on stored bytes per day, over real HTTP: submits fit until the principal's bytes of
the UTC day would pass AGENT_PLATFORM_QUOTA_BYTES_PER_DAY, then 429 quota_exceeded with Retry-After to the
next UTC midnight; another principal is unaffected, and an idempotent replay is not counted again."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from agent_runtime.cli.keys import FileKeyStore
from agent_runtime.principals import KeyRing, new_key
from agent_runtime.quotas import DAY_S, stored_bytes
from agent_runtime.server import create_platform, keys_file
from agent_runtime.settings import Settings
from tests.api.support import API_KEY, ServerThread, make_tools, scripted_factory

LIMIT = 100
TASKS = "/v1/agents/research/tasks"
INPUT = "hello" + "." * 35  # 40 bytes, + 2 for the metadata `{}`: 42 a task


@pytest.fixture
def clients(tmp_path: Any) -> Iterator[dict[str, httpx.Client]]:
    settings = Settings(data_dir=tmp_path, api_keys=API_KEY, store="sqlite", queue="local", agent=None,
                        rate_limit_per_s=0, quota_bytes_per_day=LIMIT)
    ring, keys = KeyRing(), {}
    for name in ("alice", "bob"):
        keys[name], record = new_key(name, ["submit"])
        ring.add(record)
    FileKeyStore(keys_file(settings)).write(ring.to_document())
    platform = create_platform(settings, runtime_factory=scripted_factory(make_tools()), heartbeat_s=0.3,
                               poll_s=0.1)
    with ServerThread(platform.app) as server:
        clients = {name: httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key}"}, timeout=20)
                   for name, key in keys.items()}
        yield clients
        for client in clients.values():
            client.close()


def _refused(response: httpx.Response, used: int) -> None:
    """The response is the quota's 429, naming `used` of the limit, retryable at the next UTC midnight."""
    assert response.status_code == 429, response.text
    error = response.json()["error"]
    assert error["code"] == "quota_exceeded"
    assert f"stored {used} of its {LIMIT} bytes per day" in error["message"] and "resets at" in error["message"]
    to_midnight = DAY_S - int(time.time()) % DAY_S
    assert abs(int(response.headers["Retry-After"]) - to_midnight) <= 5


def test_two_submits_fit_the_third_exceeds_and_another_principal_is_unaffected(
    clients: dict[str, httpx.Client],
) -> None:
    alice, bob = clients["alice"], clients["bob"]
    assert stored_bytes(INPUT, {}) == 42
    for _ in range(2):
        assert alice.post(TASKS, json={"input": INPUT}).status_code == 202
    _refused(alice.post(TASKS, json={"input": INPUT}), used=84)
    # metadata counts: 9 bytes of input and 7 of `{"a":1}`, exactly the 16 left, fit
    assert stored_bytes("hello....", {"a": 1}) == 16
    assert alice.post(TASKS, json={"input": "hello....", "metadata": {"a": 1}}).status_code == 202
    _refused(alice.post(TASKS, json={"input": "h"}), used=100)
    assert bob.post(TASKS, json={"input": INPUT}).status_code == 202  # bob's day has a counter of its own


def test_an_idempotent_replay_is_not_counted_again(clients: dict[str, httpx.Client]) -> None:
    alice = clients["alice"]
    headers = {"Idempotency-Key": "once"}
    first = alice.post(TASKS, json={"input": INPUT}, headers=headers)
    assert first.status_code == 202
    for _ in range(3):  # replays return the same task and charge nothing
        again = alice.post(TASKS, json={"input": INPUT}, headers=headers)
        assert again.status_code == 202 and again.headers["Idempotent-Replayed"] == "true"
        assert again.json()["task_id"] == first.json()["task_id"]
    assert alice.post(TASKS, json={"input": INPUT}).status_code == 202  # 84 bytes: the replays cost nothing
    _refused(alice.post(TASKS, json={"input": INPUT}), used=84)
    # and a replay still answers once the day's quota is spent
    assert alice.post(TASKS, json={"input": INPUT}, headers=headers).status_code == 202
