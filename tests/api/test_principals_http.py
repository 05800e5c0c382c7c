"""Principals and roles over real HTTP: who sees, cancels and approves which tasks, whose sessions and
idempotency keys are whose, revocation through the key file, and keys kept only as hashes."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from agent_runtime.cli.keys import FileKeyStore
from agent_runtime.principals import KeyRing, new_key, parse_keys
from agent_runtime.server import create_platform, keys_file
from agent_runtime.settings import Settings
from agent_runtime.store.sqlite import SQLiteStore
from tests.api.support import API_KEY, ServerThread, make_tools, scripted_factory

ROLES = {"alice": ["submit"], "bob": ["submit"], "carol": ["approve"], "dave": ["submit", "approve"],
         "erin": ["submit"]}


class Rig:
    def __init__(self, url: str, data_dir: Path, keys: dict[str, str]) -> None:
        self.url, self.data_dir, self.keys = url, data_dir, keys
        self.clients = {name: httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=20)
                        for name, key in {**keys, "admin": API_KEY}.items()}

    def __getitem__(self, name: str) -> httpx.Client:
        return self.clients[name]

    def submit(self, who: str, text: str, **body: Any) -> str:
        r = self[who].post("/v1/agents/research/tasks", json={"input": text, **body})
        assert r.status_code == 202, r.text
        return str(r.json()["task_id"])

    def until(self, who: str, task_id: str, states: set[str]) -> dict[str, Any]:
        deadline = time.monotonic() + 15
        while True:
            view = self[who].get(f"/v1/agents/research/tasks/{task_id}").json()
            if view["state"] in states:
                return dict(view)
            assert time.monotonic() < deadline, view
            time.sleep(0.05)


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    data_dir = tmp_path_factory.mktemp("principals")
    settings = Settings(data_dir=data_dir, api_keys=API_KEY, store="sqlite", queue="local", agent=None,
                        require_second_approver=True, rate_limit_per_s=0)
    ring, keys = KeyRing(), {}
    for name, roles in ROLES.items():
        keys[name], record = new_key(name, roles)
        ring.add(record)
    FileKeyStore(keys_file(settings)).write(ring.to_document())
    platform = create_platform(settings, runtime_factory=scripted_factory(make_tools()), heartbeat_s=0.3,
                               poll_s=0.1)
    with ServerThread(platform.app) as server:
        rig = Rig(server.url, data_dir, keys)
        yield rig
        for client in rig.clients.values():
            client.close()


def test_two_principals_cannot_see_or_cancel_each_others_tasks(rig: Rig) -> None:
    task_id = rig.submit("alice", "slow")
    base = f"/v1/agents/research/tasks/{task_id}"
    for response in (rig["bob"].get(base), rig["bob"].get(f"{base}/events", params={"format": "json"}),
                     rig["bob"].get(f"{base}/events"), rig["bob"].post(f"{base}/cancel"),
                     rig["bob"].post(f"{base}/approvals/c1", json={"approve": True})):
        assert response.status_code == 404, response.text
        assert response.json()["error"]["code"] == "task_not_found"
    assert rig["alice"].get(base).json()["owner"] == "alice"
    assert rig["admin"].get(base).status_code == 200  # admins see every task
    assert rig["carol"].get(base).status_code == 200  # so do approvers (they must see what they decide)
    refused = rig["carol"].post(f"{base}/cancel")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    assert rig["alice"].post(f"{base}/cancel").status_code == 202


def test_a_submit_only_key_cannot_approve_and_an_approver_can(rig: Rig) -> None:
    task_id = rig.submit("alice", "publish")
    call_id = rig.until("alice", task_id, {"waiting_approval"})["pending_approvals"][0]["call_id"]
    decide = f"/v1/agents/research/tasks/{task_id}/approvals/{call_id}"
    refused = rig["alice"].post(decide, json={"approve": True})
    assert refused.status_code == 403 and "approve" in refused.json()["error"]["message"]
    assert rig["bob"].post(decide, json={"approve": True}).status_code == 404
    approved = rig["carol"].post(decide, json={"approve": True, "reason": "checked"})
    assert approved.status_code == 200 and approved.json()["decided_by"] == "carol"
    rig.until("alice", task_id, {"succeeded"})
    events = rig["alice"].get(f"/v1/agents/research/tasks/{task_id}/events", params={"format": "json"}).json()
    resolved = [e for e in events["events"] if e["type"] == "approval.resolved"]
    assert [e["decided_by"] for e in resolved] == ["carol"]


def test_an_approver_may_not_approve_its_own_task_when_a_second_approver_is_required(rig: Rig) -> None:
    task_id = rig.submit("dave", "publish")
    call_id = rig.until("dave", task_id, {"waiting_approval"})["pending_approvals"][0]["call_id"]
    decide = f"/v1/agents/research/tasks/{task_id}/approvals/{call_id}"
    own = rig["dave"].post(decide, json={"approve": True})
    assert own.status_code == 403 and own.json()["error"]["code"] == "second_approver_required"
    assert rig["carol"].post(decide, json={"approve": True}).json()["decided_by"] == "carol"


def test_an_approver_without_submit_cannot_submit(rig: Rig) -> None:
    r = rig["carol"].post("/v1/agents/research/tasks", json={"input": "hello"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"


def test_sessions_and_idempotency_keys_are_per_principal(rig: Rig) -> None:
    headers = {"Idempotency-Key": "same-key"}
    a = rig["alice"].post("/v1/agents/research/tasks", json={"input": "hello", "session_id": "shared"},
                          headers=headers).json()["task_id"]
    b = rig["bob"].post("/v1/agents/research/tasks", json={"input": "hello", "session_id": "shared"},
                        headers=headers).json()["task_id"]
    assert a != b  # bob's key did not find alice's task
    rig.until("alice", a, {"succeeded"})
    rig.until("bob", b, {"succeeded"})

    async def memories() -> tuple[int, int, int]:
        store = SQLiteStore(rig.data_dir / "platform.db")
        try:
            return (len(await store.load("research/alice/shared")), len(await store.load("research/bob/shared")),
                    len(await store.load("research/shared")))
        finally:
            await store.close()

    alice, bob, unscoped = asyncio.run(memories())
    assert alice == bob > 0 and unscoped == 0  # two conversations, neither in the other's


def test_keys_at_rest_are_hashes(rig: Rig) -> None:
    text = (rig.data_dir / "api-keys.json").read_text()
    assert oct((rig.data_dir / "api-keys.json").stat().st_mode & 0o777) == "0o600"
    for key in rig.keys.values():
        assert key not in text and key.split("_", 2)[2] not in text  # the secret may hold "_"
    assert len(parse_keys(text).records) == len(ROLES)


@pytest.mark.parametrize("header", [b"Bearer ", b"Bearer", b"Bearer   ", b"Basic abc", b"bearer"])
def test_an_empty_or_other_scheme_token_is_401(rig: Rig, header: bytes) -> None:
    port = int(rig.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET /v1/agents HTTP/1.1\r\nHost: x\r\nAuthorization: " + header + b"\r\n\r\n")
        head = sock.recv(65536)
    assert head.startswith(b"HTTP/1.1 401 ") and b"www-authenticate: Bearer" in head.lower().replace(
        b"bearer", b"Bearer")


def test_a_prefix_or_extension_of_a_valid_key_is_401(rig: Rig) -> None:
    key = rig.keys["alice"]
    for token in (key[:-1], key[:20], key + "x", key.upper(), API_KEY[:-1], API_KEY + "x"):
        r = httpx.get(f"{rig.url}/v1/agents", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401, token
    assert rig["alice"].get("/v1/agents").status_code == 200


def test_a_revoked_key_is_refused_once_the_file_is_read_again(rig: Rig) -> None:
    assert rig["erin"].get("/v1/agents").status_code == 200
    store = FileKeyStore(rig.data_dir / "api-keys.json")
    ring = parse_keys(store.read())
    assert [r.principal for r in ring.revoke("erin")] == ["erin"]
    store.write(ring.to_document())
    deadline = time.monotonic() + 5  # the server looks at the file at most every second
    while rig["erin"].get("/v1/agents").status_code != 401:
        assert time.monotonic() < deadline, "the revoked key still works"
        time.sleep(0.1)
    assert rig["alice"].get("/v1/agents").status_code == 200  # the others' keys still work
