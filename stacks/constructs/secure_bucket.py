"""An S3 bucket with the platform's defaults: private, encrypted, TLS only, versioned, logged."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.nag import Waiver, suppress


class SecureBucket(Construct):
    """A private, SSE-S3 encrypted, TLS-only bucket.

    Data buckets are versioned (old versions expire after `noncurrent_days`) and write
    server access logs to `access_logs`. The log bucket itself (`access_logs=None`) is
    not versioned and expires objects after `expire_days`.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        access_logs: s3.IBucket | None,
        retain: bool,
        noncurrent_days: int = 30,
        expire_days: int | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        is_log_bucket = access_logs is None
        rules = []
        if expire_days:
            rules.append(s3.LifecycleRule(id="expire", expiration=Duration.days(expire_days)))
        if not is_log_bucket:
            rules.append(s3.LifecycleRule(id="old-versions", noncurrent_version_expiration=Duration.days(noncurrent_days)))
        rules.append(s3.LifecycleRule(id="abort-uploads", abort_incomplete_multipart_upload_after=Duration.days(7)))
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            # SSE-S3: the only encryption that S3 server access logs and ALB access logs can target.
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            versioned=not is_log_bucket,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=access_logs,
            server_access_logs_prefix=f"s3/{construct_id}/" if access_logs else None,
            lifecycle_rules=rules,
            removal_policy=RemovalPolicy.RETAIN if retain else RemovalPolicy.DESTROY,
        )
        if is_log_bucket:
            suppress(self.bucket, Waiver(
                "AwsSolutions-S1", "This is the access log bucket; logging it into itself would loop."))
