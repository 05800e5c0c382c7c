"""Unit tests of the rehearsal's pieces that need no processes: the resolver, IAM decisions, router rules."""

from __future__ import annotations

import json
from pathlib import Path

from rehearsal.assembly import Assembly, Resolver, World
from rehearsal.gateway import shape
from rehearsal.iam import Request, decide, parse
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
