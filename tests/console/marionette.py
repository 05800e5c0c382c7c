"""Firefox, driven over Marionette: the protocol geckodriver itself speaks to Firefox, JSON over a local TCP
socket, each message framed as `<length>:<json>` (a command `[0, id, name, params]`, its reply
`[1, id, error, result]`). Playwright drives only a Firefox newer than Debian's ESR (it needs WebDriver BiDi
commands ESR 140 lacks), and geckodriver is not packaged: this is the smallest client that lets a test use
the console in the Firefox the machine has."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.api.support import free_port

PREFS = {"browser.shell.checkDefaultBrowser": False, "browser.startup.homepage_override.mstone": "ignore",
         "datareporting.policy.dataSubmissionEnabled": False, "toolkit.telemetry.reportingpolicy.firstRun": False,
         "app.update.disabledForTesting": True, "network.captive-portal-service.enabled": False,
         "browser.safebrowsing.update.enabled": False, "extensions.update.enabled": False}


class MarionetteError(Exception):
    pass


class Marionette:
    def __init__(self, port: int, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        self.buffer = b""
        self.last_id = 0
        self._read()  # the server's hello
        self.command("WebDriver:NewSession")

    def _read(self) -> Any:
        while b":" not in self.buffer:
            self._receive()
        size, _, self.buffer = self.buffer.partition(b":")
        while len(self.buffer) < int(size):
            self._receive()
        message, self.buffer = self.buffer[: int(size)], self.buffer[int(size):]
        return json.loads(message)

    def _receive(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise MarionetteError("Firefox closed the Marionette connection")
        self.buffer += chunk

    def command(self, name: str, **params: Any) -> Any:
        self.last_id += 1
        payload = json.dumps([0, self.last_id, name, params]).encode()
        self.sock.sendall(str(len(payload)).encode() + b":" + payload)
        _, _, error, result = self._read()
        if error:
            raise MarionetteError(f"{name}: {error.get('error')}: {error.get('message')}")
        return result

    def script(self, source: str, *args: Any) -> Any:
        """Run `source` (a function body; `arguments` are `args`) in the page; its return value."""
        return self.command("WebDriver:ExecuteScript", script=source, args=list(args))["value"]

    def wait_for(self, source: str, *args: Any, timeout_s: float = 15) -> Any:
        """The first truthy value of `source`, polled every 50 ms; an error after `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while not (value := self.script(source, *args)):
            if time.monotonic() > deadline:
                raise AssertionError(f"not reached in {timeout_s} s: {source} {args}")
            time.sleep(0.05)
        return value

    def type(self, element: dict[str, str], text: str) -> None:
        self.command("WebDriver:ElementSendKeys", id=_element_id(element), text=text)

    def click(self, element: dict[str, str]) -> None:
        self.command("WebDriver:ElementClick", id=_element_id(element))


def _element_id(element: dict[str, str]) -> str:
    return next(iter(element.values()))  # {"element-6066-...": "<uuid>"}, as the script returned it


@contextmanager
def firefox(executable: str, *, timeout_s: float = 60) -> Iterator[Marionette]:
    """A headless Firefox in a fresh profile, and a Marionette session with it."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="firefox-profile-") as profile:
        prefs = {**PREFS, "marionette.port": port}
        Path(profile, "user.js").write_text("".join(f"user_pref({json.dumps(k)}, {json.dumps(v)});\n"
                                                    for k, v in prefs.items()))
        process = subprocess.Popen([executable, "--headless", "--marionette", "--no-remote", "--profile", profile],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   env={**os.environ, "MOZ_CRASHREPORTER_DISABLE": "1"})
        try:
            client = Marionette(port, timeout_s)
            try:
                yield client
            finally:
                client.sock.close()
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
