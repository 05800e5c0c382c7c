"""Fixtures for the runtime's tool adapters: a tiny corpus and a fake Lambda context."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from lambda_tools import lambda_handler
from lambda_tools.search_documents.index import clear_cache


@pytest.fixture(autouse=True)
def _fresh_caches() -> Iterator[None]:
    clear_cache()
    lambda_handler.reset()
    yield
    clear_cache()
    lambda_handler.reset()


@pytest.fixture
def docs_dir(tmp_path: Path) -> Path:
    root = tmp_path / "docs"
    root.mkdir()
    (root / "threads.md").write_text("# Threads\n\nUse asyncio.to_thread to run blocking code in a thread.\n")
    (root / "bread.md").write_text("# Bread\n\nFlour, water, salt and time make bread.\n")
    return root


@pytest.fixture
def lambda_context() -> SimpleNamespace:
    return SimpleNamespace(
        function_name="fn", function_version="$LATEST", memory_limit_in_mb=256, aws_request_id="req-1",
        invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:fn",
        get_remaining_time_in_millis=lambda: 30_000,
    )
