"""Text utilities shared by the tools: tokenising (case, punctuation, stop words, light
stemming), sentence splitting and Markdown-to-plain-text reduction. Stdlib only.

The names in `__all__` are public: the runtime's offline planner tokenises queries and passages
with them too, so its terms are the ones the search ranks by.
"""

from __future__ import annotations

import re

__all__ = ["STOP_WORDS", "markdown_to_text", "split_sentences", "stem", "token_spans", "tokenize"]

STOP_WORDS = frozenset(
    """a about above after again against all am an and any are aren't as at be because been before being below
    between both but by can can't cannot could couldn't did didn't do does doesn't doing don't down during each
    few for from further had hadn't has hasn't have haven't having he he'd he'll he's her here here's hers herself
    him himself his how how's i i'd i'll i'm i've if in into is isn't it it's its itself let's me more most mustn't
    my myself no nor not of off on once only or other ought our ours ourselves out over own same shan't she she'd
    she'll she's should shouldn't so some such than that that's the their theirs them themselves then there
    there's these they they'd they'll they're they've this those through to too under until up very was wasn't we
    we'd we'll we're we've were weren't what what's when when's where where's which while who who's whom why why's
    with won't would wouldn't you you'd you'll you're you've your yours yourself yourselves also just may might
    must shall will would can use used using via per etc""".split()
)
"""Words too common to rank or search by; `tokenize` drops them."""

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_DOUBLE = re.compile(r"([b-df-hj-np-tv-z])\1$")


def stem(word: str) -> str:
    """A light suffix stemmer (plurals, -ing, -ed, -ly): cheap and predictable, good enough for ranking."""
    if len(word) <= 3 or word.isdigit():
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("sses"):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    if word.endswith("e") and len(word) > 4:  # charge/charged/charging -> charg
        return word[:-1]
    for suffix in ("ing", "ed"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            if _DOUBLE.search(word) and not word.endswith(("ll", "ss", "zz")):
                word = word[:-1]
            return word
    if word.endswith("ly") and len(word) > 5:
        return word[:-2]
    return word


_TOKENS: dict[str, str] = {}  # word -> its token ("" for a skipped word): tokenising is mostly lookups
_TOKENS_MAX = 500_000


def _token(word: str) -> str:
    token = _TOKENS.get(word)
    if token is None:
        base = word.split("'", 1)[0] if "'" in word and word not in STOP_WORDS else word
        skip = word in STOP_WORDS or base in STOP_WORDS or (len(base) == 1 and not base.isdigit())
        token = "" if skip else stem(base)
        if len(_TOKENS) >= _TOKENS_MAX:
            _TOKENS.clear()
        _TOKENS[word] = token
    return token


def tokenize(text: str) -> list[str]:
    """Lower-cased, stop-word-free, stemmed word tokens."""
    tokens = [_TOKENS.get(w) or _token(w) for w in _WORD.findall(text.lower())]
    return [t for t in tokens if t]


def token_spans(text: str) -> list[tuple[str, int, int]]:
    """Like `tokenize`, but with each token's character span in `text` (for snippets)."""
    out: list[tuple[str, int, int]] = []
    for match in _WORD.finditer(text.lower()):
        token = _token(match.group())
        if token:
            out.append((token, match.start(), match.end()))
    return out


_FENCE = re.compile(r"^\s*(```|~~~).*?^\s*\1[^\n]*$", re.S | re.M)
_MD_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_MD_EMPH = re.compile(r"(\*\*|__|\*|`)(?=\S)(.+?)(?<=\S)\1")
_HTML_TAG = re.compile(r"<[^>\n]{1,200}>")
_BLOCK_MARK = re.compile(r"^(#{1,6}\s+|>\s?|[-*+]\s+|\d{1,3}[.)]\s+)")


def markdown_to_text(markdown: str) -> str:
    """Plain text of a Markdown document: code blocks, link targets, emphasis and heading marks removed.

    Headings and list items stay on their own lines so sentence splitting keeps them apart.
    """
    text = _FENCE.sub("\n", markdown)
    text = _MD_LINK.sub(r"\1", text)
    text = _MD_EMPH.sub(r"\2", text)
    text = _HTML_TAG.sub(" ", text)
    lines: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        marker = _BLOCK_MARK.match(stripped)
        stripped = stripped[marker.end() :] if marker else stripped
        if set(stripped) <= set("-=*_|: "):
            stripped = ""
        if marker and not marker.group().startswith(">"):
            lines.extend(("", stripped, ""))  # a heading or list item is a block of its own
        else:
            lines.append(stripped)
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


_ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof sr jr st vs etc inc ltd co corp e.g i.e fig no vol approx dept est jan feb mar apr jun "
    "jul aug sep sept oct nov dec u.s u.k".split()
)
_SENTENCE_END = re.compile(r"[.!?]+[\"')\]]*\s+")


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Character spans of the sentences in `text`.

    Splits on sentence punctuation followed by whitespace (skipping common abbreviations and
    initials) and on blank lines or line breaks between Markdown blocks.
    """
    spans: list[tuple[int, int]] = []
    for block in re.finditer(r"[^\n]+(?:\n(?!\s*\n)[^\n]+)*", text):
        start = block.start()
        chunk = block.group()
        pos = 0
        for end_match in _SENTENCE_END.finditer(chunk):
            before = chunk[pos : end_match.start()].rstrip()
            last_word = before.rsplit(None, 1)[-1].lower().rstrip(".") if before.split() else ""
            next_char = chunk[end_match.end() : end_match.end() + 1]
            if chunk[end_match.start()] == "." and (
                last_word in _ABBREVIATIONS or (len(last_word) == 1 and last_word.isalpha())
                or (next_char and next_char.islower())
            ):
                continue
            _add_span(spans, chunk, start, pos, end_match.end())
            pos = end_match.end()
        _add_span(spans, chunk, start, pos, len(chunk))
    return spans


def _add_span(spans: list[tuple[int, int]], chunk: str, offset: int, lo: int, hi: int) -> None:
    piece = chunk[lo:hi]
    left = len(piece) - len(piece.lstrip())
    right = len(piece.rstrip())
    if right > left:
        spans.append((offset + lo + left, offset + lo + right))
