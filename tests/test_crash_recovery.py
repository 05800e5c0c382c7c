"""Crash test: the server process (API + worker) is SIGKILLed in the middle of a task; a new process on the
same data directory resumes the task from its checkpoint. Completed tool calls are not repeated (the tools
count invocations in files, across processes) and the final result is complete.

Run as a script, this module is the server under test (scripted model, counting tools, a short lease).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from httpx_sse import connect_sse

REPO = Path(__file__).resolve().parents[1]


def _serve(port: int, log_dir: Path) -> None:
    import uvicorn

    from agent_runtime.server import create_platform
    from agent_runtime.settings import Settings
    from tests.api.support import make_tools, scripted_factory

    platform = create_platform(Settings(), runtime_factory=scripted_factory(make_tools(log_dir)), lease_s=1.0,
                               poll_s=0.1)
    uvicorn.run(platform.app, host="127.0.0.1", port=port, log_level="warning")


def _start(port: int, log_dir: Path, data_dir: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "AGENT_PLATFORM_DATA_DIR": str(data_dir),
           "AGENT_PLATFORM_API_KEYS": "crash-key", "AGENT_PLATFORM_STORE": "sqlite", "AGENT_PLATFORM_QUEUE": "local"}
    env.pop("AGENT_PLATFORM_AGENT", None)
    proc = subprocess.Popen([sys.executable, __file__, str(port), str(log_dir)], env=env, cwd=REPO)
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("the server process did not come up")
        time.sleep(0.05)


def test_a_killed_worker_s_task_resumes_from_its_checkpoint(tmp_path: Path) -> None:
    from tests.api.support import free_port, logged

    log_dir, data_dir = tmp_path / "calls", tmp_path / "data"
    log_dir.mkdir()
    port = free_port()
    headers = {"Authorization": "Bearer crash-key"}
    first = _start(port, log_dir, data_dir)
    try:
        r = httpx.post(f"http://127.0.0.1:{port}/v1/agents/research/tasks", json={"input": "crash"}, headers=headers)
        task_id = r.json()["task_id"]
        deadline = time.monotonic() + 20
        while not logged(log_dir, "slow", "started"):  # first call done, second in flight
            assert time.monotonic() < deadline, "the task never reached its slow tool call"
            time.sleep(0.01)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        if first.poll() is None:
            first.kill()
    assert logged(log_dir, "echo", "finished") == ["call_0_0"] and logged(log_dir, "slow", "finished") == []

    second = _start(port, log_dir, data_dir)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=30) as client:
            with connect_sse(client, "GET", f"/v1/agents/research/tasks/{task_id}/events") as source:
                events = [(int(s.id), s.event, json.loads(s.data)) for s in source.iter_sse()]
            task = client.get(f"/v1/agents/research/tasks/{task_id}").json()
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=20)

    assert logged(log_dir, "echo", "started") == ["call_0_0"]  # the completed call was not repeated
    assert logged(log_dir, "slow", "started") == ["call_1_0", "call_1_0"]  # the interrupted one ran again
    assert logged(log_dir, "slow", "finished") == ["call_1_0"]
    assert task["state"] == "succeeded" and task["attempts"] == 2
    assert task["answer"] == '{"tool": "echo", "text": "first"} | {"tool": "slow", "text": "second"}'
    assert [e[0] for e in events] == list(range(1, len(events) + 1))  # one log, no gaps, no duplicates
    assert [e[2]["resumed"] for e in events if e[1] == "task.started"] == [False, True]
    started = [e[2] for e in events if e[1] == "tool.started"]
    assert [(s["call_id"], s["retry"]) for s in started] == [("call_0_0", False), ("call_1_0", False),
                                                             ("call_1_0", True)]  # the killed call, retried once
    assert events[-1][1] == "task.finished" and events[-1][2]["steps"] == 3


if __name__ == "__main__":
    _serve(int(sys.argv[1]), Path(sys.argv[2]))
