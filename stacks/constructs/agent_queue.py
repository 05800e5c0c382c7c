"""An agent's task queue and its dead-letter queue."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.nag import Waiver, suppress


class AgentQueue(Construct):
    """SQS-managed encryption and TLS only; a message received `max_receive_count` times goes to `dlq`.

    `visibility_s` is how long a received task stays invisible before another worker may take it
    over; the worker extends it (ChangeMessageVisibility) while the task runs, so a dead worker's
    task is picked up again after at most this long.
    """

    def __init__(self, scope: Construct, construct_id: str, *, max_receive_count: int, visibility_s: int) -> None:
        super().__init__(scope, construct_id)
        self.dlq = sqs.Queue(
            self,
            "Dlq",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        suppress(self.dlq, Waiver("AwsSolutions-SQS3", "This queue is itself the dead-letter queue."))
        self.queue = sqs.Queue(
            self,
            "Queue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            visibility_timeout=Duration.seconds(visibility_s),
            retention_period=Duration.days(4),
            dead_letter_queue=sqs.DeadLetterQueue(queue=self.dlq, max_receive_count=max_receive_count),
        )
