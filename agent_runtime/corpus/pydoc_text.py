"""Parsing of pydoc's plain-text output: sections, member entries and class blocks, cleaned of noise.

pydoc renders for a terminal; these helpers cut its text into the pieces the corpus keeps
(a class without inherited members, the method resolution order or boilerplate dunders).
"""

from __future__ import annotations

import re

_SECTION = re.compile(r"^[A-Z][A-Z ]+$")
MEMBER_HEADING = re.compile(
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


def split_sections(text: str) -> list[tuple[str, list[str]]]:
    """pydoc text as (SECTION NAME, its lines dedented and trimmed), in order."""
    sections: list[tuple[str, list[str]]] = []
    for line in text.splitlines()[1:]:  # the first line is "Python Library Documentation: ..."
        if _SECTION.match(line):
            sections.append((line.strip(), []))
        elif sections:
            sections[-1][1].append(line[4:] if line.startswith("    ") else line.strip())
    return [(name, trim(lines)) for name, lines in sections]


def trim(lines: list[str]) -> list[str]:
    """`lines` without blank lines at either end or trailing whitespace."""
    start, end = 0, len(lines)
    while start < end and not lines[start].strip():
        start += 1
    while end > start and not lines[end - 1].strip():
        end -= 1
    return [line.rstrip() for line in lines[start:end]]


def split_entries(lines: list[str]) -> list[list[str]]:
    """Split a member list into entries: a line at column 0 starts one, indented lines belong to it."""
    entries: list[list[str]] = []
    for line in lines:
        if line and not line[0].isspace():
            entries.append([line])
        elif entries:
            entries[-1].append(line)
    return [trim(e) for e in entries]


def entry_name(entry: list[str]) -> str:
    """The name an entry documents (a function, class or attribute), read from its first line."""
    match = _NAME.match(entry[0])
    return match.group(1) if match else entry[0]


def _is_noise(entry: list[str]) -> bool:
    name = entry_name(entry)
    if not (name.startswith("__") and name.endswith("__")):
        return False
    if name not in _KEPT_DUNDERS:
        return True
    doc = " ".join(line.strip() for line in entry[1:]).strip()
    return not doc or doc.startswith(_BOILERPLATE)


def clean_class(block: list[str]) -> list[str]:
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
        chunk = trim(chunk)
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
            if MEMBER_HEADING.match(line):
                members.append([line])
            elif members:
                members[-1].append(line)
            else:
                kept.append(line)
        kept = trim(kept)
        out.extend("    " + line if line else "" for line in kept)
        for group in members:
            if "inherited from" in group[0]:
                continue
            entries = [e for e in split_entries(group[1:]) if e and not _is_noise(e)]
            if not entries:
                continue
            out.extend(["", "    " + group[0], ""])
            for entry in entries:
                out.extend("    " + line if line else "" for line in entry)
                out.append("")
    return trim(out)


def class_blocks(lines: list[str]) -> list[list[str]]:
    """The class blocks of a CLASSES section (the inheritance tree before them is dropped)."""
    blocks: list[list[str]] = []
    for line in lines:
        if line.startswith("class ") or re.match(r"^\w+ = class ", line):
            blocks.append([line])
        elif blocks and (line.startswith(" |") or not line.strip()):
            blocks[-1].append(line)
    return [trim(b) for b in blocks]



def summary_line(lines: list[str]) -> str:
    """The first line of a class's docstring ("" when it has none)."""
    for line in lines[1:]:
        text = line.strip()
        if not text or re.match(r"^\w+\(.*\)$", text):  # blank, or the constructor's signature
            continue
        return "" if MEMBER_HEADING.match(text) else text.rstrip(".")[:160]
    return ""



def split_class(lines: list[str]) -> list[list[str]]:
    """A class's lines as units that may start a new chunk: its header, then one unit per member."""
    units: list[list[str]] = [[]]
    for line in lines:
        if re.match(r"^    \S", line) and units[-1] and not units[-1][-1].strip():
            units.append([])
        units[-1].append(line)
    return units


