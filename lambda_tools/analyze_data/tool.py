"""analyze_data: statistics over CSV or JSON records (describe, group_by, correlation, trend)."""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Callable
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from lambda_tools.analyze_data.table import Table, parse_table
from lambda_tools.common import ToolFailure
from lambda_tools.schema import DOC_ID_DESCRIPTION, DOC_ID_PATTERN, ToolInput
from lambda_tools.spec import ToolContext

DESCRIPTION = (
    "Statistics over tabular data given inline (`data`: CSV text or a JSON array of objects) or as a corpus "
    "document (`document_id`, a .csv or .json file). Operations, run in order: "
    "{op:'describe', columns?} -> count, mean, std, min, q1, median, q3, max per numeric column; "
    "{op:'group_by', by, column?, agg: count|sum|mean|min|max}; "
    "{op:'correlation', columns?} -> Pearson correlation matrix; "
    "{op:'trend', x, y} -> least-squares line y = slope*x + intercept with r2, x ordered (numbers or ISO dates)."
)
OUTPUT = "{rows, columns: [{name, type, missing}], results: [{op, ...}]}"


class Operation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    op: Literal["describe", "group_by", "correlation", "trend"] = Field(description="The operation.")
    columns: list[str] | None = Field(
        None, max_length=50, description="describe/correlation: columns to use (default: every numeric column)."
    )
    by: str | None = Field(None, description="group_by: the column to group on.")
    column: str | None = Field(None, description="group_by: the numeric column to aggregate (not needed for count).")
    agg: Literal["count", "sum", "mean", "min", "max"] = Field("mean", description="group_by: the aggregate.")
    x: str | None = Field(None, description="trend: the ordered column (numbers or ISO dates).")
    y: str | None = Field(None, description="trend: the numeric column to fit.")

    @model_validator(mode="after")
    def _required_fields(self) -> Operation:
        missing: list[str] = []
        if self.op == "group_by":
            missing += ["by"] if not self.by else []
            missing += ["column"] if self.agg != "count" and not self.column else []
        if self.op == "trend":
            missing += [f for f in ("x", "y") if not getattr(self, f)]
        if missing:
            raise ValueError(f"{self.op} needs {', '.join(missing)}")
        return self


class AnalyzeDataInput(ToolInput):
    data: str | None = Field(None, min_length=1, max_length=5_000_000, description="CSV text or JSON records.")
    document_id: str | None = Field(None, max_length=300, pattern=DOC_ID_PATTERN, description=DOC_ID_DESCRIPTION)
    format: Literal["csv", "json", "auto"] = Field("auto", description="Format of the data; auto detects it.")
    operations: list[Operation] = Field(
        default_factory=lambda: [Operation(op="describe")], min_length=1, max_length=20,
        description="Operations to run, in order (default: describe).",
    )

    @model_validator(mode="after")
    def _one_source(self) -> AnalyzeDataInput:
        if (self.data is None) == (self.document_id is None):
            raise ValueError("give exactly one of data or document_id")
        return self


MAX_GROUPS = 500


def run(args: AnalyzeDataInput, ctx: ToolContext) -> dict[str, Any]:
    """Parse the data once, then run each operation in order."""
    fmt = args.format
    if args.data is not None:
        text = args.data
    else:
        if ctx.documents is None:
            raise ToolFailure("no document corpus is configured; pass the data inline")
        doc = ctx.documents.get(args.document_id or "")
        text = doc.text
        if fmt == "auto" and doc.extension in (".csv", ".json"):
            fmt = doc.extension[1:]  # type: ignore[assignment]
    table = parse_table(text, fmt)
    results = [_OPERATIONS[op.op](table, op) for op in args.operations]
    return {
        "rows": table.rows,
        "columns": [{"name": c.name, "type": c.type, "missing": c.values.count(None)} for c in table.columns.values()],
        "results": results,
    }


def _num(x: float | None) -> float | None:
    """Ten significant digits: exact enough, and free of float noise in the model's context."""
    return None if x is None else float(f"{x:.10g}")


def _describe(table: Table, op: Operation) -> dict[str, Any]:
    names = op.columns or [c.name for c in table.columns.values() if c.type == "number"]
    if not names:
        raise ToolFailure("describe found no numeric columns; name the columns to describe")
    stats: dict[str, Any] = {}
    for name in names:
        values = table.numeric(name).present()
        stats[name] = _summary(values) | {"missing": table.rows - len(values)}
    out: dict[str, Any] = {"op": "describe", "stats": stats}
    if not op.columns:
        text_cols = [c for c in table.columns.values() if c.type != "number"]
        out["other_columns"] = {
            c.name: _categorical(c.present()) | {"type": c.type} for c in text_cols
        }
    return out


def _summary(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"count": 0, "mean": None, "std": None, "min": None, "q1": None, "median": None, "q3": None,
                "max": None}
    if len(values) == 1:
        q1 = median = q3 = values[0]
    else:
        q1, median, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return {
        "count": len(values),
        "mean": _num(statistics.fmean(values)),
        "std": _num(statistics.stdev(values)) if len(values) > 1 else None,
        "min": _num(min(values)),
        "q1": _num(q1),
        "median": _num(median),
        "q3": _num(q3),
        "max": _num(max(values)),
    }


def _categorical(values: list[Any]) -> dict[str, Any]:
    counts = Counter(str(v) for v in values)
    top = counts.most_common(1)
    return {"count": len(values), "unique": len(counts), "top": top[0][0] if top else None,
            "top_count": top[0][1] if top else 0}


def _group_by(table: Table, op: Operation) -> dict[str, Any]:
    by = table.column(op.by or "")
    target = table.numeric(op.column) if op.column and op.agg != "count" else None
    if op.agg == "count" and op.column:
        table.column(op.column)
    groups: dict[Any, list[float]] = {}
    counts: Counter[Any] = Counter()
    for i, key in enumerate(by.values):
        counts[key] += 1
        bucket = groups.setdefault(key, [])
        if target is not None and target.values[i] is not None:
            bucket.append(target.values[i])
        elif target is None and op.column and table.columns[op.column].values[i] is not None:
            bucket.append(1.0)
    ordered = sorted(groups, key=lambda k: (k is None, _sort_key(k)))
    rows = []
    for key in ordered[:MAX_GROUPS]:
        values = groups[key]
        if op.agg == "count":
            value: float | None = len(values) if op.column else counts[key]
        elif not values:
            value = None
        else:
            value = _AGGREGATES[op.agg](values)
        shown = value if op.agg == "count" else _num(value)
        rows.append({op.by: _label(key), op.agg if not op.column else f"{op.agg}_{op.column}": shown,
                     "rows": counts[key]})
    return {"op": "group_by", "by": op.by, "column": op.column, "agg": op.agg, "groups": rows,
            "group_count": len(groups), "truncated": len(groups) > MAX_GROUPS}


_AGGREGATES: dict[str, Callable[[list[float]], float]] = {
    "sum": math.fsum, "mean": statistics.fmean, "min": min, "max": max,
}


def _sort_key(key: Any) -> tuple[int, Any]:
    if isinstance(key, float):
        return (0, key)
    return (1, str(key))


def _label(key: Any) -> Any:
    if key is None:
        return None
    if isinstance(key, float) and key.is_integer():
        return int(key)
    return key.isoformat() if isinstance(key, date) else key


def _correlation(table: Table, op: Operation) -> dict[str, Any]:
    names = op.columns or [c.name for c in table.columns.values() if c.type == "number"]
    if len(names) < 2:
        raise ToolFailure(f"correlation needs at least two numeric columns; found {names or 'none'}")
    cols = [table.numeric(n) for n in names]
    matrix: dict[str, dict[str, float | None]] = {n: {} for n in names}
    pairs: list[dict[str, Any]] = []
    for i, a in enumerate(cols):
        matrix[a.name][a.name] = 1.0
        for b in cols[i + 1 :]:
            xs, ys = _paired(a.values, b.values)
            try:
                r = _num(statistics.correlation(xs, ys)) if len(xs) >= 2 else None
            except statistics.StatisticsError:  # a constant column has no correlation
                r = None
            matrix[a.name][b.name] = matrix[b.name][a.name] = r
            if r is not None:
                pairs.append({"a": a.name, "b": b.name, "r": r, "n": len(xs)})
    pairs.sort(key=lambda p: -abs(p["r"]))
    return {"op": "correlation", "method": "pearson", "columns": names, "matrix": matrix, "strongest": pairs[:10]}


def _paired(xs: list[Any], ys: list[Any]) -> tuple[list[float], list[float]]:
    pairs = [(x, y) for x, y in zip(xs, ys, strict=True) if x is not None and y is not None]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def _days(value: date) -> float:
    if isinstance(value, datetime):
        return value.toordinal() + (value.hour * 3600 + value.minute * 60 + value.second) / 86400
    return float(value.toordinal())


def _trend(table: Table, op: Operation) -> dict[str, Any]:
    x_col = table.column(op.x or "")
    y_col = table.numeric(op.y or "")
    if x_col.type not in ("number", "date"):
        raise ToolFailure(f"trend needs an ordered x column (numbers or ISO dates); {x_col.name!r} is {x_col.type}")
    points = sorted(
        ((_days(x) if x_col.type == "date" else x, y) for x, y in zip(x_col.values, y_col.values, strict=True)
         if x is not None and y is not None),
        key=lambda p: p[0],
    )
    if len(points) < 2:
        raise ToolFailure(f"trend needs at least two rows with both {x_col.name!r} and {y_col.name!r}")
    origin = points[0][0] if x_col.type == "date" else 0.0
    xs = [p[0] - origin for p in points]
    ys = [p[1] for p in points]
    try:
        slope, intercept = statistics.linear_regression(xs, ys)
    except statistics.StatisticsError:
        raise ToolFailure(f"trend needs at least two different values of {x_col.name!r}") from None
    try:
        r2: float | None = statistics.correlation(xs, ys) ** 2
    except statistics.StatisticsError:
        r2 = None  # y is constant: a flat line explains it exactly, r2 is undefined
    out = {
        "op": "trend", "x": x_col.name, "y": y_col.name, "n": len(points),
        "slope": _num(slope), "intercept": _num(intercept), "r2": _num(r2),
        "direction": "increasing" if slope > 0 else "decreasing" if slope < 0 else "flat",
    }
    if x_col.type == "date":
        out |= {"x_unit": "days", "x_origin": date.fromordinal(int(origin)).isoformat(),
                "slope_per_year": _num(slope * 365.25)}
    return out


_OPERATIONS = {"describe": _describe, "group_by": _group_by, "correlation": _correlation, "trend": _trend}
