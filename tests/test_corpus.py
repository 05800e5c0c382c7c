"""The built-in corpus: pydoc-rendered stdlib documents, built once into a cache folder and reused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent_runtime.corpus import MARKER, MAX_DOCUMENT_CHARS, corpus_is_current, ensure_corpus
from lambda_tools.backends import FolderDocuments
from lambda_tools.search_documents.index import clear_cache, get_index

SMALL = ("json", "asyncio", "asyncio.tasks", "collections")


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cache") / "corpus"
    ensure_corpus(root, modules=SMALL)
    return root


def test_modules_become_documents_with_an_id_and_a_title_line(small_corpus: Path) -> None:
    docs = FolderDocuments(small_corpus)
    doc = docs.get("library/json")
    assert doc.title.startswith("json — JSON (JavaScript Object Notation)")
    module = " ".join(d.text for d in docs.iter_text_documents() if d.id.startswith("library/json"))
    assert "dumps(obj" in module and "loads(s" in module  # split in parts when large, nothing lost
    assert "/lib/python" not in module  # no machine-specific FILE section
    topic = docs.get("reference/async")
    assert topic.title.startswith("Coroutines") and "async def" in topic.text


def test_large_classes_get_their_own_documents_without_inherited_noise(small_corpus: Path) -> None:
    docs = FolderDocuments(small_corpus)
    counter = docs.get("library/collections.Counter")
    assert counter.title.startswith("collections.Counter — Dict subclass for counting hashable items")
    assert "most_common(self, n=None)" in counter.text
    assert "library/collections.Counter" in docs.get("library/collections").text  # the module points to it
    texts = [d.text for d in docs.iter_text_documents()]
    assert not any("inherited from" in t or "Method resolution order" in t for t in texts)
    assert max(len(t) for t in texts if "reference/" not in t) <= 2 * MAX_DOCUMENT_CHARS


def test_a_package_points_to_the_submodule_that_documents_a_name(small_corpus: Path) -> None:
    package = FolderDocuments(small_corpus).get("library/asyncio").text
    assert "library/asyncio.tasks\n" in package
    assert "class Task(" not in package  # documented once, in asyncio.tasks
    assert "create_task(coro" in FolderDocuments(small_corpus).get("library/asyncio.tasks").text


def test_the_corpus_is_indexed_for_search(small_corpus: Path) -> None:
    clear_cache()
    source = FolderDocuments(small_corpus)
    assert source.load_index() is not None  # the stored index is current: no rebuild on first search
    hits = get_index(source).search("decode JSON document", limit=3)
    assert hits[0]["id"].startswith("library/json")


def test_a_current_corpus_is_reused_and_a_stale_one_rebuilt(tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    first = ensure_corpus(root, modules=("textwrap",))
    assert first.built and first.documents > 1 and corpus_is_current(root, ("textwrap",))
    marker = json.loads((root / MARKER).read_text())
    assert marker["modules"] == ["textwrap"] and marker["python"]

    again = ensure_corpus(root, modules=("textwrap",))
    assert not again.built

    changed = ensure_corpus(root, modules=("textwrap", "fnmatch"))
    assert changed.built and (root / "library" / "fnmatch.txt").is_file()
    assert not list(tmp_path.glob("corpus.*"))  # no staging or retired folders left behind


def test_a_module_that_cannot_be_imported_is_skipped_and_recorded(tmp_path: Path) -> None:
    built = ensure_corpus(tmp_path / "c", modules=("textwrap", "no_such_module_xyz"))
    assert "no_such_module_xyz" in built.skipped
    assert (tmp_path / "c" / "library" / "textwrap.txt").is_file()
