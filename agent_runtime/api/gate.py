"""Cheap refusals first: an ASGI middleware that authenticates and rate-limits a request from its
headers alone, before any of its body is read or parsed.

So a caller without a valid key gets 401 whatever it sends (a huge or malformed body included), and a
caller over its rate gets 429 with `Retry-After`. The principal it finds is left in the request's
state for the routes (`deps.Caller`). Paths outside `/v1/` (health, API docs) pass untouched.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field

from starlette.types import ASGIApp, Receive, Scope, Send

from agent_runtime.api.auth import KeySource
from agent_runtime.api.errors import error_response
from agent_runtime.principals import Principal

log = logging.getLogger(__name__)

PROTECTED_PREFIX = "/v1/"
CHALLENGE = {"WWW-Authenticate": "Bearer"}


@dataclass
class RateLimiter:
    """A token bucket per principal: `per_s` requests a second on average, bursts up to `burst`.

    `per_s <= 0` turns it off. Buckets are kept per process (each replica limits on its own).
    """

    per_s: float
    burst: float
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)  # name -> (tokens, at)

    def take(self, name: str) -> float:
        """Take one token from `name`'s bucket: 0 when allowed, else the seconds until one is there."""
        if self.per_s <= 0:
            return 0.0
        now = time.monotonic()
        tokens, at = self._buckets.get(name, (self.burst, now))
        tokens = min(self.burst, tokens + (now - at) * self.per_s)
        if tokens < 1.0:
            self._buckets[name] = (tokens, now)
            return (1.0 - tokens) / self.per_s
        self._buckets[name] = (tokens - 1.0, now)
        return 0.0


@dataclass
class StreamSlots:
    """Open event streams per key, at most `limit` each (`limit <= 0`: no bound)."""

    limit: int
    _open: dict[str, int] = field(default_factory=dict)

    def acquire(self, key_id: str) -> bool:
        """Take a slot for `key_id`; False when it has `limit` streams open already."""
        count = self._open.get(key_id, 0)
        if 0 < self.limit <= count:
            return False
        self._open[key_id] = count + 1
        return True

    def release(self, key_id: str) -> None:
        count = self._open.get(key_id, 0) - 1
        if count > 0:
            self._open[key_id] = count
        else:
            self._open.pop(key_id, None)


def bearer_token(scope: Scope) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, or None (no header, other scheme, empty)."""
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").strip().partition(" ")
            token = token.strip()
            return token if scheme.lower() == "bearer" and token else None
    return None


class Gate:
    """Authenticate (401/503) and rate-limit (429) every request under `prefix` (the API's `/v1/`; the
    MCP endpoint's `/mcp`) from its headers; the principal goes to `scope["state"]["principal"]`."""

    def __init__(self, app: ASGIApp, keys: KeySource, limiter: RateLimiter, *, prefix: str = PROTECTED_PREFIX) -> None:
        self.app, self.keys, self.limiter, self.prefix = app, keys, limiter, prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        token = bearer_token(scope)
        if token is None:
            await error_response(401, "unauthorized", "missing API key: send 'Authorization: Bearer <key>'",
                                 CHALLENGE)(scope, receive, send)
            return
        try:
            ring = await self.keys.ring()
        except Exception:
            log.exception("could not load API keys")
            await error_response(503, "unavailable", "API keys could not be loaded; retry later")(scope, receive, send)
            return
        principal = ring.authenticate(token)
        if principal is None:
            await error_response(401, "unauthorized", "invalid API key", CHALLENGE)(scope, receive, send)
            return
        wait = self.limiter.take(principal.name)
        if wait > 0:
            await error_response(429, "rate_limited", f"too many requests from {principal.name}; slow down",
                                 {"Retry-After": str(max(1, math.ceil(wait)))})(scope, receive, send)
            return
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)


def principal_of(scope: Scope) -> Principal | None:
    """The principal `Gate` authenticated for this request, if any."""
    state = scope.get("state") or {}
    found = state.get("principal")
    return found if isinstance(found, Principal) else None
