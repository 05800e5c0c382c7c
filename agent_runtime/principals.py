"""Who calls the task API: principals with roles, their API keys kept as salted hashes, and the check.

A key looks like `ap_<12 hex key id>_<secret>`. The key id finds the one record to check without
trying every hash; the record keeps a per-key salt and HMAC-SHA256(salt, key), compared in constant
time. Keys are 256-bit random strings, so a fast salted hash is enough: a slow password hash
(scrypt) protects guessable passwords and would cost milliseconds of CPU on every request.

Older setups hold plain keys (comma-separated, a JSON list, or `{"keys": [...]}`); each plain key is
an admin key of the principal `default` (`LEGACY_PRINCIPAL`). The keys document that the CLI writes
(the data-dir file, the Secrets Manager secret) has the form of `KeyRing.to_document`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from agent_runtime.errors import ConfigurationError

Role = Literal["submit", "approve", "admin"]
ROLES: tuple[str, ...] = get_args(Role)
LEGACY_PRINCIPAL = "default"
KEY_PREFIX = "ap_"
KEY_ID_LENGTH = 12
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_KEY_SHAPE = re.compile(rf"^{KEY_PREFIX}([0-9a-f]{{{KEY_ID_LENGTH}}})_[A-Za-z0-9_-]{{32,}}$")
DOCUMENT_VERSION = 1


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: its name, roles, and the id of the key it used."""

    name: str
    roles: frozenset[str]
    key_id: str

    @property
    def admin(self) -> bool:
        return "admin" in self.roles

    def has(self, role: str) -> bool:
        """Whether the principal holds `role` (admin holds every role)."""
        return self.admin or role in self.roles

    @property
    def reads_all(self) -> bool:
        """Admins and approvers read every principal's tasks (an approver must see what it decides)."""
        return self.admin or "approve" in self.roles


@dataclass(frozen=True)
class KeyRecord:
    """One API key at rest: no key text, only its salted hash."""

    key_id: str
    principal: str
    roles: tuple[str, ...]
    salt: str  # hex
    digest: str  # hex HMAC-SHA256(salt, key)
    created_at: float = 0.0
    legacy: bool = False  # a plain key of an older setup (no key id in the key text)

    def matches(self, key: bytes) -> bool:
        """Constant-time comparison of the key's salted hash with the stored one."""
        return hmac.compare_digest(_digest(bytes.fromhex(self.salt), key), self.digest)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.key_id, "principal": self.principal, "roles": list(self.roles),
                               "salt": self.salt, "hash": self.digest, "created_at": self.created_at}
        if self.legacy:
            out["legacy"] = True
        return out


def _digest(salt: bytes, key: bytes) -> str:
    return hmac.new(salt, key, hashlib.sha256).hexdigest()


def hash_key(key: str, *, key_id: str, principal: str, roles: Iterable[str], legacy: bool = False) -> KeyRecord:
    """The record of `key` under a fresh random salt."""
    salt = secrets.token_bytes(16)
    return KeyRecord(key_id=key_id, principal=principal, roles=tuple(sorted(set(roles))), salt=salt.hex(),
                     digest=_digest(salt, key.encode()), created_at=round(time.time(), 3), legacy=legacy)


def session_scope(agent: str, owner: str | None) -> str:
    """The prefix of a task's session memory key: per agent, and per principal, so that one principal
    cannot read or write another's conversation by guessing its session id. Tasks of the principal
    `default` (and older tasks without an owner) keep the agent-only prefix they always had; session
    ids and principal names have no '/', so the prefixes never overlap."""
    if owner is None or owner == LEGACY_PRINCIPAL:
        return f"{agent}/"
    return f"{agent}/{owner}/"


def check_name(name: str) -> str:
    """A principal name: 1-64 lowercase letters, digits, '.', '_' or '-' (it scopes session keys)."""
    if not NAME_PATTERN.match(name):
        raise ValueError(f"principal name {name!r}: use 1-64 lowercase letters, digits, '.', '_' or '-'")
    return name


def check_roles(roles: Iterable[str]) -> tuple[str, ...]:
    """Known roles, at least one, sorted."""
    out = tuple(sorted(set(roles)))
    unknown = [r for r in out if r not in ROLES]
    if unknown or not out:
        raise ValueError(f"roles {list(out)}: give one or more of {', '.join(ROLES)}")
    return out


def new_key(principal: str, roles: Iterable[str]) -> tuple[str, KeyRecord]:
    """A fresh key for `principal` (returned once, never stored) and its record."""
    key_id = secrets.token_hex(KEY_ID_LENGTH // 2)
    key = f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
    return key, hash_key(key, key_id=key_id, principal=check_name(principal), roles=check_roles(roles))


@dataclass
class KeyRing:
    """The accepted keys: records by key id, and the plain keys of older setups (checked one by one)."""

    records: dict[str, KeyRecord] = field(default_factory=dict)

    @classmethod
    def of_plain_keys(cls, keys: Iterable[str]) -> KeyRing:
        """Plain keys of an older setup: admin keys of the principal `default`, hashed in memory."""
        ring = cls()
        for i, key in enumerate(k for k in keys if k):
            ring.add(hash_key(key, key_id=f"legacy-{i + 1}", principal=LEGACY_PRINCIPAL, roles=["admin"],
                              legacy=True))
        return ring

    def add(self, record: KeyRecord) -> None:
        self.records[record.key_id] = record

    def merged(self, other: KeyRing) -> KeyRing:
        """Both rings' keys (`other` wins on a shared key id)."""
        return KeyRing({**self.records, **other.records})

    def authenticate(self, key: str) -> Principal | None:
        """The principal whose key this is, or None. A key of the `ap_` shape is checked against its
        record only; anything else against every plain key, each in constant time."""
        given = key.encode("utf-8", "surrogateescape")
        shape = _KEY_SHAPE.match(key)
        if shape is not None:
            record = self.records.get(shape.group(1))
            if record is not None and not record.legacy and record.matches(given):
                return Principal(record.principal, frozenset(record.roles), record.key_id)
            return None
        found: KeyRecord | None = None
        for record in self.records.values():
            if record.legacy and record.matches(given) and found is None:
                found = record  # no early exit: the time does not say which key matched
        return Principal(found.principal, frozenset(found.roles), found.key_id) if found else None

    def revoke(self, key_id_or_name: str) -> list[KeyRecord]:
        """Remove the key with that id, or every key of the principal of that name; the removed records."""
        gone = [r for r in self.records.values() if key_id_or_name in (r.key_id, r.principal)]
        for record in gone:
            del self.records[record.key_id]
        return gone

    def to_document(self) -> str:
        """The JSON kept in the key file or the secret: hashes only."""
        keys = [r.as_dict() for r in sorted(self.records.values(), key=lambda r: (r.principal, r.created_at))]
        return json.dumps({"version": DOCUMENT_VERSION, "keys": keys}, indent=2) + "\n"


def parse_keys(text: str) -> KeyRing:
    """The keys in a key file or secret: the hashed document, or plain keys of an older setup."""
    stripped = text.strip()
    data: Any = stripped
    if stripped[:1] in ("[", "{"):
        try:
            data = json.loads(stripped)
        except ValueError:
            raise ConfigurationError("the API keys look like JSON but do not parse") from None
    if isinstance(data, dict) and "version" in data:
        return _parse_document(data)
    return KeyRing.of_plain_keys(_plain_keys(data))


def _parse_document(data: dict[str, Any]) -> KeyRing:
    ring = KeyRing()
    try:
        for item in data.get("keys", []):
            ring.add(KeyRecord(key_id=str(item["id"]), principal=str(item["principal"]),
                               roles=tuple(item["roles"]), salt=str(item["salt"]), digest=str(item["hash"]),
                               created_at=float(item.get("created_at", 0.0)), legacy=bool(item.get("legacy"))))
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigurationError(f"the API keys document has a bad key record ({exc})") from None
    return ring


def _plain_keys(data: Any) -> list[str]:
    """Keys of the older formats: a JSON list, an object (`keys`/`api_keys` list, else its string
    values), or comma-separated text."""
    if isinstance(data, dict):
        for name in ("keys", "api_keys", "apiKeys"):
            if name in data:
                data = data[name]
                break
        else:
            data = list(data.values())
    if isinstance(data, str):
        data = data.split(",")
    if not isinstance(data, list):
        raise ConfigurationError("the API keys must be a list of keys")
    return [k.strip() for k in data if isinstance(k, str) and k.strip()]

