"""The web console in real headless Chromium, driven by Playwright for Python, against a real local server
(uvicorn in a thread, SQLite store, in-process queue and worker, scripted model): sign in, submit a content
task whose publication needs approval, watch its events arrive live, approve, and read the answer; deny;
cancel; the per-agent task list; hostile text; a server restart mid-task; a phone-sized screen.

Controls are found the way a screen reader finds them, by role and accessible name (`API key`, `Agent`,
`Task`, `Session`, `Sign in`, `Submit`, `Approve`, `Deny`, `Cancel task`, the regions `Events` and `Answer`,
the state as text in a `status`), so these tests also check the names the console promises. Playwright's
locators wait for their element and `expect` retries its assertion: there is no sleep anywhere.

The browser and the shared steps are in `support.py` and `conftest.py`. Set CONSOLE_SCREENSHOT=<path.png> to keep the screenshot of the finished task (docs/console.png).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, Request, expect

from tests.api.support import free_port
from tests.console.support import (
    AFTER_APPROVAL,
    API_KEY,
    BEFORE_APPROVAL,
    HOSTILE,
    TIDY,
    Tab,
    button,
    scenario_tools,
    serve_scripted,
    sign_in,
    state,
    submit,
    timeline,
    types,
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serve_scripted(tmp_path_factory.mktemp("console-data"), scenario_tools()) as running:
        yield running.url


def _approve_the_publication(page: Page, reason: str) -> None:
    """On a content task waiting for its publication: check the timeline, approve, and see it succeed."""
    expect(button(page, "Approve")).to_be_visible()
    expect(button(page, "Deny")).to_be_visible()
    expect(state(page)).to_have_text("waiting_approval")
    expect(timeline(page)).to_have_count(len(BEFORE_APPROVAL))
    assert types(page) == BEFORE_APPROVAL
    page.get_by_label("Reason (optional)", exact=True).fill(reason)
    button(page, "Approve").click()
    expect(state(page)).to_have_text("succeeded")  # same page, same stream
    expect(timeline(page)).to_have_count(len(BEFORE_APPROVAL) + len(AFTER_APPROVAL))
    assert types(page) == BEFORE_APPROVAL + AFTER_APPROVAL
    expect(page.get_by_role("region", name="Events")).to_contain_text(f"publish_report approved by default: {reason}")
    expect(button(page, "Approve")).to_have_count(0)
    expect(button(page, "Cancel task")).to_be_disabled()


def test_submit_watch_live_approve_and_read_the_answer(server: str, tab: Tab, tmp_path: Path) -> None:
    page = tab.page
    sign_in(page, server, wrong_first=True)
    for name in ("Agent", "Task", "Session"):
        expect(page.get_by_label(name, exact=True)).to_be_editable()
    submit(page, TIDY)
    _approve_the_publication(page, "looks good")

    answer = page.get_by_role("region", name="Answer")
    expect(answer.get_by_role("heading", name="Blue/green deploys")).to_be_visible()
    expect(answer.locator("strong").first).to_have_text("Published")
    expect(answer.get_by_role("link", name="deployment guide")).to_have_attribute("href", "https://example.com/deploys")
    expect(answer.get_by_role("listitem")).to_have_count(2)
    expect(answer).to_contain_text("Cost $0.0030")
    assert page.title() == "Agent platform console"
    page.screenshot(path=tmp_path / "console.png", full_page=True)  # always taken, so it cannot rot
    if os.environ.get("CONSOLE_SCREENSHOT"):
        shutil.copyfile(tmp_path / "console.png", os.environ["CONSOLE_SCREENSHOT"])


def test_hostile_text_in_the_input_tool_results_and_answer_shows_as_text(server: str, tab: Tab) -> None:
    page = tab.page
    sign_in(page, server)
    submit(page, f"Hostile input {HOSTILE} [x](javascript:alert(3))")
    expect(state(page)).to_have_text("succeeded")
    expect(page.get_by_label("Task input")).to_contain_text(f"Hostile input {HOSTILE}")
    events = page.get_by_role("region", name="Events")
    assert (events.text_content() or "").count(HOSTILE) >= 2  # (tool arguments and result, as text)
    answer = page.get_by_role("region", name="Answer")
    expect(answer).to_contain_text(HOSTILE)
    expect(answer).to_contain_text("<a href=\"javascript:alert(2)\">raw</a>")
    expect(answer.get_by_role("link")).to_have_count(1)  # only the https: one
    expect(answer.get_by_role("link")).to_have_attribute("href", "https://example.com/x")
    assert page.locator("main script, main img, main [onerror]").count() == 0
    assert page.title() == "Agent platform console"  # the <script> did not run; no alert either (the fixture)
    page.goto(f"{server}/console/#/")  # the agents page lists the input as text too
    tasks = page.get_by_role("region", name="Tasks of content")
    expect(tasks.get_by_role("listitem").first).to_contain_text("Hostile input <script>")
    assert page.locator("main script, main img").count() == 0


def test_deny_and_the_model_is_told(server: str, tab: Tab) -> None:
    page = tab.page
    sign_in(page, server)
    submit(page, "Publish this note")
    page.get_by_label("Reason (optional)", exact=True).fill("not today")
    button(page, "Deny").click()
    expect(state(page)).to_have_text("succeeded")
    expect(page.get_by_role("region", name="Events")).to_contain_text("publish_report denied by default: not today")
    expect(page.get_by_role("region", name="Answer")).to_contain_text("the tool said:")


def test_cancel_a_running_task_and_reopen_it(server: str, tab: Tab) -> None:
    page = tab.page
    sign_in(page, server)
    submit(page, "Slow research")
    expect(timeline(page).last).to_have_attribute("data-type", "tool.started")  # the slow tool is running
    expect(state(page)).to_have_text("running")
    button(page, "Cancel task").click()
    expect(state(page)).to_have_text("cancelled")
    expect(timeline(page).last).to_have_attribute("data-type", "task.cancelled")
    expect(page.get_by_role("region", name="Answer")).to_contain_text("Cancelled")
    count = timeline(page).count()
    page.reload()  # a fresh page replays the stored events
    expect(state(page)).to_have_text("cancelled")
    expect(timeline(page)).to_have_count(count)
    expect(timeline(page).last).to_have_attribute("data-type", "task.cancelled")
    expect(button(page, "Cancel task")).to_be_disabled()


def test_the_agents_page_lists_tasks_from_the_api(server: str, tab: Tab) -> None:
    """The per-agent list comes from GET /v1/agents/<agent>/tasks (newest first), not from this tab: a
    task submitted from another tab's session shows too, with its state as text, and links to its page."""
    page = tab.page
    sign_in(page, server)
    task_id = submit(page, "Slow research")
    task_url = page.url
    page.evaluate("sessionStorage.removeItem('agent-platform.recent-tasks'); location.hash = '#/'")
    first = page.get_by_role("region", name="Tasks of content").get_by_role("listitem").first
    expect(first).to_contain_text(task_id)
    assert first.locator(".state").text_content() in {"queued", "running"}
    first.get_by_role("link").first.click()
    expect(page).to_have_url(task_url)
    button(page, "Cancel task").click()
    expect(state(page)).to_have_text("cancelled")


def test_a_phone_screen_submits_and_approves(server: str, phone: Tab) -> None:
    """390x844 CSS pixels, touch: the same path works and nothing is wider than the screen."""
    page = phone.page
    sign_in(page, server)
    submit(page, TIDY)
    _approve_the_publication(page, "from my phone")
    expect(page.get_by_role("region", name="Answer").get_by_role("heading", name="Blue/green deploys")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scrolling


def test_reconnects_after_the_server_restarts_mid_task(tab: Tab, tmp_path: Path) -> None:
    """The server is stopped while the task waits for approval (open streams cut) and a new one started on
    the same port and database: the console reconnects with Last-Event-ID, the approval lands on the new
    server, and the timeline holds every stored event once, in order."""
    page, tools, port = tab.page, scenario_tools(), free_port()
    cursors: list[str | None] = []

    def request(sent: Request) -> None:
        if sent.url.split("?")[0].endswith("/events"):
            cursors.append(sent.headers.get("last-event-id"))

    page.on("request", request)
    first = serve_scripted(tmp_path / "data", tools, port).__enter__()
    try:
        sign_in(page, first.url)
        task_id = submit(page, TIDY)
        expect(button(page, "Approve")).to_be_visible()
        expect(timeline(page)).to_have_count(len(BEFORE_APPROVAL))
    finally:
        first.server.force_exit = True  # no grace period: the open stream is cut
        first.__exit__(None, None, None)
    stream = page.locator("dd", has_text="reconnecting")
    expect(stream).to_be_visible()
    with serve_scripted(tmp_path / "data", tools, port) as second:
        expect(page.locator("dd", has_text="live")).to_be_visible()
        page.get_by_label("Reason (optional)", exact=True).fill("after the restart")
        button(page, "Approve").click()
        expect(state(page)).to_have_text("succeeded")
        r = httpx.get(f"{second.url}/v1/agents/content/tasks/{task_id}/events", params={"format": "json"},
                      headers={"Authorization": f"Bearer {API_KEY}"})
        stored = r.json()["events"]
        expect(timeline(page)).to_have_count(len(stored))
    assert [e["seq"] for e in stored] == list(range(1, len(stored) + 1))
    assert types(page) == [e["type"] for e in stored]  # none lost, none repeated
    assert stored[len(BEFORE_APPROVAL) - 1]["type"] == "approval.requested"
    assert cursors[0] is None and str(len(BEFORE_APPROVAL)) in cursors[1:]  # resumed after the last event seen
    assert len(tools["search_documents"].started(task_id)) == 1  # completed before the restart, not run again
    assert len(tools["publish_report"].started(task_id)) == 1
