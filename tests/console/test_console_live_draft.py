"""The live answer in the browser: a server whose model is `OpenAIModel` against the fake Chat Completions
server, which streams its answer slowly (`chunk_delay_s` between pieces, as a model writing). A model call
streams when someone follows the task as it begins, so the first step's tool call waits until the page
follows the task; then the answer is written. While the model writes, the console's Answer region shows the text received so far as a plain-text draft, growing,
with the task `running` and nothing in the timeline for the deltas; when the step's `model.turn` arrives,
the draft goes and the answer is rendered from Markdown."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from agent_runtime.agents import AgentSpec
from agent_runtime.models.openai_model import OpenAIModel
from agent_runtime.server import create_platform
from agent_runtime.settings import Settings
from agent_runtime.task_run import AgentRuntime
from tests.api.support import CountingTool, ServerThread
from tests.console.support import API_KEY, Tab, sign_in, state, submit, types
from tests.fakes.openai_server import FakeOpenAIServer, call, say, use_tools

ANSWER = ("# Canary releases\n\nSend a small share of the traffic to the new version first, watch its error rate "
          "and latency, then widen the share step by step; roll back by sending the share back to zero.\n\n"
          "- **small blast radius** when the release is bad\n- real traffic tests the release")


@pytest.fixture(scope="module")
def gate() -> threading.Event:
    return threading.Event()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, module_fake_openai: FakeOpenAIServer, gate: threading.Event) -> Iterator[str]:
    tools = {"search_documents": CountingTool("search_documents", gate=gate),
             "publish_report": CountingTool("publish_report", sensitive=True)}

    def factory(spec: AgentSpec, settings: Settings) -> AgentRuntime:
        return AgentRuntime(spec, OpenAIModel("gpt-4o-mini", base_url=module_fake_openai.base_url), tools)  # type: ignore[arg-type]

    settings = Settings(data_dir=Path(tmp_path_factory.mktemp("live-draft")), api_keys=API_KEY, store="sqlite",
                        queue="local", agent=None)
    with ServerThread(create_platform(settings, runtime_factory=factory, heartbeat_s=0.3, poll_s=0.05).app) as s:
        yield s.url


def _draft_text(page: Page) -> str:
    return page.get_by_role("region", name="Answer").locator(".draft").text_content() or ""


def test_the_answer_is_drafted_as_the_model_writes_it_then_rendered(
        server: str, module_fake_openai: FakeOpenAIServer, gate: threading.Event, tab: Tab) -> None:
    module_fake_openai.script(use_tools(call("search_documents", {"text": "canary releases"})),
                say(ANSWER, chunk_delay_s=0.08))  # about 40 pieces: 3 s of writing
    page = tab.page
    sign_in(page, server)
    submit(page, "Write a short note on canary releases")
    expect(state(page)).to_have_text("running")  # the page follows the task: the search may end
    gate.set()
    answer = page.get_by_role("region", name="Answer")
    draft = answer.locator(".draft")

    expect(draft).to_contain_text("# Canary releases")  # as plain text: Markdown is rendered only at the end
    early = _draft_text(page)
    expect(draft).to_contain_text("widen the share")  # it grows ...
    later = _draft_text(page)
    assert ANSWER.startswith(early) and ANSWER.startswith(later) and len(early) < len(later) < len(ANSWER)
    assert answer.get_by_role("heading", name="Canary releases").count() == 0 and "model.delta" not in types(page)

    expect(state(page)).to_have_text("succeeded")  # ... until the turn arrives: then the rendered answer
    expect(draft).to_be_empty()
    expect(answer.get_by_role("heading", name="Canary releases")).to_be_visible()
    expect(answer.locator("strong")).to_have_text("small blast radius")
    assert types(page) == ["task.started", "model.turn", "tool.started", "tool.finished", "model.turn",
                           "task.finished"]
    assert module_fake_openai.chat_requests[-1]["stream"] is True
