"""Parse CSV or JSON records into typed columns (number, date, text), with clear errors."""

from __future__ import annotations

import csv
import io
import json
import math
import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from lambda_tools.common import ToolFailure

MAX_ROWS = 100_000
MAX_COLUMNS = 200
_THOUSANDS = re.compile(r"^[-+]?\d{1,3}(,\d{3})+(\.\d+)?$")


@dataclass
class Column:
    """One column: its name, its type, and its values (None where missing)."""

    name: str
    type: str  # "number" | "date" | "text"
    values: list[Any]

    def present(self) -> list[Any]:
        return [v for v in self.values if v is not None]


@dataclass
class Table:
    columns: dict[str, Column]
    rows: int

    def column(self, name: str) -> Column:
        try:
            return self.columns[name]
        except KeyError:
            raise ToolFailure(f"no column {name!r}; the columns are: {', '.join(self.columns)}") from None

    def numeric(self, name: str) -> Column:
        col = self.column(name)
        if col.type != "number":
            example = next((v for v in col.values if v is not None), None)
            numeric = [c.name for c in self.columns.values() if c.type == "number"] or ["none"]
            raise ToolFailure(
                f"column {name!r} is not numeric ({col.type}, e.g. {example!r}); numeric columns: {', '.join(numeric)}"
            )
        return col


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        text = value.strip()
        if _THOUSANDS.match(text):
            text = text.replace(",", "")
        try:
            number = float(text)
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def _date(value: Any) -> date | None:
    if not isinstance(value, str) or not re.match(r"^\d{4}-\d{2}", value.strip()):
        return None
    text = value.strip()
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")) if len(text) > 10 else date.fromisoformat(text)
    except ValueError:
        if re.fullmatch(r"\d{4}-\d{2}", text):
            return date(int(text[:4]), int(text[5:7]), 1) if 1 <= int(text[5:7]) <= 12 else None
        return None


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip().lower() in ("", "na", "n/a", "null", "none", "nan"))


def _typed(name: str, raw: list[Any]) -> Column:
    present = [v for v in raw if not _missing(v)]
    numbers = [_number(v) for v in present]
    if present and all(n is not None for n in numbers):
        return Column(name, "number", [None if _missing(v) else _number(v) for v in raw])
    dates = [_date(v) for v in present]
    if present and all(d is not None for d in dates):
        return Column(name, "date", [None if _missing(v) else _date(v) for v in raw])
    text = [None if _missing(v) else (v if isinstance(v, str) else json.dumps(v)) for v in raw]
    return Column(name, "text", text)


def _records_from_json(data: Any) -> list[dict[str, Any]]:
    if isinstance(data, dict):
        lists = [v for k, v in data.items() if k in ("data", "records", "rows", "items") and isinstance(v, list)]
        if lists:
            data = lists[0]
        elif data and all(isinstance(v, list) for v in data.values()):
            lengths = {len(v) for v in data.values()}
            if len(lengths) != 1:
                raise ToolFailure("JSON columns (an object of lists) must all have the same length")
            n = lengths.pop()
            return [{k: v[i] for k, v in data.items()} for i in range(n)]
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise ToolFailure(
            "JSON data must be an array of objects (records), an object of equal-length arrays (columns), "
            "or an object with a 'data'/'records'/'rows' array"
        )
    return data


def parse_table(text: str, fmt: str = "auto") -> Table:
    """Parse `text` as CSV or JSON (auto: JSON when it starts with '[' or '{')."""
    stripped = text.strip().lstrip("\ufeff")
    if not stripped:
        raise ToolFailure("the data is empty")
    if fmt == "auto":
        fmt = "json" if stripped[0] in "[{" else "csv"
    if fmt == "json":
        try:
            records = _records_from_json(json.loads(stripped))
        except json.JSONDecodeError as exc:
            raise ToolFailure(f"the data is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
        names: list[str] = []
        for record in records:
            names.extend(k for k in record if k not in names)
        rows = [[r.get(n) for n in names] for r in records]
    else:
        try:
            dialect = csv.Sniffer().sniff(stripped[:4096], delimiters=",;\t|")
        except csv.Error:
            dialect = csv.excel  # type: ignore[assignment]
        reader = csv.reader(io.StringIO(stripped), dialect)
        try:
            header = next(reader)
        except StopIteration:
            raise ToolFailure("the CSV data has no header row") from None
        names = [h.strip() or f"column_{i + 1}" for i, h in enumerate(header)]
        if len(set(names)) != len(names):
            raise ToolFailure(f"the CSV header has duplicate column names: {names}")
        rows = []
        for line_no, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) > len(names):
                raise ToolFailure(f"CSV row {line_no} has {len(row)} fields but the header has {len(names)}")
            rows.append(row + [None] * (len(names) - len(row)))
            if len(rows) > MAX_ROWS:
                break
    if len(rows) > MAX_ROWS:
        raise ToolFailure(f"too many rows (more than {MAX_ROWS}); aggregate or sample the data first")
    if len(names) > MAX_COLUMNS:
        raise ToolFailure(f"too many columns ({len(names)}; at most {MAX_COLUMNS})")
    if not rows:
        raise ToolFailure("the data has a header but no rows")
    columns = {name: _typed(name, [row[i] for row in rows]) for i, name in enumerate(names)}
    return Table(columns=columns, rows=len(rows))
