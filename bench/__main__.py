"""`python -m bench [SECTION ...]` (`make bench` runs them all): the benchmarks, offline, in a few minutes.

1. overhead per step and 2. durable overhead (`bench.overhead`), 1s. the loop with the model's
text streamed (`bench.streaming`), 3. parallel tools
(`bench.parallel`), 4. concurrency per process (`bench.concurrency`), 5. through the
API (`bench.api`), the search tool (`bench.bench_search`), L. Lambda tools
(`bench.lambda_tools`), D. the deployed path on DynamoDB, SQS and Lambda
(`bench.deployed`), C. cold starts (`bench.cold_start`), P. packing on one core
(`bench.packing`), then 6. cost per task (`bench.cost`) from 1. and 4. It prints
one table, each figure next to its goal and its same-run reference, and writes the
figures to bench/results.json. Naming sections (overhead, streaming, parallel, concurrency, api,
search, lambda_tools, deployed, cold_start, packing, cost) runs only those and keeps
the other sections' figures from the file. A section that fails is reported as not measured, with the reason; no figure
is ever filled in. Progress goes to stderr. K. the soak (`bench.soak`, `make soak`) runs only when named.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import platform
import sys
import time
from collections.abc import Callable
from typing import Any

from bench import (
    api,
    bench_search,
    cold_start,
    concurrency,
    cost,
    deployed,
    lambda_tools,
    overhead,
    packing,
    parallel,
    soak,
    streaming,
)
from bench.common import REPO, raise_fd_limit
from bench.table import Row
from bench.table import fmt as _f
from bench.table import missing as _missing

RESULTS = REPO / "bench" / "results.json"

# The goals (from the issue).
OVERHEAD_MAX_RATIO = 1.5
TRACED_MAX_RATIO = 1.2  # our loop with tracing on (batch OTLP export) over tracing off
DURABLE_MAX_RATIO = 2.5
PARALLEL_MAX_MS = 110.0
CONCURRENCY_GOAL_LEVEL = "1000"
CONCURRENCY_MIN_RATIO = 2 / 3
CONCURRENCY_MAX_MB_PER_TASK = 0.1
EVENT_P99_MAX_MS = 100.0
COST_MAX_USD = 0.0001
LAMBDA_P50_MAX_RATIO = 1.2  # tool wall time p50 over the endpoint's latency
NOT_RUN = {"error": "not run"}
OPT_IN = frozenset({"soak"})  # sections run only when named (`make soak`), never by a plain `make bench`


# -- running the sections ---------------------------------------------------------------------


def _section(number: str, name: str, fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run one section; on failure its result is `{"error": ...}`. Adds the seconds it took."""
    print(f"bench: {number} {name} ...", file=sys.stderr, flush=True)
    started = time.perf_counter()
    try:
        out = fn()
    except Exception as exc:
        out = {"error": f"{type(exc).__name__}: {str(exc)[:500]}"}
    out["seconds"] = round(time.perf_counter() - started, 1)
    return out


def _search() -> dict[str, Any]:
    raw = bench_search.run()
    return {
        "build_s": raw["index_build_s"],
        "query_p50_ms": raw["query_p50_ms"],
        "query_p95_ms": raw["query_p95_ms"],
        "cold_import_ms": raw["handler_cold_import_ms"],
        **{k: v for k, v in raw.items() if k not in ("index_build_s", "handler_cold_import_ms")},
    }


def _cost(results: dict[str, Any]) -> dict[str, Any]:
    """Section 6 from sections 1 and 4: the larger CPU per step of the two, memory from 4."""
    ours = results["overhead"].get("cpu_ms_per_step")
    levels = {c: r for c, r in results["concurrency"].items() if isinstance(r, dict) and "error" not in r}
    if ours is None or not levels:
        raise RuntimeError("needs section 1 (our CPU per step) and a level of section 4")
    top = max(levels, key=int)
    level = levels[top]
    base_rss = level["peak_rss_mb"] - level["mb_per_task"] * int(top)
    cpu_ms = max(ours, level["cpu_ms_per_step"])
    out = cost.estimate(cpu_ms_per_step=cpu_ms, model_latency_s=concurrency.LATENCY_S,
                        mb_per_task=level["mb_per_task"], base_rss_mb=base_rss, size=cost.task_size())
    out["cpu_ms_per_step_from"] = "section 1" if cpu_ms == ours else f"section 4 at C={top}"
    return out


def _sections(results: dict[str, Any]) -> dict[str, tuple[str, str, Callable[[], dict[str, Any]]]]:
    """Section name -> (number, title, what measures it), in an order that keeps the CPU-sensitive
    ones away from the heavy ones."""
    return {
        "overhead": ("1+2", "overhead per step, ours and durable next to the reference loops",
                     lambda: asyncio.run(overhead.run())),
        "streaming": ("1s", "streaming: the loop with the model's text streamed, next to the floor",
                      lambda: asyncio.run(streaming.run())),
        "parallel": ("3", "parallel tools", lambda: asyncio.run(parallel.run())),
        "concurrency": ("4", "concurrency per process (C = 50, 200, 1000)", concurrency.run),
        "api": ("5", "through the API", lambda: asyncio.run(api.run())),
        "search": ("S", "search over 10,000 documents", _search),
        "lambda_tools": ("L", "1,000 tasks calling Lambda tools", lambda_tools.run),
        "deployed": ("D", "the deployed path: DynamoDB, SQS and Lambda per step", deployed.run),
        "cold_start": ("C", "cold starts: the AWS-configured server, the tool handlers", cold_start.run),
        "packing": ("P", "packing: concurrent tasks on one core", packing.run),
        "cost": ("6", "cost per task", lambda: _cost(results)),
        "soak": ("K", "soak: mixed traffic against agent-platform serve (SOAK_MINUTES)", soak.run),
    }


def _cpu_model() -> str:
    """The processor's name as the kernel reports it (figures are only comparable on the same model)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def measure(names: list[str] | None = None, previous: dict[str, Any] | None = None) -> dict[str, Any]:
    """The named sections (all by default); the other sections' figures are kept from `previous`."""
    raise_fd_limit()
    results: dict[str, Any] = {k: v for k, v in (previous or {}).items() if k not in ("meta", "goals")}
    results["meta"] = {"python": platform.python_version(), "cpus": os.cpu_count(), "cpu_model": _cpu_model(),
                       "date": time.strftime("%Y-%m-%d", time.gmtime()), "load_avg_start": os.getloadavg()[0]}
    sections = _sections(results)
    chosen = names or [n for n in sections if n not in OPT_IN]
    if names:
        results["meta"]["sections_run"] = chosen
    started = time.perf_counter()
    for name in (n for n in sections if n in chosen):
        number, title, fn = sections[name]
        out = _section(number, title, fn)
        if name == "overhead":
            results["overhead"], results["durable"] = _split_durable(out)
        else:
            results[name] = out
    results["meta"]["load_avg_end"] = os.getloadavg()[0]
    results["meta"]["seconds"] = round(time.perf_counter() - started, 1)
    return results


def _traced_row(ov: dict[str, Any]) -> Row:
    """Our loop with tracing on (spans batched to an OTLP/HTTP collector) against the same loop with it off."""
    ratio = ov.get("traced_ratio_to_ours")
    return Row("1", "our loop traced (OTLP batch export), CPU ms/step", _f(ov.get("traced_cpu_ms_per_step"), 3),
               "" if ratio is None else f"{_f(ratio)}x tracing off", f"<= {TRACED_MAX_RATIO}x off",
               None if ratio is None else ratio <= TRACED_MAX_RATIO)


def _split_durable(both: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """`overhead.run()`'s figures as the `overhead` and `durable` sections."""
    if "error" in both:
        return dict(both), dict(both)
    durable = {k.removeprefix("durable_"): v for k, v in both.items() if k.startswith("durable_")}
    durable["floor_cpu_ms_per_step"] = both.get("floor_cpu_ms_per_step")
    durable["floor_wall_ms_per_step"] = both.get("floor_wall_ms_per_step")
    for key in ("steps_per_task", "rounds", "tasks_per_round", "seconds"):
        durable[key] = both.get(key)
    return {k: v for k, v in both.items() if not k.startswith("durable_")}, durable


# -- the table ----------------------------------------------------------------------------------


def rows(r: dict[str, Any]) -> list[Row]:
    """The table's rows from the results."""
    out: list[Row] = []
    ov = r.get("overhead", NOT_RUN)
    why = _missing(ov, "cpu_ms_per_step", "floor_cpu_ms_per_step", "ratio_to_floor")
    if why:
        out.append(Row("1", "our loop, CPU ms per step", why, goal=f"<= {OVERHEAD_MAX_RATIO}x floor"))
    else:
        floor = ov["floor_cpu_ms_per_step"]
        out += [
            Row("1", "our loop, CPU ms per step", _f(ov["cpu_ms_per_step"], 3),
                f"floor {_f(floor, 3)}: {_f(ov['ratio_to_floor'])}x", f"<= {OVERHEAD_MAX_RATIO}x floor",
                ov["ratio_to_floor"] <= OVERHEAD_MAX_RATIO),
            Row("1", "our loop, wall ms per step", _f(ov["wall_ms_per_step"], 3),
                f"floor {_f(ov['floor_wall_ms_per_step'], 3)}"),
            Row("1", "openai chat.completions.create, CPU ms/step", _f(ov.get("openai_sdk_cpu_ms_per_step"), 3),
                f"{_f(ov.get('openai_sdk_ratio_to_floor'))}x floor"),
            Row("1", "openai client post(), CPU ms per step", _f(ov.get("openai_post_cpu_ms_per_step"), 3),
                f"{_f(ov.get('openai_post_ratio_to_floor'))}x floor"),
            _traced_row(ov),
        ]
    du = r.get("durable", NOT_RUN)
    why = _missing(du, "cpu_ms_per_step", "floor_cpu_ms_per_step", "ratio_to_floor")
    if why:
        out.append(Row("2", "durable (worker + SQLite), CPU ms per step", why, goal=f"<= {DURABLE_MAX_RATIO}x floor"))
    else:
        out += [
            Row("2", "durable (worker + SQLite), CPU ms per step", _f(du["cpu_ms_per_step"], 3),
                f"floor {_f(du['floor_cpu_ms_per_step'], 3)}: {_f(du['ratio_to_floor'])}x",
                f"<= {DURABLE_MAX_RATIO}x floor", du["ratio_to_floor"] <= DURABLE_MAX_RATIO),
            Row("2", "durable, wall ms per step", _f(du["wall_ms_per_step"], 3),
                f"floor {_f(du['floor_wall_ms_per_step'], 3)}"),
        ]
    out += streaming.rows(r.get("streaming", NOT_RUN))
    pa = r.get("parallel", NOT_RUN)
    why = _missing(pa, "wall_ms")
    out.append(Row("3", "4 x 100 ms tools in one turn, step wall ms", why or _f(pa["wall_ms"], 1),
                   "" if why else f"worst {_f(pa['wall_ms_max'], 1)}; sequential {pa['sequential_ms']}",
                   f"<= {PARALLEL_MAX_MS:g} ms", None if why else pa["wall_ms"] <= PARALLEL_MAX_MS))
    out += _concurrency_rows(r.get("concurrency", NOT_RUN))
    ap = r.get("api", NOT_RUN)
    why = _missing(ap, "event_p50_ms", "event_p99_ms")
    if why:
        out.append(Row("5", "event written -> client, p99 ms", why, goal=f"< {EVENT_P99_MAX_MS:g} ms"))
    else:
        clients = (f"{ap['clients']} SSE clients, {_f(ap['events_per_s'], 0)} events/s, "
                   f"worker concurrency {ap['worker_concurrency']}")
        out += [
            Row("5", "event written -> client, p50 ms", _f(ap["event_p50_ms"], 1), clients),
            Row("5", "event written -> client, p99 ms", _f(ap["event_p99_ms"], 1),
                f"max {_f(ap['event_max_ms'], 1)}; {ap['events_over_250ms']} of {ap['events']} over 250 ms",
                f"< {EVENT_P99_MAX_MS:g} ms", ap["event_p99_ms"] < EVENT_P99_MAX_MS),
            Row("5", "event made -> client (write included), p99 ms", _f(ap["event_made_p99_ms"], 1),
                f"p50 {_f(ap['event_made_p50_ms'], 1)}; stream errors {ap['stream_errors']}"),
            Row("5", "submit rate, tasks per s", _f(ap.get("submit_per_s"), 1),
                f"{ap.get('submitters')} clients; p99 {_f(ap.get('submit_p99_ms'), 1)} ms; "
                f"errors {ap.get('submit_errors')}"),
        ]
    co = r.get("cost", NOT_RUN)
    why = _missing(co, "usd_per_task")
    if why:
        out.append(Row("6", "infrastructure $ per research task", why, goal=f"< ${COST_MAX_USD:g}"))
    else:
        seed = co["seed_usd_per_task"]
        out += [
            Row("6", "Fargate task price, $ per hour", _f(co["fargate_task_usd_per_hour"], 5),
                f"{co['task_cpu_units']} CPU units, {co['task_memory_mib']} MiB ({co['task_size_source']}); "
                f"{co['region']} {co['architecture']}: ${co['usd_per_vcpu_hour']}/vCPU-h, "
                f"${co['usd_per_gb_hour']}/GB-h"),
            Row("6", f"CPU s per research task ({co['steps_per_task']} steps)", _f(co["cpu_s_per_task"], 4),
                f"{_f(co['cpu_ms_per_step'], 3)} ms/step ({co['cpu_ms_per_step_from']})"),
            Row("6", "infrastructure $ per research task, full packing", f"${co['usd_per_task']:.2e}",
                f"seed ${seed[0]:g}-{seed[1]:g}", f"< ${COST_MAX_USD:g}", co["usd_per_task"] < COST_MAX_USD),
            Row("6", f"  at worker_concurrency {co['worker_concurrency']} (cdk.json)",
                f"${co['usd_per_task_at_worker_concurrency']:.2e}",
                f"full packing needs {_f(co['concurrent_tasks_full_packing'], 0)} tasks at "
                f"{co['model_latency_s'] * 1000:g} ms/turn"),
        ]
    se = r.get("search", NOT_RUN)
    why = _missing(se, "build_s", "query_p50_ms", "query_p95_ms", "cold_import_ms")
    if why:
        out.append(Row("S", "search over 10,000 documents", why))
    else:
        out += [
            Row("S", "search: index build s (10,000 docs)", _f(se["build_s"], 2),
                f"{se['terms']} terms, {_f(se['index_json_mb'], 1)} MB JSON"),
            Row("S", "search: query p50 / p95 ms", f"{_f(se['query_p50_ms'])} / {_f(se['query_p95_ms'])}"),
            Row("S", "search: handler cold import ms", _f(se["cold_import_ms"], 1)),
        ]
    return (out + _lambda_rows(r.get("lambda_tools", NOT_RUN)) + deployed.rows(r.get("deployed", NOT_RUN))
            + cold_start.rows(r.get("cold_start", NOT_RUN)) + packing.rows(r.get("packing", NOT_RUN))
            + (soak.rows(r["soak"]) if "soak" in r else []))


def _lambda_rows(la: dict[str, Any]) -> list[Row]:
    goal = f"<= {LAMBDA_P50_MAX_RATIO:g}x {lambda_tools.LATENCY_S * 1000:g} ms"
    why = _missing(la, "tool_wall_p50_ms", "tool_wall_p95_ms", "errors", "latency_ms")
    if why:
        return [Row("L", "1,000 tasks: Lambda tool wall p50 ms", why, goal=goal),
                Row("L", "1,000 tasks: Lambda tool errors", why, goal="0 errors")]
    p50, latency = la["tool_wall_p50_ms"], la["latency_ms"]
    return [
        Row("L", "1,000 tasks: Lambda tool wall p50 ms", _f(p50, 1),
            f"p95 {_f(la['tool_wall_p95_ms'], 1)}; endpoint {latency:g} ms: {_f(p50 / latency)}x", goal,
            p50 <= LAMBDA_P50_MAX_RATIO * latency),
        Row("L", "1,000 tasks: Lambda tool errors", str(la["errors"]),
            f"{la['calls']} calls, up to {la['peak_in_flight']} in flight; worker_concurrency "
            f"{la['worker_concurrency']}; {_f(la['cpu_ms_per_call'])} CPU ms per call", "0 errors",
            la["errors"] == 0),
    ]


def _concurrency_rows(levels: dict[str, Any]) -> list[Row]:
    out: list[Row] = []
    for c in (str(level) for level in concurrency.LEVELS):
        lv = levels if "error" in levels else levels.get(c, {"error": "not run"})
        goal_level = c == CONCURRENCY_GOAL_LEVEL
        ratio_goal = f">= {CONCURRENCY_MIN_RATIO:.2f}x floor" if goal_level else ""
        rss_goal = f"< {CONCURRENCY_MAX_MB_PER_TASK:g} MB/task" if goal_level else ""
        errors_goal = "0 errors" if goal_level else ""
        why = _missing(lv, "tasks_per_s", "floor_tasks_per_s", "mb_per_task", "errors")
        if why:
            out.append(Row("4", f"C={c}: tasks per s", why, goal=ratio_goal))
            if goal_level:
                out.append(Row("4", f"C={c}: MB per task", why, goal=rss_goal))
                out.append(Row("4", f"C={c}: errors", why, goal=errors_goal))
            continue
        ratio = lv["ratio_to_floor"]
        out += [
            Row("4", f"C={c}: tasks per s", _f(lv["tasks_per_s"], 1),
                f"floor {_f(lv['floor_tasks_per_s'], 1)}: {_f(ratio)}x", ratio_goal,
                ratio >= CONCURRENCY_MIN_RATIO if goal_level else None),
            Row("4", f"C={c}: peak RSS MB; MB per task", f"{_f(lv['peak_rss_mb'], 1)}; {_f(lv['mb_per_task'], 3)}",
                f"floor {_f(lv['floor_peak_rss_mb'], 1)}; {_f(lv['floor_mb_per_task'], 3)}", rss_goal,
                lv["mb_per_task"] < CONCURRENCY_MAX_MB_PER_TASK if goal_level else None),
            Row("4", f"C={c}: errors; CPU ms per step", f"{lv['errors']}; {_f(lv['cpu_ms_per_step'], 3)}",
                f"floor {lv['floor_errors']}; {_f(lv['floor_cpu_ms_per_step'], 3)}", errors_goal,
                lv["errors"] == 0 if goal_level else None),
        ]
    return out


def table(r: dict[str, Any], lines: list[Row]) -> str:
    """The table as text, under a header with the machine's load."""
    meta = r["meta"]
    head = ("#", "figure", "value", "same-run reference", "goal", "status")
    cells = [head] + [(x.section, x.figure, x.value, x.reference, x.goal, x.status) for x in lines]
    widths = [max(len(c[i]) for c in cells) for i in range(len(head))]

    def fmt(c: tuple[str, ...]) -> str:
        return "  ".join(v.ljust(w) for v, w in zip(c, widths, strict=True)).rstrip()

    met = sum(1 for x in lines if x.met is True and x.status == "met")
    goals = sum(1 for x in lines if x.goal)
    title = (f"make bench: {meta['cpus']} CPUs, Python {meta['python']}, load average {meta['load_avg_start']:.2f} "
             f"at start and {meta['load_avg_end']:.2f} at the end, {meta['seconds']:.0f} s; {met} of {goals} goals met")
    rule = "-" * len(fmt(head))
    return "\n".join([title, rule, fmt(head), rule, *(fmt(c) for c in cells[1:]), rule])


def goals(lines: list[Row]) -> list[dict[str, Any]]:
    """The goal rows, for results.json."""
    return [{"section": x.section, "figure": x.figure, "value": x.value, "reference": x.reference,
             "goal": x.goal, "status": x.status or "not measured"} for x in lines if x.goal]


def _json_safe(value: Any) -> Any:
    """NaN and infinities (a percentile of nothing) become null: results.json stays strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def main() -> None:
    """Measure the sections named on the command line (all by default), print the table, write
    bench/results.json."""
    known = list(_sections({}))
    names = sys.argv[1:]
    unknown = [n for n in names if n not in known]
    if unknown:
        sys.exit(f"unknown section(s) {unknown}; known: {', '.join(known)}")
    previous = json.loads(RESULTS.read_text()) if names and RESULTS.exists() else None
    results = measure(names, previous)
    lines = rows(results)
    results["goals"] = goals(lines)
    RESULTS.write_text(json.dumps(_json_safe(results), indent=2, allow_nan=False, default=str) + "\n")
    print(table(results, lines))
    print(f"figures written to {RESULTS.relative_to(REPO)}")


if __name__ == "__main__":
    main()
