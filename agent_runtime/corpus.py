"""The built-in corpus: Python's standard library documentation, rendered with pydoc.

Every machine with Python has it and nobody on the team wrote it, so `agent-platform run`
works out of the box. It is rendered on first use into the user's cache folder (one plain
text document per module, large classes and modules split into their own documents so a
search hit points at the relevant part), indexed for `search_documents`, and reused until
the Python version or the module list changes.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import io
import json
import os
import pydoc
import re
import shutil
import sys
import time
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any
from unittest import mock

import platformdirs

FORMAT_VERSION = 7
MARKER = ".corpus.json"
SPLIT_MODULE_CHARS = 9_000  # a module larger than this gets its large classes as documents of their own
SPLIT_CLASS_CHARS = 1_500  # ... each class larger than this
MAX_DOCUMENT_CHARS = 9_000  # documents are chunked at member boundaries to stay under this (one fetch reads it all)

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

_SECTION = re.compile(r"^[A-Z][A-Z ]+$")
_MEMBER_HEADING = re.compile(
    r"^(Methods|Class methods|Static methods|Data descriptors|Data and other attributes|Readonly properties"
    r"|Properties)\b.*:$"
)
_RULE = re.compile(r"^-{20,}$")
_NAME = re.compile(r"^(?:async\s+)?(?:class\s+)?([A-Za-z_]\w*)")
_KEPT_DUNDERS = frozenset(
    "__init__ __call__ __enter__ __exit__ __aenter__ __aexit__ __iter__ __aiter__ __anext__ __next__ __await__"
    " __getitem__ __contains__ __len__".split()
)
_BOILERPLATE = (
    "Initialize self.", "Create and return a new object.", "Implement ", "Return repr(self)", "Return str(self)",
    "Return iter(self)", "Return len(self)", "Return self", "Return hash(self)", "Return getattr", "Helper for pickle",
    "Return next(self)", "Return an iterator to be used in await expression", "Return an awaitable",
    "Return self[key]", "Return key in self.",
)
_DROPPED_SECTIONS = frozenset({"FILE", "AUTHOR", "CREDITS", "MODULE REFERENCE", "PACKAGE CONTENTS", "SUBMODULES"})


@dataclass(frozen=True)
class CorpusDocument:
    """One document of the corpus: `id` is its path under the corpus root without extension."""

    id: str
    title: str
    text: str


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
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = root.with_name(f"{root.name}.building-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        count, skipped = write_corpus(staging, modules)
        build_search_index(staging)
        marker = {**_expected_marker(modules), "documents": count, "skipped": skipped, "built_at": time.time()}
        (staging / MARKER).write_text(json.dumps(marker, indent=1), encoding="utf-8")
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
    homes = _home_modules(loaded)
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


def _documented_names(module: ModuleType) -> list[str]:
    """The names pydoc documents for `module` (its __all__, else what it defines)."""
    names = getattr(module, "__all__", None)
    if names is not None:
        return [n for n in names if isinstance(n, str)]
    return [
        n for n, obj in vars(module).items()
        if not n.startswith("_") and getattr(obj, "__module__", None) == module.__name__
    ]


def _home_modules(loaded: dict[str, ModuleType]) -> dict[int, str]:
    """For each documented class or function, the one corpus module that documents it in full.

    A package re-exporting its submodules' API (asyncio, concurrent.futures) then points to
    them instead of repeating their text.
    """
    candidates: dict[int, list[str]] = {}
    for name, module in loaded.items():
        for attr in _documented_names(module):
            obj = getattr(module, attr, None)
            if isinstance(obj, type) or callable(obj):
                candidates.setdefault(id(obj), []).append(name)
    homes: dict[int, str] = {}
    for key, names in candidates.items():
        if len(names) == 1:
            homes[key] = names[0]
            continue
        # Prefer a non-package module, then the most specific (deepest) name.
        homes[key] = max(names, key=lambda n: (not hasattr(loaded[n], "__path__"), n.count("."), -len(n)))
    return homes


# -- rendering ---------------------------------------------------------------------------------


def _sections(text: str) -> list[tuple[str, list[str]]]:
    sections: list[tuple[str, list[str]]] = []
    for line in text.splitlines()[1:]:  # the first line is "Python Library Documentation: ..."
        if _SECTION.match(line):
            sections.append((line.strip(), []))
        elif sections:
            sections[-1][1].append(line[4:] if line.startswith("    ") else line.strip())
    return [(name, _trim(lines)) for name, lines in sections]


def _trim(lines: list[str]) -> list[str]:
    start, end = 0, len(lines)
    while start < end and not lines[start].strip():
        start += 1
    while end > start and not lines[end - 1].strip():
        end -= 1
    return [line.rstrip() for line in lines[start:end]]


def _entries(lines: list[str]) -> list[list[str]]:
    """Split a member list into entries: a line at column 0 starts one, indented lines belong to it."""
    entries: list[list[str]] = []
    for line in lines:
        if line and not line[0].isspace():
            entries.append([line])
        elif entries:
            entries[-1].append(line)
    return [_trim(e) for e in entries]


def _entry_name(entry: list[str]) -> str:
    match = _NAME.match(entry[0])
    return match.group(1) if match else entry[0]


def _is_noise(entry: list[str]) -> bool:
    name = _entry_name(entry)
    if not (name.startswith("__") and name.endswith("__")):
        return False
    if name not in _KEPT_DUNDERS:
        return True
    doc = " ".join(line.strip() for line in entry[1:]).strip()
    return not doc or doc.startswith(_BOILERPLATE)


def _clean_class(block: list[str]) -> list[str]:
    """A class's pydoc text without inherited members, the MRO and boilerplate dunders."""
    header, body = block[0], [re.sub(r"^ \|( {2})?", "", line) for line in block[1:]]
    chunks: list[list[str]] = [[]]
    for line in body:
        if _RULE.match(line.strip()):
            chunks.append([])
        else:
            chunks[-1].append(line)
    out = [header]
    for chunk in chunks:
        chunk = _trim(chunk)
        if not chunk or "inherited from" in chunk[0]:
            continue
        kept: list[str] = []
        skipping_mro = False
        members: list[list[str]] = []
        for line in chunk:
            if line.startswith("Method resolution order:"):
                skipping_mro = True
                continue
            if skipping_mro:
                if line.startswith("    ") or not line.strip():
                    continue
                skipping_mro = False
            if _MEMBER_HEADING.match(line):
                members.append([line])
            elif members:
                members[-1].append(line)
            else:
                kept.append(line)
        kept = _trim(kept)
        out.extend("    " + line if line else "" for line in kept)
        for group in members:
            if "inherited from" in group[0]:
                continue
            entries = [e for e in _entries(group[1:]) if e and not _is_noise(e)]
            if not entries:
                continue
            out.extend(["", "    " + group[0], ""])
            for entry in entries:
                out.extend("    " + line if line else "" for line in entry)
                out.append("")
    return _trim(out)


def _class_blocks(lines: list[str]) -> list[list[str]]:
    """The class blocks of a CLASSES section (the inheritance tree before them is dropped)."""
    blocks: list[list[str]] = []
    for line in lines:
        if line.startswith("class ") or re.match(r"^\w+ = class ", line):
            blocks.append([line])
        elif blocks and (line.startswith(" |") or not line.strip()):
            blocks[-1].append(line)
    return [_trim(b) for b in blocks]


@dataclass
class _Member:
    name: str
    lines: list[str]

    @property
    def size(self) -> int:
        return sum(len(line) + 1 for line in self.lines)


def _summary_line(lines: list[str]) -> str:
    """The first line of a class's docstring ("" when it has none)."""
    for line in lines[1:]:
        text = line.strip()
        if not text or re.match(r"^\w+\(.*\)$", text):  # blank, or the constructor's signature
            continue
        return "" if _MEMBER_HEADING.match(text) else text.rstrip(".")[:160]
    return ""


def _docstring(obj: object) -> str:
    """pydoc.getdoc without its fallback to source comments, which re-parses the module's source
    for every undocumented member and would triple the build time."""
    doc = getattr(pydoc, "_getdoc", inspect.getdoc)(obj)
    return re.sub("^ *\n", "", doc.rstrip()) if doc else ""


def render_module(module: ModuleType, homes: dict[int, str] | None = None) -> Iterator[CorpusDocument]:
    """The corpus documents of one module: the module itself, plus its large classes and parts."""
    name = module.__name__
    homes = homes or {}
    with warnings.catch_warnings(), mock.patch.object(pydoc, "getdoc", _docstring):
        warnings.simplefilter("ignore")
        rendered = pydoc.render_doc(module, renderer=pydoc.plaintext)  # type: ignore[attr-defined]
    head: list[str] = []
    synopsis = ""
    classes: list[_Member] = []
    functions: list[_Member] = []
    elsewhere: list[tuple[str, str]] = []
    tail: list[str] = []
    description = ""
    for section, lines in _sections(rendered):
        if section in _DROPPED_SECTIONS or not lines:
            continue
        if section == "NAME":
            description = lines[0].partition(" - ")[2].strip()
            continue
        if section == "DESCRIPTION":
            first = " ".join(" ".join(lines).split())
            synopsis = re.split(r"(?<=[.!?])\s", first, maxsplit=1)[0][:140].rstrip(".")
        if section in ("CLASSES", "FUNCTIONS"):
            blocks = _class_blocks(lines) if section == "CLASSES" else _entries(lines)
            for block in blocks:
                member_name = _entry_name(block)
                home = homes.get(id(getattr(module, member_name, None)), name)
                if home != name:
                    elsewhere.append((member_name, home))
                elif section == "CLASSES":
                    classes.append(_Member(member_name, _clean_class(block)))
                else:
                    functions.append(_Member(member_name, block))
            continue
        if section == "DATA":
            lines = [line for e in _entries(lines) if not _entry_name(e).startswith("__") for line in e]
            if not lines:
                continue
        target = tail if section in ("DATA", "VERSION") else head
        target.extend(["", section, *("    " + line if line else "" for line in lines)])

    doc_id = f"library/{name}"
    description = description or synopsis
    if not description:  # no module docstring: name the module's main API instead
        api = [m.name for m in classes + functions if not m.name.startswith("_")][:6]
        description = f"Python module providing {', '.join(api)}" if api else "Python standard library module"
    title = f"{name} — {description}"
    intro = [title]
    total = sum(len(line) for line in head + tail) + sum(m.size for m in classes + functions)
    separate = [m for m in classes if total > SPLIT_MODULE_CHARS and m.size > SPLIT_CLASS_CHARS]
    inline = [m for m in classes if m not in separate]

    body: list[_Member] = [_Member("", head)]
    if separate or elsewhere:
        # Only the ids: listing every re-exported name would make a package's page outrank the
        # modules that document those names.
        refs = [f"    library/{name}.{m.name}" for m in separate]
        refs += [f"    library/{home}" for home in sorted({home for _, home in elsewhere})]
        body.append(_Member("", ["", "DOCUMENTED SEPARATELY", *refs]))
    if inline:
        body.append(_Member("", ["", "CLASSES"]))
        body.extend(_Member(m.name, ["", *m.lines]) for m in inline)
    if functions:
        body.append(_Member("", ["", "FUNCTIONS"]))
        body.extend(_Member(m.name, ["", *m.lines]) for m in functions)
    if tail:
        body.append(_Member("", tail))
    yield from _chunked(doc_id, title, intro, body)

    for member in separate:
        summary = _summary_line(member.lines)
        class_title = f"{name}.{member.name} — {summary}" if summary else f"{name}.{member.name} (class)"
        class_intro = [class_title, "", f"A class of the module {name}, documented in {doc_id}.", ""]
        parts = [_Member(e[0] if e else "", e) for e in _split_class(member.lines)]
        yield from _chunked(f"{doc_id}.{member.name}", class_title, class_intro, parts)


def render_topics() -> Iterator[CorpusDocument]:
    """The language reference topics of `help()` (pydoc_data), e.g. `reference/async`: the narrative
    chapters on coroutines, `with`, exceptions and the data model that module docstrings lack."""
    try:
        from pydoc_data.topics import topics
    except ImportError:  # some distributions package pydoc_data separately
        return
    for key in sorted(topics):
        text = topics[key].strip()
        heading = text.splitlines()[0].strip() if text else key
        title = f"{heading} (Python language reference: {key})"
        paragraphs = [_Member("", [p, ""]) for p in re.split(r"\n\s*\n", text)[1:] if p.strip()]
        yield from _chunked(f"reference/{key}", title, [title, ""], paragraphs)


def _split_class(lines: list[str]) -> list[list[str]]:
    """A class's lines as units that may start a new chunk: its header, then one unit per member."""
    units: list[list[str]] = [[]]
    for line in lines:
        if re.match(r"^    \S", line) and units[-1] and not units[-1][-1].strip():
            units.append([])
        units[-1].append(line)
    return units


def _chunked(doc_id: str, title: str, intro: list[str], members: list[_Member]) -> Iterator[CorpusDocument]:
    """One document, or several (`<id>.part-2`, ...) cut at member boundaries when it is too large."""
    groups: list[list[str]] = [[]]
    size = 0
    for member in members:
        if size and size + member.size > MAX_DOCUMENT_CHARS:
            groups.append([])
            size = 0
        groups[-1].extend(member.lines)
        size += member.size
    for n, lines in enumerate(groups, start=1):
        part_id = doc_id if n == 1 else f"{doc_id}.part-{n}"
        part_title = title if n == 1 else f"{title} (part {n} of {len(groups)})"
        part_intro = intro if n == 1 else [part_title, "", f"Continued from {doc_id}."]
        outro = []
        if len(groups) > 1 and n < len(groups):
            outro = ["", f"Continued in {doc_id}.part-{n + 1}."]
        text = "\n".join([*part_intro, *lines, *outro]).strip() + "\n"
        yield CorpusDocument(part_id, part_title, re.sub(r"\n{3,}", "\n\n", text))
