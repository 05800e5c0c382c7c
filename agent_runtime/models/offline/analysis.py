"""The analysis playbook: load and describe the data -> group/correlate/trend (parallel) -> publish
when asked -> answer.

The data comes from the task itself (a CSV/JSON block, or a named .csv/.json document), else from
a data file the search points to. The follow-up operations are chosen from the described columns.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from agent_runtime.models.base import ModelReply
from agent_runtime.models.offline.analysis_report import analysis_report, operations, result_of
from agent_runtime.models.offline.parsing import FENCE, Call, Source, search_hits, wants_publishing
from agent_runtime.models.offline.plan import MAX_READ, Plan
from agent_runtime.models.offline.rendering import cite, one_line
from lambda_tools.catalog import get_tool

_DATA_FILE = re.compile(r"(?<![\w/.\-])([A-Za-z0-9_][\w.\-]*(?:/[A-Za-z0-9_][\w.\-]*)*\.(?:csv|json))\b", re.I)
_NUMERIC_TYPES = frozenset({"number", "numeric", "int", "integer", "float"})
_DATE_TYPES = frozenset({"date", "datetime", "time", "timestamp"})
_MEASURE_NAMES = re.compile(r"revenue|sales|amount|total|price|cost|profit|income|value|score", re.I)
_ORDER_NAMES = re.compile(r"^(year|month|week|day|date|time|period|quarter|t|x|index|step)$", re.I)
_IN_TASK = "the data given in the task"


def _document_id_pattern() -> re.Pattern[str]:
    """The document ids analyze_data accepts, read from its input schema (what any model is shown)."""
    field = get_tool("analyze_data").parameters_schema()["properties"]["document_id"]
    return re.compile(next(kind["pattern"] for kind in field.get("anyOf", [field]) if "pattern" in kind))


_DOC_ID = _document_id_pattern()


@dataclass(frozen=True)
class _DataSource:
    args: dict[str, Any]  # {"data": ..., "format": ...} or {"document_id": ...}
    label: str  # how the answer cites it


def inline_data(task: str) -> tuple[str, str] | None:
    """CSV or JSON data written in the task (a fenced block, a JSON array, or comma-separated lines)."""
    for match in FENCE.finditer(task):
        lang, body = match.group(1).lower(), match.group(2).strip()
        if lang in ("csv", "json") and body:
            return body, lang
        if body.startswith(("[", "{")):
            return body, "json"
        if _looks_like_csv(body.splitlines()):
            return body, "csv"
    array = re.search(r"\[\s*\{.*\}\s*\]", task, re.S)
    if array:
        try:
            json.loads(array.group())
            return array.group(), "json"
        except ValueError:
            pass
    lines = task.splitlines()
    best: list[str] = []
    run: list[str] = []
    for line in [*lines, ""]:
        if line.count(",") >= 1 and (not run or line.count(",") == run[0].count(",")):
            run.append(line.strip())
            continue
        if len(run) > len(best):
            best = run
        run = [line.strip()] if line.count(",") >= 1 else []
    return ("\n".join(best), "csv") if _looks_like_csv(best) else None


def _looks_like_csv(lines: list[str]) -> bool:
    rows = [line for line in lines if line.strip()]
    return len(rows) >= 3 and len({row.count(",") for row in rows}) == 1 and rows[0].count(",") >= 1


def _data_source(task: str) -> _DataSource | None:
    inline = inline_data(task)
    if inline is not None:
        return _DataSource({"data": inline[0], "format": inline[1]}, _IN_TASK)
    for match in _DATA_FILE.finditer(task):
        if _DOC_ID.match(match.group(1)):
            return _DataSource({"document_id": match.group(1)}, cite(match.group(1)))
    return None


def _source_of(call: Call) -> _DataSource:
    if "document_id" in call.args:
        return _DataSource({"document_id": call.args["document_id"]}, cite(str(call.args["document_id"])))
    return _DataSource({k: call.args[k] for k in ("data", "format") if k in call.args}, _IN_TASK)


def _data_candidates(hits: list[Source]) -> list[str]:
    names: list[str] = []
    for hit in hits:
        names += [m.group(1) for m in _DATA_FILE.finditer(f"{hit.key} {hit.title} {hit.snippet}")]
    return [n for n in dict.fromkeys(names) if _DOC_ID.match(n)][:MAX_READ]


def _load(plan: Plan) -> ModelReply:
    """The first step: describe the data of the task, or search for a data file and try what it points to."""
    source = _data_source(plan.state.task)
    if source is not None:
        return plan.calls(f"Loading and describing {source.label}.",
                          [("analyze_data", {**source.args, "operations": [{"op": "describe"}]})])
    if not plan.state.of("search_documents") and plan.can("search_documents"):
        return plan.calls(f"No data in the task; searching the corpus for a data file about: {plan.query}",
                          [("search_documents", {"query": plan.query, "limit": 5})])
    candidates = _data_candidates(search_hits(plan.state))
    if candidates:
        return plan.calls(
            f"Trying the data files the search points to: {', '.join(candidates)}.",
            [("analyze_data", {"document_id": c, "operations": [{"op": "describe"}]}) for c in candidates],
        )
    return plan.answer([plan.heading(), "", "No data to analyse: the task has no CSV or JSON block, names no "
                        ".csv/.json document, and the search found no data file.", "",
                        "Give the data inline (a ```csv block) or name a document such as `data/sales.csv`.",
                        *plan.failures("search_documents")])


def analysis(plan: Plan) -> ModelReply:
    """The next analysis step: load, analyse in parallel, publish if asked, then answer."""
    state = plan.state
    if not state.task:
        return plan.answer(["There is nothing to analyse: the task text is empty."])
    if not plan.can("analyze_data"):
        return plan.answer([plan.heading(), "", "This agent has no analyze_data tool, so it cannot analyse data."])
    loads = [c for c in state.of("analyze_data") if operations(c) == ["describe"]]
    if not loads:
        return _load(plan)
    loaded = next((c for c in loads if c.ok), None)
    if loaded is None:
        return plan.answer([plan.heading(), "", "The data could not be loaded.", *plan.failures("analyze_data")])
    data_source = _source_of(loaded)
    followups = [c for c in state.of("analyze_data") if operations(c) != ["describe"]]
    if not followups:
        ops = _plan_operations(loaded.data, plan.state.task)
        if ops:
            return plan.calls(
                "Running " + ", ".join(op["op"] for op in ops) + " on the columns that allow it, in parallel.",
                [("analyze_data", {**data_source.args, "operations": [op]}) for op in ops],
            )
    report = analysis_report(plan, loaded, followups, data_source.label)
    published = state.of("publish_report")
    if wants_publishing(state.task) and plan.can("publish_report") and not published:
        title = one_line(f"Analysis: {plan.query}", 120)
        return plan.calls("The analysis is ready; publishing it as the task asks (needs approval).",
                          [("publish_report", {"title": title, "markdown": "\n".join(report) + "\n"})])
    head: list[str] = []
    if published:
        call = published[-1]
        if call.ok:
            head = [f"**Published** to `{call.data.get('location') or call.data.get('key')}`.", ""]
        else:
            head = [f"**Not published**: {one_line(call.error or 'unknown error', 300)}", ""]
    return plan.answer([*head, *report])


def _columns(loaded: dict[str, Any]) -> tuple[list[str], list[str], list[str]]:
    """(numeric, date, categorical) column names of a loaded table; categorical ones with few distinct
    values (good to group on) first."""
    numeric: list[str] = []
    dates: list[str] = []
    other: list[str] = []
    for col in loaded.get("columns") or []:
        if not isinstance(col, dict) or not col.get("name"):
            continue
        kind = str(col.get("type", "")).lower()
        target = numeric if kind in _NUMERIC_TYPES else dates if kind in _DATE_TYPES else other
        target.append(str(col["name"]))
    described = result_of(loaded, "describe").get("other_columns") or {}
    unique: dict[str, int | None] = {name: (described.get(name) or {}).get("unique") for name in other}
    groupable = sorted((n for n in other if 2 <= (unique[n] or 0) <= 50), key=lambda n: unique[n] or 0)
    return numeric, dates, groupable + [n for n in other if n not in groupable and unique[n] is None]


def _mentioned(names: list[str], task: str) -> list[str]:
    """`names` ordered: named in the task first, then usual measures (revenue, price...), then the rest."""
    words = set(re.findall(r"[\w.\-]+", task.lower()))
    return sorted(names, key=lambda n: (n.lower() not in words, not _MEASURE_NAMES.search(n)))


def _plan_operations(loaded: dict[str, Any], task: str) -> list[dict[str, Any]]:
    """group_by, correlation and trend, as the columns allow; columns named in the task come first."""
    numeric, dates, groupable = _columns(loaded)
    numeric, groupable = _mentioned(numeric, task), _mentioned(groupable, task)
    ops: list[dict[str, Any]] = []
    order = dates[:1] or [n for n in numeric if _ORDER_NAMES.match(n)][:1]
    measures = [n for n in numeric if n not in order]
    if groupable and measures:
        agg = "sum" if re.search(r"\b(total|totals|sum)\b", task, re.I) else "mean"
        ops.append({"op": "group_by", "by": groupable[0], "column": measures[0], "agg": agg})
    elif groupable:
        ops.append({"op": "group_by", "by": groupable[0], "agg": "count"})
    if len(numeric) >= 2:
        ops.append({"op": "correlation"})
    if order and measures:
        ops.append({"op": "trend", "x": order[0], "y": measures[0]})
    return ops
