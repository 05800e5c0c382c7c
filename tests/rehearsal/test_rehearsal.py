"""The deployed platform, rehearsed: every scenario of `python -m rehearsal` passes (run once per module).

The rehearsal runs as its own process with a deadline, so it cannot hang the suite: past the
deadline it gets SIGTERM (it stops everything it started), then its process group and every
process it noted in `run/pids` are killed.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rehearsal.scenarios import ORDER

_VENV_BIN = str(Path(sys.executable).parent)
DEADLINE_S = 420  # the rehearsal takes about 2 minutes on a 2-core machine


def _kill_all(proc: subprocess.Popen[bytes], pids_file: Path) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    for line in pids_file.read_text().split() if pids_file.exists() else []:
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.killpg(int(line), signal.SIGKILL)  # moto and the services run in sessions of their own
    proc.wait()


def run_rehearsal(out: Path, deadline_s: float = DEADLINE_S) -> tuple[int | None, str]:
    """(exit code or None on timeout, its output) of `python -m rehearsal --out OUT`."""
    env = {**os.environ, "PATH": _VENV_BIN + os.pathsep + os.environ.get("PATH", "")}
    log = out / "rehearsal.log"
    with open(log, "wb") as sink:
        proc = subprocess.Popen([sys.executable, "-m", "rehearsal", "--out", str(out)], stdout=sink,
                                stderr=subprocess.STDOUT, env=env, start_new_session=True)
        try:
            code: int | None = proc.wait(timeout=deadline_s)
        except subprocess.TimeoutExpired:
            code = None
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
        finally:
            _kill_all(proc, out / "run" / "pids")
    return code, log.read_text(errors="replace")


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    out = tmp_path_factory.mktemp("rehearsal")
    code, text = run_rehearsal(out)
    path = out / "results.json"
    if code is None:
        pytest.fail(f"the rehearsal did not finish within {DEADLINE_S} s; its output:\n{text[-3000:]}")
    if not path.exists():
        pytest.fail(f"the rehearsal exited with {code} and wrote no results:\n{text[-3000:]}")
    yield json.loads(path.read_text())


@pytest.mark.parametrize("scenario", ORDER)
def test_scenario_passes(results: dict[str, Any], scenario: str) -> None:
    assert results["scenarios"][scenario] == "passed"


def test_costs_cover_every_agent(results: dict[str, Any]) -> None:
    assert set(results["usd_per_task"]) == {"research", "content", "analysis"}
    assert all(results["aws_requests_per_task"][agent] for agent in results["usd_per_task"])
    assert all(0 < dollars < 0.01 for dollars in results["usd_per_task"].values())


def test_every_tool_call_of_a_task_went_through_lambda(results: dict[str, Any]) -> None:
    counts = results["aws_requests_per_task"]
    assert counts["research"].get("lambda:Invoke", 0) >= 3
    assert counts["content"].get("sns:Publish") == 1 and counts["content"].get("s3:PutObject") == 1


def test_failover_after_a_crash_is_under_90_seconds(results: dict[str, Any]) -> None:
    assert results["figures"]["failover_s"] < 90
