"""Grants with exact actions and exact resources.

CDK's `grant_*` helpers add wildcard actions (`s3:GetObject*`, `s3:List*`, `kms:GenerateDataKey*`)
and qualified-ARN wildcards (`function:name:*`); these helpers grant only what the
platform's code calls. The one unavoidable wildcard, a bucket's objects (`<bucket>/*`),
gets a cdk-nag waiver that names exactly that resource.
"""

from __future__ import annotations

from aws_cdk import Stack, Token
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from agent_runtime.table_keys import leading_key_patterns
from stacks.nag import Waiver, suppress

# What `agent_runtime.store.dynamodb` calls (BatchGetItem: a task listing page's tasks). Its transactions need no action of their own: IAM
# authorizes each Put, Update or ConditionCheck inside one as PutItem, UpdateItem or ConditionCheckItem (an approval
# decision checks the task's cancel). No Scan (IAM cannot limit
# it to an agent's keys; only the local queue's recovery scans), no DeleteItem (items expire by TTL).
TABLE_ITEM_ACTIONS = ("dynamodb:BatchGetItem", "dynamodb:BatchWriteItem", "dynamodb:ConditionCheckItem",
                      "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem")
# What `agent_runtime.queue.sqs.SqsQueue` calls on its own queue (GetQueueAttributes reads the redrive policy).
WORK_QUEUE_ACTIONS = ("sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes",
                      "sqs:ReceiveMessage", "sqs:SendMessage")


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


def grant_own_items(table: dynamodb.ITable, grantee: iam.IGrantable, *, agent: str) -> None:
    """Read and write only `agent`'s items of the shared table: every request's partition keys must
    match the agent's prefixes (`dynamodb:LeadingKeys`, see `agent_runtime.table_keys`).

    `ForAllValues` checks every key of a batch. It would also pass a request with no partition key
    at all (a Scan), which is one more reason Scan is not granted.
    """
    iam.Grant.add_to_principal(
        grantee=grantee, actions=list(TABLE_ITEM_ACTIONS), resource_arns=[table.table_arn],
        conditions={"ForAllValues:StringLike": {"dynamodb:LeadingKeys": list(leading_key_patterns(agent))}},
    )


def grant_work_queue(queue: sqs.IQueue, grantee: iam.IGrantable) -> None:
    """Receive, extend, delete and send the task messages of `queue`, and read its redrive policy.

    Not CDK's grant_consume/send helpers: they add GetQueueUrl, which the runtime (given the URL) never calls.
    """
    iam.Grant.add_to_principal(grantee=grantee, actions=list(WORK_QUEUE_ACTIONS), resource_arns=[queue.queue_arn])


def grant_secret_value(secret: secretsmanager.ISecret, grantee: iam.IGrantable) -> None:
    """Read the secret's value; not `grant_read`, whose DescribeSecret the runtime never calls.

    A secret imported by name has a partial ARN: Secrets Manager's random suffix is matched by `-??????`.
    The platform's secrets use the AWS-managed key, so no KMS statement is needed.
    """
    arn = secret.secret_full_arn or f"{secret.secret_arn}-??????"
    iam.Grant.add_to_principal(grantee=grantee, actions=["secretsmanager:GetSecretValue"], resource_arns=[arn])


def grant_dead_letter(dlq: sqs.IQueue, grantee: iam.IGrantable) -> None:
    """Move a poison message to `dlq` by hand, as `agent_runtime.queue.sqs.SqsQueue` does: look the
    dead-letter queue's URL up by name (GetQueueUrl) and send to it (SendMessage). Nothing else on it.

    The queue is SQS-managed encrypted, so no KMS statement is needed.
    """
    iam.Grant.add_to_principal(grantee=grantee, actions=["sqs:GetQueueUrl", "sqs:SendMessage"],
                               resource_arns=[dlq.queue_arn])


def grant_task_protection(cluster: ecs.ICluster, grantee: iam.IGrantable) -> None:
    """Set the scale-in protection of tasks in `cluster`, as `agent_runtime.protection` does through the
    ECS agent endpoint (the agent calls UpdateTaskProtection with the task role's credentials).

    A task's ARN exists only once it runs, so the resource is the cluster's tasks (`task/<cluster>/*`),
    waived by exactly that pattern.
    """
    stack = Stack.of(cluster)
    arn = stack.format_arn(service="ecs", resource="task", resource_name=f"{cluster.cluster_name}/*")
    iam.Grant.add_to_principal(grantee=grantee, actions=["ecs:UpdateTaskProtection"], resource_arns=[arn])
    cluster_resource = cluster.node.default_child
    if isinstance(grantee, Construct) and cluster_resource is not None:
        # The finding as cdk-nag writes it: references as <logical id>, pseudo parameters as <AWS::...>.
        finding = arn.replace(cluster.cluster_name, f"<{stack.get_logical_id(cluster_resource)}>")  # type: ignore[arg-type]
        for value, text in ((stack.partition, "<AWS::Partition>"), (stack.region, "<AWS::Region>"),
                            (stack.account, "<AWS::AccountId>")):
            if Token.is_unresolved(value):
                finding = finding.replace(value, text)
        suppress(grantee, Waiver(
            "AwsSolutions-IAM5",
            "UpdateTaskProtection names a task, whose ARN exists only once it runs: the tasks of this one cluster.",
            applies_to=(f"Resource::{finding}",),
        ))


# What X-Ray's OTLP endpoint checks: writing spans (PutSpans) and their indexing as trace summaries.
TRACE_EXPORT_ACTIONS = ("xray:PutSpans", "xray:PutSpansForIndexing")


def grant_trace_export(grantee: iam.IGrantable) -> None:
    """Send spans to X-Ray's OTLP endpoint, as `agent_runtime.tracing.sigv4` signs them. X-Ray's write
    actions name no resource, so the resource is `*`, waived for exactly that."""
    iam.Grant.add_to_principal(grantee=grantee, actions=list(TRACE_EXPORT_ACTIONS), resource_arns=["*"])
    if isinstance(grantee, Construct):
        suppress(grantee, Waiver(
            "AwsSolutions-IAM5",
            "X-Ray's span writes (PutSpans, PutSpansForIndexing) support no resource-level permissions.",
            applies_to=("Resource::*",),
        ))
