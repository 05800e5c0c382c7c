"""Cancel and approve racing give one answer, over real HTTP (docs/api.md, Cancel and approvals).

Two servers share one SQLite store: server A's worker runs the task and reads the store only every
few seconds; server B's API takes the decisions, as another replica would. The store orders the
cancel and the decision: a decision after the cancel is a 409 `task_cancelled` and the call never
runs; a cancel answered 202 ends the task `cancelled`, even when the loop reached its answer first;
a cancel after the end is a 409 `task_ended` naming the state.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx

from agent_runtime.server import create_platform
from agent_runtime.settings import Settings
from tests.api.support import API_KEY, ServerThread, make_tools, scripted_factory


@contextmanager
def _two_servers(data_dir: Path, worker_poll_s: float = 3.0) -> Iterator[tuple[httpx.Client, httpx.Client, Any]]:
    """Server A (its worker polls the store every `worker_poll_s`), server B on the same store; B's
    worker never gets a task (each server has its own in-process queue). Yields A, B and A's tools."""
    settings = Settings(data_dir=data_dir, api_keys=API_KEY, store="sqlite", queue="local", agent=None)
    tools = make_tools()
    with ExitStack() as stack:
        clients = []
        for poll_s in (worker_poll_s, 0.1):
            platform = create_platform(settings, runtime_factory=scripted_factory(tools), heartbeat_s=0.3,
                                       poll_s=poll_s)
            server = stack.enter_context(ServerThread(platform.app))
            clients.append(stack.enter_context(httpx.Client(
                base_url=f"{server.url}/v1/agents/research", headers={"Authorization": f"Bearer {API_KEY}"},
                timeout=20)))
        yield clients[0], clients[1], tools


def _submit(client: httpx.Client, text: str) -> str:
    r = client.post("/tasks", json={"input": text})
    assert r.status_code == 202, r.text
    return str(r.json()["task_id"])


def _until(client: httpx.Client, task_id: str, check: Callable[[dict[str, Any]], bool],
           within_s: float = 15) -> dict[str, Any]:
    deadline = time.monotonic() + within_s
    while True:
        task = client.get(f"/tasks/{task_id}").json()
        if check(task):
            return task
        assert time.monotonic() < deadline, f"task never reached the expected state: {task}"
        time.sleep(0.05)


def _ended(task: dict[str, Any]) -> bool:
    return task["state"] in ("succeeded", "failed", "cancelled")


def _waiting(client: httpx.Client, task_id: str) -> str:
    task = _until(client, task_id, lambda t: bool(t["pending_approvals"]))
    return str(task["pending_approvals"][0]["call_id"])


def _event_types(client: httpx.Client, task_id: str) -> list[str]:
    r = client.get(f"/tasks/{task_id}/events", params={"format": "json"})
    assert r.status_code == 200, r.text
    return [e["type"] for e in r.json()["events"]]


def test_an_approval_after_the_cancel_is_a_409_and_the_call_never_runs(tmp_path: Path) -> None:
    with _two_servers(tmp_path) as (a, b, tools):
        task_id = _submit(a, "publish")
        call_id = _waiting(b, task_id)
        assert b.post(f"/tasks/{task_id}/cancel").status_code == 202
        r = b.post(f"/tasks/{task_id}/approvals/{call_id}", json={"approve": True, "reason": "ship it"})
        assert r.status_code == 409, r.text
        assert r.json()["error"]["code"] == "task_cancelled"
        assert "none of them will run" in r.json()["error"]["message"]
        task = _until(b, task_id, _ended)
        assert task["state"] == "cancelled" and tools["publish"].started(task_id) == []
        assert task["pending_approvals"] == []
        assert _event_types(b, task_id)[-3:] == ["approval.resolved", "tool.finished", "task.cancelled"]
        assert _decided(b, task_id) == {"status": "rejected", "decided_by": "cancel"}


def test_an_approval_before_the_cancel_is_a_200_and_the_cancel_still_ends_the_task_cancelled(tmp_path: Path) -> None:
    with _two_servers(tmp_path) as (a, b, tools):
        # The worker may see the approval at once (its poll can fall just after it): the approved call then
        # waits for the cancel to be accepted, so the task cannot end between the two requests.
        tools["publish"].gate = threading.Event()
        task_id = _submit(a, "publish")
        call_id = _waiting(b, task_id)
        r = b.post(f"/tasks/{task_id}/approvals/{call_id}", json={"approve": True})
        assert r.status_code == 200 and r.json()["status"] == "approved"
        cancel = b.post(f"/tasks/{task_id}/cancel")
        tools["publish"].gate.set()
        assert cancel.status_code == 202 and cancel.json()["cancel_requested"] is True
        task = _until(b, task_id, _ended)
        assert task["state"] == "cancelled" and task["stop_reason"] == "cancelled"
        assert len(tools["publish"].started(task_id)) <= 1  # it may have started before the cancel; never twice


def test_a_cancel_accepted_while_the_loop_reaches_its_answer_ends_the_task_cancelled(tmp_path: Path) -> None:
    # The worker reads the store every 3 s; the slow call takes 1 s, then the model answers at once.
    # The cancel lands during that call, so the loop ends with its answer before it sees the flag.
    with _two_servers(tmp_path, worker_poll_s=3.0) as (a, b, _tools):
        task_id = _submit(a, "crash")  # echo, then a 1 s call of the slow tool, then the answer
        _until(b, task_id, lambda t: t["state"] == "running")
        time.sleep(0.3)
        cancel = b.post(f"/tasks/{task_id}/cancel")
        assert cancel.status_code == 202
        task = _until(b, task_id, _ended)
        assert task["state"] == "cancelled" and task["answer"] is None
        types = _event_types(b, task_id)
        assert types[-1] == "task.cancelled" and "task.finished" not in types


def test_a_cancel_after_the_end_is_a_409_naming_the_state(tmp_path: Path) -> None:
    with _two_servers(tmp_path, worker_poll_s=0.1) as (a, _b, _tools):
        task_id = _submit(a, "hello")
        _until(a, task_id, _ended)
        r = a.post(f"/tasks/{task_id}/cancel")
        assert r.status_code == 409 and r.json()["error"]["code"] == "task_ended"
        assert r.json()["error"]["message"].endswith("already succeeded")
        assert a.get(f"/tasks/{task_id}").json()["state"] == "succeeded"


def test_concurrent_cancels_and_approvals_give_one_consistent_answer(tmp_path: Path) -> None:
    with _two_servers(tmp_path, worker_poll_s=0.5) as (a, b, tools), ThreadPoolExecutor(4) as pool:
        task_ids = [_submit(a, "publish") for _ in range(6)]
        calls = {t: _waiting(b, t) for t in task_ids}
        futures = []
        for t in task_ids:  # both requests at once, to both servers
            futures.append((t, pool.submit(b.post, f"/tasks/{t}/approvals/{calls[t]}", json={"approve": True}),
                            pool.submit(a.post, f"/tasks/{t}/cancel")))
        for t, approve_f, cancel_f in futures:
            approve, cancel = approve_f.result(), cancel_f.result()
            assert cancel.status_code == 202, cancel.text  # the task was active: it ends cancelled
            task = _until(b, t, _ended)
            assert task["state"] == "cancelled"
            assert approve.status_code in (200, 409), approve.text
            record = _decided(b, t)
            if approve.status_code == 409:  # lost to the cancel: rejected by it, and the call never ran
                assert approve.json()["error"]["code"] in ("task_cancelled", "task_ended")
                assert (record["status"], record["decided_by"]) == ("rejected", "cancel")
                assert tools["publish"].started(t) == []
            else:  # stored before the cancel: the record says so
                assert (record["status"], record["decided_by"]) == ("approved", approve.json()["decided_by"])
                assert len(tools["publish"].started(t)) <= 1


def _decided(client: httpx.Client, task_id: str) -> dict[str, Any]:
    """The task's one approval as the approval.resolved event shows it."""
    r = client.get(f"/tasks/{task_id}/events", params={"format": "json"})
    (resolved,) = [e for e in r.json()["events"] if e["type"] == "approval.resolved"]
    return {"status": "approved" if resolved["approved"] else "rejected", "decided_by": resolved["decided_by"]}
