"""A BM25 index over the corpus: built once, saved as JSON, loaded lazily and cached per process."""

from __future__ import annotations

import heapq
import json
import math
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lambda_tools.backends import Document, DocumentSource
from lambda_tools.private_files import private_dir, write_private_text
from lambda_tools.text import markdown_to_text, token_spans, tokenize

FORMAT_VERSION = 1
K1 = 1.5
B = 0.75
TITLE_WEIGHT = 2  # a title word counts as this many body occurrences
SNIPPET_CHARS = 240


@dataclass
class _Entry:
    id: str
    title: str
    length: int
    text: str


class SearchIndex:
    """Inverted index with BM25 scoring; `text` per document is kept for snippets."""

    def __init__(self, entries: list[_Entry], postings: dict[str, tuple[list[int], list[int]]], signature: str = ""):
        self.entries = entries
        self.postings = postings
        self.signature = signature
        total = sum(e.length for e in entries)
        self.avgdl = total / len(entries) if entries else 0.0

    def __len__(self) -> int:
        return len(self.entries)

    # -- persistence (plain JSON, no pickle) ------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        flat = {}
        for term, (docs, tfs) in self.postings.items():
            flat[term] = [x for pair in zip(docs, tfs, strict=True) for x in pair]
        return {
            "format": FORMAT_VERSION,
            "signature": self.signature,
            "documents": [{"id": e.id, "title": e.title, "length": e.length, "text": e.text} for e in self.entries],
            "postings": flat,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SearchIndex:
        if data.get("format") != FORMAT_VERSION:
            raise ValueError(f"unsupported search index format {data.get('format')!r}; re-run ingest")
        entries = [_Entry(d["id"], d["title"], int(d["length"]), d["text"]) for d in data["documents"]]
        postings = {term: (flat[0::2], flat[1::2]) for term, flat in data["postings"].items()}
        return cls(entries, postings, data.get("signature", ""))

    def save(self, path: Path) -> None:
        private_dir(path.parent)
        tmp = path.with_name(path.name + ".tmp")
        write_private_text(tmp, json.dumps(self.to_json(), ensure_ascii=False, separators=(",", ":")))
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> SearchIndex:
        return cls.from_json(json.loads(Path(path).read_text(encoding="utf-8")))

    # -- querying -------------------------------------------------------------------------
    def search(self, query: str, *, limit: int = 5, filters: dict[str, str] | None = None) -> list[dict[str, Any]]:
        """The `limit` best documents for `query` (BM25), best first, with a snippet each."""
        terms = list(dict.fromkeys(tokenize(query)))
        allowed = self._filter(filters) if filters else None
        n = len(self.entries)
        scores: dict[int, float] = {}
        for term in terms:
            posting = self.postings.get(term)
            if not posting:
                continue
            docs, tfs = posting
            idf = math.log(1 + (n - len(docs) + 0.5) / (len(docs) + 0.5))
            for doc, tf in zip(docs, tfs, strict=True):
                if allowed is not None and doc not in allowed:
                    continue
                norm = K1 * (1 - B + B * self.entries[doc].length / self.avgdl)
                scores[doc] = scores.get(doc, 0.0) + idf * tf * (K1 + 1) / (tf + norm)
        best = heapq.nsmallest(limit, scores.items(), key=lambda item: (-item[1], self.entries[item[0]].id))
        return [
            {
                "id": self.entries[doc].id,
                "title": self.entries[doc].title,
                "score": round(score, 4),
                "snippet": snippet(self.entries[doc].text, set(terms)),
            }
            for doc, score in best
        ]

    def _filter(self, filters: dict[str, str]) -> set[int]:
        prefix = filters.get("id_prefix", "")
        title = filters.get("title_contains", "").lower()
        return {
            i for i, e in enumerate(self.entries)
            if e.id.startswith(prefix) and (not title or title in e.title.lower())
        }


def build_index(docs: Iterable[Document], *, signature: str = "") -> SearchIndex:
    """Tokenise every document once and build the inverted index."""
    entries: list[_Entry] = []
    postings: dict[str, tuple[list[int], list[int]]] = {}
    for i, doc in enumerate(docs):
        text = markdown_to_text(doc.text) if doc.extension in (".md", ".markdown") else doc.text
        counts = Counter(tokenize(text))
        for term in tokenize(doc.title):
            counts[term] += TITLE_WEIGHT
        entries.append(_Entry(doc.id, doc.title, sum(counts.values()), text))
        for term, tf in counts.items():
            slot = postings.get(term)
            if slot is None:
                postings[term] = ([i], [tf])
            else:
                slot[0].append(i)
                slot[1].append(tf)
    return SearchIndex(entries, postings, signature)


def snippet(text: str, terms: set[str], width: int = SNIPPET_CHARS) -> str:
    """The window of `text` with the most distinct query terms (ties: the earliest), on word boundaries."""
    flat = " ".join(text.split())
    if len(flat) <= width:
        return flat
    hits = [(start, term) for term, start, _ in token_spans(flat) if term in terms]
    start = 0
    if hits:
        best_count, lo = -1, 0
        for hi in range(len(hits)):
            while hits[hi][0] - hits[lo][0] > width * 0.6:
                lo += 1
            count = len({t for _, t in hits[lo : hi + 1]})
            if count > best_count:
                best_count, start = count, hits[lo][0]
        start = max(0, start - width // 5)
        if start:
            space = flat.find(" ", start)
            start = space + 1 if 0 <= space < start + 30 else start
    end = min(len(flat), start + width)
    if end < len(flat):
        space = flat.rfind(" ", start, end)
        end = space if space > start + width // 2 else end
    return ("..." if start else "") + flat[start:end] + ("..." if end < len(flat) else "")


_CACHE: dict[str, tuple[str, SearchIndex]] = {}
_LOCK = threading.Lock()


def get_index(source: DocumentSource) -> SearchIndex:
    """The corpus's index: cached per process (warm Lambda), reloaded when the corpus changes.

    A stored index (written by `ingest`) is used when current; otherwise the index is built in memory.
    """
    key, version = source.cache_key(), source.version()
    with _LOCK:
        cached = _CACHE.get(key)
        if cached and cached[0] == version:
            return cached[1]
        stored = source.load_index()
        index = SearchIndex.from_json(stored) if stored else build_index(source.iter_text_documents(), signature=version)
        _CACHE[key] = (version, index)
        return index


def clear_cache() -> None:
    """Forget cached indexes (tests, or after an ingest in the same process)."""
    with _LOCK:
        _CACHE.clear()
