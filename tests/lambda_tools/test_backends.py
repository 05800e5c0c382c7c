"""Document backends: a document id reaches only what the corpus serves (no links out, no left-out folders)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lambda_tools import lambda_handler
from lambda_tools.backends import FolderDocuments, S3Documents, is_left_out
from lambda_tools.common import NotFound, Refused
from lambda_tools.search_documents.ingest import ingest


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder next to the corpus, with a file nobody may read through the corpus."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "secret.md").write_text("# Secret\n\nOUTSIDE-SECRET\n", encoding="utf-8")
    return folder


def _docs(corpus_dir: Path) -> FolderDocuments:
    return FolderDocuments(corpus_dir)


def test_a_file_symlink_out_of_the_folder_is_refused(corpus_dir: Path, outside: Path) -> None:
    (corpus_dir / "leak.md").symlink_to(outside / "secret.md")
    with pytest.raises(Refused, match="outside the document folder"):
        _docs(corpus_dir).get("leak")


def test_a_symlinked_directory_out_of_the_folder_is_refused(corpus_dir: Path, outside: Path) -> None:
    (corpus_dir / "shared").symlink_to(outside, target_is_directory=True)
    with pytest.raises(Refused):
        _docs(corpus_dir).get("shared/secret")


def test_a_symlink_to_the_file_system_root_is_refused(corpus_dir: Path, outside: Path) -> None:
    (corpus_dir / "root").symlink_to("/", target_is_directory=True)
    doc_id = "root/" + (outside / "secret").as_posix().lstrip("/")
    with pytest.raises(Refused):
        _docs(corpus_dir).get(doc_id)


def test_a_link_into_a_left_out_folder_is_refused(corpus_dir: Path) -> None:
    private = corpus_dir / "_private"
    private.mkdir()
    (private / "salaries.md").write_text("# Salaries\n\nPRIVATE-SALARIES\n", encoding="utf-8")
    (corpus_dir / "public").symlink_to(private, target_is_directory=True)
    with pytest.raises(Refused):
        _docs(corpus_dir).get("public/salaries")


def test_links_inside_the_folder_still_work(corpus_dir: Path) -> None:
    (corpus_dir / "latest.md").symlink_to(corpus_dir / "asyncio" / "tasks.md")
    assert _docs(corpus_dir).get("latest").title == "Asyncio tasks and coroutines"


@pytest.mark.parametrize("doc_id", ["../outside/secret", "asyncio/../../outside/secret", "/etc/passwd", "a//b"])
def test_dot_dot_and_absolute_ids_are_refused(corpus_dir: Path, outside: Path, doc_id: str) -> None:
    with pytest.raises(NotFound, match="invalid document id"):
        _docs(corpus_dir).get(doc_id)


def test_a_private_document_is_not_served(corpus_dir: Path) -> None:
    (corpus_dir / "_private").mkdir()
    (corpus_dir / "_private" / "salaries.md").write_text("# Salaries\n", encoding="utf-8")
    with pytest.raises(Refused, match="leaves out"):
        _docs(corpus_dir).get("_private/salaries")
    with pytest.raises(Refused, match="leaves out"):
        _docs(corpus_dir).get("asyncio/_drafts/tasks")


def test_the_index_leaves_out_links_out_and_private_files(corpus_dir: Path, outside: Path) -> None:
    (corpus_dir / "leak.md").symlink_to(outside / "secret.md")
    (corpus_dir / "_private").mkdir()
    (corpus_dir / "_private" / "salaries.md").write_text("# Salaries\n", encoding="utf-8")
    (corpus_dir / "alias.md").symlink_to(corpus_dir / "_private" / "salaries.md")
    ids = {doc.id for doc in _docs(corpus_dir).iter_text_documents()}
    assert ids == {"asyncio/tasks", "asyncio/blocking", "asyncio/event-loop", "python/gil", "cooking/sourdough"}


def test_ingest_uploads_only_what_the_folder_serves(corpus_dir: Path, outside: Path, aws) -> None:
    (corpus_dir / "leak.md").symlink_to(outside / "secret.md")
    (corpus_dir / "_private").mkdir()
    (corpus_dir / "_private" / "salaries.csv").write_text("name,pay\nann,1\n", encoding="utf-8")
    ingest(corpus_dir, index_path=corpus_dir.parent / "index.json", bucket=aws.documents_bucket,
           s3_client=aws.s3)
    keys = {o["Key"] for o in aws.s3.list_objects_v2(Bucket=aws.documents_bucket)["Contents"]}
    assert "documents/leak.md" not in keys and "documents/_private/salaries.csv" not in keys
    assert "documents/data/sales.csv" in keys


def test_s3_refuses_left_out_ids_too(aws) -> None:
    aws.s3.put_object(Bucket=aws.documents_bucket, Key="documents/_private/salaries.md", Body=b"# Salaries\n")
    with pytest.raises(Refused):
        S3Documents(bucket=aws.documents_bucket, client=aws.s3).get("_private/salaries")


def test_the_tool_answers_ok_false_not_a_trace(corpus_dir: Path, outside: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    (corpus_dir / "leak.md").symlink_to(outside / "secret.md")
    monkeypatch.setitem(lambda_handler._backends, "documents", FolderDocuments(corpus_dir))
    monkeypatch.setitem(lambda_handler._backends, "reports", None)
    spec = lambda_handler.get_tool("fetch_document")
    result = lambda_handler.handle(spec, {"arguments": {"document_id": "leak"}})
    assert result["ok"] is False and result["error"]["type"] == "refused"
    assert "OUTSIDE-SECRET" not in str(result)
    private = lambda_handler.handle(spec, {"arguments": {"document_id": "_private/salaries"}})
    assert (private["ok"], private["error"]["type"]) == (False, "refused")


@pytest.mark.parametrize("relative, left_out", [
    ("a.md", False), ("_notes.md", False), ("a/b/c.md", False), (".hidden.md", True),
    ("_private/a.md", True), ("a/.git/x.md", True), ("_index/search-index.json", True),
])
def test_the_left_out_rule(relative: str, left_out: bool) -> None:
    assert is_left_out(relative) is left_out
