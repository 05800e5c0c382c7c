"""A user's session against the rehearsed platform, one function per scenario.

Each scenario returns None when it passed, else the reason; it may raise (the runner records the
error as the reason). Names of buckets, topics, queues and functions come from the stage (the
templates), never from here.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from agent_runtime.envnames import TABLE_NAME
from rehearsal.client import TERMINAL, ApiClient
from rehearsal.faults import CONTENT, FaultScenarios
from rehearsal.probes import calls_of, output, pending_call, queue_url
from rehearsal.stage import Stage

RESEARCH = "How do asyncio tasks, event loops and coroutines fit together?"
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


class Session(FaultScenarios):
    """The scenarios, sharing one API client and the stage."""

    def __init__(self, stage: Stage, api: ApiClient, key: str) -> None:
        self.stage, self.api, self.api_key = stage, api, key
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

    def iam_denied(self) -> str | None:
        """The research task role may not invoke publish_report, read the content agent's queue, nor reach
        the content agent's items or an unprefixed one in the shared table; its own items it may."""
        role = self.stage.specs["research"].task_role_arn
        problems = self._table_probe(role)
        publish = next(n for n in self.stage.provisioned.functions if n.endswith("publish-report"))
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

    def _table_probe(self, role: str) -> list[str]:
        """GetItem as the research role on its own key (allowed, absent), content's and an unprefixed one."""
        dynamodb = self.stage.client_as(role, "dynamodb", "research-probe3")
        table = self.stage.specs["research"].environment[TABLE_NAME]
        problems = []
        for pk, allowed in (("research-probe", True), ("content-probe", False), ("probe", False)):
            try:
                dynamodb.get_item(TableName=table, Key={"pk": {"S": pk}, "sk": {"S": "TASK"}})
                if not allowed:
                    problems.append(f"research read the item {pk}")
            except Exception as exc:
                if allowed or "AccessDenied" not in str(exc):
                    problems.append(f"GetItem {pk} failed otherwise: {exc}")
        return problems


ORDER: list[str] = ["research_stream", "content_publish_approved", "analysis", "cancel", "crash_resume",
                    "poison_to_dlq", "scale_in_handback", "iam_denied"]


# The scenarios whose task is the one priced for each agent; the agent's CPU is measured around them.
COST_SCENARIOS = {"research_stream": "research", "content_publish_approved": "content", "analysis": "analysis"}


# Started in the background after the scenario named, then joined at the end: the poison task spends
# most of its time waiting out the queue's visibility timeout between crashes.
BACKGROUND = {"poison_to_dlq": "research_stream"}


def _cpu(stage: Stage, agent: str) -> float:
    return sum(r.cpu_seconds() for r in list(stage.replicas.values()) if r.spec.agent == agent)


def denials(stage: Stage, since: int = 0) -> list[str]:
    """The distinct requests IAM denied to the services and functions (not to the probes, which ask for
    what they must not get), from the `since`-th recorded call on."""
    calls = stage.recorder.snapshot()[since:]
    return list(dict.fromkeys(f"{c.principal}: {c.denied}" for c in calls
                              if c.denied and not c.principal.startswith("probe:")))


def _run_one(session: Session, name: str) -> tuple[str, float]:
    """("passed" or "failed: reason", seconds) of one scenario; a failure names what IAM denied meanwhile."""
    started = time.monotonic()
    recorded = len(session.stage.recorder.snapshot())
    agent = COST_SCENARIOS.get(name)
    cpu = _cpu(session.stage, agent) if agent else 0.0
    try:
        reason = getattr(session, name)()
    except Exception as exc:  # the scenario's own failure, recorded as its result
        reason = f"{type(exc).__name__}: {exc}"
    if agent:
        session.figures[f"cpu_{agent}"] = round(_cpu(session.stage, agent) - cpu, 3)
    denied = denials(session.stage, recorded)
    if reason is not None and denied:
        reason += f" (denied by IAM: {'; '.join(denied[:3])})"
    if reason is not None:  # what every live service was doing, for the post-mortem (in its log)
        asked = session.stage.dump_stacks()
        reason += f" (stacks of {', '.join(asked)} dumped into their logs)" if asked else ""
    return ("passed" if reason is None else f"failed: {reason}"), time.monotonic() - started


def run_all(session: Session, report: Callable[[str, str, float], None]) -> dict[str, str]:
    """Every scenario of ORDER (BACKGROUND ones beside the others); name -> "passed" or "failed: reason"."""
    outcomes: dict[str, tuple[str, float]] = {}
    threads = []
    for name in ORDER:
        if name in BACKGROUND:
            continue
        outcomes[name] = _run_one(session, name)
        report(name, *outcomes[name])
        for later, after in BACKGROUND.items():
            if after == name:
                thread = threading.Thread(target=lambda n=later: outcomes.__setitem__(n, _run_one(session, n)),
                                          name=later, daemon=True)
                thread.start()
                threads.append(thread)
    for thread in threads:
        thread.join()
        outcomes.setdefault(thread.name, ("failed: did not finish", 0.0))
        report(thread.name, *outcomes[thread.name])
    return {name: outcomes[name][0] for name in ORDER}
