"""The agents' default concurrency per container follows the committed benchmark's packing figure
(section P, tasks per core, times the default Fargate size's vCPUs): the runtime's setting, the stacks'
default and cdk.json all say the same number, and the README's compute per task is generated from it."""

from __future__ import annotations

import json

from agent_runtime.settings import Settings
from bench.cost import container_packing, packing_text, task_size
from docs.generate import BENCH_RESULTS, ROOT
from stacks.settings import PlatformSettings, load_settings


def _packed() -> int:
    packing = json.loads(BENCH_RESULTS.read_text(encoding="utf-8"))["packing"]
    return int(container_packing(packing)["concurrency_per_container"])


def test_every_default_concurrency_is_the_packing_figure() -> None:
    packed = _packed()
    cdk = json.loads((ROOT / "cdk.json").read_text(encoding="utf-8"))["context"]
    defaults = {"Settings.worker_concurrency": Settings.model_fields["worker_concurrency"].default,
                "stacks PlatformSettings.worker_concurrency": PlatformSettings.worker_concurrency,
                "stacks default with no context": load_settings({"allow_http": True}).worker_concurrency,
                "cdk.json worker_concurrency": cdk["worker_concurrency"]}
    assert defaults == dict.fromkeys(defaults, packed), (
        f"bench/results.json's packing gives {packed} tasks per container of the default size; "
        "set these defaults to it")


def test_the_container_figure_is_tasks_per_core_times_vcpus_and_prices_the_task() -> None:
    size = task_size()
    c = container_packing({"tasks_per_core": 200, "model_latency_ms": 1500.0, "tool_latency_ms": 200.0}, size,
                          steps=10)
    assert c["concurrency_per_container"] == int(200 * size.vcpu)
    assert c["task_wall_s"] == 17.0 and c["tasks_per_s"] == round(c["concurrency_per_container"] / 17.0, 2)
    assert abs(c["fargate_usd_per_task"] - size.usd_per_hour / 3600 / (c["concurrency_per_container"] / 17.0)) < 1e-12
    text = packing_text({"packing": {"tasks_per_core": 200, "model_latency_ms": 1500.0, "tool_latency_ms": 200.0}})
    assert f"**{c['concurrency_per_container']}** tasks at once" in text
    assert "No packing figure" in packing_text({})
