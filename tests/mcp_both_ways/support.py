"""A server process for the MCP tests: started, waited for until its URL answers, stopped afterwards."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def serving(command: list[str], url: str, *, env: Mapping[str, str] | None = None,
            within_s: float = 60.0) -> Iterator[subprocess.Popen[bytes]]:
    """Run `command` from the repository root until the block ends, once `url` answers (any status)."""
    proc = subprocess.Popen(command, cwd=REPO, env=dict(env) if env is not None else None, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + within_s
        while True:
            assert proc.poll() is None, f"{command} exited with {proc.returncode}"
            try:
                httpx.get(url, timeout=2.0)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, f"{url} did not answer in {within_s:g} s"
                time.sleep(0.1)
        yield proc
    finally:
        proc.terminate()
        proc.wait(timeout=30)
