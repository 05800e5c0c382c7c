"""Where the accepted API keys come from: given at start-up, a key file in the data directory (re-read
when it changes), or a Secrets Manager secret (re-read every few minutes). Each yields a `KeyRing`."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any, Protocol

import boto3

from agent_runtime.errors import ConfigurationError
from agent_runtime.principals import KeyRing, parse_keys

# How often a key source looks for changes: a revoked key stops working within this long.
SECRET_REFRESH_S = 300.0
FILE_CHECK_S = 1.0


class KeySource(Protocol):
    async def ring(self) -> KeyRing:
        """The keys accepted right now."""
        ...


class StaticKeys:
    """Plain keys given at start-up (AGENT_PLATFORM_API_KEYS, or the generated local key): admin keys of
    the principal `default`."""

    def __init__(self, keys: list[str]) -> None:
        self._ring = KeyRing.of_plain_keys(keys)

    async def ring(self) -> KeyRing:
        return self._ring


class CombinedKeys:
    """The keys of several sources together (the local server: its plain key and its key file)."""

    def __init__(self, *sources: KeySource) -> None:
        self.sources = sources

    async def ring(self) -> KeyRing:
        out = KeyRing()
        for source in self.sources:
            out = out.merged(await source.ring())
        return out


class FileKeys:
    """Keys from the data directory's key file (written by `agent-platform keys`), re-read when its
    modification time or size changes, looked at no more than every `check_s`. No file: no keys."""

    def __init__(self, path: Path, *, check_s: float = FILE_CHECK_S) -> None:
        self.path, self.check_s = path, check_s
        self._ring = KeyRing()
        self._stamp: tuple[int, int] | None = None
        self._checked = float("-inf")

    async def ring(self) -> KeyRing:
        if time.monotonic() - self._checked >= self.check_s:
            self._checked = time.monotonic()
            try:
                st = self.path.stat()
                stamp: tuple[int, int] | None = (st.st_mtime_ns, st.st_size)
            except FileNotFoundError:
                stamp = None
            if stamp != self._stamp:
                self._ring = parse_keys(self.path.read_text()) if stamp is not None else KeyRing()
                self._stamp = stamp
        return self._ring


class SecretsManagerKeys:
    """Keys from a Secrets Manager secret, re-read every `ttl_s` so that added and revoked keys take
    effect without a restart. A failed re-read keeps the keys it has (and retries in 30 s)."""

    def __init__(self, secret_id: str, *, client: Any = None, ttl_s: float = SECRET_REFRESH_S) -> None:
        self.secret_id = secret_id
        self.client = client or boto3.client("secretsmanager")
        self.ttl_s = ttl_s
        self._ring: KeyRing | None = None
        self._loaded_at = float("-inf")
        self._lock = asyncio.Lock()

    def _fetch(self) -> KeyRing:
        value = self.client.get_secret_value(SecretId=self.secret_id)["SecretString"]
        ring = parse_keys(value)
        if not ring.records:
            raise ConfigurationError(f"secret {self.secret_id} holds no API keys")
        return ring

    async def ring(self) -> KeyRing:
        if self._ring is not None and time.monotonic() - self._loaded_at < self.ttl_s:
            return self._ring
        async with self._lock:
            if self._ring is None or time.monotonic() - self._loaded_at >= self.ttl_s:
                try:
                    self._ring = await asyncio.to_thread(self._fetch)
                    self._loaded_at = time.monotonic()
                except Exception:
                    if self._ring is None:
                        raise
                    # keep serving the keys we have; try again in a while
                    self._loaded_at = time.monotonic() - self.ttl_s + 30.0
        return self._ring
