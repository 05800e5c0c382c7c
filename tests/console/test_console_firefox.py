"""The console in Firefox (Debian's `firefox-esr`, headless), driven over Marionette (`marionette.py`):
sign in, submit the scripted content task, watch it wait for approval, approve with a reason, and read the
rendered answer and the `succeeded` state; the timeline holds the same events as in Chromium. This is the
path that needs what differs between engines: ES modules under the CSP, `fetch` reading the event stream
as it arrives, `sessionStorage`, and the DOM the console builds.

Controls are found by their label or their text, as a user finds them. Without Firefox the test is skipped,
and fails in CI (`CI` set; `.ci/run` installs `firefox-esr` with apt-get when missing); `FIREFOX` overrides
the path."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from tests.console.marionette import Marionette, firefox
from tests.console.support import (
    AFTER_APPROVAL,
    API_KEY,
    BEFORE_APPROVAL,
    TIDY,
    scenario_tools,
    serve_scripted,
)

CONTROL = "return [...document.querySelectorAll('label')].find(l => l.textContent.trim() === arguments[0])?.control"
BUTTON = ("return [...document.querySelectorAll('button')]"
          ".find(b => b.textContent.trim() === arguments[0] && !b.disabled && b.offsetParent !== null)")
STATE = "return document.querySelector('[role=status]')?.textContent"
TIMELINE = "[...document.querySelectorAll('ol.timeline > li')].map(li => li.dataset.type)"


@pytest.fixture(scope="module")
def browser() -> Iterator[Marionette]:
    executable = os.environ.get("FIREFOX", "firefox-esr")
    found = shutil.which(executable) or shutil.which("firefox")
    if found is None:
        why = f"no Firefox: {executable} not found (apt-get install -y firefox-esr)"
        if os.environ.get("CI"):
            pytest.fail(f"browser tests must run in CI: {why}")
        pytest.skip(why)
    with firefox(found) as client:
        yield client


def _until_state(ff: Marionette, expected: str) -> None:
    ff.wait_for(f"{STATE} === arguments[0]", expected)


def _timeline_of(ff: Marionette, count: int) -> list[str]:
    """The timeline's event types, once it has `count` items."""
    return list(ff.wait_for(f"const types = {TIMELINE}; return types.length === arguments[0] && types", count))


def _control(ff: Marionette, label: str) -> Any:
    return ff.wait_for(CONTROL, label)


def test_sign_in_submit_approve_and_read_the_answer_in_firefox(browser: Marionette, tmp_path: Any) -> None:
    ff = browser
    with serve_scripted(tmp_path, scenario_tools()) as server:
        ff.command("WebDriver:Navigate", url=f"{server.url}/console")
        ff.type(_control(ff, "API key"), API_KEY)
        ff.click(ff.wait_for(BUTTON, "Sign in"))
        ff.wait_for("return document.querySelector('article[aria-label=\"Agent content\"]')")

        agent = _control(ff, "Agent")
        ff.script("arguments[0].value = 'content'; arguments[0].dispatchEvent(new Event('change'))", agent)
        ff.type(_control(ff, "Task"), TIDY)
        ff.click(ff.wait_for(BUTTON, "Submit"))
        _until_state(ff, "waiting_approval")  # the stream is read as it arrives: the card shows mid-task
        assert _timeline_of(ff, len(BEFORE_APPROVAL)) == BEFORE_APPROVAL

        ff.type(_control(ff, "Reason (optional)"), "approved in Firefox")
        ff.click(ff.wait_for(BUTTON, "Approve"))
        _until_state(ff, "succeeded")
        assert _timeline_of(ff, len(BEFORE_APPROVAL + AFTER_APPROVAL)) == BEFORE_APPROVAL + AFTER_APPROVAL
        answer = "document.querySelector('section[aria-label=Answer]')"
        headings = ff.script(f"return [...{answer}.querySelectorAll('h1, h2, h3, h4')].map(h => h.textContent)")
        assert "Blue/green deploys" in headings  # rendered from Markdown
        assert ff.script(f"return {answer}.querySelector('a')?.getAttribute('href')") == "https://example.com/deploys"
        events = ff.script("return document.querySelector('section[aria-label=Events]').textContent")
        assert "publish_report approved by default: approved in Firefox" in events
        assert ff.script("return sessionStorage.length > 0")  # the key is kept for the tab only
        assert ff.script("return document.title") == "Agent platform console"
