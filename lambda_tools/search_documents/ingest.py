"""Build the search index for a folder of documents and, optionally, upload docs + index to S3.

Wired to `agent-platform ingest DIR [--bucket B]`. The S3 layout matches what the Lambda
functions read: documents under `prefix`, the index at `prefix + "_index/search-index.json"`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from lambda_tools.backends import ALL_EXTENSIONS, DEFAULT_INDEX_SUFFIX, FolderDocuments
from lambda_tools.search_documents.index import build_index

_CONTENT_TYPES = {
    ".md": "text/markdown; charset=utf-8",
    ".markdown": "text/markdown; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".csv": "text/csv; charset=utf-8",
    ".json": "application/json",
}


def ingest(
    source_dir: Path,
    *,
    index_path: Path | None = None,
    bucket: str | None = None,
    prefix: str = "documents/",
    index_key: str | None = None,
    s3_client: Any = None,
) -> dict[str, Any]:
    """Index `source_dir` (.md/.txt searchable; .csv/.json kept for analyze_data) and upload when asked.

    Returns a summary: documents indexed, distinct terms, seconds, where the index went, files uploaded.
    """
    source_dir = Path(source_dir)
    if not source_dir.is_dir():
        raise ValueError(f"{source_dir} is not a folder")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    source = FolderDocuments(source_dir, index_path=index_path)
    started = time.perf_counter()
    index = build_index(source.iter_text_documents(), signature=source.signature())
    index.save(source.index_path)
    summary: dict[str, Any] = {
        "documents": len(index),
        "terms": len(index.postings),
        "seconds": round(time.perf_counter() - started, 3),
        "index_path": str(source.index_path),
        "uploaded": 0,
    }
    if bucket:
        if s3_client is None:
            import boto3  # only needed for uploads

            s3_client = boto3.client("s3")
        uploaded = 0
        # The same files the folder backend serves: no left-out folders, no links out of the folder.
        for relative, path in source.files(ALL_EXTENSIONS):
            s3_client.put_object(
                Bucket=bucket, Key=prefix + relative, Body=path.read_bytes(),
                ContentType=_CONTENT_TYPES[path.suffix.lower()],
            )
            uploaded += 1
        key = index_key or prefix + DEFAULT_INDEX_SUFFIX
        body = json.dumps(index.to_json(), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        s3_client.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")
        summary.update(uploaded=uploaded, bucket=bucket, index_key=key, location=f"s3://{bucket}/{key}")
    return summary
