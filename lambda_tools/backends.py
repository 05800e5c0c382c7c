"""Where documents come from and where reports go: a folder locally, S3 (+ SNS) in AWS.

The pure tool functions reach them through `ToolContext.documents` / `ToolContext.reports`,
typed by the two protocols below. boto3 clients are passed in, never created here.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable
from urllib.parse import quote

from lambda_tools.common import NotFound, Refused, ToolFailure
from lambda_tools.private_files import private_dir, write_private_text

TEXT_EXTENSIONS = (".md", ".markdown", ".txt")
DATA_EXTENSIONS = (".csv", ".json")
ALL_EXTENSIONS = TEXT_EXTENSIONS + DATA_EXTENSIONS
INDEX_FILENAME = ".search-index.json"
DEFAULT_INDEX_SUFFIX = "_index/search-index.json"
MAX_DOCUMENT_BYTES = 10 * 1024 * 1024
_RECHECK_S = 2.0  # how often a folder corpus is re-checked for changes
# What the corpus leaves out (not indexed, not uploaded, not served): folders starting with "." or "_"
# (`_private/`, `_index/`, `.git/`) and hidden files. `is_left_out` applies the rule (the folder walk also
# prunes those folders early, from the same prefixes).
LEFT_OUT_FOLDER_PREFIXES = (".", "_")
LEFT_OUT_FILE_PREFIXES = (".",)


def is_left_out(relative: str) -> bool:
    """True when a corpus-relative path (`a/b/c.md`) is one the corpus leaves out (hidden file, `.`/`_` folder)."""
    *folders, name = relative.split("/")
    return any(f.startswith(LEFT_OUT_FOLDER_PREFIXES) for f in folders) or name.startswith(LEFT_OUT_FILE_PREFIXES)


@dataclass(frozen=True)
class Document:
    """One corpus document: `id` is its path relative to the corpus root, without extension."""

    id: str
    title: str
    text: str
    extension: str


def title_of(text: str, fallback: str) -> str:
    """The first Markdown heading, else the first non-empty line, else `fallback`."""
    first_line = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped == "---":
            continue
        if stripped.startswith("#"):
            return stripped.lstrip("#").strip()[:200] or fallback
        if not first_line:
            first_line = stripped
            break
    return first_line[:200] or fallback


def _split_id(relative: str) -> tuple[str, str]:
    stem, dot, ext = relative.rpartition(".")
    return (stem, "." + ext.lower()) if dot and "/" not in ext else (relative, "")


def _candidates(doc_id: str) -> list[tuple[str, str]]:
    """(base, extension) pairs a document id may name, in the order they are tried: the id as a file name
    when it ends in a known extension (`sales.csv`), then the id with each extension (`sales` -> `sales.md`...)."""
    _check_id(doc_id)
    if is_left_out(doc_id):
        raise Refused(f"document id {doc_id!r} names a folder the corpus leaves out (its name starts with "
                      "'_' or '.'); use an id returned by search_documents")
    stem, ext = _split_id(doc_id)
    candidates = [(stem, ext)] if ext in ALL_EXTENSIONS else []
    return candidates + [(doc_id, e) for e in ALL_EXTENSIONS]


def _decode(raw: bytes, name: str) -> str:
    if len(raw) > MAX_DOCUMENT_BYTES:
        raise ToolFailure(f"document {name!r} is larger than {MAX_DOCUMENT_BYTES // (1024 * 1024)} MB")
    return raw.decode("utf-8", errors="replace")


_MISSING_CODES = frozenset({"NoSuchKey", "404", "NotFound", "AccessDenied", "403"})


def _error_code(exc: Exception) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


def _check_id(doc_id: str) -> None:
    parts = doc_id.split("/")
    if not doc_id or doc_id.startswith("/") or any(p in ("", ".", "..") or p.startswith(".") for p in parts):
        raise NotFound(f"invalid document id {doc_id!r}: use an id returned by search_documents")


@runtime_checkable
class DocumentSource(Protocol):
    """A read-only document corpus."""

    def get(self, doc_id: str) -> Document:
        """The document with this id (text or data file); `NotFound` otherwise."""
        ...

    def iter_text_documents(self) -> Iterator[Document]:
        """Every searchable (.md/.txt) document."""
        ...

    def load_index(self) -> dict[str, Any] | None:
        """The stored search index (JSON dict) if one exists and is current, else None."""
        ...

    def cache_key(self) -> str:
        """Identifies the corpus (for per-process caches)."""
        ...

    def version(self) -> str:
        """Changes when the corpus changes (cheap; may be throttled)."""
        ...


class FolderDocuments:
    """A folder of .md/.txt (searchable) and .csv/.json (data) files; the index is a hidden JSON file."""

    def __init__(self, root: Path, *, index_path: Path | None = None) -> None:
        self.root = Path(root).resolve()
        self.index_path = Path(index_path) if index_path else self.root / INDEX_FILENAME
        self._version: tuple[float, str] | None = None

    def __repr__(self) -> str:
        return f"FolderDocuments({str(self.root)!r})"

    def files(self, extensions: tuple[str, ...]) -> Iterator[tuple[str, Path]]:
        """(relative path, path) of every file the corpus serves with one of `extensions`, sorted."""
        if not self.root.is_dir():
            raise ToolFailure(f"the document folder {str(self.root)!r} does not exist")
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith(LEFT_OUT_FOLDER_PREFIXES))
            for name in sorted(filenames):
                path = Path(dirpath, name)
                relative = path.relative_to(self.root).as_posix()
                if is_left_out(relative) or not name.lower().endswith(extensions) or not self._served(path):
                    continue
                yield relative, path

    def _served(self, path: Path) -> bool:
        """True when `path`, symlinks followed, stays inside the root and outside the left-out folders:
        a link must not lend a corpus id to `/etc/passwd` or to a `_private/` file."""
        resolved = path.resolve()
        return resolved.is_relative_to(self.root) and not is_left_out(resolved.relative_to(self.root).as_posix())

    def get(self, doc_id: str) -> Document:
        for base, extension in _candidates(doc_id):
            path = self.root / (base + extension)
            if path.is_file():
                if not self._served(path):
                    raise Refused(f"document {doc_id!r} links outside the document folder or into a folder "
                                  "the corpus leaves out; it is not served")
                text = _decode(path.read_bytes(), doc_id)
                return Document(id=base, title=title_of(text, base), text=text, extension=extension)
        raise NotFound(f"no document with id {doc_id!r}; search_documents lists the ids that exist")

    def iter_text_documents(self) -> Iterator[Document]:
        for relative, path in self.files(TEXT_EXTENSIONS):
            doc_id, ext = _split_id(relative)
            text = _decode(path.read_bytes(), relative)
            yield Document(id=doc_id, title=title_of(text, doc_id), text=text, extension=ext)

    def signature(self) -> str:
        """A digest of every searchable file's path, size and mtime (not throttled)."""
        digest = hashlib.sha256()
        for relative, path in self.files(TEXT_EXTENSIONS):
            stat = path.stat()
            digest.update(f"{relative}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
        return digest.hexdigest()[:32]

    def version(self) -> str:
        now = time.monotonic()
        if self._version is None or now - self._version[0] > _RECHECK_S:
            self._version = (now, self.signature())
        return self._version[1]

    def cache_key(self) -> str:
        return f"folder:{self.root}"

    def load_index(self) -> dict[str, Any] | None:
        if not self.index_path.is_file():
            return None
        data = json.loads(self.index_path.read_text(encoding="utf-8"))
        return data if data.get("signature") == self.version() else None


class S3Documents:
    """Documents under an S3 prefix; the index is one JSON object written by `ingest`."""

    def __init__(self, *, bucket: str, prefix: str = "documents/", index_key: str | None = None, client: Any) -> None:
        self.bucket = bucket
        self.prefix = prefix if not prefix or prefix.endswith("/") else prefix + "/"
        self.index_key = index_key or self.prefix + DEFAULT_INDEX_SUFFIX
        self.client = client
        self._version: tuple[float, str] | None = None

    def __repr__(self) -> str:
        return f"S3Documents(s3://{self.bucket}/{self.prefix})"

    def _read(self, key: str) -> bytes | None:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=key)
        except self.client.exceptions.ClientError as exc:
            # Without s3:ListBucket, S3 answers 403 (not 404) for a missing key: both mean "not here".
            if _error_code(exc) in _MISSING_CODES:
                return None
            raise
        length = response.get("ContentLength") or 0
        if length > MAX_DOCUMENT_BYTES:
            raise ToolFailure(f"document {key!r} is larger than {MAX_DOCUMENT_BYTES // (1024 * 1024)} MB")
        return response["Body"].read()

    def _keys(self, extensions: tuple[str, ...]) -> Iterator[str]:
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
            for item in page.get("Contents", []):
                relative = item["Key"][len(self.prefix) :]
                if not is_left_out(relative) and relative.lower().endswith(extensions):
                    yield item["Key"]

    def get(self, doc_id: str) -> Document:
        for base, extension in _candidates(doc_id):
            raw = self._read(self.prefix + base + extension)
            if raw is not None:
                text = _decode(raw, doc_id)
                return Document(id=base, title=title_of(text, base), text=text, extension=extension)
        raise NotFound(f"no document with id {doc_id!r}; search_documents lists the ids that exist")

    def iter_text_documents(self) -> Iterator[Document]:
        for key in self._keys(TEXT_EXTENSIONS):
            doc_id, ext = _split_id(key[len(self.prefix) :])
            raw = self._read(key)
            if raw is not None:
                text = _decode(raw, key)
                yield Document(id=doc_id, title=title_of(text, doc_id), text=text, extension=ext)

    def version(self) -> str:
        now = time.monotonic()
        if self._version is None or now - self._version[0] > 60:
            try:
                etag = self.client.head_object(Bucket=self.bucket, Key=self.index_key)["ETag"]
            except self.client.exceptions.ClientError:
                etag = "missing"
            self._version = (now, etag)
        return self._version[1]

    def cache_key(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def load_index(self) -> dict[str, Any] | None:
        raw = self._read(self.index_key)
        return json.loads(raw) if raw is not None else None


@dataclass(frozen=True)
class Published:
    """Where a report went, and whether this call wrote it or found it already there."""

    location: str
    key: str
    already_published: bool
    notified: bool


@runtime_checkable
class ReportSink(Protocol):
    """Stores reports under caller-chosen keys, at most once per key."""

    def publish(self, key: str, body: str, *, title: str, audience: str | None) -> Published:
        """Store `body` under `key` unless something is already there; notify on a new report."""
        ...


_KEY_PART_MAX = 120
_KEY_PART_HEAD = 80
_HASHED_TAIL = re.compile(r"-[0-9a-f]{32}$")


def _safe_key_part(value: str) -> str:
    """`value` as one safe path segment: kept as is when short and clean, else a readable head plus a hash
    of the whole value. Distinct ids never share a key (cleaning or cutting alone would merge `a/b` with
    `a_b`, or two long ids with the same first 120 characters) and the same id always gets the same key."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", value).strip("._") or "x"
    # A clean id that already ends like a hashed key is hashed too, so it cannot pose as another id's key.
    if cleaned == value and len(value) <= _KEY_PART_MAX and not _HASHED_TAIL.search(value):
        return value
    return f"{cleaned[:_KEY_PART_HEAD]}-{hashlib.sha256(value.encode()).hexdigest()[:32]}"


def report_key(task_id: str, call_id: str) -> str:
    """The report's key relative to the store root: one per (task, call), so retries land on it."""
    return f"{_safe_key_part(task_id)}/{_safe_key_part(call_id)}.md"


class FolderReports:
    """Reports as Markdown files under a folder; exclusive create makes publishing idempotent."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"FolderReports({str(self.root)!r})"

    def publish(self, key: str, body: str, *, title: str, audience: str | None) -> Published:
        path = self.root / key
        private_dir(path.parent)  # reports are the user's data: 0700 folders, 0600 files
        try:
            write_private_text(path, body, exclusive=True)
        except FileExistsError:
            return Published(location=str(path), key=key, already_published=True, notified=False)
        return Published(location=str(path), key=key, already_published=False, notified=False)


class S3Reports:
    """Reports as S3 objects (conditional put: written once) plus an SNS notification per new report."""

    def __init__(
        self, *, bucket: str, prefix: str = "reports/", s3_client: Any, topic_arn: str | None = None,
        sns_client: Any = None,
    ) -> None:
        if topic_arn and sns_client is None:
            raise ValueError("an SNS client is needed when topic_arn is set")
        self.bucket = bucket
        self.prefix = prefix if not prefix or prefix.endswith("/") else prefix + "/"
        self.s3 = s3_client
        self.topic_arn = topic_arn
        self.sns = sns_client

    def __repr__(self) -> str:
        return f"S3Reports(s3://{self.bucket}/{self.prefix})"

    def _exists(self, key: str) -> bool:
        """True when the key is there; a 403 (no s3:ListBucket) counts as absent: the put is conditional anyway."""
        try:
            self.s3.head_object(Bucket=self.bucket, Key=key)
        except self.s3.exceptions.ClientError as exc:
            if _error_code(exc) in _MISSING_CODES:
                return False
            raise
        return True

    def publish(self, key: str, body: str, *, title: str, audience: str | None) -> Published:
        full_key = self.prefix + key
        location = f"s3://{self.bucket}/{full_key}"
        if self._exists(full_key):
            return Published(location=location, key=full_key, already_published=True, notified=False)
        metadata = {"title": quote(title[:200]), "audience": quote((audience or "")[:200])}
        try:
            self.s3.put_object(
                Bucket=self.bucket, Key=full_key, Body=body.encode("utf-8"), IfNoneMatch="*",
                ContentType="text/markdown; charset=utf-8", Metadata=metadata,
            )
        except self.s3.exceptions.ClientError as exc:
            if _error_code(exc) in ("PreconditionFailed", "ConditionalRequestConflict", "412", "409"):
                return Published(location=location, key=full_key, already_published=True, notified=False)
            raise
        notified = False
        if self.topic_arn:
            message = {"title": title, "audience": audience, "location": location, "key": full_key}
            subject = re.sub(r"[^\x20-\x7e]", "?", f"Report published: {title}")[:100]
            self.sns.publish(TopicArn=self.topic_arn, Subject=subject, Message=json.dumps(message))
            notified = True
        return Published(location=location, key=full_key, already_published=False, notified=notified)
