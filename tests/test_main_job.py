"""The main job (`make run`): the research agent, offline, over the built-in corpus of Python's standard
library documentation, writes a report that cites documents that exist and quotes what they say."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent_runtime.agents import get_agent
from agent_runtime.cli import app
from agent_runtime.corpus import ensure_corpus
from agent_runtime.loop import Agent
from agent_runtime.models.offline import OFFLINE_NOTE, OfflineModel
from agent_runtime.settings import load_settings
from agent_runtime.tools import build_tools
from lambda_tools.backends import FolderDocuments

# The Makefile's default task.
TASK = ("How do asyncio tasks, event loops and coroutines fit together, and how do I run blocking code "
        "without stalling the loop?")


@pytest.fixture(scope="module")
def builtin_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cache") / "corpus" / "python"
    ensure_corpus(root)
    return root


def _normal(text: str) -> str:
    return " ".join(text.split())


def test_the_builtin_corpus_holds_the_standard_library_docs(builtin_corpus: Path) -> None:
    docs = FolderDocuments(builtin_corpus)
    ids = {d.id for d in docs.iter_text_documents()}
    assert len(ids) > 250
    for expected in ("library/asyncio.tasks", "library/concurrent.futures", "library/json", "library/sqlite3",
                     "library/pathlib", "reference/async"):
        assert expected in ids
    assert "create_task(coro" in docs.get("library/asyncio.tasks").text
    assert not ensure_corpus(builtin_corpus).built  # reused, not rebuilt


async def test_research_on_the_builtin_corpus_writes_a_cited_report(builtin_corpus: Path, tmp_path: Path) -> None:
    spec = get_agent("research")
    tools = build_tools(spec.tools, load_settings(), docs_dir=builtin_corpus, data_dir=tmp_path)
    result = await Agent(spec, OfflineModel(spec), tools).run(TASK)

    assert result.status == "succeeded", result.error
    answer = result.answer or ""
    assert answer.startswith(OFFLINE_NOTE)
    docs = FolderDocuments(builtin_corpus)
    cited = set(re.findall(r"\[((?:library|reference)/[\w.\-]+)\]", answer))
    assert len({c for c in cited if c.startswith("library/asyncio")}) >= 3
    for doc_id in cited:
        docs.get(doc_id)  # raises NotFound for an id that does not exist

    read = re.findall(r"^### \d+\. (.+) \[([\w./\-]+)\]$", answer, re.M)
    assert len(read) >= 2
    for title, doc_id in read:
        doc = docs.get(doc_id)
        assert _normal(title) == _normal(doc.title)[: len(_normal(title))]
    # Every API entry quoted under a document is really in that document.
    entries = re.findall(r"^- `(?:async )?(\w+)\(.*?`.*\[([\w./\-]+)\]$", answer, re.M)
    assert entries
    for name, doc_id in entries:
        assert f"{name}(" in docs.get(doc_id).text
    assert "create_task" in answer and "event loop" in answer


def test_make_run_prints_progress_and_a_cited_report(builtin_corpus: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AGENT_PLATFORM_DOCS_DIR", raising=False)
    monkeypatch.setenv("AGENT_PLATFORM_CORPUS_DIR", str(builtin_corpus))
    result = CliRunner().invoke(app, ["run", "research", TASK])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Building the built-in corpus" not in out  # built once, reused
    for expected in ("model offline", "Step 1", "search_documents", "fetch_document", "Answer",
                     "Produced offline by the deterministic planner", "[library/asyncio.tasks]", "Sources"):
        assert expected in out
