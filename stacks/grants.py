"""Grants with exact actions and exact resources.

CDK's `grant_*` helpers add wildcard actions (`s3:GetObject*`, `s3:List*`, `kms:GenerateDataKey*`)
and qualified-ARN wildcards (`function:name:*`); these helpers grant only what the
platform's code calls. The one unavoidable wildcard, a bucket's objects (`<bucket>/*`),
gets a cdk-nag waiver that names exactly that resource.
"""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.nag import Waiver, suppress


def _objects_waiver(bucket: s3.IBucket, grantee: iam.IGrantable) -> None:
    if not isinstance(grantee, Construct):
        return
    bucket_resource = bucket.node.default_child
    if bucket_resource is not None:
        logical_id = Stack.of(bucket).get_logical_id(bucket_resource)  # type: ignore[arg-type]
        finding = f"Resource::<{logical_id}.Arn>/*"
    else:  # a kept bucket imported by name (`existing_*`): its ARN is a literal
        finding = f"Resource::{Stack.of(grantee).resolve(bucket.arn_for_objects('*'))}"
    suppress(grantee, Waiver(
        "AwsSolutions-IAM5",
        "Object actions need the object ARN pattern of this one bucket; no other bucket is reachable.",
        applies_to=(finding,),
    ))


def grant_read_objects(bucket: s3.IBucket, grantee: iam.IGrantable) -> None:
    """List the bucket and read (get, head) its objects."""
    iam.Grant.add_to_principal(grantee=grantee, actions=["s3:ListBucket"], resource_arns=[bucket.bucket_arn])
    iam.Grant.add_to_principal(grantee=grantee, actions=["s3:GetObject"], resource_arns=[bucket.arn_for_objects("*")])
    _objects_waiver(bucket, grantee)


def grant_write_objects(bucket: s3.IBucket, grantee: iam.IGrantable) -> None:
    """Create and overwrite objects (no delete: published reports are kept, versioned)."""
    iam.Grant.add_to_principal(grantee=grantee, actions=["s3:PutObject"], resource_arns=[bucket.arn_for_objects("*")])
    _objects_waiver(bucket, grantee)


def grant_publish(topic: sns.ITopic, grantee: iam.IGrantable) -> None:
    """Publish to the topic. Topics under the AWS-managed SNS key need no KMS statement for publishers."""
    iam.Grant.add_to_principal(grantee=grantee, actions=["sns:Publish"], resource_arns=[topic.topic_arn])


def grant_invoke(function: lambda_.IFunction, grantee: iam.IGrantable) -> None:
    """Invoke the function by name or unqualified ARN (the runtime never calls versions or aliases)."""
    iam.Grant.add_to_principal(grantee=grantee, actions=["lambda:InvokeFunction"],
                               resource_arns=[function.function_arn])


def grant_dead_letter(dlq: sqs.IQueue, grantee: iam.IGrantable) -> None:
    """Move a poison message to `dlq` by hand, as `agent_runtime.queue.sqs.SqsQueue` does: look the
    dead-letter queue's URL up by name (GetQueueUrl) and send to it (SendMessage). Nothing else on it.

    The queue is SQS-managed encrypted, so no KMS statement is needed.
    """
    iam.Grant.add_to_principal(grantee=grantee, actions=["sqs:GetQueueUrl", "sqs:SendMessage"],
                               resource_arns=[dlq.queue_arn])
