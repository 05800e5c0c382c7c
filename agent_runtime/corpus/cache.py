"""The corpus folder: built once into the user's cache, indexed for search, reused while current.

A marker file records the format, the Python version and the module list; a corpus whose
marker differs is rebuilt, into a staging folder renamed into place.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import os
import shutil
import sys
import time
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import platformdirs

from agent_runtime.corpus.render import home_modules, render_module, render_topics
from lambda_tools.private_files import make_private_tree, private_dir

FORMAT_VERSION = 7
MARKER = ".corpus.json"

# Curated for questions engineers ask: concurrency first, then data, files, text, time, types,
# testing, networking, numbers and tooling. Packages come before their submodules.
MODULES: tuple[str, ...] = (
    "asyncio", "asyncio.runners", "asyncio.tasks", "asyncio.taskgroups", "asyncio.timeouts", "asyncio.events",
    "asyncio.base_events", "asyncio.futures", "asyncio.coroutines", "asyncio.locks", "asyncio.queues",
    "asyncio.streams", "asyncio.subprocess", "asyncio.threads", "asyncio.exceptions", "asyncio.protocols",
    "asyncio.transports",
    "concurrent.futures", "concurrent.futures.thread", "concurrent.futures.process",
    "threading", "multiprocessing", "multiprocessing.pool", "subprocess", "queue", "sched", "selectors",
    "contextvars", "signal", "socket",
    "json", "csv", "sqlite3", "pickle", "shelve", "configparser", "tomllib",
    "pathlib", "os", "os.path", "shutil", "tempfile", "glob", "fnmatch", "io", "zipfile", "tarfile", "gzip",
    "re", "string", "textwrap", "difflib", "unicodedata",
    "datetime", "time", "calendar", "zoneinfo",
    "collections", "collections.abc", "itertools", "functools", "operator", "heapq", "bisect", "array", "enum",
    "typing", "dataclasses", "contextlib", "abc", "copy", "pprint", "weakref", "types", "inspect",
    "logging", "logging.handlers", "warnings", "traceback",
    "unittest", "unittest.mock", "doctest", "timeit",
    "http", "http.client", "http.server", "urllib.parse", "urllib.request", "email.message", "smtplib",
    "ssl", "ipaddress", "uuid", "base64", "hashlib", "hmac", "secrets",
    "statistics", "math", "random", "decimal", "fractions",
    "argparse", "importlib", "sys", "platform",
)


@dataclass(frozen=True)
class Corpus:
    """A built corpus on disk."""

    root: Path
    documents: int
    modules: tuple[str, ...]
    skipped: dict[str, str]
    built: bool  # True when this call built it, False when it was reused
    seconds: float


def default_corpus_dir() -> Path:
    """The cache folder of the corpus for this Python version, used unless the caller names one
    (the CLI passes `Settings.corpus_dir`, i.e. AGENT_PLATFORM_CORPUS_DIR)."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    return Path(platformdirs.user_cache_dir("agent-platform", appauthor=False)) / "corpus" / f"python-{version}"


def _expected_marker(modules: tuple[str, ...]) -> dict[str, Any]:
    return {"format": FORMAT_VERSION, "python": sys.version.split()[0], "modules": list(modules)}


def corpus_is_current(root: Path, modules: tuple[str, ...] = MODULES) -> bool:
    """Whether `root` holds a corpus built by this code for this Python and module list."""
    try:
        marker = json.loads((root / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    expected = _expected_marker(modules)
    return isinstance(marker, dict) and all(marker.get(k) == v for k, v in expected.items())


def ensure_corpus(root: Path | None = None, *, modules: tuple[str, ...] = MODULES, rebuild: bool = False) -> Corpus:
    """The built-in corpus at `root` (default: the user cache folder), built first if missing or stale.

    The build writes into a temporary sibling folder and renames it into place, so a crash or
    a concurrent build never leaves a half-written corpus behind.
    """
    root = Path(root) if root is not None else default_corpus_dir()
    started = time.monotonic()
    if not rebuild and corpus_is_current(root, modules):
        marker = json.loads((root / MARKER).read_text(encoding="utf-8"))
        return Corpus(root, int(marker.get("documents", 0)), modules, dict(marker.get("skipped", {})), False,
                      time.monotonic() - started)
    private_dir(root.parent)
    staging = root.with_name(f"{root.name}.building-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        count, skipped = write_corpus(staging, modules)
        build_search_index(staging)
        marker = {**_expected_marker(modules), "documents": count, "skipped": skipped, "built_at": time.time()}
        (staging / MARKER).write_text(json.dumps(marker, indent=1), encoding="utf-8")
        make_private_tree(staging)  # like the data directory: 0700 folders, 0600 files, whatever the umask
        _move_into_place(staging, root, modules)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return Corpus(root, count, modules, skipped, True, time.monotonic() - started)


def _move_into_place(staging: Path, root: Path, modules: tuple[str, ...]) -> None:
    if root.exists():
        if corpus_is_current(root, modules):  # another process finished first; keep its corpus
            return
        retired = root.with_name(f"{root.name}.old-{os.getpid()}")
        root.rename(retired)
        shutil.rmtree(retired, ignore_errors=True)
    try:
        staging.rename(root)
    except OSError:
        if not corpus_is_current(root, modules):
            raise


def build_search_index(root: Path) -> None:
    """Write the search index of the folder `root` where `search_documents` looks for it."""
    from lambda_tools.search_documents.ingest import ingest

    ingest(root)


def write_corpus(root: Path, modules: Iterable[str] = MODULES) -> tuple[int, dict[str, str]]:
    """Render `modules` into text files under `root/library/` and the language reference topics under
    `root/reference/`; returns (documents written, skipped modules)."""
    loaded, skipped = _import_all(modules)
    homes = home_modules(loaded)
    library = root / "library"
    library.mkdir(parents=True, exist_ok=True)
    count = 0
    for doc in render_topics():
        (root / f"{doc.id}.txt").parent.mkdir(parents=True, exist_ok=True)
        (root / f"{doc.id}.txt").write_text(doc.text, encoding="utf-8")
        count += 1
    for name, module in loaded.items():
        try:
            docs = list(render_module(module, homes))
        except Exception as exc:  # one odd module must not cost the whole corpus; the marker lists it
            skipped[name] = f"{type(exc).__name__}: {exc}"
            continue
        for doc in docs:
            (root / f"{doc.id}.txt").write_text(doc.text, encoding="utf-8")
            count += 1
    return count, skipped


def _import_all(modules: Iterable[str]) -> tuple[dict[str, ModuleType], dict[str, str]]:
    loaded: dict[str, ModuleType] = {}
    skipped: dict[str, str] = {}
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        for name in modules:
            try:
                loaded[name] = importlib.import_module(name)
            except Exception as exc:  # e.g. a Python built without sqlite3 or ssl
                skipped[name] = f"{type(exc).__name__}: {exc}"
    return loaded, skipped
