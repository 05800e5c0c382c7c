"""A tiny W3C WebDriver client over httpx for the console's browser tests: Debian's chromium driven
by its chromedriver, headless, with a fresh profile. Only what the tests use: navigate, find by CSS
or XPath, click, type, read text, accessible names, the browser log, a screenshot, and waiting on a
DOM condition (never on a fixed sleep).
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx

from tests.api.support import free_port

ELEMENT = "element-6066-11e4-a52e-4f735466cecf"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1100,1400"]
T = TypeVar("T")


def browser_missing() -> str | None:
    """Why the browser tests cannot run here, or None when chromium and its driver are installed."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not Path(path).exists() and shutil.which(path) is None:
            return f"{path} is not installed (apt-get install -y chromium chromium-driver)"
    return None


class WebDriverError(AssertionError):
    """A failed WebDriver command (its error name and message)."""


class Browser:
    """One WebDriver session; element references are the driver's opaque ids."""

    def __init__(self, http: httpx.Client, session: str) -> None:
        self.http, self.session = http, session

    def _cmd(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        r = self.http.request(method, f"/session/{self.session}{path}", json=body)
        value = r.json().get("value")
        if r.status_code != 200:
            raise WebDriverError(f"{method} {path}: {value.get('error')}: {value.get('message', '')[:500]}")
        return value

    def get(self, url: str) -> None:
        self._cmd("POST", "/url", {"url": url})

    def url(self) -> str:
        return str(self._cmd("GET", "/url"))

    def find_all(self, selector: str, *, xpath: bool = False) -> list[str]:
        using = "xpath" if xpath else "css selector"
        return [e[ELEMENT] for e in self._cmd("POST", "/elements", {"using": using, "value": selector})]

    def find(self, selector: str, *, xpath: bool = False) -> str:
        found = self.find_all(selector, xpath=xpath)
        if not found:
            raise WebDriverError(f"nothing matches {selector!r}")
        return found[0]

    def field(self, label: str) -> str:
        """The form control labelled `label` (by its <label for=...>)."""
        return self.find(f"//*[@id=//label[normalize-space()='{label}']/@for]", xpath=True)

    def button(self, name: str) -> str:
        return self.find(f"//button[normalize-space()='{name}']", xpath=True)

    def region(self, name: str) -> str:
        return self.find(f"//*[@aria-label='{name}']", xpath=True)

    def click(self, element: str) -> None:
        self._cmd("POST", f"/element/{element}/click", {})

    def type(self, element: str, text: str) -> None:
        self._cmd("POST", f"/element/{element}/clear", {})
        self._cmd("POST", f"/element/{element}/value", {"text": text})

    def text(self, element: str) -> str:
        return str(self._cmd("GET", f"/element/{element}/text"))

    def label(self, element: str) -> str:
        """The element's accessible name, as the browser computes it for assistive technology."""
        return str(self._cmd("GET", f"/element/{element}/computedlabel"))

    def run(self, script: str, *elements: str) -> Any:
        """Run `script` in the page; `elements` (ids from `find`) are its `arguments`."""
        args = [{ELEMENT: e} for e in elements]
        return self._cmd("POST", "/execute/sync", {"script": script, "args": args})

    def log(self) -> list[dict[str, Any]]:
        """The browser's console messages since the last call (CSP violations show up here)."""
        return list(self._cmd("POST", "/se/log", {"type": "browser"}))

    def screenshot(self, path: Path) -> None:
        path.write_bytes(base64.b64decode(self._cmd("GET", "/screenshot")))

    def wait(self, check: Callable[[], T], within_s: float = 15.0, what: str = "condition") -> T:
        """Poll `check` (a DOM query) until it returns something truthy; fail after `within_s`."""
        deadline = time.monotonic() + within_s
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                value = check()
                if value:
                    return value
            except WebDriverError as error:
                last = error
            time.sleep(0.05)
        raise AssertionError(f"{what} not reached in {within_s} s" + (f" (last error: {last})" if last else ""))


@contextmanager
def chromium() -> Iterator[Browser]:
    """Start chromedriver and one headless chromium session; both are stopped on exit."""
    port = free_port()
    profile = tempfile.mkdtemp(prefix="console-chromium-")
    driver = subprocess.Popen([CHROMEDRIVER, f"--port={port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                if http.get("/status").json()["value"]["ready"]:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or driver.poll() is not None:
                raise RuntimeError("chromedriver did not start")
            time.sleep(0.05)
        options = {"binary": CHROMIUM, "args": [*FLAGS, f"--user-data-dir={profile}"]}
        caps = {"browserName": "chrome", "goog:chromeOptions": options, "goog:loggingPrefs": {"browser": "ALL"}}
        r = http.post("/session", json={"capabilities": {"alwaysMatch": caps}})
        assert r.status_code == 200, r.text
        browser = Browser(http, r.json()["value"]["sessionId"])
        try:
            yield browser
        finally:
            http.delete(f"/session/{browser.session}")
    finally:
        http.close()
        driver.terminate()
        driver.wait(timeout=10)
        shutil.rmtree(profile, ignore_errors=True)
