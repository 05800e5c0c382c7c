"""The scenarios that break something: a container killed mid-task, a poison task, a scale-in.

`FaultScenarios` is mixed into `rehearsal.scenarios.Session`; each method returns None when the
scenario passed, else the reason.
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from typing import Any

from rehearsal.client import TERMINAL, ApiClient
from rehearsal.probes import (
    calls_of,
    claims,
    dead_lettered,
    holder,
    max_receive_count,
    pending_call,
    queue_attribute,
)
from rehearsal.stage import Stage

CONTENT = "Write a short article about asyncio event loops and publish it as a report."
POISON = "How do asyncio tasks, event loops and coroutines fit together? (poison)"
FAILOVER_LIMIT_S = 90.0


class FaultScenarios:
    """Failure scenarios over `stage` and `api` (set by the session)."""

    stage: Stage
    api: ApiClient
    api_key: str
    figures: dict[str, float]

    def _until_pending(self, agent: str, task: str) -> dict[str, Any]:
        return self.api.wait(agent, task, lambda v: pending_call(v) or v["state"] in TERMINAL, 120)

    def _log_problems(self, agent: str, task: str) -> str | None:
        """Resume continues the event log: sequence numbers gap-free and unique, one approval.requested per call."""
        events = self.api.stream(agent, task, timeout_s=30)  # the stored log, replayed (the task has ended)
        seqs = [e["seq"] for e in events if e.get("seq") is not None]
        if seqs != list(range(1, len(seqs) + 1)):
            return f"sequence numbers are not 1..{len(seqs)} without gaps: {seqs}"
        requested = Counter(e.get("call_id") for e in events if e.get("type") == "approval.requested")
        twice = sorted(str(c) for c, n in requested.items() if n > 1)
        return f"approval.requested written more than once for {twice}" if twice else None

    def crash_resume(self) -> str | None:
        """kill -9 the content replica running a task; the other replica finishes it, no call repeated."""
        task = self.api.submit("content", CONTENT)
        view = self._until_pending("content", task)
        call = pending_call(view)
        victim = holder(self.stage, task, "content")
        if call is None or victim is None:
            return f"no running task to crash (state {view['state']}, holder {victim})"
        before = view["last_seq"]
        calls_before = calls_of(self.stage, task)
        os.kill(victim.proc.pid, signal.SIGKILL)
        killed = time.monotonic()
        self.stage.remove(victim)
        self.api.decide("content", task, call, True)
        # Failover: until a surviving replica has claimed the task again and written past the crash point.
        view = self.api.wait("content", task, lambda v: v["last_seq"] > before or v["state"] in TERMINAL, 150)
        self.figures["failover_s"] = round(time.monotonic() - killed, 1)
        view = self.api.wait("content", task, lambda v: v["state"] in TERMINAL, 120)
        calls = calls_of(self.stage, task)
        self.stage.await_healthy(self.stage.launch("content", "content-3"))
        if view["state"] != "succeeded":
            return f"ended {view['state']}: {view.get('error')}"
        if len(set(calls)) != len(calls) or calls[:len(calls_before)] != calls_before:
            return f"a tool call was repeated: {calls}"
        if self.figures["failover_s"] >= FAILOVER_LIMIT_S:
            return f"failover took {self.figures['failover_s']} s (>= {FAILOVER_LIMIT_S:.0f} s)"
        return self._log_problems("content", task)

    def scale_in_handback(self) -> str | None:
        """SIGTERM (after deregistration) of the replica running a task: handed back, never dead-lettered."""
        task = self.api.submit("content", CONTENT)
        view = self._until_pending("content", task)
        victim = holder(self.stage, task, "content")
        if pending_call(view) is None or victim is None:
            return f"no running task to hand back (state {view['state']})"
        self.stage.remove(victim)
        victim.proc.send_signal(signal.SIGTERM)
        victim.proc.wait(timeout=60)
        stopped = time.monotonic()
        taken = self.api.wait("content", task, lambda v: holder(self.stage, task, "content") is not None
                              and pending_call(v) is not None, 60)
        call = pending_call(taken)
        if call is None or holder(self.stage, task, "content") is None:
            return f"no replica took the task back (state {taken['state']})"
        self.figures["handback_s"] = round(time.monotonic() - stopped, 1)
        visibility = queue_attribute(self.stage, "content", "VisibilityTimeout")
        if self.figures["handback_s"] >= visibility:
            return f"taken back after {self.figures['handback_s']} s: hidden for the visibility timeout, not handed back"
        self.api.decide("content", task, call, True)
        view = self.api.wait("content", task, lambda v: v["state"] in TERMINAL, 120)
        if view["state"] != "succeeded":
            return f"ended {view['state']}: {view.get('error')}"
        problem = self._log_problems("content", task)
        if problem:
            return problem
        if task in dead_lettered(self.stage, "content"):
            return "the handed-back task reached the dead-letter queue"
        deadline = time.monotonic() + 5  # no copy of the finished task's message left behind, to come again
        while (left := queue_attribute(self.stage, "content", "ApproximateNumberOfMessagesNotVisible")) > 0:
            if time.monotonic() > deadline:
                return f"{left} message(s) of the content queue still in flight after the task ended (a duplicate)"
            time.sleep(0.3)
        return None

    def poison_to_dlq(self) -> str | None:
        """A task whose every attempt kills its container: failed and dead-lettered within maxReceiveCount.

        Runs beside the other scenarios (a redelivery waits out the queue's visibility timeout): it
        kills each research replica as soon as it logs claiming the task, and starts a new one.
        """
        limit = max_receive_count(self.stage, "research")
        api = ApiClient(self.stage.router.url, self.api_key)
        try:
            task = api.submit("research", POISON)
            kills = self._kill_every_claim(api, task, deadline=time.monotonic() + 45 * limit)
            view = api.task("research", task)
        finally:
            api.close()
        self.figures["poison_crashes"] = kills
        if view["state"] != "failed":
            return f"state {view['state']} after {kills} crashes"
        if kills >= limit:
            return f"{kills} attempts, not within maxReceiveCount {limit}"
        deadline = time.monotonic() + 15  # the worker fails the task, then moves its message
        while task not in dead_lettered(self.stage, "research"):
            if time.monotonic() > deadline:
                return f"failed ({view.get('error')}) but not in the dead-letter queue"
            time.sleep(0.3)
        return None

    def _kill_every_claim(self, api: ApiClient, task: str, *, deadline: float) -> int:
        kills, next_look = 0, 0.0
        while time.monotonic() < deadline:
            for replica in list(self.stage.replicas.values()):
                if replica.spec.agent == "research" and replica.alive() and claims(replica, task):
                    os.kill(replica.proc.pid, signal.SIGKILL)
                    replica.proc.wait()
                    kills += 1
                    self.stage.remove(replica)
                    self.stage.await_healthy(self.stage.launch("research", f"research-{kills + 1}"))
            if time.monotonic() >= next_look:
                if api.task("research", task)["state"] in TERMINAL:
                    break
                next_look = time.monotonic() + 1.0
            time.sleep(0.05)
        return kills
