"""Writing the analysis answer from analyze_data results: the data, its summary statistics, and a
section per operation run (group_by table, correlations, trend), each citing the data's source.

The results are read through analyze_data's documented output: `{rows, columns, results: [{op, ...}]}`.
"""

from __future__ import annotations

from typing import Any

from agent_runtime.models.offline.parsing import Call
from agent_runtime.models.offline.plan import Plan


def operations(call: Call) -> list[str]:
    """The operations an analyze_data call asked for ("describe", "group_by"...), in order."""
    return [str(op.get("op")) for op in call.args.get("operations") or [] if isinstance(op, dict)]


def result_of(data: dict[str, Any], op: str) -> dict[str, Any]:
    """The result of the operation `op` in an analyze_data result (empty when it was not run)."""
    for result in data.get("results") or []:
        if isinstance(result, dict) and result.get("op") == op:
            return result
    return {}


def analysis_report(plan: Plan, loaded: Call, followups: list[Call], label: str) -> list[str]:
    """The analysis answer: the data loaded (`loaded`), then what each follow-up operation found."""
    data = loaded.data
    columns = [c for c in data.get("columns") or [] if isinstance(c, dict)]
    described = ", ".join(f"{c.get('name')} ({c.get('type')})" for c in columns)
    lines = [plan.heading(), "",
             f"Data: {label}, {data.get('rows', '?')} rows, {len(columns)} columns: {described}.", ""]
    lines += _describe_table(result_of(loaded.data, "describe"), label)
    for call in followups:
        if not call.ok:
            continue
        for op in operations(call):
            result = result_of(call.data, op)
            renderer = {"group_by": _group_lines, "correlation": _correlation_lines, "trend": _trend_lines}.get(op)
            if result and renderer:
                lines += renderer(result, label)
    lines += ["", "### Sources", "", f"- {label}: analysed with analyze_data (describe"
              + "".join(f", {op}" for c in followups if c.ok for op in operations(c)) + ")"]
    lines += plan.failures("analyze_data", "search_documents")
    return lines


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1e6 else f"{value:,.0f}"
    return "" if value is None else str(value)


def _describe_table(result: dict[str, Any], label: str) -> list[str]:
    stats = result.get("stats") or {}
    lines: list[str] = []
    if isinstance(stats, dict) and stats:
        keys = ("count", "mean", "std", "min", "median", "max")
        lines += [f"### Summary statistics ({label})", "", "| column | " + " | ".join(keys) + " |",
                  "|---|" + "---:|" * len(keys)]
        for name, row in stats.items():
            if isinstance(row, dict):
                lines.append(f"| {name} | " + " | ".join(_fmt(row.get(k)) for k in keys) + " |")
        lines.append("")
    others = result.get("other_columns") or {}
    if isinstance(others, dict) and others:
        lines += [f"- {name}: {info.get('unique')} distinct values, most often {info.get('top')!r} "
                  f"({info.get('top_count')} rows)" for name, info in others.items()
                  if isinstance(info, dict) and info.get("type") == "text"]
        lines.append("")
    return lines


def _group_lines(result: dict[str, Any], label: str) -> list[str]:
    by, column, agg = result.get("by"), result.get("column"), result.get("agg", "mean")
    value_key = f"{agg}_{column}" if column else agg
    header = f"{agg} of {column} by {by}" if column else f"rows by {by}"
    lines = [f"### {header} ({label})", "", f"| {by} | {value_key} | rows |", "|---|---:|---:|"]
    for group in (result.get("groups") or [])[:30]:
        if isinstance(group, dict):
            lines.append(f"| {_fmt(group.get(by))} | {_fmt(group.get(value_key))} | {_fmt(group.get('rows'))} |")
    if result.get("truncated"):
        lines.append(f"| ... | ({result.get('group_count')} groups in all) | |")
    return [*lines, ""]


def _correlation_lines(result: dict[str, Any], label: str) -> list[str]:
    pairs = [p for p in result.get("strongest") or [] if isinstance(p, dict) and p.get("r") is not None]
    if not pairs:
        return []
    lines = [f"### Correlations ({label})", ""]
    for p in pairs[:8]:
        strength = "strong" if abs(p["r"]) >= 0.7 else "moderate" if abs(p["r"]) >= 0.4 else "weak"
        lines.append(f"- {p['a']} and {p['b']}: r = {p['r']:+.3f} ({strength}, {p.get('n', '?')} rows)")
    return [*lines, ""]


def _trend_lines(result: dict[str, Any], label: str) -> list[str]:
    x, y, slope = result.get("x"), result.get("y"), result.get("slope")
    if slope is None:
        return []
    unit = result.get("x_unit")
    per = f"per {unit[:-1] if unit and unit.endswith('s') else unit}" if unit else f"per unit of {x}"
    line = f"- {y} is {result.get('direction', 'changing')}: {_fmt(slope)} {per}"
    if result.get("slope_per_year") is not None:
        line += f" ({_fmt(result['slope_per_year'])} per year)"
    line += f", fitted over {result.get('n', '?')} rows"
    if result.get("r2") is not None:
        line += f" (r\u00b2 = {_fmt(result['r2'])})"
    return [f"### Trend of {y} over {x} ({label})", "", line + ".", ""]
