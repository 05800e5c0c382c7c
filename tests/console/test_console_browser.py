"""The web console in real headless Chromium against a real local server (uvicorn in a thread,
SQLite store, in-process queue and worker, scripted model): sign in, submit a content task whose
publication needs approval, watch its events arrive live, approve, and read the answer.

Set CONSOLE_SCREENSHOT=<path.png> to keep a screenshot of the finished task (docs/console.png).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent_runtime.agents import AgentSpec
from agent_runtime.server import create_platform
from agent_runtime.settings import Settings
from agent_runtime.task_run import AgentRuntime
from tests.api.support import API_KEY, CountingTool, ServerThread
from tests.console.webdriver import Browser, browser_missing, chromium
from tests.fakes.scripted_model import ScriptedModel, call, final, tool_results

HOSTILE = "<img src=x onerror=alert(1)>"
ANSWER = ("**Published** to `reports/blue-green.md`.\n\n---\n\n# Blue/green deploys\n\n"
          "Roll back by switching traffic to the *previous* colour.\n\n- one\n- two\n\n"
          "<script>document.title='pwned'</script> [a link](javascript:alert(1)) [docs](https://example.com/x)")
SCRIPT = {"Write": [call("search_documents", {"text": HOSTILE}), call("publish_report", {"text": "post"}),
                    final(ANSWER)],
          "Publish": [call("publish_report", {"text": "post"}), final(lambda m: f"the tool said: {tool_results(m)[-1]}")],
          "Slow": [call("search_documents", {"seconds": 30}), final("never")]}

_missing = browser_missing()
if _missing and os.environ.get("CI"):
    raise RuntimeError(f"browser tests must run in CI: {_missing}")
pytestmark = pytest.mark.skipif(_missing is not None, reason=_missing or "")


def _factory(tools: dict[str, CountingTool]) -> Any:
    def factory(spec: AgentSpec, settings: Settings) -> AgentRuntime:
        return AgentRuntime(spec, ScriptedModel(SCRIPT), tools)  # type: ignore[arg-type]

    return factory


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("console-data"), api_keys=API_KEY, store="sqlite",
                        queue="local", agent=None)
    tools = {"search_documents": CountingTool("search_documents"),
             "publish_report": CountingTool("publish_report", sensitive=True)}
    platform = create_platform(settings, runtime_factory=_factory(tools), heartbeat_s=0.3, poll_s=0.05)
    with ServerThread(platform.app) as running:
        yield running.url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


def _event_types(b: Browser) -> list[str]:
    return list(b.run("return [...document.querySelectorAll('.timeline li')].map(li => li.dataset.type)"))


def _sign_in(b: Browser, url: str) -> None:
    b.get(f"{url}/console")
    key = b.wait(lambda: b.field("API key"), what="the sign-in form")
    assert b.label(key) == "API key" and b.url() == f"{url}/console/"
    b.type(key, "wrong-key")
    b.click(b.button("Sign in"))
    alert = b.wait(lambda: b.text(b.find("#notice")), what="the wrong-key message")
    assert "not accepted" in alert
    b.type(b.field("API key"), API_KEY)
    b.click(b.button("Sign in"))
    b.wait(lambda: b.find_all("//*[@aria-label='Agent content']", xpath=True), what="the agents page")


def test_submit_watch_live_approve_and_read_the_answer(server: str, browser: Browser) -> None:
    b = browser
    _sign_in(b, server)
    assert [b.label(b.field(name)) for name in ("Agent", "Task", "Session")] == ["Agent", "Task", "Session"]
    b.click(b.find("//select[@id=//label[normalize-space()='Agent']/@for]/option[@value='content']", xpath=True))
    b.type(b.field("Task"), "Write a short post about blue/green deploys and publish it")
    b.click(b.button("Submit"))

    approve = b.wait(lambda: b.find_all("//button[normalize-space()='Approve']", xpath=True), what="an approval card")
    assert b.label(approve[0]) == "Approve" and b.label(b.button("Deny")) == "Deny"
    assert "#/tasks/content/content-" in b.url()
    assert b.text(b.find(".state")) == "waiting_approval"
    assert _event_types(b) == ["task.started", "model.turn", "tool.started", "tool.finished", "model.turn",
                               "tool.started", "approval.requested"]
    events = b.region("Events")
    assert HOSTILE in b.run("return arguments[0].textContent", events)  # tool text shown as text, not markup
    assert b.run("return arguments[0].querySelectorAll('img, script').length", events) == 0

    b.type(b.find("//*[@id=//label[normalize-space()='Reason (optional)']/@for]", xpath=True), "looks good")
    b.click(approve[0])
    b.wait(lambda: b.text(b.find(".state")) == "succeeded", what="the succeeded state")  # same page, same stream
    types = _event_types(b)
    assert types[7:] == ["approval.resolved", "tool.finished", "model.turn", "task.finished"]
    assert "approved by default: looks good" in b.text(events)
    assert not b.find_all("//button[normalize-space()='Approve']", xpath=True)
    assert b.run("return arguments[0].disabled", b.button("Cancel task")) is True

    answer = b.region("Answer")
    assert b.text(b.find("//*[@aria-label='Answer']//strong", xpath=True)) == "Published"
    assert b.text(b.find("//*[@aria-label='Answer']//*[@class='markdown']/h3", xpath=True)) == "Blue/green deploys"
    assert "<script>document.title='pwned'</script>" in b.text(answer) and "Cost $0.0030" in b.text(answer)
    links = b.run("return [...arguments[0].querySelectorAll('a')].map(a => a.getAttribute('href'))", answer)
    assert links == ["https://example.com/x"]
    assert b.run("return arguments[0].querySelectorAll('script, img').length", answer) == 0
    assert b.run("return document.title") == "Agent platform console"
    errors = [m for m in b.log() if m["level"] == "SEVERE" and m["source"] != "network"]  # (the wrong key's 401)
    assert errors == []  # no CSP violation, no script error
    if os.environ.get("CONSOLE_SCREENSHOT"):
        b.screenshot(Path(os.environ["CONSOLE_SCREENSHOT"]))


def _submit(b: Browser, url: str, text: str) -> None:
    """Submit `text` to the content agent from the agents page (signing in first if this tab has no key)."""
    b.get(f"{url}/console/#/")
    if b.run("return sessionStorage.getItem('agent-platform.api-key')") is None:
        _sign_in(b, url)
    b.wait(lambda: b.find_all("//*[@aria-label='Agent content']", xpath=True), what="the agents page")
    b.click(b.find("//select[@id=//label[normalize-space()='Agent']/@for]/option[@value='content']", xpath=True))
    b.type(b.field("Task"), text)
    b.click(b.button("Submit"))
    b.wait(lambda: "#/tasks/content/content-" in b.url(), what="the task page")


def test_deny_and_the_model_is_told(server: str, browser: Browser) -> None:
    b = browser
    _submit(b, server, "Publish this note")
    deny = b.wait(lambda: b.find_all("//button[normalize-space()='Deny']", xpath=True), what="an approval card")
    b.type(b.find("//*[@id=//label[normalize-space()='Reason (optional)']/@for]", xpath=True), "not today")
    b.click(deny[0])
    b.wait(lambda: b.text(b.find(".state")) == "succeeded", what="the succeeded state")
    assert "publish_report denied by default: not today" in b.text(b.region("Events"))
    assert "the tool said:" in b.text(b.region("Answer"))


def test_cancel_a_running_task(server: str, browser: Browser) -> None:
    b = browser
    _submit(b, server, "Slow research")
    b.wait(lambda: "tool.started" in _event_types(b), what="the slow tool running")
    assert b.text(b.find(".state")) == "running"
    b.click(b.button("Cancel task"))
    b.wait(lambda: b.text(b.find(".state")) == "cancelled", what="the cancelled state")
    assert _event_types(b)[-1] == "task.cancelled" and "Cancelled" in b.text(b.region("Answer"))
    b.run("document.body.dataset.stale = 'yes'; location.reload()")  # a fresh page replays the stored events
    b.wait(lambda: not b.run("return document.body.dataset.stale") and _event_types(b)[-1:] == ["task.cancelled"],
           what="the replayed events")
    assert b.text(b.find(".state")) == "cancelled" and b.run("return arguments[0].disabled", b.button("Cancel task"))


def test_the_agents_page_lists_tasks_from_the_api(server: str, browser: Browser) -> None:
    """The per-agent list comes from GET /v1/agents/<agent>/tasks (newest first), not from this tab: a
    task submitted from another tab's session shows too, with its state as text, and links to its page."""
    b = browser
    _submit(b, server, "Slow research")
    task_url = b.url()
    task_id = task_url.rsplit("/", 1)[-1]
    b.run("sessionStorage.removeItem('agent-platform.recent-tasks'); location.hash = '#/'")
    tasks = "//*[@aria-label='Tasks of content']//li"
    b.wait(lambda: b.find_all(tasks, xpath=True), what="the content agent's task list")
    first = b.find_all(tasks, xpath=True)[0]
    assert task_id in b.text(first) and b.text(b.find(f"{tasks}//*[@class='state']", xpath=True)) in {
        "queued", "running"}
    b.click(b.find(f"{tasks}//a", xpath=True))
    b.wait(lambda: b.url() == task_url and b.find_all("//button[normalize-space()='Cancel task']", xpath=True),
           what="the task page from the list")
    b.click(b.button("Cancel task"))
    b.wait(lambda: b.text(b.find(".state")) == "cancelled", what="the cancelled state")
