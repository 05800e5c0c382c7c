"""A user's session against the rehearsed platform, one function per scenario.

Each scenario returns None when it passed, else the reason; it may raise (the runner records the
error as the reason). Names of buckets, topics, queues and functions come from the stage (the
templates), never from here.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rehearsal.client import TERMINAL, ApiClient
from rehearsal.stage import Stage

RESEARCH = "How do asyncio tasks, event loops and coroutines fit together?"
CONTENT = "Write a short article about asyncio event loops and publish it as a report."
ANALYSIS = "Analyse data/sales.csv: which region has the highest revenue, and what is the trend by month?"
CORPUS = {
    "guides/asyncio.md": "# asyncio\n\nAn event loop runs coroutines as tasks. asyncio.create_task schedules a "
                         "coroutine on the event loop; await yields control back to the loop. Blocking code "
                         "belongs in asyncio.to_thread so the event loop keeps running other tasks.\n",
    "guides/threads.md": "# threads\n\nThreads run blocking code concurrently. The event loop of asyncio can "
                         "hand blocking calls to a thread pool with run_in_executor.\n",
    "data/sales.csv": "month,region,revenue\n2024-01,north,120\n2024-01,south,80\n2024-02,north,130\n"
                      "2024-02,south,95\n2024-03,north,150\n2024-03,south,90\n",
}


def output(stage: Stage, name: str) -> str:
    """A stack output by its output name (as `cdk-outputs.json` would give it)."""
    for stack, template in stage.assembly.templates.items():
        if name in template.get("Outputs", {}):
            return str(stage.provisioned.resolver(template["Outputs"][name]["Value"], stack))
    raise KeyError(f"no stack has an output {name}")


def ingest_corpus(stage: Stage) -> None:
    """What the operator does once: `agent-platform ingest DIR --bucket <DocumentsBucketName>`."""
    folder = stage.workdir / "corpus"
    for rel, text in CORPUS.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text)
    env = {**os.environ, "AWS_ENDPOINT_URL": stage.gateway.url, "AWS_ACCESS_KEY_ID": "AKIAREHEARSALOPERATOR",
           "AWS_SECRET_ACCESS_KEY": "rehearsal", "AWS_DEFAULT_REGION": "us-east-1"}
    env.pop("AWS_SESSION_TOKEN", None)
    binary = str(Path(sys.executable).parent / "agent-platform")
    subprocess.run([binary, "ingest", str(folder), "--bucket", output(stage, "DocumentsBucketName")],
                   env=env, check=True, capture_output=True, timeout=120)


def api_key(stage: Stage) -> str:
    """The first API key, read from Secrets Manager as docs/deploy.md tells users to."""
    value = stage.operator("secretsmanager").get_secret_value(SecretId=output(stage, "ApiKeysSecretName"))
    return str(value["SecretString"]).split(",")[0].strip()


def holder(stage: Stage, task_id: str, agent: str) -> Any:
    """The live replica whose log says it claimed `task_id` last."""
    best = None
    for replica in stage.replicas.values():
        if replica.spec.agent == agent and replica.alive():
            text = replica.log_path.read_text(errors="replace")
            at = text.rfind(task_id)
            if at >= 0 and "task claimed" in text[text.rfind("\n", 0, at):]:
                best = replica
    return best


def queue_url(stage: Stage, agent: str) -> str:
    """The agent's task queue: the environment value of its task definition that is a queue with a redrive."""
    queues = {stage.provisioned.world.refs[(st, lid)] for st, lid, res in stage.assembly.resources("AWS::SQS::Queue")
              if "RedrivePolicy" in res.get("Properties", {})}
    (url,) = [v for v in stage.specs[agent].environment.values() if v in queues]
    return url


def pending_call(view: dict[str, Any]) -> str | None:
    pending = view.get("pending_approvals") or []
    return str(pending[0]["call_id"]) if pending else None


def calls_of(stage: Stage, task_id: str) -> list[tuple[str, str | None]]:
    return [(i.function, i.call_id) for i in stage.lambdas.invocations if i.task_id == task_id]


class Session:
    """The scenarios, sharing one API client and the stage."""

    def __init__(self, stage: Stage, api: ApiClient) -> None:
        self.stage, self.api = stage, api
        self.tasks: dict[str, str] = {}  # scenario -> task id (for the cost table)
        self.figures: dict[str, float] = {}

    def research_stream(self) -> str | None:
        task = self.tasks["research_stream"] = self.api.submit("research", RESEARCH)
        events = self.api.stream("research", task, timeout_s=120)
        kinds = [e.get("type") for e in events]
        if not kinds or kinds[-1] != "task.finished":
            return f"stream ended with {kinds[-1:] or 'nothing'}"
        if not calls_of(self.stage, task):
            return "no tool ran on Lambda"
        return None

    def _until_pending(self, agent: str, task: str) -> dict[str, Any]:
        return self.api.wait(agent, task, lambda v: pending_call(v) or v["state"] in TERMINAL, 120)

    def content_publish_approved(self) -> str | None:
        sqs, sns = self.stage.operator("sqs"), self.stage.operator("sns")
        inbox = sqs.create_queue(QueueName="rehearsal-report-inbox")["QueueUrl"]
        inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=output(self.stage, "ReportsTopicArn"), Protocol="sqs", Endpoint=inbox_arn)
        task = self.tasks["content_publish_approved"] = self.api.submit("content", CONTENT)
        view = self._until_pending("content", task)
        call = pending_call(view)
        if call is None:
            return f"no approval requested (state {view['state']})"
        self.api.decide("content", task, call, True)
        view = self.api.wait("content", task, lambda v: v["state"] in TERMINAL, 120)
        if view["state"] != "succeeded":
            return f"ended {view['state']}: {view.get('error')}"
        objects = self.stage.operator("s3").list_objects_v2(Bucket=output(self.stage, "ReportsBucketName"))
        if not objects.get("KeyCount"):
            return "no report object in the reports bucket"
        notes = sqs.receive_message(QueueUrl=inbox, WaitTimeSeconds=2).get("Messages", [])
        return None if notes else "no notification on the reports topic"

    def analysis(self) -> str | None:
        task = self.tasks["analysis"] = self.api.submit("analysis", ANALYSIS)
        view = self.api.wait("analysis", task, lambda v: v["state"] in TERMINAL, 120)
        if view["state"] != "succeeded":
            return f"ended {view['state']}: {view.get('error')}"
        if not any(f.endswith("analyze-data") for f, _ in calls_of(self.stage, task)):
            return "analyze_data never ran"
        return None

    def cancel(self) -> str | None:
        task = self.api.submit("content", CONTENT)
        view = self._until_pending("content", task)
        if pending_call(view) is None:
            return f"no approval to cancel at (state {view['state']})"
        if self.api.cancel("content", task) != 202:
            return "cancel was not accepted"
        view = self.api.wait("content", task, lambda v: v["state"] in TERMINAL, 60)
        published = [f for f, _ in calls_of(self.stage, task) if f.endswith("publish-report")]
        if view["state"] != "cancelled" or published:
            return f"state {view['state']}, publish_report invocations {len(published)}"
        return None

    def crash_resume(self) -> str | None:
        """kill -9 the content replica running a task; the other replica finishes it."""
        task = self.api.submit("content", CONTENT)
        view = self._until_pending("content", task)
        call = pending_call(view)
        victim = holder(self.stage, task, "content")
        if call is None or victim is None:
            return f"no running task to crash (state {view['state']}, holder {victim})"
        before = view["last_seq"]
        calls_before = calls_of(self.stage, task)
        os.kill(victim.proc.pid, signal.SIGKILL)
        killed = time.monotonic()
        self.api.decide("content", task, call, True)
        view = self.api.wait("content", task, lambda v: v["last_seq"] > before or v["state"] in TERMINAL, 150)
        self.figures["failover_s"] = round(time.monotonic() - killed, 1)
        view = self.api.wait("content", task, lambda v: v["state"] in TERMINAL, 120)
        calls = calls_of(self.stage, task)
        self.stage.remove(victim)
        self.stage.await_healthy(self.stage.launch("content", "content-3"))
        if view["state"] != "succeeded":
            return f"ended {view['state']}: {view.get('error')}"
        if len(set(calls)) != len(calls) or calls[:len(calls_before)] != calls_before:
            return f"a tool call was repeated: {calls}"
        if self.figures["failover_s"] >= 90:
            return f"failover took {self.figures['failover_s']} s (>= 90 s)"
        return None

    def scale_in_handback(self) -> str | None:
        """SIGTERM (after deregistration) of the replica running a task: handed back, never dead-lettered."""
        task = self.api.submit("content", CONTENT)
        view = self._until_pending("content", task)
        victim = holder(self.stage, task, "content")
        if pending_call(view) is None or victim is None:
            return f"no running task to hand back (state {view['state']})"
        self.stage.remove(victim)
        victim.proc.send_signal(signal.SIGTERM)
        victim.proc.wait(timeout=130)
        view = self.api.wait("content", task, lambda v: holder(self.stage, task, "content") is not None, 60)
        call = pending_call(view)
        if call is None:
            return f"no replica took the task back (state {view['state']})"
        self.api.decide("content", task, call, True)
        view = self.api.wait("content", task, lambda v: v["state"] in TERMINAL, 120)
        if view["state"] != "succeeded":
            return f"ended {view['state']}: {view.get('error')}"
        return self._dlq_holds("content", task, expect=False)

    def _dlq_holds(self, agent: str, task: str, *, expect: bool) -> str | None:
        sqs = self.stage.operator("sqs")
        queue = queue_url(self.stage, agent)
        attrs = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["RedrivePolicy"])["Attributes"]
        dlq_name = json.loads(attrs["RedrivePolicy"])["deadLetterTargetArn"].rsplit(":", 1)[1]
        dlq = sqs.get_queue_url(QueueName=dlq_name)["QueueUrl"]
        bodies = [m["Body"] for m in sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10,
                                                        VisibilityTimeout=0).get("Messages", [])]
        found = any(task in b for b in bodies)
        if found != expect:
            return f"task {'not ' if expect else ''}in the dead-letter queue {dlq_name}"
        return None

    def poison_to_dlq(self) -> str | None:
        """A task whose every attempt kills its container: failed and dead-lettered within maxReceiveCount."""
        queue = queue_url(self.stage, "research")
        attrs = self.stage.operator("sqs").get_queue_attributes(QueueUrl=queue, AttributeNames=["RedrivePolicy"])
        limit = int(json.loads(attrs["Attributes"]["RedrivePolicy"])["maxReceiveCount"])
        task = self.api.submit("research", RESEARCH + " (poison)")
        kills = 0
        deadline = time.monotonic() + 60 * limit
        while time.monotonic() < deadline:
            view = self.api.task("research", task)
            if view["state"] in TERMINAL:
                break
            victim = holder(self.stage, task, "research") if view["state"] == "running" else None
            if victim is not None:
                os.kill(victim.proc.pid, signal.SIGKILL)
                kills += 1
                self.stage.remove(victim)
                self.stage.await_healthy(self.stage.launch("research", f"research-{kills + 1}"))
            time.sleep(0.05)
        if view["state"] != "failed":
            return f"state {view['state']} after {kills} crashes"
        if kills >= limit:
            return f"{kills} attempts, beyond maxReceiveCount {limit}"
        return self._dlq_holds("research", task, expect=True)

    def iam_denied(self) -> str | None:
        """The research task role may not invoke publish_report nor read the content agent's queue."""
        role = self.stage.specs["research"].task_role_arn
        publish = next(n for n in self.stage.provisioned.functions if n.endswith("publish-report"))
        problems = []
        try:
            self.stage.client_as(role, "lambda", "research-probe").invoke(FunctionName=publish, Payload=b"{}")
            problems.append("research invoked publish_report")
        except Exception as exc:
            if "AccessDenied" not in str(exc):
                problems.append(f"invoke failed otherwise: {exc}")
        other = queue_url(self.stage, "content")
        try:
            self.stage.client_as(role, "sqs", "research-probe2").receive_message(QueueUrl=other)
            problems.append("research read the content queue")
        except Exception as exc:
            if "AccessDenied" not in str(exc):
                problems.append(f"receive failed otherwise: {exc}")
        return "; ".join(problems) or None


ORDER: list[str] = ["research_stream", "content_publish_approved", "analysis", "cancel", "crash_resume",
                    "poison_to_dlq", "scale_in_handback", "iam_denied"]


# The scenarios whose task is the one priced for each agent; the agent's CPU is measured around them.
COST_SCENARIOS = {"research_stream": "research", "content_publish_approved": "content", "analysis": "analysis"}


def _cpu(stage: Stage, agent: str) -> float:
    return sum(r.cpu_seconds() for r in stage.replicas.values() if r.spec.agent == agent)


def run_all(session: Session, report: Callable[[str, str, float], None]) -> dict[str, str]:
    """Every scenario in ORDER; name -> "passed" or "failed: reason"."""
    results = {}
    for name in ORDER:
        started = time.monotonic()
        agent = COST_SCENARIOS.get(name)
        cpu = _cpu(session.stage, agent) if agent else 0.0
        try:
            reason = getattr(session, name)()
        except Exception as exc:  # the scenario's own failure, recorded as its result
            reason = f"{type(exc).__name__}: {exc}"
        if agent:
            session.figures[f"cpu_{agent}"] = round(_cpu(session.stage, agent) - cpu, 3)
        results[name] = "passed" if reason is None else f"failed: {reason}"
        report(name, results[name], time.monotonic() - started)
    return results
