"""Fast local takeover: a server starting on the data directory of a server process that is gone (SIGKILL)
takes its leased tasks over at once, not when their leases lapse; leases of live processes, of other hosts
and of owners that name no process are left alone."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from agent_runtime.store.base import TaskRecord
from agent_runtime.store.sqlite import SQLiteStore
from agent_runtime.takeover import PROCESS_TOKEN, gone, lease_owner, release_dead_leases
from tests.api.support import free_port
from tests.fakes.openai_server import FakeOpenAIServer, Reply, say

REPO = Path(__file__).resolve().parents[1]
HOST = socket.gethostname()


@pytest.fixture
def dead_pid() -> int:
    """The pid of a process of this host that ended (and was reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_who_is_gone(dead_pid: int) -> None:
    assert gone(f"worker-0123456789ab@{HOST}:{dead_pid}:{PROCESS_TOKEN}")
    assert not gone(lease_owner())  # this process
    assert gone(f"worker-0123456789ab@{HOST}:{os.getpid()}:0badc0de")  # our pid, handed down: restarted container
    assert not gone(f"worker-0123456789ab@{HOST}x:{dead_pid}:{PROCESS_TOKEN}")  # another host: lease expiry
    for owner in ("worker-0123456789ab", f"w@{HOST}:{dead_pid}", f"w@{HOST}:x1:t", f"w@{HOST}:²:t", ""):
        assert not gone(owner), owner  # names no process: lease expiry
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) as live:
        owner = f"worker-0123456789ab@{HOST}:{live.pid}:{PROCESS_TOKEN}"
        assert not gone(owner)
        live.kill()
        deadline = time.monotonic() + 10
        while not gone(owner):  # killed, not yet reaped (a zombie): gone already
            assert time.monotonic() < deadline
            time.sleep(0.01)
        live.wait()


async def test_recovery_releases_only_leases_of_gone_processes(tmp_path: Path, dead_pid: int) -> None:
    store = SQLiteStore(tmp_path / "p.db")
    dead, alive = f"worker-1@{HOST}:{dead_pid}:{PROCESS_TOKEN}", lease_owner()
    for name, owner in (("dead", dead), ("alive", alive), ("far", f"worker-2@elsewhere:{dead_pid}:t")):
        await store.create_task(TaskRecord(task_id=f"research-{name}", agent="research", input="x"))
        await store.claim_task(f"research-{name}", owner=owner, lease_s=600)
    tasks = await store.active_tasks(["research"])
    assert await release_dead_leases(store, tasks) == ["research-dead"]
    taken = await store.claim_task("research-dead", owner="new", lease_s=60)  # at once
    assert taken.attempts == 2  # the interrupted attempt counts
    for name in ("alive", "far"):
        assert (await store.get_task(f"research-{name}")).lease_until > time.time() + 500
    await store.close()


# -- a real `agent-platform serve`, SIGKILLed mid-task -------------------------------------------------------


class SlowFirstModel:
    """Answers the first model call after a minute (the server is killed meanwhile), later ones at once;
    records when each call arrived."""

    def __init__(self) -> None:
        self.arrivals: list[float] = []
        self.lock = threading.Lock()

    def __call__(self, body: dict[str, Any]) -> Reply:
        with self.lock:
            self.arrivals.append(time.monotonic())
            first = len(self.arrivals) == 1
        return say("too late", delay_s=60) if first else say("resumed and answered")


@pytest.fixture
def model() -> Iterator[tuple[FakeOpenAIServer, SlowFirstModel]]:
    responder = SlowFirstModel()
    with FakeOpenAIServer(responder=responder) as fake:
        yield fake, responder


def _serve(tmp_path: Path, port: int, model_url: str) -> subprocess.Popen[bytes]:
    docs = tmp_path / "docs"
    docs.mkdir(exist_ok=True)
    (docs / "note.md").write_text("# Note\n\nA document, so serve does not build the built-in corpus.\n")
    env = {**os.environ, "AGENT_PLATFORM_DATA_DIR": str(tmp_path / "data"), "AGENT_PLATFORM_DOCS_DIR": str(docs),
           "AGENT_PLATFORM_MODEL": "fake-model", "AGENT_PLATFORM_BASE_URL": model_url,
           "AGENT_PLATFORM_API_KEY": "sk-fake", "AGENT_PLATFORM_API_KEYS": "takeover-key",
           "AGENT_PLATFORM_STORE": "sqlite", "AGENT_PLATFORM_QUEUE": "local", "AGENT_PLATFORM_LOG_LEVEL": "WARNING"}
    for name in ("AGENT_PLATFORM_AGENT", "ECS_AGENT_URI", "AGENT_PLATFORM_QUEUE_VISIBILITY_S"):
        env.pop(name, None)  # the default lease: 30 s
    return subprocess.Popen([sys.executable, "-m", "agent_runtime", "serve", "--port", str(port)], cwd=REPO, env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _healthy(url: str, proc: subprocess.Popen[bytes]) -> float:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the server exited"
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return time.monotonic()
        except httpx.TransportError:
            time.sleep(0.05)
    raise AssertionError("the server did not come up")


def test_a_new_server_takes_over_a_killed_server_s_task_at_once(
    tmp_path: Path, model: tuple[FakeOpenAIServer, SlowFirstModel],
) -> None:
    fake, calls = model
    port = free_port()
    url, headers = f"http://127.0.0.1:{port}", {"Authorization": "Bearer takeover-key"}
    first = _serve(tmp_path, port, fake.base_url)
    try:
        _healthy(url, first)
        task_id = httpx.post(f"{url}/v1/agents/research/tasks", json={"input": "a slow question"},
                             headers=headers).json()["task_id"]
        deadline = time.monotonic() + 30
        while not calls.arrivals:  # the task is running: its model call hangs
            assert time.monotonic() < deadline, "the task never called its model"
            time.sleep(0.02)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()

    second = _serve(tmp_path, port, fake.base_url)
    try:
        up = _healthy(url, second)
        deadline = time.monotonic() + 30
        while len(calls.arrivals) < 2:
            assert time.monotonic() < deadline, "the task was not resumed"
            time.sleep(0.02)
        assert calls.arrivals[1] - up < 5.0  # taken over at once, not after the 30 s lease
        with httpx.Client(base_url=url, headers=headers, timeout=10) as client:
            deadline = time.monotonic() + 30
            while (task := client.get(f"/v1/agents/research/tasks/{task_id}").json())["state"] != "succeeded":
                assert time.monotonic() < deadline, task
                time.sleep(0.05)
            page = client.get(f"/v1/agents/research/tasks/{task_id}/events", params={"format": "json"}).json()
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=30)
    assert task["answer"] == "resumed and answered" and task["attempts"] == 2
    started = [e for e in page["events"] if e["type"] == "task.started"]
    assert [e["resumed"] for e in started] == [False, True]
    assert json.dumps([e["seq"] for e in page["events"]]) == json.dumps(list(range(1, len(page["events"]) + 1)))
