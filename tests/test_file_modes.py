"""Data at rest: with a permissive umask (022) every folder and file the platform creates under its data
directory (the task database and its -wal/-shm, the generated API key, the sessions database, published
reports, a corpus with its search index) is private to the user: 0700 folders, 0600 files."""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent_runtime.corpus.cache import ensure_corpus
from agent_runtime.events import TaskFinished, Usage
from agent_runtime.server import create_platform
from agent_runtime.settings import Settings
from agent_runtime.store.base import TaskRecord
from agent_runtime.store.sqlite import SQLiteSessionMemory
from agent_runtime.tools import build_tools
from lambda_tools.private_files import private_dir, write_private_text


@pytest.fixture
def umask_022() -> Iterator[None]:
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def _open_to_others(root: Path) -> list[str]:
    """Paths under `root` (and root itself) that grant any permission to group or others."""
    found = []
    for path in [root, *root.rglob("*")]:
        if stat.S_IMODE(path.lstat().st_mode) & 0o077:
            found.append(f"{path.relative_to(root.parent)} {oct(stat.S_IMODE(path.lstat().st_mode))}")
    return found


async def _use_everything(data_dir: Path) -> list[str]:
    """Write through every local part; returns what was open to others while the database was open
    (its -wal and -shm files exist only then)."""
    platform = create_platform(Settings(data_dir=data_dir, store="sqlite", queue="local", agent="content"))
    store = platform.store
    try:
        await store.create_task(TaskRecord(task_id="content-t1", agent="content", input="hello"))
        await store.finish_task("content-t1", TaskFinished(
            task_id="content-t1", seq=1, ts=1.0, answer="hi", steps=1, usage=Usage(), cost_usd=0.0,
            stop_reason="final_answer"))
        await store.append("content/s1", [{"role": "user", "content": "hello"}])
        assert {"platform.db-wal", "platform.db-shm"} <= set(os.listdir(data_dir))
        while_open = _open_to_others(data_dir)
    finally:
        await store.close()
    memory = SQLiteSessionMemory(data_dir / "sessions.sqlite3")
    await memory.append("s1", [{"role": "user", "content": "hello"}])
    await memory.close()
    tools = build_tools(["publish_report"], Settings(data_dir=data_dir), data_dir=data_dir)
    report = tools["publish_report"].spec.input_model.model_validate(
        {"title": "Quarterly", "markdown": "# Quarterly\n\nAll good."})
    await tools["publish_report"].invoke(report, task_id="content-t1", call_id="call_1")
    return while_open


def test_everything_under_the_data_dir_is_private_with_umask_022(tmp_path: Path, umask_022: None) -> None:
    data_dir = tmp_path / "data" / "nested"  # parents are created too
    assert asyncio.run(_use_everything(data_dir)) == []
    ensure_corpus(data_dir / "corpus", modules=("json",))
    names = {p.name for p in data_dir.rglob("*")}
    assert {"platform.db", "api-key", "sessions.sqlite3", "reports", "corpus"} <= names
    assert any(n.endswith(".md") for n in names), names
    assert any(n.endswith(".json") for n in names) and any(n.endswith(".txt") for n in names), names
    assert _open_to_others(tmp_path / "data") == []


def test_helpers_set_modes_explicitly_and_leave_existing_folders_alone(tmp_path: Path, umask_022: None) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    os.chmod(shared, 0o755)
    private_dir(shared / "a" / "b")
    write_private_text(shared / "a" / "b" / "f.txt", "x")
    assert stat.S_IMODE(shared.stat().st_mode) == 0o755  # not ours to change
    assert _open_to_others(shared / "a") == []
