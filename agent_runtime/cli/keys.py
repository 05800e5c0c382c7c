"""`agent-platform keys create|list|revoke`: the task API's principals and their keys.

Locally the keys live in the data directory's key file (mode 0600), which the local server re-reads
when it changes; with `--secret` (or AGENT_PLATFORM_API_KEYS_SECRET) in the Secrets Manager secret the
deployed services re-read every 5 minutes. Either holds salted hashes only: `create` prints a new key
once. A secret that still holds plain keys is rewritten with those keys hashed (they keep working as
admin keys of the principal `default`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Protocol

import typer
from rich.console import Console
from rich.table import Table

from agent_runtime.cli.options import EXIT_FAILED, fail, settings_or_fail
from agent_runtime.errors import ConfigurationError
from agent_runtime.principals import ROLES, KeyRing, new_key, parse_keys

app = typer.Typer(help="Create, list and revoke the task API's keys (principals and roles).",
                  no_args_is_help=True)

SecretOption = Annotated[str | None, typer.Option(
    "--secret", help="Secrets Manager secret (name or ARN) holding the keys of a deployed platform "
    "(default: AGENT_PLATFORM_API_KEYS_SECRET; else the local data directory's key file).", show_default=False)]


class KeyStore(Protocol):
    """Where the keys document is kept."""

    where: str

    def read(self) -> str: ...

    def write(self, text: str) -> None: ...


class FileKeyStore:
    """The local key file, written whole (0600, then renamed into place)."""

    def __init__(self, path: Path) -> None:
        self.path, self.where = path, str(path)

    def read(self) -> str:
        return self.path.read_text() if self.path.exists() else ""

    def write(self, text: str) -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.unlink(missing_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, self.path)


class SecretKeyStore:
    """A Secrets Manager secret, through boto3."""

    def __init__(self, secret_id: str, client: Any = None) -> None:
        import boto3

        self.secret_id, self.where = secret_id, f"secret {secret_id}"
        self.client = client or boto3.client("secretsmanager")

    def read(self) -> str:
        return str(self.client.get_secret_value(SecretId=self.secret_id)["SecretString"])

    def write(self, text: str) -> None:
        self.client.put_secret_value(SecretId=self.secret_id, SecretString=text)


def key_store(secret: str | None) -> KeyStore:
    """The secret given or configured, else the local key file."""
    settings = settings_or_fail()
    secret = secret or settings.api_keys_secret
    if secret:
        return SecretKeyStore(secret)
    from agent_runtime.server import keys_file

    return FileKeyStore(keys_file(settings))


def _ring(store: KeyStore) -> KeyRing:
    try:
        return parse_keys(store.read())
    except ConfigurationError as exc:
        fail(f"{store.where}: {exc}", EXIT_FAILED)


def create(
    name: Annotated[str, typer.Argument(help="The principal the key belongs to (e.g. ci, alice).")],
    role: Annotated[list[str], typer.Option("--role", help=f"A role: {', '.join(ROLES)} (repeatable).")],
    secret: SecretOption = None,
) -> None:
    """Create a key for a principal; the key is printed once and stored only as a salted hash."""
    try:
        key, record = new_key(name, role)
    except ValueError as exc:
        fail(str(exc))
    store = key_store(secret)
    ring = _ring(store)
    ring.add(record)
    store.write(ring.to_document())
    err = Console(stderr=True, highlight=False)
    err.print(f"key {record.key_id} for {record.principal} ({', '.join(record.roles)}) stored in {store.where}; "
              "it is shown only now:")
    typer.echo(key)


def list_keys(secret: SecretOption = None) -> None:
    """List the keys: id, principal, roles, created (never the keys themselves)."""
    import datetime

    store = key_store(secret)
    table = Table("key id", "principal", "roles", "created")
    for r in sorted(_ring(store).records.values(), key=lambda r: (r.principal, r.created_at)):
        created = datetime.datetime.fromtimestamp(r.created_at, datetime.UTC).strftime("%Y-%m-%d %H:%M") \
            if r.created_at else "-"
        table.add_row(r.key_id, r.principal, ", ".join(r.roles), created)
    Console(highlight=False).print(table)


def revoke(
    key: Annotated[str, typer.Argument(help="A key id, or a principal name (revokes all its keys).")],
    secret: SecretOption = None,
) -> None:
    """Revoke a key, or every key of a principal; servers stop accepting it when they next re-read the keys."""
    store = key_store(secret)
    ring = _ring(store)
    gone = ring.revoke(key)
    if not gone:
        fail(f"no key id or principal {key!r} in {store.where}", EXIT_FAILED)
    store.write(ring.to_document())
    ids = ", ".join(r.key_id for r in gone)
    Console(stderr=True, highlight=False).print(f"revoked {ids} in {store.where}")


app.command("create")(create)
app.command("list")(list_keys)
app.command("revoke")(revoke)
