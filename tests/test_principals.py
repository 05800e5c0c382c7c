"""Principals' keys: the formats read, hashes at rest, the Secrets Manager secret managed by
`agent-platform keys --secret` (moto) and re-read by the server, so a revoked key stops working."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from typer.testing import CliRunner

from agent_runtime.api.auth import SecretsManagerKeys
from agent_runtime.cli import app
from agent_runtime.principals import LEGACY_PRINCIPAL, KeyRing, new_key, parse_keys, session_scope

PLAIN = "plain-key-of-an-older-setup-0123456789"


@pytest.mark.parametrize("text", [PLAIN, f" {PLAIN} ,other", json.dumps([PLAIN]), json.dumps({"keys": [PLAIN]}),
                                  json.dumps({"api_keys": [PLAIN]}), json.dumps({"a": PLAIN})])
def test_plain_keys_of_older_setups_are_admin_keys_of_default(text: str) -> None:
    principal = parse_keys(text).authenticate(PLAIN)
    assert principal is not None and principal.name == LEGACY_PRINCIPAL and principal.admin


def test_a_key_finds_its_record_and_nothing_else_matches() -> None:
    ring = KeyRing()
    key, record = new_key("alice", ["submit"])
    ring.add(record)
    ring = parse_keys(ring.to_document())  # through the document, as the server reads it
    found = ring.authenticate(key)
    assert found is not None and (found.name, found.roles, found.key_id) == ("alice", {"submit"}, record.key_id)
    assert not found.has("approve") and not found.reads_all
    for wrong in ("", key[:-1], key + "a", key[:3 + 12], key.replace("_", "-", 1)):
        assert ring.authenticate(wrong) is None
    assert key not in ring.to_document()


def test_names_and_roles_are_checked() -> None:
    with pytest.raises(ValueError, match="principal name"):
        new_key("a/b", ["submit"])
    with pytest.raises(ValueError, match="roles"):
        new_key("alice", ["root"])
    with pytest.raises(ValueError, match="roles"):
        new_key("alice", [])


def test_session_memory_is_scoped_by_principal_except_the_legacy_one() -> None:
    assert session_scope("research", None) == session_scope("research", LEGACY_PRINCIPAL) == "research/"
    assert session_scope("research", "alice") == "research/alice/"


@pytest.fixture
def secret() -> Iterator[tuple[Any, str]]:
    with mock_aws():
        client = boto3.client("secretsmanager")
        arn = client.create_secret(Name="api-keys", SecretString=PLAIN)["ARN"]
        yield client, arn


def test_keys_managed_in_the_secret_and_reread_by_the_server(secret: tuple[Any, str]) -> None:
    client, arn = secret
    runner = CliRunner()
    created = runner.invoke(app, ["keys", "create", "alice", "--role", "submit", "--secret", arn])
    assert created.exit_code == 0, created.output
    key = created.stdout.strip().splitlines()[-1]
    stored = client.get_secret_value(SecretId=arn)["SecretString"]
    assert key not in stored and PLAIN not in stored  # the older plain key was hashed too
    assert {r["principal"] for r in json.loads(stored)["keys"]} == {"alice", LEGACY_PRINCIPAL}
    listed = runner.invoke(app, ["keys", "list", "--secret", arn])
    assert "alice" in listed.stdout and key not in listed.stdout

    source = SecretsManagerKeys(arn, client=client, ttl_s=1.0)
    ring = asyncio.run(source.ring())
    alice, legacy = ring.authenticate(key), ring.authenticate(PLAIN)
    assert alice is not None and alice.name == "alice"
    assert legacy is not None and legacy.admin  # the deployed single key keeps working

    revoked = runner.invoke(app, ["keys", "revoke", "alice", "--secret", arn])
    assert revoked.exit_code == 0, revoked.output
    assert asyncio.run(source.ring()).authenticate(key) is not None  # until the next re-read
    time.sleep(1.05)

    async def after_refresh() -> None:
        ring = await source.ring()
        assert ring.authenticate(key) is None and ring.authenticate(PLAIN) is not None

    asyncio.run(after_refresh())
    missing = runner.invoke(app, ["keys", "revoke", "alice", "--secret", arn])
    assert missing.exit_code == 1 and "no key id or principal" in missing.output
