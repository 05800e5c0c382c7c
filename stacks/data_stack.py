"""Stateful resources: the table, the buckets, the report topic and the secrets."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from stacks.constructs.platform_secrets import PlatformSecrets
from stacks.constructs.platform_table import PlatformTable
from stacks.constructs.secure_bucket import SecureBucket
from stacks.constructs.secure_topic import SecureTopic
from stacks.settings import PlatformSettings


class DataStack(Stack):
    """Everything that holds data; retained on `cdk destroy` unless `retain_data` is false."""

    def __init__(self, scope: Construct, construct_id: str, *, settings: PlatformSettings, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        retain = settings.retain_data
        self.access_logs = SecureBucket(
            self, "AccessLogs", access_logs=None, retain=retain, expire_days=settings.log_retention_days
        ).bucket
        self.documents = SecureBucket(self, "Documents", access_logs=self.access_logs, retain=retain).bucket
        self.reports = SecureBucket(self, "Reports", access_logs=self.access_logs, retain=retain).bucket
        self.table = PlatformTable(self, "Tasks", retain=retain).table
        self.reports_topic = SecureTopic(self, "ReportsTopic", display_name="Published agent reports").topic
        self.secrets = secrets = PlatformSecrets(self, "Secrets", prefix=settings.prefix, retain=retain)

        CfnOutput(self, "TableName", value=self.table.table_name)
        CfnOutput(self, "DocumentsBucketName", value=self.documents.bucket_name)
        CfnOutput(self, "ReportsBucketName", value=self.reports.bucket_name)
        CfnOutput(self, "ReportsTopicArn", value=self.reports_topic.topic_arn)
        CfnOutput(self, "LlmApiKeySecretName", value=secrets.llm_api_key_name)
        CfnOutput(self, "ApiKeysSecretName", value=secrets.api_keys_name)
