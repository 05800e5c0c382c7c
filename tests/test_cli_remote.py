"""`agent-platform submit`, `watch` and `cancel` against the task API over real HTTP (uvicorn in a thread),
and `serve --help` from the console script."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent_runtime.cli import app
from agent_runtime.cli.client import ApiClient, Watcher
from agent_runtime.cli.options import ApproveMode
from agent_runtime.server import create_platform
from agent_runtime.settings import Settings
from tests.api.support import API_KEY, CountingTool, ServerThread, free_port, make_tools, scripted_factory

runner = CliRunner()


def start(data_dir: Path, tools: dict[str, CountingTool], port: int | None = None) -> ServerThread:
    settings = Settings(data_dir=data_dir, api_keys=API_KEY, store="sqlite", queue="local", agent=None)
    platform = create_platform(settings, runtime_factory=scripted_factory(tools), heartbeat_s=0.3, poll_s=0.05)
    return ServerThread(platform.app, port=port)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, dict[str, CountingTool]]]:
    tools = make_tools()
    with start(tmp_path / "data", tools) as running:
        yield running.url, tools


def cli(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_submit_follows_the_task_and_approves_with_approve_all(server: tuple[str, dict[str, CountingTool]]) -> None:
    url, tools = server
    code, out, err = cli("submit", "content", "publish", "--url", url, "--key", API_KEY, "--approve", "all")
    assert code == 0, out + err
    assert "approval needed for publish" in out
    assert "approved (default): --approve all" in out
    assert len(tools["publish"].records) == 2  # started and finished once


def test_approve_none_rejects_and_the_model_is_told(server: tuple[str, dict[str, CountingTool]]) -> None:
    url, tools = server
    code, out, _ = cli("submit", "content", "publish", "--url", url, "--key", API_KEY, "--approve", "none",
                       "--json")
    events = [json.loads(line) for line in out.splitlines()]
    resolved = [e for e in events if e["type"] == "approval.resolved"]
    assert (resolved[0]["approved"], resolved[0]["reason"]) == (False, "--approve none")
    assert tools["publish"].records == []
    assert code == 0 and events[-1]["type"] == "task.finished"


def test_no_watch_prints_the_id_and_watch_replays_every_event_once(
        server: tuple[str, dict[str, CountingTool]]) -> None:
    url, _ = server
    code, out, _ = cli("submit", "research", "steps", "--url", url, "--key", API_KEY, "--no-watch")
    task_id = out.strip()
    assert code == 0 and task_id.startswith("research-")
    code, out, _ = cli("watch", task_id, "--url", url, "--key", API_KEY, "--json")
    events = [json.loads(line) for line in out.splitlines()]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert (events[0]["type"], events[-1]["type"], events[-1]["answer"]) == ("task.started", "task.finished",
                                                                             "four steps done")
    assert code == 0


def test_cancel_stops_a_running_task_and_watch_exits_130(server: tuple[str, dict[str, CountingTool]]) -> None:
    url, tools = server
    _, out, _ = cli("submit", "research", "slow", "--url", url, "--key", API_KEY, "--no-watch")
    task_id = out.strip()
    deadline = time.monotonic() + 10
    while not tools["slow"].started(task_id):  # wait until the slow tool is in flight
        assert time.monotonic() < deadline, "the slow tool never started"
        time.sleep(0.02)
    code, out, _ = cli("cancel", task_id, "--url", url, "--key", API_KEY)
    assert code == 0 and out.startswith(task_id)
    code, out, _ = cli("watch", task_id, "--url", url, "--key", API_KEY)
    assert code == 130 and "Task cancelled" in out


def test_watch_reconnects_after_the_server_restarts_without_gaps_or_repeats(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The server is stopped while the watcher follows a task and started again on the same port and
    database; the watcher reconnects with Last-Event-ID and the task (resumed from its checkpoint) completes."""
    tools, port = make_tools(), free_port()
    first = start(tmp_path / "data", tools, port).__enter__()
    client = ApiClient(first.url, API_KEY)
    task_id = client.request("POST", "/v1/agents/research/tasks", json={"input": "crash"})["task_id"]
    following, restarted, done = threading.Event(), threading.Event(), threading.Event()

    class Following(Watcher):
        def show(self, kind: str, data: str) -> None:
            super().show(kind, data)
            following.set()

    def restart() -> None:
        deadline = time.monotonic() + 10
        while not (following.is_set() and tools["slow"].started(task_id)) and time.monotonic() < deadline:
            time.sleep(0.01)
        first.server.force_exit = True  # no grace period: open streams are cut, the running task handed back
        first.__exit__(None, None, None)
        second = start(tmp_path / "data", tools, port).__enter__()
        restarted.set()
        done.wait(30)
        second.__exit__(None, None, None)

    thread = threading.Thread(target=restart, daemon=True)
    thread.start()
    try:
        code = Following(client, "research", task_id, approve=ApproveMode.none, json_output=True).run()
    finally:
        done.set()
        thread.join(30)
        client.close()
    out, err = capsys.readouterr()
    events = [json.loads(line) for line in out.splitlines()]
    assert restarted.is_set() and "reconnecting after event" in err
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert events[-1]["type"] == "task.finished" and code == 0
    assert len(tools["echo"].started(task_id)) == 1  # completed before the restart, not run again


@pytest.mark.parametrize(("args", "code", "message"), [
    (["submit", "nobody", "x"], 2, "unknown agent 'nobody'"),
    (["submit", "research", "  "], 2, "the task is empty"),
    (["submit", "research", "x", "--url", "ftp://host"], 2, "give an http:// or https:// URL"),
    (["watch", "task-123"], 2, "cannot tell the agent of task 'task-123'"),
    (["submit", "research", "x", "--url", "http://127.0.0.1:9"], 1, "cannot reach the task API"),
])
def test_bad_input_gets_one_line_and_an_exit_code(args: list[str], code: int, message: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == code
    assert message in " ".join(result.stderr.split())


def test_a_wrong_key_is_reported_as_401(server: tuple[str, dict[str, CountingTool]]) -> None:
    url, _ = server
    code, _, err = cli("submit", "research", "hello", "--url", url, "--key", "wrong-key")
    assert code == 1 and "answered 401" in err and "AGENT_PLATFORM_CLIENT_KEY" in err


def test_the_local_key_file_is_used_when_no_key_is_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A server without configured keys generates one into its data dir; clients there find it."""
    data_dir = tmp_path / "data"
    monkeypatch.setenv("AGENT_PLATFORM_DATA_DIR", str(data_dir))
    platform = create_platform(Settings(data_dir=data_dir, store="sqlite", queue="local"),
                               runtime_factory=scripted_factory(make_tools()), poll_s=0.05)
    assert platform.key_file is not None and platform.key_file.is_file()
    with ServerThread(platform.app) as running:
        code, out, err = cli("submit", "research", "hello", "--url", running.url)
    assert code == 0 and "echo said" in out, out + err


def test_serve_help_lists_host_and_port() -> None:
    done = subprocess.run([sys.executable, "-m", "agent_runtime", "serve", "--help"], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0 and "--host" in done.stdout and "--port" in done.stdout
