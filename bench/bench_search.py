"""Benchmark of search_documents: index build over 10,000 generated documents, query latency
(p50/p95), index JSON size and load time, and a Lambda handler's cold import time.

    python -m bench.bench_search
"""

from __future__ import annotations

import json
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from lambda_tools.backends import Document
from lambda_tools.search_documents.index import SearchIndex, build_index

DOCUMENTS = 10_000
QUERIES = 300
VOCABULARY = 20_000
REPO_ROOT = Path(__file__).resolve().parent.parent


def _corpus(rng: random.Random) -> tuple[list[str], list[Document]]:
    """Documents with a Zipf-like word distribution (a few very common words, a long tail)."""
    syllables = ["ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "ze", "pa", "qu", "der", "lin", "mor", "tes"]
    words = sorted({"".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))) for _ in range(VOCABULARY)})
    weights = [1 / (rank + 1) for rank in range(len(words))]
    docs = []
    for i in range(DOCUMENTS):
        body = rng.choices(words, weights=weights, k=rng.randint(120, 400))
        title = " ".join(rng.choices(words, weights=weights, k=4)).title()
        text = f"# {title}\n\n" + ". ".join(" ".join(body[j : j + 12]) for j in range(0, len(body), 12)) + "."
        docs.append(Document(id=f"docs/{i:05d}", title=title, text=text, extension=".md"))
    return words, docs


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def _cold_import_ms(module: str, runs: int = 5) -> float:
    code = f"import time; t = time.perf_counter(); import {module}; print((time.perf_counter() - t) * 1000)"
    samples = []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
        samples.append(float(out.stdout.strip()))
    return statistics.median(samples)


def run() -> dict[str, Any]:
    """Measure and return the figures (seconds, milliseconds, megabytes)."""
    rng = random.Random(42)
    words, docs = _corpus(rng)
    started = time.perf_counter()
    index = build_index(docs)
    build_s = time.perf_counter() - started

    started = time.perf_counter()
    blob = json.dumps(index.to_json(), separators=(",", ":"))
    SearchIndex.from_json(json.loads(blob))
    load_s = time.perf_counter() - started

    common, tail = words[:200], words[200:]
    latencies = []
    for _ in range(QUERIES):
        query = " ".join(rng.sample(common, 1) + rng.sample(tail[:5000], rng.randint(1, 3)))
        started = time.perf_counter()
        index.search(query, limit=10)
        latencies.append((time.perf_counter() - started) * 1000)
    return {
        "documents": len(index),
        "terms": len(index.postings),
        "index_build_s": round(build_s, 3),
        "index_json_mb": round(len(blob) / 1e6, 1),
        "index_save_load_s": round(load_s, 3),
        "query_p50_ms": round(_percentile(latencies, 50), 2),
        "query_p95_ms": round(_percentile(latencies, 95), 2),
        "handler_cold_import_ms": round(_cold_import_ms("lambda_tools.search_documents.handler"), 1),
    }


def main() -> None:
    results = run()
    width = max(len(k) for k in results)
    print(f"{'search_documents benchmark':<{width}}  value")
    for key, value in results.items():
        print(f"{key:<{width}}  {value}")


if __name__ == "__main__":
    main()
