"""ECS task scale-in protection: set while the worker runs tasks, cleared when it runs none.

Scale-in (the service's step scaling, or a deployment replacing tasks) stops an ECS task without
asking. The worker then hands its running tasks back and another container resumes them from their
checkpoints, which is safe but costs the user time and repeats the model call in flight. A busy
container therefore protects its own task through the ECS agent's endpoint
(`PUT $ECS_AGENT_URI/task-protection/v1/state`, Fargate platform 1.4 and later; the task role needs
`ecs:UpdateTaskProtection`), so scale-in picks idle containers instead.

The calls run on a background task of their own, so a slow or failing endpoint never delays a task:
a failure is a warning and is retried, never fatal. Protection is set at once when the first task
starts, renewed before it expires while tasks keep running (it lapses by itself if this process
hangs), and cleared shortly after the last task ends (debounced, so a queue of short tasks does not
toggle it for each one). Without `ECS_AGENT_URI` (locally, in tests) every call is a no-op.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Mapping
from typing import Any

import httpx

from agent_runtime.envnames import ECS_AGENT_URI

log = logging.getLogger(__name__)

STATE_PATH = "/task-protection/v1/state"
EXPIRES_MINUTES = 60  # a hung process loses its protection within the hour
CLEAR_AFTER_S = 5.0  # idle this long before protection is cleared
RETRY_S = 30.0  # after a failed call


class ScaleInProtection:
    """Keeps this ECS task's scale-in protection in step with whether the worker is busy."""

    def __init__(self, agent_uri: str | None, *, expires_minutes: int = EXPIRES_MINUTES,
                 clear_after_s: float = CLEAR_AFTER_S, retry_s: float = RETRY_S, timeout_s: float = 5.0) -> None:
        if not 1 <= expires_minutes <= 2880:  # the endpoint's bounds
            raise ValueError("expires_minutes must be within 1..2880")
        self.url = agent_uri.rstrip("/") + STATE_PATH if agent_uri else None
        self.expires_minutes = expires_minutes
        self.renew_s = expires_minutes * 60 / 2  # renewed halfway, so one failed renewal can be retried
        self.clear_after_s = clear_after_s
        self.retry_s = retry_s
        self.timeout_s = timeout_s
        self._busy = False
        self._changed: asyncio.Event | None = None
        self._keeper: asyncio.Task[None] | None = None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None, **options: Any) -> ScaleInProtection:
        """Protection through the endpoint ECS injects into the container, or a no-op without it."""
        return cls((environ if environ is not None else os.environ).get(ECS_AGENT_URI) or None, **options)

    def busy(self, busy: bool) -> None:
        """Whether the worker runs at least one task now; cheap, so it is called on every start and end."""
        if self.url is None or busy == self._busy:
            return
        self._busy = busy
        if self._changed is None:
            self._changed = asyncio.Event()
        self._changed.set()
        if self._keeper is None or self._keeper.done():
            self._keeper = asyncio.create_task(self._keep(), name="scale-in-protection")

    async def close(self) -> None:
        """Stop keeping protection (the worker stops); a later `busy(True)` starts again."""
        keeper, self._keeper = self._keeper, None
        if keeper is not None:
            keeper.cancel()
            await asyncio.gather(keeper, return_exceptions=True)

    async def _keep(self) -> None:
        changed = self._changed
        assert changed is not None  # set by busy() before it starts this task
        protected = False
        due = 0.0  # monotonic time of the next set or renewal while busy
        async with httpx.AsyncClient(timeout=self.timeout_s) as client:
            while True:
                changed.clear()
                wait: float | None = None
                if self._busy:
                    if time.monotonic() >= due:
                        if await self._put(client, True):
                            protected, due = True, time.monotonic() + self.renew_s
                        else:
                            due = time.monotonic() + self.retry_s
                    wait = max(0.0, due - time.monotonic())
                elif protected:
                    if await self._changed_within(changed, self.clear_after_s):
                        continue  # busy again before the debounce ran out: stay protected
                    if await self._put(client, False):
                        protected, due = False, 0.0
                        continue
                    wait = self.retry_s
                await self._changed_within(changed, wait)

    @staticmethod
    async def _changed_within(changed: asyncio.Event, within_s: float | None) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(changed.wait(), within_s)
            return True
        return False

    async def _put(self, client: httpx.AsyncClient, enabled: bool) -> bool:
        """One call to the endpoint; True when ECS took it."""
        body: dict[str, object] = {"ProtectionEnabled": enabled}
        if enabled:
            body["ExpiresInMinutes"] = self.expires_minutes
        assert self.url is not None
        try:
            response = await client.put(self.url, json=body)
            try:
                reply = response.json()
            except ValueError:
                reply = {}
            # The agent reports a refused update (e.g. no task role permission) as `failure` or `error`.
            problem = (reply.get("failure") or reply.get("error")) if isinstance(reply, dict) else None
            if response.is_error or problem:
                raise RuntimeError(f"HTTP {response.status_code}: {problem or response.text[:200]}")
        except Exception as exc:  # never fatal: without protection a scale-in only hands tasks back
            log.warning("could not %s scale-in protection; retrying in %.0f s", "set" if enabled else "clear",
                        self.retry_s, extra={"error": str(exc) or type(exc).__name__})
            return False
        log.info("scale-in protection %s", "set" if enabled else "cleared",
                 extra={"expires_minutes": self.expires_minutes} if enabled else {})
        return True
