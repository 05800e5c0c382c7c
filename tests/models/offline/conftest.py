"""Fixtures for the offline model tests: the small corpus on disk, with the search cache cleared."""

from __future__ import annotations

from pathlib import Path

import pytest

from lambda_tools.search_documents.index import clear_cache
from tests.models.offline.support import CORPUS


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "docs"
    for name, text in CORPUS.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    clear_cache()
    return root
