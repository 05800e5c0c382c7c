"""Who approves a sensitive tool call in a local `run`: a policy (approve all, deny all, or deny because
no one can answer), or the person at the terminal."""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape

from agent_runtime.cli.options import ApproveMode

if TYPE_CHECKING:
    from agent_runtime.checkpoint import ApprovalDecision, ApprovalRequest, Approver
    from agent_runtime.events import ApprovalRequested


def policy_approver(mode: ApproveMode, *, why: str = "no terminal to ask in") -> Approver:
    """The approver when no one is asked: approve all, deny all, or deny because no one can answer (`why`)."""
    from agent_runtime.checkpoint import ApprovalDecision

    if mode is ApproveMode.all:
        decision = ApprovalDecision(True, "approved by --approve all", "policy")
    elif mode is ApproveMode.none:
        decision = ApprovalDecision(False, "denied by --approve none", "policy")
    else:
        decision = ApprovalDecision(
            False, f"no one can approve ({why}); rerun with --approve all to allow it", "policy"
        )

    async def approver(request: ApprovalRequest) -> ApprovalDecision:
        return decision

    return approver


class TerminalApprover:
    """Asks in the terminal. The loop awaits `__call__`; the event consumer calls `ask` right after it
    has shown the approval request, so the question appears below the request, in order."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._decisions: dict[str, asyncio.Future[ApprovalDecision]] = {}

    def _future(self, call_id: str) -> asyncio.Future[ApprovalDecision]:
        return self._decisions.setdefault(call_id, asyncio.get_running_loop().create_future())

    async def __call__(self, request: ApprovalRequest) -> ApprovalDecision:
        try:
            return await self._future(request.call_id)
        finally:
            self._decisions.pop(request.call_id, None)

    async def ask(self, event: ApprovalRequested) -> None:
        from agent_runtime.checkpoint import ApprovalDecision

        future = self._future(event.call_id)
        prompt = asyncio.ensure_future(
            _ask_yes_no(self.console, f"  Approve [bold]{escape(event.tool)}[/]? {escape('[y/n]')} "))
        # The decision may also come from elsewhere: the deadline passing, or the task being cancelled.
        await asyncio.wait([prompt, future], return_when=asyncio.FIRST_COMPLETED)  # type: ignore[type-var]
        if not prompt.done():
            prompt.cancel()
            self.console.print("\n  [dim](no longer waiting for an answer)[/]")
        elif not future.done():
            answer = prompt.result()
            reason = "approved in the terminal" if answer else "rejected in the terminal"
            future.set_result(ApprovalDecision(answer, reason, "approver"))


async def _ask_yes_no(console: Console, prompt: str) -> bool:
    """A y/n answer read in a daemon thread (an unanswered prompt never blocks the process from exiting)."""
    loop = asyncio.get_running_loop()
    result: asyncio.Future[bool] = loop.create_future()

    def read() -> None:
        answer = False
        try:
            while True:
                reply = console.input(prompt).strip().lower()
                if reply in ("y", "yes", "n", "no", ""):
                    answer = reply in ("y", "yes")
                    break
        except (EOFError, KeyboardInterrupt):
            answer = False

        def deliver() -> None:
            if not result.done():
                result.set_result(answer)

        loop.call_soon_threadsafe(deliver)

    threading.Thread(target=read, name="approval-prompt", daemon=True).start()
    return await result
