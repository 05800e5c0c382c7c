"""Unit tests of the rehearsal's pieces that need no processes: the resolver, IAM decisions, router rules."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from agent_runtime.table_keys import leading_key_patterns
from rehearsal.assembly import Assembly, Resolver, World
from rehearsal.gateway import shape
from rehearsal.iam import Request, decide, parse, partition_key_of
from rehearsal.router import Rule, route

TEMPLATES = {
    "Data": {"Resources": {"T": {"Type": "AWS::DynamoDB::Table"}},
             "Outputs": {"TableArn": {"Value": {"Fn::GetAtt": ["T", "Arn"]}, "Export": {"Name": "Data:TableArn"}}}},
    "App": {"Resources": {}},
}


def _resolver() -> Resolver:
    world = World()
    world.add("Data", "T", "tasks", Arn="arn:aws:dynamodb:us-east-1:123456789012:table/tasks")
    return Resolver(Assembly(Path("."), TEMPLATES), world)


def test_resolver_follows_stack_outputs_imports_joins_and_subs() -> None:
    r = _resolver()
    arn = "arn:aws:dynamodb:us-east-1:123456789012:table/tasks"
    assert r({"Fn::GetStackOutput": {"StackName": "Data", "OutputName": "TableArn"}}, "App") == arn
    assert r({"Fn::ImportValue": "Data:TableArn"}, "App") == arn
    assert r({"Fn::Join": ["", [{"Ref": "T"}, "/*"]]}, "Data") == "tasks/*"
    assert r({"Fn::Sub": "${AWS::Region}:${T.Arn}"}, "Data") == f"us-east-1:{arn}"
    assert r({"Fn::Select": [1, {"Fn::Split": [",", "a,b"]}]}, "Data") == "b"


def test_iam_allows_only_the_named_resource() -> None:
    doc = {"Statement": [{"Effect": "Allow", "Action": ["dynamodb:GetItem"],
                          "Resource": "arn:aws:dynamodb:us-east-1:123456789012:table/tasks"}]}
    ok = parse("dynamodb", "POST", "/", {"x-amz-target": "DynamoDB_20120810.GetItem"}, b'{"TableName": "tasks"}', {})
    other = parse("dynamodb", "POST", "/", {"x-amz-target": "DynamoDB_20120810.GetItem"}, b'{"TableName": "x"}', {})
    put = parse("dynamodb", "POST", "/", {"x-amz-target": "DynamoDB_20120810.PutItem"}, b'{"TableName": "tasks"}', {})
    assert decide([doc], ok.authorizations()) is None
    assert decide([doc], other.authorizations()) is not None
    assert decide([doc], put.authorizations()) is not None


def test_s3_object_requests_name_the_object() -> None:
    request = parse("s3", "GET", "/bucket/documents/a.md", {}, b"", {})
    assert (request.action, request.resources) == ("s3:GetObject", ("arn:aws:s3:::bucket/documents/a.md",))


def test_router_applies_rules_by_priority_then_the_default() -> None:
    rules = [Rule(10, ("/v1/agents/research", "/v1/agents/research/*"), "research"),
             Rule(20, ("/v1/agents/content/*",), "content")]
    assert route(rules, "default", "/v1/agents/research/tasks?x=1") == "research"
    assert route(rules, "default", "/v1/agents/content/tasks/1") == "content"
    assert route(rules, "default", "/healthz") == "default"


def test_transactions_are_authorized_item_by_item() -> None:
    doc = {"Statement": [{"Effect": "Allow", "Action": ["dynamodb:PutItem", "dynamodb:ConditionCheckItem"],
                          "Resource": "arn:aws:dynamodb:us-east-1:123456789012:table/tasks"}]}
    body = b'{"TransactItems": [{"Put": {"TableName": "tasks"}}, {"ConditionCheck": {"TableName": "tasks"}}]}'
    request = parse("dynamodb", "POST", "/", {"x-amz-target": "DynamoDB_20120810.TransactWriteItems"}, body, {})
    assert decide([doc], request.authorizations()) is None


def _dynamodb(action: str, body: dict[str, object]) -> Request:
    return parse("dynamodb", "POST", "/", {"x-amz-target": f"DynamoDB_20120810.{action}"},
                 json.dumps({"TableName": "tasks", **body}).encode(), {})


def test_polls_and_renewals_are_told_from_the_task_s_work() -> None:
    task_key = {"Key": {"pk": {"S": "TASK#research-1"}, "sk": {"S": "TASK"}}}
    assert shape(_dynamodb("GetItem", task_key)) == "task record read"
    assert shape(_dynamodb("GetItem", {**task_key, "ProjectionExpression": "pk, #c"})) is None  # the checkpoint
    renew = {"UpdateExpression": "SET #lease_until = :lease_until",
             "ExpressionAttributeNames": {"#lease_until": "lease_until", "#lease_owner": "lease_owner"}}
    assert shape(_dynamodb("UpdateItem", renew)) == "lease renewal"
    claim = {"UpdateExpression": "SET #state = :state, #lease_until = :lease_until",
             "ExpressionAttributeNames": {"#state": "state", "#lease_until": "lease_until"}}
    assert shape(_dynamodb("UpdateItem", claim)) is None
    events = {"ExpressionAttributeValues": {":lo": {"S": "EVT#0000000003"}}}
    assert shape(_dynamodb("Query", events)) == "event log read"
    progress = {"UpdateExpression": "SET #last_seq = :last_seq, #checkpoint = :checkpoint",
                "ExpressionAttributeNames": {"#last_seq": "last_seq", "#checkpoint": "checkpoint"}}
    assert shape(_dynamodb("UpdateItem", progress)) == "progress write"


TABLE_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/tasks"
# The agent task role's statement on the table, as stacks/grants.py writes it.
OWN_ITEMS = {"Statement": [{
    "Effect": "Allow", "Resource": TABLE_ARN,
    "Action": ["dynamodb:BatchGetItem", "dynamodb:BatchWriteItem", "dynamodb:GetItem", "dynamodb:PutItem",
               "dynamodb:Query", "dynamodb:UpdateItem"],
    "Condition": {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": list(leading_key_patterns("research"))}}}]}
# DescribeTable's answer: the partition key is read from it, never assumed.
DESCRIPTION = {"TableName": "tasks", "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                                                   {"AttributeName": "sk", "KeyType": "RANGE"}],
               "GlobalSecondaryIndexes": [{"IndexName": "by_owner",
                                           "KeySchema": [{"AttributeName": "owner", "KeyType": "HASH"}]}]}


def _keyed(action: str, body: dict[str, Any], description: dict[str, Any] | None = DESCRIPTION) -> Request:
    """A DynamoDB request parsed with the table's key schema from `description`."""
    return parse("dynamodb", "POST", "/", {"x-amz-target": f"DynamoDB_20120810.{action}"},
                 json.dumps(body).encode(), {},
                 lambda table, index: partition_key_of(description, index) if description else None)


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _item_requests(pk: str) -> list[tuple[str, dict[str, Any]]]:
    """One request of each kind the runtime makes, every one on partition key `pk`."""
    key = {"pk": _s(pk), "sk": _s("TASK")}
    return [
        ("PutItem", {"TableName": "tasks", "Item": {**key, "state": _s("queued")}}),
        ("GetItem", {"TableName": "tasks", "Key": key}),
        ("UpdateItem", {"TableName": "tasks", "Key": key, "UpdateExpression": "SET #s = :s"}),
        ("Query", {"TableName": "tasks", "KeyConditionExpression": "#k = :pk AND sk BETWEEN :lo AND :hi",
                   "ExpressionAttributeNames": {"#k": "pk"},
                   "ExpressionAttributeValues": {":lo": _s("EVT#0"), ":hi": _s("EVT#9"), ":pk": _s(pk)}}),
        ("Query", {"TableName": "tasks", "KeyConditionExpression": "sk >= :lo AND :pk = pk",
                   "ExpressionAttributeValues": {":lo": _s("A"), ":pk": _s(pk)}}),
        ("BatchWriteItem", {"RequestItems": {"tasks": [{"PutRequest": {"Item": {**key, "seq": {"N": "1"}}}},
                                                       {"DeleteRequest": {"Key": key}}]}}),
        ("BatchGetItem", {"RequestItems": {"tasks": {"Keys": [key]}}}),
        ("TransactWriteItems", {"TransactItems": [{"Put": {"TableName": "tasks", "Item": key}},
                                                  {"Update": {"TableName": "tasks", "Key": key}}]}),
    ]


def test_leading_keys_allow_the_agent_s_own_prefixes() -> None:
    for pk in ("research-0123abcd", "research#IDEM#k1", "research#TASKS#alice", "research#QUOTA#alice#2026-12-01",
               "research/session-1"):
        for action, body in _item_requests(pk):
            assert decide([OWN_ITEMS], _keyed(action, body).authorizations()) is None, (action, pk)


def test_leading_keys_deny_another_agent_s_and_unprefixed_keys() -> None:
    for pk in ("content-0123abcd", "content#IDEM#k1", "0123abcd", "research", "researchx-1", "Research-1"):
        for action, body in _item_requests(pk):
            denied = str(decide([OWN_ITEMS], _keyed(action, body).authorizations()))
            named = "PutItem" if action == "TransactWriteItems" else action  # its first item, a Put
            assert denied.startswith(f"no statement allows dynamodb:{named} on {TABLE_ARN} with "
                                     f"dynamodb:LeadingKeys=['{pk}']"), (action, pk, denied)
            assert "ForAllValues:StringLike dynamodb:LeadingKeys" in denied, denied


def test_one_item_outside_the_prefix_denies_the_whole_batch_or_transaction() -> None:
    own, other = {"pk": _s("research-1"), "sk": _s("E")}, {"pk": _s("content-1"), "sk": _s("E")}
    batch = _keyed("BatchWriteItem", {"RequestItems": {"tasks": [{"PutRequest": {"Item": own}},
                                                                 {"PutRequest": {"Item": other}}]}})
    assert [c.action for c in batch.authorizations()] == ["dynamodb:BatchWriteItem"] * 2
    assert decide([OWN_ITEMS], batch.authorizations()) == (
        f"no statement allows dynamodb:BatchWriteItem on {TABLE_ARN} with dynamodb:LeadingKeys=['content-1']: "
        "a statement names it but its condition is not met (ForAllValues:StringLike dynamodb:LeadingKeys "
        "['research-*', 'research#*', 'research/*'] does not hold)")
    transact = _keyed("TransactWriteItems", {"TransactItems": [{"Update": {"TableName": "tasks", "Key": own}},
                                                               {"Put": {"TableName": "tasks", "Item": other}}]})
    denied = decide([OWN_ITEMS], transact.authorizations())
    assert denied is not None and denied.startswith("no statement allows dynamodb:PutItem") and "content-1" in denied


def test_the_partition_key_comes_from_the_table_description() -> None:
    by_id = {"KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}]}
    assert decide([OWN_ITEMS], _keyed("GetItem", {"TableName": "tasks", "Key": {"id": _s("research-1")}},
                                      by_id).authorizations()) is None
    # `pk` is not this table's partition key: the request's leading key is unknown, and that does not allow.
    unknown = decide([OWN_ITEMS], _keyed("GetItem", {"TableName": "tasks", "Key": {"pk": _s("research-1")}},
                                         by_id).authorizations())
    assert unknown is not None and "could not be worked out" in unknown
    assert decide([OWN_ITEMS], _keyed("GetItem", {"TableName": "tasks", "Key": {"pk": _s("research-1")}},
                                      None).authorizations()) is not None
    index = _keyed("Query", {"TableName": "tasks", "IndexName": "by_owner", "KeyConditionExpression": "owner = :o",
                             "ExpressionAttributeValues": {":o": _s("research-alice")}})
    assert index.authorizations()[0].context == {"dynamodb:LeadingKeys": ("research-alice",)}


def test_conditions_follow_iam_set_semantics_and_fail_closed_on_what_is_not_evaluated() -> None:
    scan = _keyed("Scan", {"TableName": "tasks"}).authorizations()  # no partition key in its context
    def doc(effect: str, condition: dict[str, Any]) -> dict[str, Any]:
        return {"Statement": [{"Effect": effect, "Action": "dynamodb:Scan", "Resource": TABLE_ARN,
                               "Condition": condition}]}
    allow_all = doc("Allow", {})
    assert decide([doc("Allow", {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": "x-*"}})], scan) is None
    assert decide([doc("Allow", {"ForAnyValue:StringLike": {"dynamodb:LeadingKeys": "x-*"}})], scan) is not None
    assert decide([doc("Allow", {"StringEquals": {"dynamodb:LeadingKeys": "x"}})], scan) is not None
    assert decide([doc("Allow", {"StringNotLike": {"dynamodb:LeadingKeys": "x-*"}})], scan) is None
    assert decide([doc("Allow", {"StringLikeIfExists": {"dynamodb:LeadingKeys": "x-*"}})], scan) is None
    assert decide([allow_all, doc("Deny", {"Bool": {"aws:SecureTransport": "false"}})], scan) is None
    # A key or operator the rehearsal cannot evaluate: an Allow does not allow, a Deny denies.
    unknown_key = {"StringEquals": {"aws:SourceAccount": "123456789012"}}
    assert "aws:SourceAccount is not evaluated" in str(decide([doc("Allow", unknown_key)], scan))
    assert str(decide([allow_all, doc("Deny", unknown_key)], scan)).startswith("explicit deny")
    unknown_operator = {"ArnLike": {"aws:SourceArn": "arn:*"}}
    assert "ArnLike is not evaluated" in str(decide([doc("Allow", unknown_operator)], scan))
