"""The tool functions' settings, read from the environment in this one place (names in `envnames`)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from lambda_tools import envnames as env


@dataclass(frozen=True)
class ToolSettings:
    documents_bucket: str | None = None
    documents_prefix: str = "documents/"
    index_key: str | None = None
    reports_bucket: str | None = None
    reports_prefix: str = "reports/"
    reports_topic_arn: str | None = None
    fetch_allow_hosts: frozenset[str] = frozenset()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> ToolSettings:
        def get(name: str) -> str | None:
            value = environ.get(name, "").strip()
            return value or None

        hosts = frozenset(h.strip().lower() for h in (get(env.FETCH_ALLOW_HOSTS) or "").split(",") if h.strip())
        return cls(
            documents_bucket=get(env.DOCUMENTS_BUCKET),
            documents_prefix=get(env.DOCUMENTS_PREFIX) or "documents/",
            index_key=get(env.INDEX_KEY),
            reports_bucket=get(env.REPORTS_BUCKET),
            reports_prefix=get(env.REPORTS_PREFIX) or "reports/",
            reports_topic_arn=get(env.REPORTS_TOPIC_ARN),
            fetch_allow_hosts=hosts,
        )
