"""Heuristics for the named entity types: capitalised sequences classified by titles, suffixes,
cue words and small gazetteers. Unclassifiable sequences (e.g. Title Case headings) are dropped."""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator

from lambda_tools.extract_entities.gazetteer import (
    CONNECTORS,
    FIRST_NAMES,
    KNOWN_ORGS,
    LOCATION_SUFFIXES,
    LOCATIONS,
    MONTHS,
    ORG_HEADS,
    ORG_SUFFIXES,
    PERSON_TITLES,
    WEEKDAYS,
)
from lambda_tools.extract_entities.numeric import Match
from lambda_tools.text import STOP_WORDS

NAMED_TYPES = frozenset({"person", "organization", "location"})

_ABBREV = r"(?:Dr|Mr|Mrs|Ms|Prof|St|Mt|Ft|Sen|Gov|Rep|Gen|Capt|Col|Lt|Sgt|Rev|Inc|Ltd|Co|Corp|Jr|Sr)\."
_CAP = rf"(?:{_ABBREV}|(?:[A-Z]\.){{2,}}|[A-Z][\w'’\-]*)"
_JOIN = r"(?:[ \t]+(?:of|the|de|la|le|van|von|der|den|da|di|du|del|for|and|&))*[ \t]+"
_SEQUENCE = re.compile(rf"(?<![\w'’])(?:{_CAP})(?:{_JOIN}(?:{_CAP}))*")
_TITLE_BEFORE = re.compile(
    r"(?:^|[\s(])(?P<title>" + "|".join(sorted((re.escape(t) for t in PERSON_TITLES), key=len, reverse=True))
    + r")\.?[ \t]+$"
)
_SAID_AFTER = re.compile(r"^,?[ \t]+(?:said|says|told|wrote|argued|added|explained|noted|asked|replied)\b")
_SENTENCE_START = re.compile(r"(?:^|[.!?:]\s+|\n\s*(?:[#>*+-]+\s*|\d+[.)]\s*)?)$")
_TRAILING_PUNCT = ".,;:"
_SKIP_FIRST = STOP_WORDS | CONNECTORS


def named_matches(text: str, taken: list[tuple[int, int]]) -> Iterator[Match]:
    """Person, organisation and location mentions not overlapping `taken` (numeric spans)."""
    persons: dict[str, str] = {}  # surname -> full name, to attach later "Smith" mentions
    for start, end, words in _sequences(text, taken):
        phrase = text[start:end]
        before = text[max(0, start - 40) : start]
        after = text[end : end + 20]
        kind = _classify(phrase, words, before, after, at_start=bool(_SENTENCE_START.search(before)))
        canonical = phrase
        if kind is None and len(words) == 1 and phrase in persons:
            kind, canonical = "person", persons[phrase]
        if kind is None:
            continue
        if kind == "person" and len(words) >= 2:
            persons.setdefault(words[-1], phrase)
        yield Match(start, end, kind, {"canonical": canonical} if canonical != phrase else {})


def _sequences(text: str, taken: list[tuple[int, int]]) -> Iterator[tuple[int, int, list[str]]]:
    spans = sorted(taken)
    starts = [s for s, _ in spans]
    for m in _SEQUENCE.finditer(text):
        start, end = m.span()
        # `taken` spans do not overlap one another, so only the last one starting before `end` can overlap.
        i = bisect.bisect_left(starts, end) - 1
        if i >= 0 and spans[i][1] > start:
            continue
        yield from _split(text, start, end)


def _split(text: str, start: int, end: int) -> Iterator[tuple[int, int, list[str]]]:
    """Trim leading stop words/titles and trailing connectors; split at 'and' unless the whole is known."""
    words = [(w.start() + start, w.end() + start) for w in re.finditer(r"\S+", text[start:end])]
    while words and (_word(text, words[0]).lower() in _SKIP_FIRST or _word(text, words[0]).rstrip(".") in PERSON_TITLES):
        words.pop(0)
    while words and _word(text, words[-1]).lower() in _SKIP_FIRST:
        words.pop()
    if not words:
        return
    phrase = text[words[0][0] : words[-1][1]].rstrip(_TRAILING_PUNCT) if not _keeps_dot(text, words) else (
        text[words[0][0] : words[-1][1]])
    lowered = [_word(text, w).lower() for w in words]
    if "and" in lowered and _split_at_and(text, words, lowered, phrase):
        cut = lowered.index("and")
        yield from _split(text, words[0][0], words[cut - 1][1]) if cut else iter(())
        yield from _split(text, words[cut + 1][0], words[-1][1]) if cut + 1 < len(words) else iter(())
        return
    if "of" in lowered and _word(text, words[0]) in FIRST_NAMES:  # "Tim Cook of Apple": a person, then an org
        cut = lowered.index("of")
        yield from _split(text, words[0][0], words[cut - 1][1])
        if cut + 1 < len(words):
            yield from _split(text, words[cut + 1][0], words[-1][1])
        return
    s, e = words[0][0], words[0][0] + len(phrase)
    yield s, e, phrase.split()


def _split_at_and(text: str, words: list[tuple[int, int]], lowered: list[str], phrase: str) -> bool:
    """'Google and Microsoft' is two names; 'Bosnia and Herzegovina' or 'Health and Human Services' one."""
    if phrase in LOCATIONS or phrase in KNOWN_ORGS:
        return False
    left = text[words[0][0] : words[lowered.index("and") - 1][1]] if lowered.index("and") else ""
    known_left = left in LOCATIONS or left in KNOWN_ORGS or left.split(" ", 1)[0] in FIRST_NAMES
    return known_left or _word(text, words[-1]).rstrip(".") not in ORG_SUFFIXES


def _word(text: str, span: tuple[int, int]) -> str:
    return text[span[0] : span[1]]


def _keeps_dot(text: str, words: list[tuple[int, int]]) -> bool:
    last = _word(text, words[-1])
    return last in ("Inc.", "Ltd.", "Co.", "Corp.", "U.S.", "D.C.") or bool(re.fullmatch(r"(?:[A-Z]\.){2,}", last))


def _classify(phrase: str, words: list[str], before: str, after: str, *, at_start: bool) -> str | None:
    bare = [w.rstrip(_TRAILING_PUNCT) for w in words]
    if phrase in MONTHS or phrase in WEEKDAYS or phrase.rstrip(".") in PERSON_TITLES:
        return None
    title = _TITLE_BEFORE.search(before)
    if title and not (phrase in LOCATIONS or phrase in KNOWN_ORGS):
        return "person"
    if phrase in KNOWN_ORGS or words[-1] in ORG_SUFFIXES or bare[-1] in ORG_SUFFIXES:
        return "organization"
    if len(words) >= 3 and bare[0] in ORG_HEADS and words[1] == "of":
        return "organization"
    if phrase in LOCATIONS or (len(words) >= 2 and bare[-1] in LOCATION_SUFFIXES):
        return "location"
    if len(words) == 1 and re.fullmatch(r"[A-Z]{2,6}", phrase) and not at_start:
        return "organization"  # an acronym mid-sentence: most often an organisation
    if 2 <= len(words) <= 4 and bare[0] in FIRST_NAMES and all(w[:1].isupper() for w in words):
        return "person"
    if 2 <= len(words) <= 3 and all(w[:1].isupper() for w in words) and _SAID_AFTER.search(after):
        return "person"
    return None
