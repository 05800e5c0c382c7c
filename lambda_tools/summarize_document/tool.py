"""summarize_document: extractive summary within a length bound, original sentence order kept."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any, Literal

from pydantic import Field, model_validator

from lambda_tools.common import ToolFailure
from lambda_tools.schema import DOC_ID_DESCRIPTION, DOC_ID_PATTERN, ToolInput
from lambda_tools.spec import ToolContext
from lambda_tools.text import markdown_to_text, split_sentences, tokenize

DESCRIPTION = (
    "Extractive summary of a text or a corpus document: picks the most central sentences (TextRank) and "
    "returns them in their original order, within `max_length` characters (or sentences with "
    "unit='sentences'). Give exactly one of `text` or `document_id`."
)
OUTPUT = "{summary, sentences: [str], chars, source_sentences, source_chars, method}"


class SummarizeDocumentInput(ToolInput):
    text: str | None = Field(None, min_length=1, max_length=500_000, description="The text to summarise.")
    document_id: str | None = Field(None, max_length=300, pattern=DOC_ID_PATTERN, description=DOC_ID_DESCRIPTION)
    max_length: int = Field(
        600, ge=1, le=20_000, description="Length bound of the summary, in characters (unit='chars') or sentences."
    )
    unit: Literal["chars", "sentences"] = Field("chars", description="Unit of max_length.")

    @model_validator(mode="after")
    def _check(self) -> SummarizeDocumentInput:
        if (self.text is None) == (self.document_id is None):
            raise ValueError("give exactly one of text or document_id")
        if self.unit == "chars" and self.max_length < 50:
            raise ValueError("max_length must be at least 50 characters")
        if self.unit == "sentences" and self.max_length > 200:
            raise ValueError("max_length must be at most 200 sentences")
        return self


TEXTRANK_MAX_SENTENCES = 300  # above this, centroid scoring (linear) replaces TextRank (quadratic)
REDUNDANCY = 0.7  # a sentence this similar to one already chosen is skipped


def run(args: SummarizeDocumentInput, ctx: ToolContext) -> dict[str, Any]:
    """The most central sentences, in their original order, within the length bound."""
    text = args.text if args.text is not None else _document_text(args.document_id or "", ctx)
    plain = markdown_to_text(text)
    spans = split_sentences(plain)
    sentences = [" ".join(plain[a:b].split()) for a, b in spans]
    if not sentences:
        raise ToolFailure("the text has no sentences to summarise")
    tokens = [tokenize(s) for s in sentences]
    candidates = [i for i, t in enumerate(tokens) if len(t) >= 3] or list(range(len(sentences)))
    vectors = _tfidf([tokens[i] for i in candidates])
    if len(candidates) <= TEXTRANK_MAX_SENTENCES:
        method, scores = "textrank", _textrank(vectors)
    else:
        method, scores = "centroid", _centroid(vectors)
    order = sorted(range(len(candidates)), key=lambda k: (-scores[k], candidates[k]))
    chosen: list[int] = []
    used = 0
    for k in order:
        sentence = sentences[candidates[k]]
        cost = 1 if args.unit == "sentences" else len(sentence) + (1 if chosen else 0)
        if used + cost > args.max_length:
            continue
        if any(_cosine(vectors[k], vectors[j]) > REDUNDANCY for j in chosen):
            continue
        chosen.append(k)
        used += cost
    picked = sorted(candidates[k] for k in chosen)
    summary_sentences = [sentences[i] for i in picked]
    if not summary_sentences:  # even the best sentence is longer than the bound: cut it on a word
        best = sentences[candidates[order[0]]]
        cut = best.rfind(" ", 0, args.max_length - 3)
        summary_sentences = [best[: cut if cut > 0 else args.max_length - 3].rstrip(" ,;:") + "..."]
    summary = " ".join(summary_sentences)
    return {
        "summary": summary,
        "sentences": summary_sentences,
        "chars": len(summary),
        "source_sentences": len(sentences),
        "source_chars": len(plain),
        "method": method,
    }


def _document_text(doc_id: str, ctx: ToolContext) -> str:
    if ctx.documents is None:
        raise ToolFailure("no document corpus is configured; pass the text instead")
    return ctx.documents.get(doc_id).text


def _tfidf(token_lists: list[list[str]]) -> list[dict[str, float]]:
    df = Counter(term for tokens in token_lists for term in set(tokens))
    n = len(token_lists)
    vectors = []
    for tokens in token_lists:
        tf = Counter(tokens)
        vec = {t: (1 + math.log(c)) * math.log((1 + n) / (1 + df[t]) + 1) for t, c in tf.items()}
        norm = math.sqrt(sum(v * v for v in vec.values())) or 1.0
        vectors.append({t: v / norm for t, v in vec.items()})
    return vectors


def _cosine(a: dict[str, float], b: dict[str, float]) -> float:
    if len(a) > len(b):
        a, b = b, a
    return sum(v * b.get(t, 0.0) for t, v in a.items())


def _textrank(vectors: list[dict[str, float]], damping: float = 0.85, iterations: int = 50) -> list[float]:
    """PageRank over the sentence-similarity graph (weighted, undirected)."""
    n = len(vectors)
    edges: list[list[tuple[int, float]]] = [[] for _ in range(n)]
    for i in range(n):
        for j in range(i + 1, n):
            w = _cosine(vectors[i], vectors[j])
            if w > 0:
                edges[i].append((j, w))
                edges[j].append((i, w))
    out_sums = [sum(w for _, w in row) for row in edges]
    # incoming[i]: (j, share of j's score that flows to i)
    incoming = [[(j, w / out_sums[j]) for j, w in edges[i]] for i in range(n)]
    scores = [1.0 / n] * n
    for _ in range(iterations):
        new = [(1 - damping) / n + damping * sum(scores[j] * share for j, share in incoming[i]) for i in range(n)]
        done = max(abs(x - y) for x, y in zip(new, scores, strict=True)) < 1e-7
        scores = new
        if done:
            break
    return scores


def _centroid(vectors: list[dict[str, float]]) -> list[float]:
    centroid: dict[str, float] = {}
    for vec in vectors:
        for term, weight in vec.items():
            centroid[term] = centroid.get(term, 0.0) + weight
    return [_cosine(vec, centroid) for vec in vectors]
