"""The web console in real headless Chromium, driven by Playwright for Python, against a real local server
(uvicorn in a thread, SQLite store, in-process queue and worker, scripted model): sign in, submit a content
task whose publication needs approval, watch its events arrive live, approve, and read the answer; deny;
cancel; the per-agent task list; hostile text; a server restart mid-task; a phone-sized screen.

Controls are found the way a screen reader finds them, by role and accessible name (`API key`, `Agent`,
`Task`, `Session`, `Sign in`, `Submit`, `Approve`, `Deny`, `Cancel task`, the regions `Events` and `Answer`,
the state as text in a `status`), so these tests also check the names the console promises. Playwright's
locators wait for their element and `expect` retries its assertion: there is no sleep anywhere.

Chromium is Playwright's own when `playwright install chromium` could download it, else the system's
(Debian's `chromium`; `CHROMIUM` overrides the path). Without either the tests are skipped, and fail in CI
(`CI` set). Set CONSOLE_SCREENSHOT=<path.png> to keep the screenshot of the finished task (docs/console.png).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Dialog,
    Locator,
    Page,
    Playwright,
    Request,
    expect,
    sync_playwright,
)

from agent_runtime.agents import AgentSpec
from agent_runtime.server import create_platform
from agent_runtime.settings import Settings
from agent_runtime.task_run import AgentRuntime
from tests.api.support import API_KEY, CountingTool, ServerThread, free_port
from tests.fakes.scripted_model import ScriptedModel, call, final, tool_results

FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]
DESKTOP = {"width": 1100, "height": 900}
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}
HOSTILE = "<script>document.title='pwned'</script><img src=x onerror=alert(1)>"
TIDY = "Write a short post about blue/green deploys and publish it"
ANSWER = ("**Published** to `reports/blue-green.md`.\n\n# Blue/green deploys\n\n"
          "Run two identical environments and send traffic to one colour at a time. To release, deploy to the "
          "idle colour, test it, then switch the load balancer; to roll back, switch to the *previous* "
          "colour.\n\n- no downtime during a release\n- a rollback is one switch\n\n"
          "More in the [deployment guide](https://example.com/deploys).")
HOSTILE_ANSWER = (f"Found `{HOSTILE}`\n\n{HOSTILE} [a link](javascript:alert(1)) [docs](https://example.com/x) "
                  "<a href=\"javascript:alert(2)\">raw</a>")
SCRIPT = {"Write": [call("search_documents", {"text": "blue/green deploys"}), call("publish_report", {"text": "post"}),
                    final(ANSWER)],
          "Hostile": [call("search_documents", {"text": HOSTILE}), final(HOSTILE_ANSWER)],
          "Publish": [call("publish_report", {"text": "post"}), final(lambda m: f"the tool said: {tool_results(m)[-1]}")],
          "Slow": [call("search_documents", {"seconds": 30}), final("never")]}
BEFORE_APPROVAL = ["task.started", "model.turn", "tool.started", "tool.finished", "model.turn", "tool.started",
                   "approval.requested"]
AFTER_APPROVAL = ["approval.resolved", "tool.finished", "model.turn", "task.finished"]

expect.set_options(timeout=15_000)


def _tools() -> dict[str, CountingTool]:
    return {"search_documents": CountingTool("search_documents"),
            "publish_report": CountingTool("publish_report", sensitive=True)}


def _serve(data_dir: Path, tools: dict[str, CountingTool], port: int | None = None) -> ServerThread:
    def factory(spec: AgentSpec, settings: Settings) -> AgentRuntime:
        return AgentRuntime(spec, ScriptedModel(SCRIPT), tools)  # type: ignore[arg-type]

    settings = Settings(data_dir=data_dir, api_keys=API_KEY, store="sqlite", queue="local", agent=None)
    platform = create_platform(settings, runtime_factory=factory, heartbeat_s=0.3, poll_s=0.05)
    return ServerThread(platform.app, port=port)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with _serve(tmp_path_factory.mktemp("console-data"), _tools()) as running:
        yield running.url


def _launch(p: Playwright) -> Browser:
    """Playwright's own Chromium where it was installed, else the system's; skipped (failed in CI) if neither."""
    own = Path(p.chromium.executable_path)
    system = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    if "CHROMIUM" not in os.environ and own.exists():
        return p.chromium.launch(executable_path=own, args=FLAGS)  # (the full build, not only the headless shell)
    if Path(system).exists() or shutil.which(system):
        return p.chromium.launch(executable_path=shutil.which(system) or system, args=FLAGS)
    why = f"no Chromium: neither Playwright's ({own}) nor {system} (apt-get install -y chromium)"
    if os.environ.get("CI"):
        pytest.fail(f"browser tests must run in CI: {why}")
    pytest.skip(why)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        chromium = _launch(p)
        yield chromium
        chromium.close()


@dataclass
class Tab:
    """A page in a fresh context (its own session storage) and what the page reported: console errors (CSP
    violations among them), uncaught script errors and dialogs (an `alert` that injected markup ran)."""

    page: Page
    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)


def _open(browser: Browser, **context: Any) -> Iterator[Tab]:
    ctx = browser.new_context(**(context or {"viewport": DESKTOP}))
    page = ctx.new_page()
    tab = Tab(page)

    def console(message: ConsoleMessage) -> None:
        # Failed loads are expected (the wrong key's 401, a stopped server) and say nothing about the page.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            tab.errors.append(message.text)

    def dialog(opened: Dialog) -> None:
        tab.dialogs.append(opened.message)
        opened.dismiss()

    page.on("console", console)
    page.on("pageerror", lambda error: tab.errors.append(f"uncaught: {error}"))  # type: ignore[func-returns-value]
    page.on("dialog", dialog)
    page.add_init_script("document.addEventListener('securitypolicyviolation', (e) => "
                         "console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`))")
    try:
        yield tab
        assert tab.errors == [], "the browser logged errors (a CSP violation or a script error)"
        assert tab.dialogs == [], "a dialog opened: injected markup ran"
    finally:
        ctx.close()


@pytest.fixture
def tab(browser: Browser) -> Iterator[Tab]:
    yield from _open(browser)


@pytest.fixture
def phone(browser: Browser) -> Iterator[Tab]:
    yield from _open(browser, **PHONE)


def _timeline(page: Page) -> Locator:
    return page.get_by_role("region", name="Events").locator("ol.timeline > li")


def _types(page: Page) -> list[str]:
    return list(_timeline(page).evaluate_all("items => items.map(li => li.dataset.type)"))


def _state(page: Page) -> Locator:
    return page.get_by_role("status")


def _button(page: Page, name: str) -> Locator:
    return page.get_by_role("button", name=name, exact=True)


def _sign_in(page: Page, url: str, *, wrong_first: bool = False) -> None:
    page.goto(f"{url}/console")
    assert page.url == f"{url}/console/"  # /console redirects to the folder
    key = page.get_by_label("API key", exact=True)
    if wrong_first:
        key.fill("wrong-key")
        _button(page, "Sign in").click()
        expect(page.get_by_role("alert")).to_contain_text("the API key was not accepted (401)")
    key.fill(API_KEY)
    _button(page, "Sign in").click()
    expect(page.get_by_role("article", name="Agent content")).to_be_visible()


def _submit(page: Page, text: str) -> str:
    """Submit `text` to the content agent from the agents page; returns the task id from the task page's URL."""
    page.get_by_label("Agent", exact=True).select_option("content")
    page.get_by_label("Task", exact=True).fill(text)
    _button(page, "Submit").click()
    expect(page).to_have_url(re.compile(r"#/tasks/content/content-[0-9a-f]+$"))
    expect(_state(page)).to_be_visible()  # the task page is drawn (its route has finished loading)
    return page.url.rsplit("/", 1)[-1]


def _approve_the_publication(page: Page, reason: str) -> None:
    """On a content task waiting for its publication: check the timeline, approve, and see it succeed."""
    expect(_button(page, "Approve")).to_be_visible()
    expect(_button(page, "Deny")).to_be_visible()
    expect(_state(page)).to_have_text("waiting_approval")
    expect(_timeline(page)).to_have_count(len(BEFORE_APPROVAL))
    assert _types(page) == BEFORE_APPROVAL
    page.get_by_label("Reason (optional)", exact=True).fill(reason)
    _button(page, "Approve").click()
    expect(_state(page)).to_have_text("succeeded")  # same page, same stream
    expect(_timeline(page)).to_have_count(len(BEFORE_APPROVAL) + len(AFTER_APPROVAL))
    assert _types(page) == BEFORE_APPROVAL + AFTER_APPROVAL
    expect(page.get_by_role("region", name="Events")).to_contain_text(f"publish_report approved by default: {reason}")
    expect(_button(page, "Approve")).to_have_count(0)
    expect(_button(page, "Cancel task")).to_be_disabled()


def test_submit_watch_live_approve_and_read_the_answer(server: str, tab: Tab, tmp_path: Path) -> None:
    page = tab.page
    _sign_in(page, server, wrong_first=True)
    for name in ("Agent", "Task", "Session"):
        expect(page.get_by_label(name, exact=True)).to_be_editable()
    _submit(page, TIDY)
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
    _sign_in(page, server)
    _submit(page, f"Hostile input {HOSTILE} [x](javascript:alert(3))")
    expect(_state(page)).to_have_text("succeeded")
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
    _sign_in(page, server)
    _submit(page, "Publish this note")
    page.get_by_label("Reason (optional)", exact=True).fill("not today")
    _button(page, "Deny").click()
    expect(_state(page)).to_have_text("succeeded")
    expect(page.get_by_role("region", name="Events")).to_contain_text("publish_report denied by default: not today")
    expect(page.get_by_role("region", name="Answer")).to_contain_text("the tool said:")


def test_cancel_a_running_task_and_reopen_it(server: str, tab: Tab) -> None:
    page = tab.page
    _sign_in(page, server)
    _submit(page, "Slow research")
    expect(_timeline(page).last).to_have_attribute("data-type", "tool.started")  # the slow tool is running
    expect(_state(page)).to_have_text("running")
    _button(page, "Cancel task").click()
    expect(_state(page)).to_have_text("cancelled")
    expect(_timeline(page).last).to_have_attribute("data-type", "task.cancelled")
    expect(page.get_by_role("region", name="Answer")).to_contain_text("Cancelled")
    count = _timeline(page).count()
    page.reload()  # a fresh page replays the stored events
    expect(_state(page)).to_have_text("cancelled")
    expect(_timeline(page)).to_have_count(count)
    expect(_timeline(page).last).to_have_attribute("data-type", "task.cancelled")
    expect(_button(page, "Cancel task")).to_be_disabled()


def test_the_agents_page_lists_tasks_from_the_api(server: str, tab: Tab) -> None:
    """The per-agent list comes from GET /v1/agents/<agent>/tasks (newest first), not from this tab: a
    task submitted from another tab's session shows too, with its state as text, and links to its page."""
    page = tab.page
    _sign_in(page, server)
    task_id = _submit(page, "Slow research")
    task_url = page.url
    page.evaluate("sessionStorage.removeItem('agent-platform.recent-tasks'); location.hash = '#/'")
    first = page.get_by_role("region", name="Tasks of content").get_by_role("listitem").first
    expect(first).to_contain_text(task_id)
    assert first.locator(".state").text_content() in {"queued", "running"}
    first.get_by_role("link").first.click()
    expect(page).to_have_url(task_url)
    _button(page, "Cancel task").click()
    expect(_state(page)).to_have_text("cancelled")


def test_a_phone_screen_submits_and_approves(server: str, phone: Tab) -> None:
    """390x844 CSS pixels, touch: the same path works and nothing is wider than the screen."""
    page = phone.page
    _sign_in(page, server)
    _submit(page, TIDY)
    _approve_the_publication(page, "from my phone")
    expect(page.get_by_role("region", name="Answer").get_by_role("heading", name="Blue/green deploys")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scrolling


def test_reconnects_after_the_server_restarts_mid_task(tab: Tab, tmp_path: Path) -> None:
    """The server is stopped while the task waits for approval (open streams cut) and a new one started on
    the same port and database: the console reconnects with Last-Event-ID, the approval lands on the new
    server, and the timeline holds every stored event once, in order."""
    page, tools, port = tab.page, _tools(), free_port()
    cursors: list[str | None] = []

    def request(sent: Request) -> None:
        if sent.url.split("?")[0].endswith("/events"):
            cursors.append(sent.headers.get("last-event-id"))

    page.on("request", request)
    first = _serve(tmp_path / "data", tools, port).__enter__()
    try:
        _sign_in(page, first.url)
        task_id = _submit(page, TIDY)
        expect(_button(page, "Approve")).to_be_visible()
        expect(_timeline(page)).to_have_count(len(BEFORE_APPROVAL))
    finally:
        first.server.force_exit = True  # no grace period: the open stream is cut
        first.__exit__(None, None, None)
    stream = page.locator("dd", has_text="reconnecting")
    expect(stream).to_be_visible()
    with _serve(tmp_path / "data", tools, port) as second:
        expect(page.locator("dd", has_text="live")).to_be_visible()
        page.get_by_label("Reason (optional)", exact=True).fill("after the restart")
        _button(page, "Approve").click()
        expect(_state(page)).to_have_text("succeeded")
        r = httpx.get(f"{second.url}/v1/agents/content/tasks/{task_id}/events", params={"format": "json"},
                      headers={"Authorization": f"Bearer {API_KEY}"})
        stored = r.json()["events"]
        expect(_timeline(page)).to_have_count(len(stored))
    assert [e["seq"] for e in stored] == list(range(1, len(stored) + 1))
    assert _types(page) == [e["type"] for e in stored]  # none lost, none repeated
    assert stored[len(BEFORE_APPROVAL) - 1]["type"] == "approval.requested"
    assert cursors[0] is None and str(len(BEFORE_APPROVAL)) in cursors[1:]  # resumed after the last event seen
    assert len(tools["search_documents"].started(task_id)) == 1  # completed before the restart, not run again
    assert len(tools["publish_report"].started(task_id)) == 1
