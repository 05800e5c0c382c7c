"""`agent-platform serve` without a terminal writes only JSON lines to stderr, uvicorn's own included
(startup, shutdown and access lines), so a log pipeline parses every line a container writes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.api.support import free_port

REPO = Path(__file__).resolve().parents[1]


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], within_s: float = 60.0) -> httpx.Response:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the server exited before it was healthy"
        try:
            return httpx.get(url, timeout=2.0)
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("the server did not answer in time")


def test_every_stderr_line_of_serve_is_json(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "note.md").write_text("# Note\n\nA document, so serve does not build the built-in corpus.\n")
    env = {**os.environ, "AGENT_PLATFORM_DATA_DIR": str(tmp_path / "data"), "AGENT_PLATFORM_DOCS_DIR": str(docs),
           "AGENT_PLATFORM_MODEL": "offline", "AGENT_PLATFORM_LOG_LEVEL": "INFO"}
    env.pop("ECS_AGENT_URI", None)
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "agent_runtime", "serve", "--port", str(port)], cwd=REPO,
                            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        assert _wait_healthy(f"http://127.0.0.1:{port}/healthz", proc).status_code == 200
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    lines = [line for line in err.decode().splitlines() if line.strip()]
    records = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except ValueError:
            raise AssertionError(f"not a JSON log line: {line!r}") from None
    by_logger = {(r["logger"], r["message"].split(" ")[0]) for r in records}
    assert ("uvicorn.error", "Started") in by_logger and ("uvicorn.error", "Uvicorn") in by_logger  # startup
    access = [r for r in records if r["logger"] == "uvicorn.access"]
    assert any("GET /healthz" in r["message"] and "200" in r["message"] for r in access)
    assert all("color_message" not in r for r in records)
    assert any(r["logger"].startswith("agent_runtime") for r in records)
