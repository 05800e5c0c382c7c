"""search_documents: BM25 ranking, snippets, filters, the stored index and ingest (folder and S3)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from lambda_tools.backends import Document, FolderDocuments, S3Documents
from lambda_tools.common import ToolFailure
from lambda_tools.search_documents.index import SearchIndex, build_index, clear_cache, get_index, snippet
from lambda_tools.search_documents.ingest import ingest
from lambda_tools.search_documents.tool import SearchDocumentsInput, run
from lambda_tools.spec import ToolContext


def search(ctx: ToolContext, query: str, **kwargs) -> list[dict]:
    return run(SearchDocumentsInput(query=query, **kwargs), ctx)["results"]


def test_best_answer_ranks_first(ctx: ToolContext) -> None:
    results = search(ctx, "How do I run blocking code without stalling the event loop?")
    assert results[0]["id"] == "asyncio/blocking"
    assert results[0]["title"] == "Running blocking code"
    assert [r["score"] for r in results] == sorted((r["score"] for r in results), reverse=True)


def test_unrelated_topic_is_found_and_asyncio_docs_are_not(ctx: ToolContext) -> None:
    results = search(ctx, "sourdough bread crust")
    assert [r["id"] for r in results] == ["cooking/sourdough"]


def test_rare_term_outweighs_common_term(ctx: ToolContext) -> None:
    # "loop" appears in three documents, "interpreter" in one: the GIL page must win.
    results = search(ctx, "loop interpreter")
    assert results[0]["id"] == "python/gil"


def test_case_punctuation_and_plurals_do_not_matter(ctx: ToolContext) -> None:
    assert search(ctx, "COROUTINES!!!")[0]["id"] == search(ctx, "coroutine")[0]["id"] == "asyncio/tasks"


def test_limit_and_filters(ctx: ToolContext) -> None:
    assert len(search(ctx, "event loop tasks", limit=2)) == 2
    only_python = search(ctx, "thread", filters={"id_prefix": "python/"})
    assert [r["id"] for r in only_python] == ["python/gil"]
    by_title = search(ctx, "loop", filters={"title_contains": "EVENT LOOP"})
    assert [r["id"] for r in by_title] == ["asyncio/event-loop"]


def test_unknown_filter_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown filter"):
        SearchDocumentsInput(query="x", filters={"author": "me"})


def test_stop_word_only_query_gets_a_clear_error(ctx: ToolContext) -> None:
    with pytest.raises(ToolFailure, match="no searchable words"):
        search(ctx, "the and of")


def test_snippet_is_around_the_best_match() -> None:
    text = ("filler words here " * 40) + "the dutch oven bakes a crisp crust " + ("more filler text " * 40)
    result = snippet(text, {"crust", "oven"})
    assert "crisp crust" in result and len(result) <= 250
    assert result.startswith("...") and result.endswith("...")


def test_index_round_trips_through_json(tmp_path: Path) -> None:
    docs = [Document("a", "Alpha", "apples and pears", ".txt"), Document("b", "Beta", "pears only", ".txt")]
    index = build_index(docs, signature="sig")
    index.save(tmp_path / "index.json")
    loaded = SearchIndex.load(tmp_path / "index.json")
    assert loaded.search("pears apples") == index.search("pears apples")
    assert json.loads((tmp_path / "index.json").read_text())["format"] == 1


def test_index_is_cached_per_process_and_rebuilt_when_the_corpus_changes(corpus_dir: Path) -> None:
    source = FolderDocuments(corpus_dir)
    first = get_index(source)
    assert get_index(source) is first
    (corpus_dir / "new.md").write_text("# Kubernetes pods\n\nPods schedule containers.")
    os.utime(corpus_dir / "new.md", ns=(1, 1))
    source._version = None  # skip the re-check throttle
    assert get_index(source) is not first
    assert get_index(source).search("kubernetes")[0]["id"] == "new"


def test_ingest_writes_an_index_that_is_used(corpus_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    summary = ingest(corpus_dir)
    assert summary["documents"] == 5 and Path(summary["index_path"]).is_file()
    clear_cache()
    built: list[int] = []
    monkeypatch.setattr("lambda_tools.search_documents.index.build_index", lambda *a, **k: built.append(1))
    index = get_index(FolderDocuments(corpus_dir))
    assert not built and len(index) == 5


def test_ingest_uploads_documents_and_index_to_s3(corpus_dir: Path, aws) -> None:
    summary = ingest(corpus_dir, bucket=aws.documents_bucket, prefix="docs", s3_client=aws.s3)
    assert summary["uploaded"] == 6  # five text documents and the CSV
    keys = {o["Key"] for o in aws.s3.list_objects_v2(Bucket=aws.documents_bucket)["Contents"]}
    assert "docs/asyncio/blocking.md" in keys and "docs/data/sales.csv" in keys
    assert "docs/_index/search-index.json" in keys
    source = S3Documents(bucket=aws.documents_bucket, prefix="docs/", client=aws.s3)
    results = run(SearchDocumentsInput(query="blocking thread"), ToolContext(documents=source))["results"]
    assert results[0]["id"] == "asyncio/blocking"


def test_s3_corpus_without_index_is_indexed_from_the_objects(aws) -> None:
    aws.s3.put_object(Bucket=aws.documents_bucket, Key="documents/a.md", Body=b"# Alpha\n\nQuantum tunnelling.")
    aws.s3.put_object(Bucket=aws.documents_bucket, Key="documents/b.txt", Body=b"Beta\nClassical mechanics.")
    source = S3Documents(bucket=aws.documents_bucket, client=aws.s3)
    results = run(SearchDocumentsInput(query="quantum"), ToolContext(documents=source))["results"]
    assert [r["id"] for r in results] == ["a"]


def test_without_a_corpus_the_error_says_so() -> None:
    with pytest.raises(ToolFailure, match="no document corpus"):
        run(SearchDocumentsInput(query="x"), ToolContext())
