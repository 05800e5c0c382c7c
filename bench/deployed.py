"""D. The deployed path: the overhead section's 20-step task run durably on the DynamoDB store and
the SQS queue, its tool calls through `LambdaTool`, next to the floor in the same run.

Three processes serve this one: moto in server mode (DynamoDB and SQS), the Lambda Invoke
endpoint (`bench.lambda_endpoint`, the instant tool: it answers at once) and the fake model
(zero latency). This process runs what a container runs: the worker receives the task from
SQS, claims it under a lease, runs the agent, writes its events and checkpoints to DynamoDB,
invokes the `note` tool through its Lambda client and deletes the message. A task counts
from its creation in the store (what the API does on submit) to the deletion of its message;
the CPU is this process's only (all threads: boto3 calls run on executors). Rounds alternate
the loops as section 1 does; each figure is the median over rounds.

Every AWS call the runtime makes while measured is counted by service and action (`bench.aws.AwsCalls`:
through the boto3 clients and through their light clients, `agent_runtime.aws_light`):
`aws_calls_per_step` is what one model step costs in API calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

from bench.aws import AwsCalls, client, create_resources, moto_server
from bench.common import TASK, Clock, Sample, SleepTool, child_server, fake_server
from bench.loops import FloorLoop, bench_agent, bench_model
from bench.overhead import STEPS, summarise
from bench.table import Row, fmt, missing

ROUNDS = 20
MAX_RATIO = 3.0  # the goal: CPU per step at most this many times the floor's
LAMBDA_FUNCTION = "bench-note"


class Deployed:
    """The runtime as a container runs it, on moto and the Lambda endpoint; `task()` runs one task."""

    name = "deployed"

    def __init__(self, model_url: str, moto_url: str, lambda_url: str, *, max_steps: int = 50) -> None:
        from agent_runtime.queue.sqs import SqsQueue
        from agent_runtime.settings import Settings
        from agent_runtime.store.dynamodb import DynamoStore
        from agent_runtime.tools.lambda_ import LambdaTool, make_lambda_client
        from agent_runtime.worker import AgentRuntime, Worker
        from bench.common import NOTE_SPEC

        table, queue_url = create_resources(moto_url)
        self.calls = AwsCalls()
        self.settled: dict[str, asyncio.Future[None]] = {}
        settled = self.settled

        class SettlingQueue(SqsQueue):
            """The SQS queue, telling the benchmark when the worker deletes a finished task's message."""

            async def delete(self, message: Any) -> None:
                await super().delete(message)
                fut = settled.pop(message.task_id, None)
                if fut is not None and not fut.done():
                    fut.set_result(None)

        # The clients as the runtime builds them (store, queue, tools), pointed at the local endpoints.
        self.store = DynamoStore(table, client=_runtime_client("dynamodb", moto_url, threads=16))
        self.queue = SettlingQueue(queue_url, client=_runtime_client("sqs", moto_url, threads=4))
        lambda_client = make_lambda_client(60, endpoint_url=lambda_url, region_name="us-east-1",
                                           aws_access_key_id="bench", aws_secret_access_key="bench")
        self.calls.watch(self.store.client, self.queue.client, lambda_client)
        self.model = bench_model(model_url)
        tools: dict[str, Any] = {"note": LambdaTool(NOTE_SPEC, LAMBDA_FUNCTION, client=lambda_client),
                 "sleep": SleepTool()}
        runtime = AgentRuntime(bench_agent(max_steps), self.model, tools)
        # The deployed server's timings and default concurrency (agent_runtime.server.create_platform with SQS).
        self.worker = Worker(store=self.store, queue=self.queue, runtimes={"research": runtime},
                             concurrency=Settings.model_fields["worker_concurrency"].default,
                             lease_s=30.0, poll_s=1.0, receive_wait_s=10.0)
        self._runner: asyncio.Task[None] | None = None
        self.finished: list[str] = []

    async def task(self, text: str) -> int:
        """Create the task, queue it, wait until the worker deletes its message; the steps it should make."""
        from agent_runtime.store.base import TaskRecord

        if self._runner is None:
            self._runner = asyncio.create_task(self.worker.run())
        task_id = f"research-{uuid.uuid4().hex}"
        done = asyncio.get_running_loop().create_future()
        self.settled[task_id] = done
        await self.store.create_task(TaskRecord(task_id=task_id, agent="research", input=text))
        await self.queue.send(task_id, "research")
        await done
        self.finished.append(task_id)
        return STEPS

    async def check(self) -> None:
        """Every finished task succeeded in exactly `STEPS` steps (read outside the measured time)."""
        counting, self.calls.counting = self.calls.counting, False
        try:
            for task_id in self.finished:
                record = await self.store.get_task(task_id)
                if record.state != "succeeded" or record.steps != STEPS:
                    raise RuntimeError(f"deployed task {record.state} after {record.steps} steps: {record.error}")
            self.finished.clear()
        finally:
            self.calls.counting = counting

    async def aclose(self) -> None:
        """Stop the worker, then close model, queue and store."""
        await self.worker.stop()
        if self._runner is not None:
            self._runner.cancel()
            await asyncio.gather(self._runner, return_exceptions=True)
        await self.model.aclose()
        await self.queue.close()
        await self.store.close()


def _runtime_client(service: str, url: str, *, threads: int) -> Any:
    """The client `DynamoStore` / `SqsQueue` would build for themselves (same config), at `url`."""
    from botocore.config import Config

    return client(service, url, config=Config(max_pool_connections=threads * 2, retries={"mode": "standard"}))


@contextlib.asynccontextmanager
async def _loops(model_url: str, moto_url: str, lambda_url: str) -> AsyncIterator[dict[str, Any]]:
    loops: dict[str, Any] = {"floor": FloorLoop(model_url)}
    try:
        loops["deployed"] = Deployed(model_url, moto_url, lambda_url)
        yield loops
    finally:
        for loop in loops.values():
            await loop.aclose()


async def measure(model_url: str, moto_url: str, lambda_url: str, *, rounds: int) -> dict[str, Any]:
    """Floor and deployed, alternating; their samples, and the deployed runtime's AWS calls per step."""
    async with _loops(model_url, moto_url, lambda_url) as loops:
        deployed: Deployed = loops["deployed"]
        for loop in loops.values():  # warm up: connections, imports, caches
            await loop.task(TASK)
        await deployed.check()
        samples: dict[str, list[Sample]] = {name: [] for name in loops}
        names = list(loops)
        for r in range(rounds):
            for name in names[r % 2:] + names[:r % 2]:
                deployed.calls.counting = name == "deployed"
                with Clock() as clock:
                    made = await loops[name].task(TASK)
                deployed.calls.counting = False
                if made != STEPS:
                    raise RuntimeError(f"{name}: {made} steps, expected {STEPS}")
                samples[name].append(Sample(clock.cpu_s, clock.wall_s, made))
            await deployed.check()
        return {"samples": samples, "aws_calls_per_step": deployed.calls.per(STEPS * rounds)}


def run(*, rounds: int = ROUNDS) -> dict[str, Any]:
    """The section's figures: CPU and wall ms per step, ratio to the floor, AWS calls per step."""
    with moto_server() as moto_url, \
            child_server("bench.lambda_endpoint", "--latency", "0", what="the Lambda endpoint") as lambda_url, \
            fake_server(latency_s=0.0, steps=STEPS) as model_url:
        out = asyncio.run(measure(model_url, moto_url, lambda_url, rounds=rounds))
    result: dict[str, Any] = {"steps_per_task": STEPS, "rounds": rounds}
    figures = summarise(out["samples"])
    result.update({k.removeprefix("deployed_"): v for k, v in figures.items()})
    result["aws_calls_per_step"] = out["aws_calls_per_step"]
    result["aws_calls_per_step_total"] = round(sum(out["aws_calls_per_step"].values()), 3)
    return result


def rows(d: dict[str, Any]) -> list[Row]:
    """The section's lines of the bench table."""
    goal = f"<= {MAX_RATIO:g}x floor"
    why = missing(d, "cpu_ms_per_step", "floor_cpu_ms_per_step", "ratio_to_floor", "aws_calls_per_step")
    if why:
        return [Row("D", "deployed (DynamoDB, SQS, Lambda), CPU ms per step", why, goal=goal)]
    calls = ", ".join(f"{k} {fmt(v)}" for k, v in d["aws_calls_per_step"].items() if v >= 0.1)
    return [
        Row("D", "deployed (DynamoDB, SQS, Lambda), CPU ms per step", fmt(d["cpu_ms_per_step"], 3),
            f"floor {fmt(d['floor_cpu_ms_per_step'], 3)}: {fmt(d['ratio_to_floor'])}x", goal,
            d["ratio_to_floor"] <= MAX_RATIO),
        Row("D", "deployed, wall ms per step", fmt(d["wall_ms_per_step"], 3),
            f"floor {fmt(d['floor_wall_ms_per_step'], 3)}"),
        Row("D", "deployed, AWS calls per step", fmt(d["aws_calls_per_step_total"]), calls),
    ]
