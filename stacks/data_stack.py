"""Stateful resources: the table, the buckets, the report topic and the secrets."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.constructs.platform_secrets import PlatformSecrets
from stacks.constructs.platform_table import PlatformTable
from stacks.constructs.secure_bucket import SecureBucket
from stacks.constructs.secure_topic import SecureTopic
from stacks.settings import PlatformSettings


class DataStack(Stack):
    """Everything that holds data; retained on `cdk destroy` unless `retain_data` is false.

    Nothing here has a fixed physical name, so a redeploy after `cdk destroy` never collides
    with what the last one kept; `existing_*` settings attach the new deployment to kept data
    (imported, not created: this stack then neither changes nor deletes it).
    """

    def __init__(self, scope: Construct, construct_id: str, *, settings: PlatformSettings, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        retain = settings.retain_data
        self.access_logs = SecureBucket(
            self, "AccessLogs", access_logs=None, retain=retain, expire_days=settings.log_retention_days
        ).bucket
        self.documents = self._bucket("Documents", settings.existing_documents_bucket, retain)
        self.reports = self._bucket("Reports", settings.existing_reports_bucket, retain)
        self.table: dynamodb.ITable = (
            dynamodb.Table.from_table_name(self, "Tasks", settings.existing_table_name)
            if settings.existing_table_name else PlatformTable(self, "Tasks", retain=retain).table
        )
        self.reports_topic = SecureTopic(self, "ReportsTopic", display_name="Published agent reports").topic
        self.secrets = secrets = PlatformSecrets(
            self, "Secrets", retain=retain, existing_llm_api_key=settings.existing_llm_api_key_secret,
            existing_api_keys=settings.existing_api_keys_secret,
        )

        CfnOutput(self, "TableName", value=self.table.table_name)
        CfnOutput(self, "DocumentsBucketName", value=self.documents.bucket_name)
        CfnOutput(self, "ReportsBucketName", value=self.reports.bucket_name)
        CfnOutput(self, "ReportsTopicArn", value=self.reports_topic.topic_arn)
        CfnOutput(self, "LlmApiKeySecretName", value=secrets.llm_api_key.secret_name)
        CfnOutput(self, "ApiKeysSecretName", value=secrets.api_keys.secret_name)

    def _bucket(self, construct_id: str, existing: str | None, retain: bool) -> s3.IBucket:
        """A new data bucket, or the kept one named `existing`."""
        if existing:
            return s3.Bucket.from_bucket_name(self, construct_id, existing)
        return SecureBucket(self, construct_id, access_logs=self.access_logs, retain=retain).bucket
