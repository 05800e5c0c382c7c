"""`python -m rehearsal` (`make rehearse`): the deployed platform, rehearsed end to end on this machine.

Prints one table (scenario, result, time) and the cost per task, and writes
`.rehearsal/results.json`. Exits 1 when a scenario failed.
"""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path
from typing import Any

from rehearsal import costs
from rehearsal.assembly import REPO
from rehearsal.client import ApiClient
from rehearsal.scenarios import ORDER, Session, api_key, denials, ingest_corpus, run_all
from rehearsal.stage import Stage

OUT_DIR = REPO / ".rehearsal"
COST_TASKS = {"research": "research_stream", "content": "content_publish_approved", "analysis": "analysis"}
REPLICAS = {"content": 2}  # two replicas of one service: the crash and scale-in scenarios need a survivor


def rehearse(out_dir: Path = OUT_DIR, *, echo: bool = True) -> dict[str, Any]:
    """Run the whole rehearsal; returns what results.json holds."""
    started = time.monotonic()

    def report(name: str, result: str, seconds: float) -> None:
        if echo:
            print(f"{name:<26} {result[:80]:<80} {seconds:6.1f} s", flush=True)

    results: dict[str, Any] = {"scenarios": {n: "failed: not run" for n in ORDER}}
    with Stage(out_dir / "run") as stage:
        for agent in stage.specs:
            for i in range(REPLICAS.get(agent, 1)):
                stage.launch(agent, f"{agent}-{i + 1}")
        for replica in list(stage.replicas.values()):
            stage.await_healthy(replica)
        ingest_corpus(stage)
        key = api_key(stage)
        api = ApiClient(stage.router.url, key)
        session = Session(stage, api, key)
        if echo:
            print(f"{'scenario':<26} {'result':<80} {'time':>8}")
        results["scenarios"] = run_all(session, report)
        api.close()
        results.update(_costs(stage, session))
        results["iam_denials"] = denials(stage)
        results["moto_gaps"] = stage.provisioned.gaps + stage.lambdas.gaps + KNOWN_GAPS
        results["figures"] = {**session.figures, **stage.timings, "total_s": round(time.monotonic() - started, 1)}
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "results.json").write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    if echo:
        for denial in results.get("iam_denials", []):
            print(f"denied by IAM: {denial}")
        _print_costs(results)
    return results


KNOWN_GAPS = [
    "IAM: moto authorizes identity policies against resource '*' except for SQS/IAM/STS, so resource-scoped "
    "statements never match; the rehearsal's gateway evaluates the roles' policy documents (read back from "
    "moto IAM) with each request's real resource ARN and their conditions as IAM does (rehearsal/conditions.py): "
    "the String* operators and Bool, with ForAllValues/ForAnyValue and IfExists, on the keys aws:SecureTransport "
    "(true) and dynamodb:LeadingKeys (each item's partition-key value, the key schema read from DescribeTable; "
    "batch and transaction items authorized one by one). Any other operator or key is not evaluated and fails "
    "closed (an Allow does not allow, a Deny denies); no role's policy uses one",
    "resource policies: queue and topic policies are stored in moto, bucket policies are resolved but not applied "
    "(moto would enforce their TLS-only deny on the plain-HTTP loopback); none is evaluated for same-account callers, "
    "so their conditions are not evaluated either: aws:SecureTransport (the TLS-only denies), and on the access-logs "
    "bucket's statements for the S3 and CloudWatch Logs delivery services aws:SourceArn (ArnLike), "
    "aws:SourceAccount and s3:x-amz-acl (StringEquals); no rehearsed caller is one of those services",
    "TLS: everything runs over plain HTTP on loopback; aws:SecureTransport is taken as true",
    "Lambda: handlers run on this machine's Python, not python3.14 on arm64; the Powertools layer is played by "
    "the installed aws_lambda_powertools and pydantic",
    "ECS: the container image is not built (no Docker); the task definition's command runs from the venv's package; "
    "each replica gets a host name of its own (socket.gethostname in a sitecustomize) but all share one pid space",
    "CloudWatch Logs: container and function log bytes are counted from the processes' output, not shipped",
    "DynamoDB capacity units are estimated from request/response sizes (moto does not meter them)",
    "WAF: the web ACL is neither provisioned nor applied (moto has no WAFv2); the router forwards every request",
    "ACM: the listener's certificate ARN is a placeholder; the router plays the HTTPS listener over plain HTTP",
    "ECS scale-in protection: no ECS agent endpoint (ECS_AGENT_URI), so the worker's task-protection calls are "
    "no-ops; scale-in is played by deregistering a replica, then SIGTERM",
]


REQUEST_COUNTS_NOTE = (
    "aws_requests_per_task counts the task's work apart from its progress writes, and is the same from run "
    "to run; aws_requests_per_task_progress_writes counts the batched writes of its events and checkpoints "
    "(the worker writes what piled up during the previous write, so their number follows the timing: a "
    "BatchWriteItem/UpdateItem pair or two more or less; dynamodb_items_batch_written_per_task, the items "
    "they carry, stays within one); aws_requests_per_task_time_dependent counts what repeats with time "
    "(status polls, SSE reads, the worker's once-a-second cancel watch, lease renewals, visibility "
    "extensions). All three are priced in usd_per_task")


def _costs(stage: Stage, session: Session) -> dict[str, Any]:
    calls = stage.recorder.snapshot()
    per_task: dict[str, Any] = {}
    polling: dict[str, Any] = {}
    batched: dict[str, int] = {}
    progress: dict[str, Any] = {}
    usd: dict[str, float] = {}
    breakdown: dict[str, dict[str, float]] = {}
    for agent, scenario in COST_TASKS.items():
        task = session.tasks.get(scenario)
        mine = costs.platform_calls(calls, task)
        per_task[agent] = costs.request_counts(mine)
        polling[agent] = costs.request_counts(mine, "time")
        progress[agent] = costs.request_counts(mine, "progress")
        batched[agent] = costs.items_batch_written(mine)
        by_service = costs.price_calls(mine)
        spec = stage.specs[agent]
        log_bytes = sum(len(line) + 1 for r in stage.replicas.values() if r.spec.agent == agent
                        for line in r.log_path.read_bytes().splitlines() if task and task.encode() in line)
        by_service["logs"] = by_service.get("logs", 0.0) + costs.log_cost(log_bytes)
        cpu = session.figures.get(f"cpu_{agent}", 0.0)
        by_service["fargate"] = costs.fargate_cost(cpu, spec.cpu_units, spec.memory_mib)
        usd[agent] = round(sum(by_service.values()), 8)
        breakdown[agent] = {k: round(v, 8) for k, v in sorted(by_service.items())}
    return {"aws_requests_per_task": per_task, "aws_requests_per_task_time_dependent": polling,
            "aws_requests_per_task_progress_writes": progress, "dynamodb_items_batch_written_per_task": batched, "usd_per_task": usd, "usd_per_task_by_service": breakdown,
            "request_counts_note": REQUEST_COUNTS_NOTE,
            "fixed_usd_per_month": costs.fixed_monthly(stage.assembly), "prices_date": costs.PRICES_DATE}


def _print_costs(results: dict[str, Any]) -> None:
    print(f"\ncost per task in AWS (us-east-1 prices of {results['prices_date']}, without the LLM):")
    for agent, dollars in results["usd_per_task"].items():
        requests = sum(results["aws_requests_per_task"][agent].values())
        writes = sum(results["aws_requests_per_task_progress_writes"][agent].values())
        polls = sum(results["aws_requests_per_task_time_dependent"][agent].values())
        print(f"  {agent:<10} ${dollars:.6f}  (AWS requests: {requests} for the work, {writes} progress writes, "
              f"{polls} that repeat with time)")
    fixed = results["fixed_usd_per_month"]
    print(f"platform at rest: ${sum(fixed.values()):.2f}/month ({', '.join(f'{k} ${v}' for k, v in fixed.items())})")


def main() -> None:
    """`python -m rehearsal [--out DIR]`: exit 0 when every scenario passed."""
    # A SIGTERM (Ctrl-C in CI, a timeout) unwinds the stage, so every process it started is stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    out_dir = Path(sys.argv[sys.argv.index("--out") + 1]) if "--out" in sys.argv else OUT_DIR
    try:
        results = rehearse(out_dir)
    except Exception as exc:  # the stage could not be set up: say why in one message, not a traceback
        print(f"rehearsal failed before its scenarios: {type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(1)
    failed = [n for n, r in results["scenarios"].items() if r != "passed"]
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
