"""The data stack: one table, private buckets, a TLS-only topic, the two secrets, and their outputs."""

from __future__ import annotations

from typing import Any

from .support import Synth


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


def test_secret_names_are_prefixed(default_synth: Synth) -> None:
    names = {s["Properties"]["Name"] for s in default_synth.resources("Data", "AWS::SecretsManager::Secret").values()}
    assert names == {"AgentPlatform/llm-api-key", "AgentPlatform/api-keys"}


def test_api_keys_secret_starts_with_a_generated_key(default_synth: Synth) -> None:
    secrets = default_synth.resources("Data", "AWS::SecretsManager::Secret").values()
    (api_keys,) = [s["Properties"] for s in secrets if s["Properties"]["Name"].endswith("/api-keys")]
    assert api_keys["GenerateSecretString"]["PasswordLength"] >= 32


def test_outputs_name_table_buckets_and_secrets(default_synth: Synth) -> None:
    outputs = {k for k in default_synth.template("Data")["Outputs"] if not k.startswith("PublishOutput")}
    assert outputs >= {"TableName", "DocumentsBucketName", "ReportsBucketName", "LlmApiKeySecretName",
                       "ApiKeysSecretName"}
