"""An SNS topic that accepts only TLS publishers."""

from __future__ import annotations

from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from constructs import Construct

from stacks.nag import Waiver, suppress


class SecureTopic(Construct):
    """SNS topic with `enforce_ssl`; encrypted with the AWS-managed SNS key when `encrypted`.

    CloudWatch alarms cannot publish to a topic under the AWS-managed key, so the
    alarm topic passes `encrypted=False` (its messages carry no data beyond alarm names).
    """

    def __init__(self, scope: Construct, construct_id: str, *, display_name: str, encrypted: bool = True) -> None:
        super().__init__(scope, construct_id)
        key = kms.Alias.from_alias_name(self, "AwsManagedKey", "alias/aws/sns") if encrypted else None
        self.topic = sns.Topic(self, "Topic", display_name=display_name, enforce_ssl=True, master_key=key)
        if not encrypted:
            suppress(self.topic, Waiver(
                "AwsSolutions-SNS2",
                "Alarm notifications hold only alarm names and states; CloudWatch cannot publish to a topic "
                "under the AWS-managed SNS key, and a customer-managed key would add a fixed monthly cost."))
