"""Rendering of the corpus documents: one or more per standard library module, and the language reference.

A module's pydoc text becomes a document titled by its synopsis; its large classes become
documents of their own, and a document over MAX_DOCUMENT_CHARS is cut into parts at member
boundaries.
"""

from __future__ import annotations

import inspect
import pydoc
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from unittest import mock

from agent_runtime.corpus.pydoc_text import (
    class_blocks,
    clean_class,
    entry_name,
    split_class,
    split_entries,
    split_sections,
    summary_line,
)

SPLIT_MODULE_CHARS = 9_000  # a module larger than this gets its large classes as documents of their own
SPLIT_CLASS_CHARS = 1_500  # ... each class larger than this
MAX_DOCUMENT_CHARS = 9_000  # documents are chunked at member boundaries to stay under this (one fetch reads it all)
_DROPPED_SECTIONS = frozenset({"FILE", "AUTHOR", "CREDITS", "MODULE REFERENCE", "PACKAGE CONTENTS", "SUBMODULES"})


@dataclass(frozen=True)
class CorpusDocument:
    """One document of the corpus: `id` is its path under the corpus root without extension."""

    id: str
    title: str
    text: str


def _documented_names(module: ModuleType) -> list[str]:
    """The names pydoc documents for `module` (its __all__, else what it defines)."""
    names = getattr(module, "__all__", None)
    if names is not None:
        return [n for n in names if isinstance(n, str)]
    return [
        n for n, obj in vars(module).items()
        if not n.startswith("_") and getattr(obj, "__module__", None) == module.__name__
    ]


def home_modules(loaded: dict[str, ModuleType]) -> dict[int, str]:
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


@dataclass
class _Member:
    name: str
    lines: list[str]

    @property
    def size(self) -> int:
        return sum(len(line) + 1 for line in self.lines)


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
    for section, lines in split_sections(rendered):
        if section in _DROPPED_SECTIONS or not lines:
            continue
        if section == "NAME":
            description = lines[0].partition(" - ")[2].strip()
            continue
        if section == "DESCRIPTION":
            first = " ".join(" ".join(lines).split())
            synopsis = re.split(r"(?<=[.!?])\s", first, maxsplit=1)[0][:140].rstrip(".")
        if section in ("CLASSES", "FUNCTIONS"):
            blocks = class_blocks(lines) if section == "CLASSES" else split_entries(lines)
            for block in blocks:
                member_name = entry_name(block)
                home = homes.get(id(getattr(module, member_name, None)), name)
                if home != name:
                    elsewhere.append((member_name, home))
                elif section == "CLASSES":
                    classes.append(_Member(member_name, clean_class(block)))
                else:
                    functions.append(_Member(member_name, block))
            continue
        if section == "DATA":
            lines = [line for e in split_entries(lines) if not entry_name(e).startswith("__") for line in e]
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
        summary = summary_line(member.lines)
        class_title = f"{name}.{member.name} — {summary}" if summary else f"{name}.{member.name} (class)"
        class_intro = [class_title, "", f"A class of the module {name}, documented in {doc_id}.", ""]
        parts = [_Member(e[0] if e else "", e) for e in split_class(member.lines)]
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
