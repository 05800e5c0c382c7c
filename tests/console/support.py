"""What the console's browser tests share: the browser (Playwright's own Chromium, else the system's), a tab
that fails its test on a console error, a CSP violation or a dialog, and the steps every scenario takes
(sign in, submit, read the state and the timeline). Controls are found by role and accessible name."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Dialog, Locator, Page, Playwright, expect

from agent_runtime.agents import AgentSpec
from agent_runtime.server import create_platform
from agent_runtime.settings import Settings
from agent_runtime.task_run import AgentRuntime
from tests.api.support import API_KEY, CountingTool, ServerThread
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


def scenario_tools() -> dict[str, CountingTool]:
    """The content agent's tools in the scripted scenario (publication needs approval)."""
    return {"search_documents": CountingTool("search_documents"),
            "publish_report": CountingTool("publish_report", sensitive=True)}


def serve_scripted(data_dir: Path, tools: dict[str, CountingTool], port: int | None = None) -> ServerThread:
    """A real local server (uvicorn thread, SQLite, in-process queue and worker) whose model plays `SCRIPT`."""

    def factory(spec: AgentSpec, settings: Settings) -> AgentRuntime:
        return AgentRuntime(spec, ScriptedModel(SCRIPT), tools)  # type: ignore[arg-type]

    settings = Settings(data_dir=data_dir, api_keys=API_KEY, store="sqlite", queue="local", agent=None)
    platform = create_platform(settings, runtime_factory=factory, heartbeat_s=0.3, poll_s=0.05)
    return ServerThread(platform.app, port=port)


expect.set_options(timeout=15_000)


def launch(p: Playwright) -> Browser:
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


@dataclass
class Tab:
    """A page in a fresh context (its own session storage) and what the page reported: console errors (CSP
    violations among them), uncaught script errors and dialogs (an `alert` that injected markup ran)."""

    page: Page
    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)


def open_tab(browser: Browser, **context: Any) -> Iterator[Tab]:
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


def timeline(page: Page) -> Locator:
    return page.get_by_role("region", name="Events").locator("ol.timeline > li")


def types(page: Page) -> list[str]:
    return list(timeline(page).evaluate_all("items => items.map(li => li.dataset.type)"))


def state(page: Page) -> Locator:
    return page.get_by_role("status")


def button(page: Page, name: str) -> Locator:
    return page.get_by_role("button", name=name, exact=True)


def sign_in(page: Page, url: str, *, wrong_first: bool = False) -> None:
    page.goto(f"{url}/console")
    assert page.url == f"{url}/console/"  # /console redirects to the folder
    key = page.get_by_label("API key", exact=True)
    if wrong_first:
        key.fill("wrong-key")
        button(page, "Sign in").click()
        expect(page.get_by_role("alert")).to_contain_text("the API key was not accepted (401)")
    key.fill(API_KEY)
    button(page, "Sign in").click()
    expect(page.get_by_role("article", name="Agent content")).to_be_visible()


def submit(page: Page, text: str) -> str:
    """Submit `text` to the content agent from the agents page; returns the task id from the task page's URL."""
    page.get_by_label("Agent", exact=True).select_option("content")
    page.get_by_label("Task", exact=True).fill(text)
    button(page, "Submit").click()
    expect(page).to_have_url(re.compile(r"#/tasks/content/content-[0-9a-f]+$"))
    expect(state(page)).to_be_visible()  # the task page is drawn (its route has finished loading)
    return page.url.rsplit("/", 1)[-1]
