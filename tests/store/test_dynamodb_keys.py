"""The DynamoDB key layout IAM relies on: every item of an agent's task has a partition key its role's
`dynamodb:LeadingKeys` patterns (`agent_runtime.table_keys`) match, and no other agent's patterns do."""

from __future__ import annotations

import time
from collections.abc import Iterator
from fnmatch import fnmatchcase
from typing import Any

import boto3
import pytest
from moto import mock_aws

from agent_runtime.agents import AGENTS
from agent_runtime.checkpoint import Checkpoint
from agent_runtime.events import ModelTurn, TaskFinished, TaskStarted, Usage
from agent_runtime.quotas import QuotaCharge
from agent_runtime.store.base import ApprovalRecord, TaskRecord, request_hash
from agent_runtime.store.dynamodb import DynamoStore, create_table
from agent_runtime.table_keys import AGENT_NAME, leading_key_patterns, new_task_id
from agent_runtime.task_run import ScopedMemory

TABLE = "platform"


@pytest.fixture
def client() -> Iterator[Any]:
    with mock_aws():
        c = boto3.client("dynamodb", region_name="us-east-1")
        create_table(c, TABLE)
        yield c


def _partition_keys(client: Any) -> set[str]:
    """Every partition key in the table (a Scan: the test's view, not the agents')."""
    return {i["pk"]["S"] for page in client.get_paginator("scan").paginate(TableName=TABLE) for i in page["Items"]}


def _granted(agent: str, pk: str) -> bool:
    """Whether IAM's `ForAllValues:StringLike` on `dynamodb:LeadingKeys` lets `agent` touch `pk`."""
    return any(fnmatchcase(pk, pattern) for pattern in leading_key_patterns(agent))


async def _lifecycle(store: DynamoStore, agent: str) -> None:
    """One task through every write the runtime makes: create (with an Idempotency-Key and a quota charge),
    claim, events, checkpoint, approval requested and decided, session memory as the worker scopes it, finish."""
    task_id = new_task_id(agent)
    record = TaskRecord(task_id=task_id, agent=agent, input="q", session_id="s1")
    quota = QuotaCharge(agent=agent, principal="alice", day="2026-12-01", nbytes=3, limit=100)
    await store.create_task(record, idempotency_key="k1", body_hash=request_hash({"input": "q"}), quota=quota)
    await store.claim_task(task_id, owner="w1", lease_s=60)
    t = time.time()
    events = [TaskStarted(task_id=task_id, seq=1, ts=t, agent=agent, input="q", model="m"),
              ModelTurn(task_id=task_id, seq=2, ts=t, step=1, thought="thinking")]
    checkpoint = Checkpoint(step=1, messages=[{"role": "user", "content": "q"}], seq=2, pinned=1)
    await store.save_progress(task_id, events=events, checkpoint=checkpoint, owner="w1")
    await store.create_approval(ApprovalRecord(task_id=task_id, call_id="c1", tool="publish_report", arguments={},
                                               step=1, deadline=t + 60, requested_at=t))
    await store.decide_approval(task_id, "c1", approved=True, reason=None, decided_by="api")
    await ScopedMemory(store, agent).append("s1", [{"role": "user", "content": "q"}])
    await store.finish_task(task_id, TaskFinished(task_id=task_id, seq=3, ts=t, steps=1, usage=Usage(), cost_usd=0,
                                                  stop_reason="final_answer", answer="a"), owner="w1")


async def test_every_item_of_an_agents_task_is_under_its_own_prefixes(client: Any) -> None:
    store = DynamoStore(TABLE, client=client)
    await _lifecycle(store, "research")
    await store.close()
    keys = _partition_keys(client)
    # the task, the idempotency key, the session, the agent's task-list index (`<agent>#TASKS`), the quota
    assert len(keys) == 5 and "research#QUOTA#alice#2026-12-01" in keys
    assert [k for k in keys if not _granted("research", k)] == []


async def test_no_agent_is_granted_another_agents_items(client: Any) -> None:
    store = DynamoStore(TABLE, client=client)
    for agent in AGENTS:
        await _lifecycle(store, agent)
    await store.close()
    owners = {pk: [a for a in AGENTS if _granted(a, pk)] for pk in _partition_keys(client)}
    assert len(owners) == 5 * len(AGENTS) and all(len(agents) == 1 for agents in owners.values())


async def test_a_task_id_outside_its_agents_prefix_is_refused(client: Any) -> None:
    store = DynamoStore(TABLE, client=client)
    with pytest.raises(ValueError, match="must start with 'research-'"):
        await store.create_task(TaskRecord(task_id="content-1", agent="research", input="q"))
    await store.close()
    assert _partition_keys(client) == set()


def test_agent_names_keep_prefixes_apart() -> None:
    """No separator may appear in a name, or `research-*` could match an agent called `research-v2`."""
    assert [name for name in AGENTS if not AGENT_NAME.fullmatch(name)] == []
