"""The store every contract test runs against: SQLite in a temporary file, and DynamoDB on moto."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from agent_runtime.store.base import Store
from agent_runtime.store.dynamodb import DynamoStore, create_table
from agent_runtime.store.sqlite import SQLiteStore


@pytest.fixture(params=["sqlite", "dynamodb"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """Each test once per store implementation."""
    if request.param == "sqlite":
        s: Store = SQLiteStore(tmp_path / "store.db")
        yield s
        await s.close()
        return
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_table(client, "platform")
        s = DynamoStore("platform", client=client)
        yield s
        await s.close()
