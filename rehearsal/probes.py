"""What the scenarios read off the stage: stack outputs, queues, which replica holds a task, tool calls.

Names of buckets, topics, queues and functions come from the stage (the templates), never from here.
"""

from __future__ import annotations

import json
from typing import Any

from rehearsal.stage import Stage

CLAIMED = "task claimed"


def output(stage: Stage, name: str) -> str:
    """A stack output by its output name (as `cdk-outputs.json` would give it)."""
    for stack, template in stage.assembly.templates.items():
        if name in template.get("Outputs", {}):
            return str(stage.provisioned.resolver(template["Outputs"][name]["Value"], stack))
    raise KeyError(f"no stack has an output {name}")


def claims(replica: Any, task_id: str) -> list[float]:
    """When `replica` claimed `task_id` (the worker's "task claimed" log records), oldest first."""
    out = []
    for line in replica.log_path.read_text(errors="replace").splitlines():
        if task_id in line and CLAIMED in line:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if record.get("message") == CLAIMED and record.get("task_id") == task_id:
                out.append(float(record.get("ts", 0.0)))
    return out


def holder(stage: Stage, task_id: str, agent: str) -> Any:
    """The live replica of `agent` that claimed `task_id` last (None when no live replica did)."""
    best, best_ts = None, -1.0
    for replica in stage.replicas.values():
        if replica.spec.agent == agent and replica.alive():
            times = claims(replica, task_id)
            if times and times[-1] > best_ts:
                best, best_ts = replica, times[-1]
    return best


def task_queues(stage: Stage) -> set[str]:
    """URLs of the queues that have a redrive policy (the agents' task queues)."""
    return {stage.provisioned.world.refs[(st, lid)] for st, lid, res in stage.assembly.resources("AWS::SQS::Queue")
            if "RedrivePolicy" in res.get("Properties", {})}


def queue_url(stage: Stage, agent: str) -> str:
    """The agent's task queue: the environment value of its task definition that is a queue with a redrive."""
    queues = task_queues(stage)
    found = [(k, v) for k, v in stage.specs[agent].environment.items() if v in queues]
    if len(found) != 1:
        raise RuntimeError(f"the {agent} task definition names {len(found)} task queues in its environment "
                           f"({[k for k, _ in found]}), expected exactly one of {sorted(queues)}")
    return found[0][1]


def max_receive_count(stage: Stage, agent: str) -> int:
    """maxReceiveCount of the agent's queue, as deployed (read back from SQS)."""
    attrs = stage.operator("sqs").get_queue_attributes(QueueUrl=queue_url(stage, agent),
                                                       AttributeNames=["RedrivePolicy"])["Attributes"]
    return int(json.loads(attrs["RedrivePolicy"])["maxReceiveCount"])


def queue_attribute(stage: Stage, agent: str, name: str) -> int:
    """A numeric attribute of the agent's task queue (VisibilityTimeout, ApproximateNumberOfMessages...)."""
    attrs = stage.operator("sqs").get_queue_attributes(QueueUrl=queue_url(stage, agent), AttributeNames=[name])
    return int(attrs["Attributes"][name])


def dead_lettered(stage: Stage, agent: str) -> str:
    """Bodies of the messages in the agent's dead-letter queue (left there: visibility 0)."""
    sqs = stage.operator("sqs")
    attrs = sqs.get_queue_attributes(QueueUrl=queue_url(stage, agent), AttributeNames=["RedrivePolicy"])
    dlq_name = json.loads(attrs["Attributes"]["RedrivePolicy"])["deadLetterTargetArn"].rsplit(":", 1)[1]
    dlq = sqs.get_queue_url(QueueName=dlq_name)["QueueUrl"]
    messages = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10, VisibilityTimeout=0).get("Messages", [])
    return "\n".join(m["Body"] for m in messages)


def pending_call(view: dict[str, Any]) -> str | None:
    """The call id of the task's first pending approval, if any."""
    pending = view.get("pending_approvals") or []
    return str(pending[0]["call_id"]) if pending else None


def calls_of(stage: Stage, task_id: str) -> list[tuple[str, str | None]]:
    """(function, call id) of every Lambda invocation made for `task_id`, in order."""
    return [(i.function, i.call_id) for i in stage.lambdas.invocations if i.task_id == task_id]
