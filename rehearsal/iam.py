"""IAM for the rehearsal: what action and resources an AWS request is, and whether a role's policies allow it.

moto's own authorization checks identity policies against the resource "*" for every service
but SQS, IAM and STS, so a least-privilege statement (`dynamodb:GetItem` on one table ARN) never
matches there. The gateway therefore evaluates the policy documents itself, with the resource ARN
each request really names and its condition keys (`rehearsal.conditions`): explicit Deny wins, then
any Allow whose conditions hold, else implicit deny.

A DynamoDB item request carries `dynamodb:LeadingKeys`, the partition-key values it reads or writes,
found by the table's key schema (`PartitionKeys`, from DescribeTable). Batches and transactions are
authorized item by item, as IAM does: one item denied denies the whole request.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple
from urllib.parse import parse_qs, unquote, urlsplit

from rehearsal.assembly import ACCOUNT, REGION
from rehearsal.conditions import EMPTY_CONTEXT, UNKNOWN, Context, evaluate, glob

# Credential-scope service name -> IAM action prefix.
IAM_PREFIX = {"monitoring": "cloudwatch", "email": "ses"}
_READS_WITHOUT_PERMISSION = {"sts:GetCallerIdentity"}
LEADING_KEYS = "dynamodb:LeadingKeys"
# (table name, index name or None) -> the name of its partition-key attribute, None when unknown.
PartitionKeys = Callable[[str, "str | None"], "str | None"]


class Check(NamedTuple):
    """One authorization: an IAM action on a resource, with the request's condition keys."""

    action: str
    resource: str
    context: Context = EMPTY_CONTEXT

    def describe(self) -> str:
        keys = "".join(f" with {k}={'(unknown)' if v is None else list(v)}" for k, v in self.context.items())
        return f"{self.action} on {self.resource}{keys}"


@dataclass(frozen=True)
class Request:
    """An AWS API request as the gateway sees it: service, action and the resources it names."""

    service: str  # credential-scope name: dynamodb, sqs, s3, ...
    action: str  # IAM action, e.g. "dynamodb:GetItem"
    resources: tuple[str, ...]
    params: dict[str, Any]  # the parsed body (JSON or form), {} for S3
    checks: tuple[Check, ...] = ()  # what to authorize; default action x resources, no condition keys

    def authorizations(self) -> tuple[Check, ...]:
        return self.checks or tuple(Check(self.action, r) for r in self.resources)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _names(statement: dict[str, Any], action: str, resource: str) -> bool:
    """Whether the statement's Action/NotAction and Resource/NotResource cover (action, resource)."""
    if "Action" in statement:
        if not any(glob(a, action, case=False) for a in _as_list(statement["Action"])):
            return False
    elif any(glob(a, action, case=False) for a in _as_list(statement.get("NotAction", []))):
        return False
    if "Resource" in statement:
        return any(glob(r, resource) for r in _as_list(statement["Resource"]))
    return not any(glob(r, resource) for r in _as_list(statement.get("NotResource", [])))


def decide(documents: list[dict[str, Any]], checks: tuple[Check, ...]) -> str | None:
    """None when every check is allowed, else why not ("explicit deny of ..." / "no statement allows ...")."""
    statements = [s for d in documents for s in _as_list(d.get("Statement", []))]
    for check in checks:
        if check.action not in _READS_WITHOUT_PERMISSION:
            verdict = _verdict(statements, check)
            if verdict is not None:
                return verdict
    return None


def _verdict(statements: list[dict[str, Any]], check: Check) -> str | None:
    """A Deny whose conditions hold or cannot be evaluated denies; an Allow counts only if they hold."""
    allowed, unmet = False, []
    for statement in statements:
        if not _names(statement, check.action, check.resource):
            continue
        outcome = evaluate(statement.get("Condition", {}), check.context)
        if statement.get("Effect") == "Deny" and outcome.holds is not False:
            return f"explicit deny of {check.describe()}" + (f" ({outcome.why})" if outcome.why else "")
        if statement.get("Effect") == "Allow":
            allowed = allowed or outcome.holds is True
            unmet += [outcome.why] if outcome.holds is not True else []
    if allowed:
        return None
    why = f": a statement names it but its condition is not met ({'; '.join(unmet)})" if unmet else ""
    return f"no statement allows {check.describe()}{why}"


def parse(service: str, method: str, url: str, headers: dict[str, str], body: bytes,
          secret_arns: dict[str, str], partition_keys: PartitionKeys | None = None) -> Request:
    """Classify one request (JSON, query or S3 REST protocol). Without `partition_keys` a DynamoDB item
    request's leading keys are unknown (a statement conditioned on them then does not allow it)."""
    prefix = IAM_PREFIX.get(service, service)
    if service == "s3":
        return _s3(method, url)
    target = headers.get("x-amz-target", "")
    params: dict[str, Any]
    if target:
        name = target.rsplit(".", 1)[-1]
        params = json.loads(body or b"{}")
    else:
        form = parse_qs(body.decode("utf-8", "replace")) if body else parse_qs(urlsplit(url).query)
        params = {k: v[0] for k, v in form.items()}
        name = params.get("Action", "Unknown")
    action = f"{prefix}:{name}"
    resources = tuple(_resources(service, params, secret_arns)) or ("*",)
    checks = dynamodb_checks(name, params, resources, partition_keys or (lambda table, index: None)) \
        if service == "dynamodb" else ()
    return Request(service, action, resources, params, checks)


# DynamoDB transactions have no IAM action of their own: each item is authorized as its operation.
_TRANSACT_OPS = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem",
                 "ConditionCheck": "ConditionCheckItem", "Get": "GetItem"}
_ITEM_ACTIONS = {"GetItem": "Key", "UpdateItem": "Key", "DeleteItem": "Key", "PutItem": "Item"}
# `<name> = <value>` in a key condition (either order); `<=`/`>=` do not match: `=` follows a name.
_EQUALITY = re.compile(r"([#:]?[A-Za-z0-9_.-]+)\s*=\s*([#:]?[A-Za-z0-9_.-]+)")


def dynamodb_checks(name: str, p: dict[str, Any], resources: tuple[str, ...],
                    partition_keys: PartitionKeys) -> tuple[Check, ...]:
    """The checks of a DynamoDB request with their `dynamodb:LeadingKeys`: one per item for batches
    (the batch's own action) and transactions (each item's operation), one for a single-item request or a
    Query; () for the rest (Scan, DescribeTable...: the key is absent from their context, as in IAM)."""
    def check(action: str, table: str, key: Any, index: str | None = None) -> Check:
        value = _key_value(key, partition_keys(table, index))
        suffix = f"/index/{index}" if index else ""
        return Check(f"dynamodb:{action}", _arn("dynamodb", f"table/{table}{suffix}"),
                     {LEADING_KEYS: UNKNOWN if value is None else (value,)})

    if name in _ITEM_ACTIONS:
        return (check(name, p.get("TableName", ""), p.get(_ITEM_ACTIONS[name])),)
    if name == "Query":
        table, index = p.get("TableName", ""), p.get("IndexName")
        return (check(name, table, _query_key(p, partition_keys(table, index)), index),)
    if name in ("BatchWriteItem", "BatchGetItem"):
        return tuple(check(name, table, key) for table, requests in p.get("RequestItems", {}).items()
                     for key in _batch_keys(requests))
    if name in ("TransactWriteItems", "TransactGetItems"):
        return tuple(check(_TRANSACT_OPS[op], body.get("TableName", ""), body.get("Item", body.get("Key")))
                     for item in p.get("TransactItems", []) for op, body in item.items() if op in _TRANSACT_OPS)
    return tuple(Check(f"dynamodb:{name}", r) for r in resources)


def partition_key_of(description: dict[str, Any], index: str | None = None) -> str | None:
    """The HASH attribute of a DescribeTable `Table` (or of its index `index`), None when not there."""
    schema = description.get("KeySchema", [])
    if index is not None:
        indexes = description.get("GlobalSecondaryIndexes", []) + description.get("LocalSecondaryIndexes", [])
        schema = next((i.get("KeySchema", []) for i in indexes if i.get("IndexName") == index), [])
    return next((k["AttributeName"] for k in schema if k.get("KeyType") == "HASH"), None)


def _batch_keys(requests: Any) -> list[Any]:
    """The key or item of each request of one table in a batch (BatchGetItem: its Keys)."""
    if isinstance(requests, dict):
        return list(requests.get("Keys", []))
    return [r.get("PutRequest", {}).get("Item") or r.get("DeleteRequest", {}).get("Key") for r in requests]


def _key_value(key: Any, attribute: str | None) -> str | None:
    """The string form of the partition-key value in an item or key (S, N or B), None when not there."""
    if attribute is None or not isinstance(key, dict) or not isinstance(key.get(attribute), dict):
        return None
    typed = key[attribute]
    found = [typed[t] for t in ("S", "N", "B") if t in typed]
    return str(found[0]) if found else None


def _query_key(p: dict[str, Any], attribute: str | None) -> dict[str, Any] | None:
    """{attribute: value} of the partition key a Query names: the `attr = :value` term of its
    KeyConditionExpression (names and values resolved), or the legacy KeyConditions' EQ."""
    if attribute is None:
        return None
    legacy = (p.get("KeyConditions") or {}).get(attribute)
    if legacy and legacy.get("ComparisonOperator") == "EQ" and legacy.get("AttributeValueList"):
        return {attribute: legacy["AttributeValueList"][0]}
    names, values = p.get("ExpressionAttributeNames") or {}, p.get("ExpressionAttributeValues") or {}
    for left, right in _EQUALITY.findall(str(p.get("KeyConditionExpression", ""))):
        for term, other in ((left, right), (right, left)):
            if names.get(term, term) == attribute and other.startswith(":") and other in values:
                return {attribute: values[other]}
    return None


def _arn(service: str, rest: str) -> str:
    return f"arn:aws:{service}:{REGION}:{ACCOUNT}:{rest}"


def _resources(service: str, p: dict[str, Any], secret_arns: dict[str, str]) -> list[str]:
    if service == "dynamodb":
        tables = [p["TableName"]] if "TableName" in p else list(p.get("RequestItems", {}))
        for item in p.get("TransactItems", []):
            tables += [op["TableName"] for op in item.values() if isinstance(op, dict) and "TableName" in op]
        suffix = f"/index/{p['IndexName']}" if "IndexName" in p else ""
        return [_arn("dynamodb", f"table/{t}{suffix}") for t in dict.fromkeys(tables)]
    if service == "sqs":
        if "QueueUrl" in p:
            return [_arn("sqs", p["QueueUrl"].rstrip("/").rsplit("/", 1)[-1])]
        if "QueueName" in p:
            return [f"arn:aws:sqs:{REGION}:{p.get('QueueOwnerAWSAccountId', ACCOUNT)}:{p['QueueName']}"]
        return []
    if service == "secretsmanager" and "SecretId" in p:
        sid = p["SecretId"]
        return [sid if sid.startswith("arn:") else secret_arns.get(sid, _arn("secretsmanager", f"secret:{sid}"))]
    if service == "sns":
        return [p[k] for k in ("TopicArn", "TargetArn") if k in p][:1]
    if service == "sts" and "RoleArn" in p:
        return [p["RoleArn"]]
    if service == "logs" and "logGroupName" in p:
        stream = f":log-stream:{p['logStreamName']}" if "logStreamName" in p else ""
        return [_arn("logs", f"log-group:{p['logGroupName']}{stream}")]
    if service == "lambda" and "FunctionName" in p:
        name = p["FunctionName"]
        return [name if name.startswith("arn:") else _arn("lambda", f"function:{name}")]
    return []


def _s3(method: str, url: str) -> Request:
    parts = urlsplit(url)
    bucket, _, key = unquote(parts.path).lstrip("/").partition("/")
    query = parse_qs(parts.query, keep_blank_values=True)
    if not key:
        names = {"GET": "ListBucket", "HEAD": "ListBucket", "PUT": "CreateBucket", "DELETE": "DeleteBucket"}
        name = names.get(method, "ListBucket")
        for sub, sub_name in (("versions", "ListBucketVersions"), ("versioning", "GetBucketVersioning"),
                              ("policy", "GetBucketPolicy"), ("uploads", "ListBucketMultipartUploads")):
            if sub in query:
                name = sub_name if method == "GET" else name.replace("Get", "Put")
        return Request("s3", f"s3:{name}", (f"arn:aws:s3:::{bucket}",), {})
    names = {"GET": "GetObject", "HEAD": "GetObject", "PUT": "PutObject", "POST": "PutObject",
             "DELETE": "DeleteObject"}
    name = names.get(method, "GetObject")
    if "tagging" in query:
        name = "GetObjectTagging" if method == "GET" else "PutObjectTagging"
    elif "versionId" in query and method in ("GET", "HEAD"):
        name = "GetObjectVersion"
    elif "uploadId" in query and method == "DELETE":
        name = "AbortMultipartUpload"
    return Request("s3", f"s3:{name}", (f"arn:aws:s3:::{bucket}/{key}",), {})


def access_key_of(headers: dict[str, str], url: str) -> tuple[str, str] | None:
    """(access key id, credential-scope service) from a SigV4 Authorization header or presigned query."""
    auth = headers.get("authorization", "")
    match = re.search(r"Credential=([^/]+)/\d{8}/[^/]+/([^/]+)/aws4_request", auth)
    if match:
        return match.group(1), match.group(2)
    query = parse_qs(urlsplit(url).query)
    if "X-Amz-Credential" in query:
        key, _, _, svc, _ = query["X-Amz-Credential"][0].split("/")
        return key, svc
    return None
