"""`agent-platform serve` logs the web console's URL on start, and that URL serves the console."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from agent_runtime.server import console_url
from tests.api.support import free_port
from tests.test_serve_logs import REPO, _wait_healthy


@pytest.mark.parametrize(("host", "url"), [
    ("127.0.0.1", "http://127.0.0.1:8080/console/"), ("0.0.0.0", "http://127.0.0.1:8080/console/"),
    ("::", "http://[::1]:8080/console/"), ("::1", "http://[::1]:8080/console/"),
    ("example.internal", "http://example.internal:8080/console/"),
])
def test_console_url(host: str, url: str) -> None:
    assert console_url(host, 8080) == url


def test_serve_logs_the_console_url_it_serves(tmp_path: Path) -> None:
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
        _wait_healthy(f"http://127.0.0.1:{port}/healthz", proc)
        page = httpx.get(f"http://127.0.0.1:{port}/console/", timeout=5)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    messages = [json.loads(line)["message"] for line in err.decode().splitlines() if line.strip()]
    assert f"console: http://127.0.0.1:{port}/console/" in messages
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
