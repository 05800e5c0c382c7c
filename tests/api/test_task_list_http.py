"""GET /v1/agents/{agent}/tasks over real HTTP: each principal sees only its own tasks (admins and
approvers every one), newest first, in pages behind an opaque cursor, filtered by state; bad input is 422."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from agent_runtime.cli.keys import FileKeyStore
from agent_runtime.principals import KeyRing, new_key
from agent_runtime.server import create_platform, keys_file
from agent_runtime.settings import Settings
from tests.api.support import API_KEY, ServerThread, make_tools, scripted_factory

ROLES = {"alice": ["submit"], "bob": ["submit"], "carol": ["approve"]}
LIST = "/v1/agents/research/tasks"


@pytest.fixture(scope="module")
def clients(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, httpx.Client]]:
    data_dir = tmp_path_factory.mktemp("task-list")
    settings = Settings(data_dir=data_dir, api_keys=API_KEY, store="sqlite", queue="local", agent=None,
                        rate_limit_per_s=0)
    ring, keys = KeyRing(), {"admin": API_KEY}
    for name, roles in ROLES.items():
        keys[name], record = new_key(name, roles)
        ring.add(record)
    FileKeyStore(keys_file(settings)).write(ring.to_document())
    platform = create_platform(settings, runtime_factory=scripted_factory(make_tools()), heartbeat_s=0.3,
                               poll_s=0.1)
    with ServerThread(platform.app) as server:
        made = {name: httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key}"}, timeout=20)
                for name, key in keys.items()}
        yield made
        for client in made.values():
            client.close()


def submit(client: httpx.Client, text: str) -> str:
    r = client.post(LIST, json={"input": text})
    assert r.status_code == 202, r.text
    return str(r.json()["task_id"])


def all_pages(client: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    tasks: list[dict[str, Any]] = []
    cursor = None
    while True:
        r = client.get(LIST, params={**params, **({"cursor": cursor} if cursor else {})})
        assert r.status_code == 200, r.text
        tasks.extend(r.json()["tasks"])
        cursor = r.json()["next_cursor"]
        if cursor is None:
            return tasks


def wait_ended(client: httpx.Client, task_ids: list[str]) -> None:
    deadline = time.monotonic() + 20
    for task_id in task_ids:
        while client.get(f"{LIST}/{task_id}").json()["state"] not in {"succeeded", "failed", "cancelled"}:
            assert time.monotonic() < deadline
            time.sleep(0.05)


def test_each_principal_lists_only_its_own_tasks_newest_first(clients: dict[str, httpx.Client]) -> None:
    alice = [submit(clients["alice"], "hello") for _ in range(3)]
    bob = [submit(clients["bob"], "hello") for _ in range(2)]
    wait_ended(clients["admin"], alice + bob)
    mine = all_pages(clients["alice"])
    assert [t["task_id"] for t in mine if t["task_id"] in alice + bob] == alice[::-1]
    assert {t["owner"] for t in mine} == {"alice"}
    assert {t["task_id"] for t in all_pages(clients["bob"])} >= set(bob)
    assert not {t["task_id"] for t in all_pages(clients["bob"])} & set(alice)
    for reader in ("admin", "carol"):  # admins and approvers read every task, as GET task allows
        assert set(alice + bob) <= {t["task_id"] for t in all_pages(clients[reader])}
    first = mine[0]
    assert first["links"]["self"] == f"{LIST}/{first['task_id']}" and first["state"] == "succeeded"
    assert clients["alice"].get("/v1/agents/content/tasks").json()["tasks"] == []


def test_pages_and_the_state_filter(clients: dict[str, httpx.Client]) -> None:
    ids = [submit(clients["bob"], "hello") for _ in range(5)]
    wait_ended(clients["bob"], ids)
    slow = submit(clients["bob"], "slow")
    r = clients["bob"].get(LIST, params={"limit": 2})
    page = r.json()
    assert len(page["tasks"]) == 2 and page["tasks"][0]["task_id"] == slow and page["next_cursor"]
    paged = all_pages(clients["bob"], limit=2)
    assert [t["task_id"] for t in paged] == [t["task_id"] for t in all_pages(clients["bob"], limit=100)]
    assert len(paged) == len({t["task_id"] for t in paged})
    done = [t["task_id"] for t in all_pages(clients["bob"], state="succeeded", limit=3)]
    assert ids[::-1] == [t for t in done if t in ids] and slow not in done
    assert clients["bob"].post(f"{LIST}/{slow}/cancel").status_code == 202
    wait_ended(clients["bob"], [slow])
    assert [t["task_id"] for t in all_pages(clients["bob"], state="cancelled")][0] == slow


@pytest.mark.parametrize("params", [
    {"state": "done"}, {"limit": 0}, {"limit": 101}, {"limit": "x"}, {"limit": "+5"}, {"limit": "1_0"},
    {"limit": "5.0"}, {"limit": " 5"}, {"limit": "٥"}, {"limit": ""}, {"cursor": "!!"}, {"cursor": ""},
    {"cursor": "0"}, {"cursor": "a" * 300}, {"cursor": "1.5_research-abc"}, {"cursor": f"1.5_research-{'g' * 32}"},
    {"cursor": f"-1.5_research-{'a' * 32}"}, {"cursor": f"1e9_research-{'a' * 32}"},
    {"cursor": f"1.5_Research-{'a' * 32}"}, {"cursor": f"1.5_research-{'a' * 32}\n"},
    {"sate": "queued"}, {"": "0"},
])
def test_bad_parameters_are_422(clients: dict[str, httpx.Client], params: dict[str, Any]) -> None:
    r = clients["alice"].get(LIST, params=params)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "validation_error"


def test_unknown_agent_and_no_key(clients: dict[str, httpx.Client]) -> None:
    assert clients["alice"].get("/v1/agents/nope/tasks").json()["error"]["code"] == "unknown_agent"
    base_url = str(clients["alice"].base_url)
    assert httpx.get(base_url + LIST).status_code == 401


def test_any_cursor_of_the_documented_shape_is_a_position(clients: dict[str, httpx.Client]) -> None:
    """The pattern is the whole validation: a well-formed cursor naming no task of this agent still pages
    (from that point in time), so the OpenAPI document says exactly which cursors are accepted."""
    task_id = submit(clients["alice"], "hello")
    created = clients["alice"].get(f"{LIST}/{task_id}").json()["created_at"]
    later = clients["alice"].get(LIST, params={"cursor": f"{created + 1:.1f}_content-{'f' * 32}"})
    assert later.status_code == 200 and task_id in [t["task_id"] for t in later.json()["tasks"]]
    earlier = clients["alice"].get(LIST, params={"cursor": f"{created - 1:.1f}_research-{'0' * 32}"})
    assert earlier.status_code == 200 and task_id not in [t["task_id"] for t in earlier.json()["tasks"]]


def test_options_names_both_methods_of_the_list_path(clients: dict[str, httpx.Client]) -> None:
    r = clients["alice"].options(LIST)
    assert r.status_code == 405 and set(r.headers["Allow"].split(", ")) >= {"GET", "POST"}
