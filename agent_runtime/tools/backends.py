"""The documents source and reports sink the runtime hands to local tools, chosen from settings.

A folder corpus when a docs dir is given, else the S3 corpus when a documents bucket is set.
Reports go to S3 when a reports bucket is set (only in AWS), else under `data_dir/reports`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agent_runtime.settings import Settings
from lambda_tools.backends import (
    DocumentSource,
    FolderDocuments,
    FolderReports,
    ReportSink,
    S3Documents,
    S3Reports,
)


def documents_for(settings: Settings, docs_dir: Path | None = None, *, s3_client: Any = None) -> DocumentSource | None:
    """The corpus a local tool reads, or None when none is configured."""
    folder = docs_dir or settings.docs_dir
    if folder is not None:
        return FolderDocuments(Path(folder))
    if settings.documents_bucket:
        return S3Documents(bucket=settings.documents_bucket, client=s3_client or _s3())
    return None


def reports_for(settings: Settings, data_dir: Path | None = None, *, s3_client: Any = None) -> ReportSink:
    """Where a local publish_report writes."""
    if settings.reports_bucket:
        return S3Reports(bucket=settings.reports_bucket, s3_client=s3_client or _s3())
    return FolderReports(Path(data_dir or settings.data_dir) / "reports")


def _s3() -> Any:
    import boto3

    return boto3.client("s3")
