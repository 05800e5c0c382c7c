"""Per-principal quotas on the bytes a principal's submitted tasks store per UTC day.

The API charges each new task's size (`stored_bytes`: its input and metadata as UTF-8) to a counter of
its principal, agent and UTC day; the store adds it in the same write that creates the task, conditional
on the counter staying within the limit (`QuotaCharge`), so concurrent submits cannot overshoot and an
idempotent replay (which creates nothing) charges nothing. A refusal raises `QuotaExceededError`.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from agent_runtime.errors import AgentPlatformError
from agent_runtime.table_keys import quota_pk

DAY_S = 86_400
# A day's counter is kept this long after it was last charged (DynamoDB TTL; SQLite purges on open).
QUOTA_RETENTION_S = 2 * DAY_S


class QuotaExceededError(AgentPlatformError):
    """A task would take its principal's stored bytes of the day past the limit."""

    def __init__(self, charge: QuotaCharge, used: int) -> None:
        super().__init__(f"{used} of {charge.limit} bytes used on {charge.day} (UTC); the task needs {charge.nbytes}")
        self.charge, self.used = charge, used


@dataclass(frozen=True, slots=True)
class QuotaCharge:
    """`nbytes` to add to the counter of `principal` on `agent` for the UTC `day`, up to `limit` in all."""

    agent: str
    principal: str
    day: str  # yyyy-mm-dd
    nbytes: int
    limit: int

    @property
    def key(self) -> str:
        """The counter's key (the DynamoDB partition key, agent-prefixed: see `table_keys.quota_pk`)."""
        return quota_pk(self.agent, self.principal, self.day)

    def fits(self, used: int) -> bool:
        """Whether the charge fits on a counter at `used`."""
        return used + self.nbytes <= self.limit


def stored_bytes(text: str, metadata: dict[str, Any]) -> int:
    """What a task's input and metadata weigh as the stores keep them (UTF-8, compact JSON)."""
    encoded = json.dumps(metadata, ensure_ascii=False, separators=(",", ":"))
    return len(text.encode("utf-8", "surrogatepass")) + len(encoded.encode("utf-8", "surrogatepass"))


def utc_day(ts: float) -> str:
    """The UTC date of a timestamp, yyyy-mm-dd."""
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d")


def seconds_to_reset(ts: float) -> int:
    """Whole seconds from `ts` to the next UTC midnight, when the day's counters start again (at least 1)."""
    return max(1, DAY_S - int(ts) % DAY_S)


def reset_at(ts: float) -> str:
    """The next UTC midnight after `ts`, as ISO 8601."""
    midnight = (int(ts) // DAY_S + 1) * DAY_S
    return dt.datetime.fromtimestamp(midnight, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
