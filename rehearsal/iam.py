"""IAM for the rehearsal: what action and resources an AWS request is, and whether a role's policies allow it.

moto's own authorization checks identity policies against the resource "*" for every service
but SQS, IAM and STS, so a least-privilege statement (`dynamodb:GetItem` on one table ARN) never
matches there. The gateway therefore evaluates the policy documents itself, with the resource ARN
each request really names: explicit Deny wins, then any Allow, else implicit deny.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from rehearsal.assembly import ACCOUNT, REGION

# Credential-scope service name -> IAM action prefix.
IAM_PREFIX = {"monitoring": "cloudwatch", "email": "ses"}
# X-Amz-Target prefixes (JSON protocols) by credential-scope service.
_READS_WITHOUT_PERMISSION = {"sts:GetCallerIdentity"}


@dataclass(frozen=True)
class Request:
    """An AWS API request as the gateway sees it: service, action and the resources it names."""

    service: str  # credential-scope name: dynamodb, sqs, s3, ...
    action: str  # IAM action, e.g. "dynamodb:GetItem"
    resources: tuple[str, ...]
    params: dict[str, Any]  # the parsed body (JSON or form), {} for S3
    checks: tuple[tuple[str, str], ...] = ()  # (IAM action, resource) to authorize; default action x resources

    def authorizations(self) -> tuple[tuple[str, str], ...]:
        return self.checks or tuple((self.action, r) for r in self.resources)


def _glob(pattern: str, value: str, *, case: bool = True) -> bool:
    regex = "^" + ".*".join(".".join(re.escape(p) for p in part.split("?")) for part in pattern.split("*")) + "$"
    return re.match(regex, value, 0 if case else re.IGNORECASE) is not None


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _statement_applies(statement: dict[str, Any], action: str, resource: str) -> bool:
    if "Action" in statement:
        if not any(_glob(a, action, case=False) for a in _as_list(statement["Action"])):
            return False
    elif any(_glob(a, action, case=False) for a in _as_list(statement.get("NotAction", []))):
        return False
    if "Resource" in statement:
        if not any(_glob(r, resource) for r in _as_list(statement["Resource"])):
            return False
    elif any(_glob(r, resource) for r in _as_list(statement.get("NotResource", []))):
        return False
    return _conditions_hold(statement.get("Condition", {}))


def _conditions_hold(conditions: dict[str, Any]) -> bool:
    """Only aws:SecureTransport is evaluated (the deployed clients always use TLS); other keys hold."""
    for operator, tests in conditions.items():
        for key, expected in tests.items():
            if key.lower() == "aws:securetransport" and operator.startswith("Bool"):
                if str(_as_list(expected)[0]).lower() != "true":
                    return False
    return True


def decide(documents: list[dict[str, Any]], checks: tuple[tuple[str, str], ...]) -> str | None:
    """None when every (action, resource) is allowed, else why not ("explicit deny" / "no statement allows")."""
    for action, resource in checks:
        if action in _READS_WITHOUT_PERMISSION:
            continue
        statements = [s for d in documents for s in _as_list(d.get("Statement", []))]
        matching = [s for s in statements if _statement_applies(s, action, resource)]
        if any(s.get("Effect") == "Deny" for s in matching):
            return f"explicit deny of {action} on {resource}"
        if not any(s.get("Effect") == "Allow" for s in matching):
            return f"no statement allows {action} on {resource}"
    return None


def parse(service: str, method: str, url: str, headers: dict[str, str], body: bytes,
          secret_arns: dict[str, str]) -> Request:
    """Classify one request (JSON, query or S3 REST protocol)."""
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
    return Request(service, action, resources, params, _transact_checks(service, params))


# DynamoDB transactions have no IAM action of their own: each item is authorized as its operation.
_TRANSACT_OPS = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem",
                 "ConditionCheck": "ConditionCheckItem", "Get": "GetItem"}


def _transact_checks(service: str, params: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    if service != "dynamodb" or "TransactItems" not in params:
        return ()
    return tuple((f"dynamodb:{_TRANSACT_OPS[op]}", _arn("dynamodb", f"table/{body['TableName']}"))
                 for item in params["TransactItems"] for op, body in item.items() if op in _TRANSACT_OPS)


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
