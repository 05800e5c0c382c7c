"""6. Cost per task: infrastructure dollars per research-sized task at full packing.

From the measured CPU per model step (section 1, and section 4 at its highest
concurrency: the larger of the two, since a fully packed process is a loaded
one), a research task of `RESEARCH_STEPS` steps costs `RESEARCH_STEPS` x that
much CPU. The deployed task size (Fargate CPU units and memory, and the
architecture) is read from the CDK context in cdk.json through
`stacks.settings`, so the figure follows the deployment. At full packing a
Fargate task's vCPUs are busy all the time, so it finishes `vCPUs / CPU seconds
per task` tasks a second, unless its memory runs out first: the concurrent tasks
that takes (tasks a second x seconds a task at section 4's model latency) must
fit next to the process's base RSS at section 4's MB per task. Dollars per task
are the Fargate task's price per second over the tasks it finishes per second.
Model tokens are not infrastructure and are not included.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from bench.common import REPO

# AWS Fargate on-demand prices, US East (N. Virginia), Linux, billed per second:
# https://aws.amazon.com/fargate/pricing/ -- Linux/ARM $0.03238 per vCPU-hour and $0.00356 per GB-hour;
# Linux/x86 $0.04048 per vCPU-hour and $0.004445 per GB-hour.
FARGATE_ARM64_USD_PER_VCPU_HOUR = 0.03238
FARGATE_ARM64_USD_PER_GB_HOUR = 0.00356
FARGATE_X86_64_USD_PER_VCPU_HOUR = 0.04048
FARGATE_X86_64_USD_PER_GB_HOUR = 0.004445
PRICE_REGION = "us-east-1"

RESEARCH_STEPS = 10
SEED_USD_PER_TASK = (0.04, 0.12)  # the seed's estimate of what one task costs


@dataclass(frozen=True)
class TaskSize:
    """The research agent's deployed Fargate size, its architecture and its worker concurrency."""

    cpu_units: int
    memory_mib: int
    arm64: bool
    worker_concurrency: int
    source: str

    @property
    def vcpu(self) -> float:
        """vCPUs of the Fargate task."""
        return self.cpu_units / 1024

    @property
    def memory_gb(self) -> float:
        """Memory of the Fargate task, GB."""
        return self.memory_mib / 1024

    @property
    def architecture(self) -> str:
        """The price list's name for the platform."""
        return "Linux/ARM64" if self.arm64 else "Linux/x86_64"

    @property
    def usd_per_hour(self) -> float:
        """The on-demand price of one such Fargate task for an hour."""
        if self.arm64:
            return self.vcpu * FARGATE_ARM64_USD_PER_VCPU_HOUR + self.memory_gb * FARGATE_ARM64_USD_PER_GB_HOUR
        return self.vcpu * FARGATE_X86_64_USD_PER_VCPU_HOUR + self.memory_gb * FARGATE_X86_64_USD_PER_GB_HOUR


def task_size(agent: str = "research") -> TaskSize:
    """The agent's size from cdk.json's context, or the stacks' defaults when cdk.json has none."""
    from stacks.settings import load_settings

    path = REPO / "cdk.json"
    context: dict[str, Any] = {}
    if path.exists():
        context = json.loads(path.read_text()).get("context", {})
    # The listener does not change a task's size: a context without a certificate still sizes the tasks.
    settings = load_settings({**context, "allow_http": context.get("allow_http", True)})
    size = settings.agents[agent]
    source = "cdk.json context" if "task_size" in context or "agent_sizes" in context else "stacks/settings.py defaults"
    return TaskSize(cpu_units=size.cpu, memory_mib=size.memory_mib, arm64=settings.container_arm64,
                    worker_concurrency=settings.worker_concurrency, source=source)


def estimate(*, cpu_ms_per_step: float, model_latency_s: float, mb_per_task: float, base_rss_mb: float,
             size: TaskSize, steps: int = RESEARCH_STEPS) -> dict[str, Any]:
    """Dollars per task at full packing, and what that packing takes; see the module docstring."""
    cpu_s_per_task = steps * cpu_ms_per_step / 1000
    wall_s_per_task = steps * (model_latency_s + cpu_ms_per_step / 1000)
    cpu_bound_per_s = size.vcpu / cpu_s_per_task
    memory_bound_per_s = max(0.0, size.memory_mib - base_rss_mb) / mb_per_task / wall_s_per_task \
        if mb_per_task > 0 else float("inf")
    per_s = min(cpu_bound_per_s, memory_bound_per_s)
    concurrent = per_s * wall_s_per_task
    usd_per_task = size.usd_per_hour / 3600 / per_s
    # What the configured worker concurrency allows at this model latency (a cap below full packing).
    configured_per_s = min(per_s, size.worker_concurrency / wall_s_per_task)
    return {
        "steps_per_task": steps,
        "cpu_ms_per_step": round(cpu_ms_per_step, 3),
        "cpu_s_per_task": round(cpu_s_per_task, 4),
        "architecture": size.architecture,
        "region": PRICE_REGION,
        "usd_per_vcpu_hour": FARGATE_ARM64_USD_PER_VCPU_HOUR if size.arm64 else FARGATE_X86_64_USD_PER_VCPU_HOUR,
        "usd_per_gb_hour": FARGATE_ARM64_USD_PER_GB_HOUR if size.arm64 else FARGATE_X86_64_USD_PER_GB_HOUR,
        "task_cpu_units": size.cpu_units,
        "task_memory_mib": size.memory_mib,
        "task_size_source": size.source,
        "fargate_task_usd_per_hour": round(size.usd_per_hour, 5),
        "tasks_per_s_full_packing": round(per_s, 2),
        "bound_by": "cpu" if cpu_bound_per_s <= memory_bound_per_s else "memory",
        "model_latency_s": model_latency_s,
        "concurrent_tasks_full_packing": round(concurrent, 1),
        "rss_mb_full_packing": round(base_rss_mb + concurrent * mb_per_task, 1),
        "usd_per_task": usd_per_task,
        "seed_usd_per_task": list(SEED_USD_PER_TASK),
        "worker_concurrency": size.worker_concurrency,
        "usd_per_task_at_worker_concurrency": size.usd_per_hour / 3600 / configured_per_s,
    }


def container_packing(packing: dict[str, Any], size: TaskSize | None = None,
                      steps: int = RESEARCH_STEPS) -> dict[str, Any]:
    """What section P's `tasks_per_core` means for one container of the deployed size: the tasks it
    carries at once (the default `worker_concurrency`: tasks per core x the task's vCPUs), how many
    `steps`-step tasks a second that is at P's model and tool latencies, and the Fargate dollars per
    such task at that packing."""
    size = size or task_size()
    concurrency = max(1, int(packing["tasks_per_core"] * size.vcpu))
    wall_s = steps * (packing["model_latency_ms"] + packing["tool_latency_ms"]) / 1000
    per_s = concurrency / wall_s
    return {"concurrency_per_container": concurrency, "vcpu": size.vcpu, "memory_mib": size.memory_mib,
            "architecture": size.architecture, "steps_per_task": steps, "task_wall_s": round(wall_s, 2),
            "tasks_per_s": round(per_s, 2), "fargate_usd_per_task": size.usd_per_hour / 3600 / per_s}


def packing_text(results: dict[str, Any]) -> str:
    """The README's lines on the compute a task takes at full packing, from a bench run's section P."""
    packing = results.get("packing") or {}
    if not packing.get("tasks_per_core"):
        return "No packing figure recorded yet; run `make bench`.\n"
    c = container_packing(packing)
    return (f"Compute, from `make bench` (section P, [docs/performance.md](docs/performance.md)): one core carries "
            f"**{packing['tasks_per_core']}** concurrent tasks within the event-latency and CPU goals (model "
            f"{packing['model_latency_ms'] / 1000:g} s a turn, tools {packing['tool_latency_ms']:g} ms), so a "
            f"container of the default Fargate size ({c['vcpu']:g} vCPU, {c['memory_mib'] / 1024:g} GB, "
            f"{c['architecture']}) runs **{c['concurrency_per_container']}** tasks at once (the default "
            f"`worker_concurrency`), and a {c['steps_per_task']}-step task costs "
            f"**${c['fargate_usd_per_task']:.7f}** of Fargate time at that packing.\n")

