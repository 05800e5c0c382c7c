"""The data stack: one table, private buckets, a TLS-only topic, the two secrets, and their outputs."""

from __future__ import annotations

from typing import Any

import pytest

from .support import EXISTING, Synth


def _table(s: Synth) -> dict[str, Any]:
    (table,) = s.resources("Data", "AWS::DynamoDB::Table").values()
    return table["Properties"]


def _buckets(s: Synth) -> list[dict[str, Any]]:
    return [b["Properties"] for b in s.resources("Data", "AWS::S3::Bucket").values()]


def test_table_keys_are_pk_and_sk_strings(default_synth: Synth) -> None:
    assert (_table(default_synth)["KeySchema"], _table(default_synth)["AttributeDefinitions"]) == (
        [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        [{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}],
    )


def test_table_is_on_demand(default_synth: Synth) -> None:
    assert _table(default_synth)["BillingMode"] == "PAY_PER_REQUEST"


def test_table_has_point_in_time_recovery(default_synth: Synth) -> None:
    assert _table(default_synth)["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True


def test_table_items_expire_through_expires_at(default_synth: Synth) -> None:
    assert _table(default_synth)["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}


def test_table_is_encrypted(default_synth: Synth) -> None:
    assert _table(default_synth)["SSESpecification"]["SSEEnabled"] is True


def test_every_bucket_blocks_public_access(default_synth: Synth) -> None:
    assert all(all(b["PublicAccessBlockConfiguration"].values()) for b in _buckets(default_synth))


def test_every_bucket_is_encrypted(default_synth: Synth) -> None:
    assert all(b["BucketEncryption"]["ServerSideEncryptionConfiguration"] for b in _buckets(default_synth))


def test_documents_and_reports_buckets_are_versioned_and_logged(default_synth: Synth) -> None:
    data = [b for b in _buckets(default_synth) if "LoggingConfiguration" in b]
    assert [b["VersioningConfiguration"]["Status"] for b in data] == ["Enabled", "Enabled"]


def test_every_bucket_denies_plain_http(default_synth: Synth) -> None:
    policies = default_synth.resources("Data", "AWS::S3::BucketPolicy").values()
    denied = {p["Properties"]["Bucket"]["Ref"] for p in policies for st in p["Properties"]["PolicyDocument"]["Statement"]
              if st["Effect"] == "Deny" and st["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}}
    assert denied == set(default_synth.resources("Data", "AWS::S3::Bucket"))


def test_report_topic_only_accepts_tls(default_synth: Synth) -> None:
    (policy,) = default_synth.resources("Data", "AWS::SNS::TopicPolicy").values()
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    assert [s["Condition"] for s in statements if s["Effect"] == "Deny"] == [{"Bool": {"aws:SecureTransport": "false"}}]


def test_report_topic_is_encrypted(default_synth: Synth) -> None:
    (topic,) = default_synth.resources("Data", "AWS::SNS::Topic").values()
    assert "alias/aws/sns" in str(topic["Properties"]["KmsMasterKeyId"])


# Properties that fix a resource's physical name; a retained resource with one blocks the next deploy.
_NAME_PROPERTIES = ("Name", "TableName", "BucketName", "QueueName", "LogGroupName", "TopicName", "RoleName")


@pytest.mark.parametrize("which", ["default_synth", "variant_synth"])
def test_no_retained_resource_has_a_fixed_name(request: pytest.FixtureRequest, which: str) -> None:
    """After `cdk destroy` kept the table, buckets, secrets and logs, `cdk deploy` must not collide with them."""
    synth: Synth = request.getfixturevalue(which)
    named = [f"{stack}/{lid}" for stack, t in synth.templates().items() for lid, r in t["Resources"].items()
             if r.get("DeletionPolicy") == "Retain" and set(_NAME_PROPERTIES) & set(r.get("Properties", {}))]
    assert named == []


def test_secrets_are_retained_with_the_data(default_synth: Synth) -> None:
    secrets = default_synth.resources("Data", "AWS::SecretsManager::Secret").values()
    assert {s["DeletionPolicy"] for s in secrets} == {"Retain"}


def test_api_keys_secret_starts_with_a_generated_key(default_synth: Synth) -> None:
    secrets = default_synth.resources("Data", "AWS::SecretsManager::Secret")
    (api_keys,) = [s["Properties"] for lid, s in secrets.items() if "ApiKeys" in lid]
    assert api_keys["GenerateSecretString"]["PasswordLength"] >= 32


@pytest.mark.parametrize("resource", ["AWS::DynamoDB::Table", "AWS::SecretsManager::Secret"])
def test_existing_data_is_imported_not_created(domain_synth: Synth, resource: str) -> None:
    assert domain_synth.resources("Data", resource) == {}


def test_existing_buckets_are_imported_not_created(domain_synth: Synth) -> None:
    """Only the access log bucket is new; documents and reports are the kept ones."""
    assert [b["Properties"].get("LoggingConfiguration") for b in domain_synth.resources("Data", "AWS::S3::Bucket").values()] == [None]


@pytest.mark.parametrize(("output", "key"), [("TableName", "existing_table_name"),
                                             ("DocumentsBucketName", "existing_documents_bucket"),
                                             ("ReportsBucketName", "existing_reports_bucket")])
def test_outputs_name_the_kept_data(domain_synth: Synth, output: str, key: str) -> None:
    assert domain_synth.template("Data")["Outputs"][output]["Value"] == EXISTING[key]


def test_outputs_name_table_buckets_and_secrets(default_synth: Synth) -> None:
    outputs = {k for k in default_synth.template("Data")["Outputs"] if not k.startswith("PublishOutput")}
    assert outputs >= {"TableName", "DocumentsBucketName", "ReportsBucketName", "LlmApiKeySecretName",
                       "ApiKeysSecretName"}


@pytest.mark.parametrize(("which", "policy"), [("default_synth", "Retain"), ("domain_synth", "Delete")])
def test_log_groups_follow_retain_data(request: pytest.FixtureRequest, which: str, policy: str) -> None:
    synth: Synth = request.getfixturevalue(which)
    groups = [r for stack in ("Agents", "Tools") for r in synth.resources(stack, "AWS::Logs::LogGroup").values()]
    assert (len(groups) > 0, {g["DeletionPolicy"] for g in groups}) == (True, {policy})
