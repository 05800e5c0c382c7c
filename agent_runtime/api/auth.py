"""API keys: where they come from (settings or Secrets Manager) and the constant-time check."""

from __future__ import annotations

import asyncio
import hmac
import json
import time
from typing import Any, Protocol

import boto3

from agent_runtime.errors import ConfigurationError


class KeySource(Protocol):
    async def keys(self) -> list[bytes]:
        """The API keys accepted right now."""
        ...


class StaticKeys:
    """Keys given at start-up (AGENT_PLATFORM_API_KEYS locally, or a generated local key)."""

    def __init__(self, keys: list[str]) -> None:
        self._keys = [k.encode() for k in keys if k]

    async def keys(self) -> list[bytes]:
        return self._keys


def parse_secret_keys(secret: str) -> list[str]:
    """Keys from a secret string: a JSON list, a JSON object (`keys`/`api_keys` list, else its string
    values), or comma-separated text."""
    text = secret.strip()
    data: Any = text
    if text[:1] in ("[", "{"):
        try:
            data = json.loads(text)
        except ValueError:
            raise ConfigurationError("the API keys secret looks like JSON but does not parse") from None
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
        raise ConfigurationError("the API keys secret must hold a list of keys")
    return [k.strip() for k in data if isinstance(k, str) and k.strip()]


class SecretsManagerKeys:
    """Keys from a Secrets Manager secret, re-read every `ttl_s` so a rotation takes effect without a restart."""

    def __init__(self, secret_id: str, *, client: Any = None, ttl_s: float = 300.0) -> None:
        self.secret_id = secret_id
        self.client = client or boto3.client("secretsmanager")
        self.ttl_s = ttl_s
        self._keys: list[bytes] = []
        self._loaded_at = float("-inf")
        self._lock = asyncio.Lock()

    def _fetch(self) -> list[bytes]:
        value = self.client.get_secret_value(SecretId=self.secret_id)["SecretString"]
        keys = parse_secret_keys(value)
        if not keys:
            raise ConfigurationError(f"secret {self.secret_id} holds no API keys")
        return [k.encode() for k in keys]

    async def keys(self) -> list[bytes]:
        if time.monotonic() - self._loaded_at < self.ttl_s:
            return self._keys
        async with self._lock:
            if time.monotonic() - self._loaded_at >= self.ttl_s:
                try:
                    self._keys = await asyncio.to_thread(self._fetch)
                    self._loaded_at = time.monotonic()
                except Exception:
                    if not self._keys:
                        raise
                    # keep serving the keys we have; try again in a while
                    self._loaded_at = time.monotonic() - self.ttl_s + 30.0
        return self._keys


def key_matches(given: str, keys: list[bytes]) -> bool:
    """Compare against every key in constant time (no early exit that would leak which one matched)."""
    candidate = given.encode("utf-8", "surrogateescape")
    ok = False
    for key in keys:
        ok |= hmac.compare_digest(candidate, key)
    return ok
