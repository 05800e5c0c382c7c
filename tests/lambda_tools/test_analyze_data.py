"""analyze_data: statistics checked against Python's `statistics` module, parsing, clear errors."""

from __future__ import annotations

import json
import statistics

import pytest
from pydantic import ValidationError

from lambda_tools.analyze_data.tool import AnalyzeDataInput, run
from lambda_tools.common import ToolFailure
from lambda_tools.spec import ToolContext

ROWS = [
    {"day": "2024-01-01", "region": "north", "sales": 100.0, "units": 10, "price": 9.5},
    {"day": "2024-01-02", "region": "south", "sales": 123.5, "units": 11, "price": 9.1},
    {"day": "2024-01-03", "region": "north", "sales": 131.0, "units": None, "price": 8.7},
    {"day": "2024-01-05", "region": "south", "sales": 162.25, "units": 15, "price": 8.8},
    {"day": "2024-01-04", "region": "east", "sales": 149.0, "units": 16, "price": 8.0},
    {"day": "2024-01-06", "region": "north", "sales": 171.0, "units": 18, "price": 7.9},
]
CSV = "day,region,sales,units,price\n" + "\n".join(
    f"{r['day']},{r['region']},{r['sales']},{'' if r['units'] is None else r['units']},{r['price']}" for r in ROWS
)


def analyze(ops: list[dict], data: str = CSV, **kwargs) -> list[dict]:
    return run(AnalyzeDataInput(data=data, operations=ops, **kwargs), ToolContext())["results"]


@pytest.mark.parametrize("data", [CSV, json.dumps(ROWS)], ids=["csv", "json"])
def test_describe_matches_the_statistics_module(data: str) -> None:
    (result,) = analyze([{"op": "describe"}], data)
    sales = [r["sales"] for r in ROWS]
    q1, median, q3 = statistics.quantiles(sales, n=4, method="inclusive")
    expected = {"count": 6, "mean": statistics.fmean(sales), "std": statistics.stdev(sales), "min": min(sales),
                "q1": q1, "median": median, "q3": q3, "max": max(sales)}
    for key, value in expected.items():
        assert result["stats"]["sales"][key] == pytest.approx(value, rel=1e-9), key
    assert statistics.median(sales) == pytest.approx(result["stats"]["sales"]["median"])
    units = [r["units"] for r in ROWS if r["units"] is not None]
    assert result["stats"]["units"]["count"] == 5 and result["stats"]["units"]["missing"] == 1
    assert result["stats"]["units"]["mean"] == pytest.approx(statistics.fmean(units))
    assert result["other_columns"]["region"] == {"count": 6, "unique": 3, "top": "north", "top_count": 3,
                                                 "type": "text"}


@pytest.mark.parametrize("agg", ["sum", "mean", "min", "max"])
def test_group_by_aggregates(agg: str) -> None:
    (result,) = analyze([{"op": "group_by", "by": "region", "column": "sales", "agg": agg}])
    fn = {"sum": sum, "mean": statistics.fmean, "min": min, "max": max}[agg]
    expected = {region: fn([r["sales"] for r in ROWS if r["region"] == region]) for region in ("east", "north", "south")}
    got = {g["region"]: g[f"{agg}_sales"] for g in result["groups"]}
    assert got == pytest.approx(expected)
    assert [g["region"] for g in result["groups"]] == ["east", "north", "south"]


def test_group_by_count() -> None:
    (result,) = analyze([{"op": "group_by", "by": "region", "agg": "count"}])
    assert {g["region"]: g["count"] for g in result["groups"]} == {"east": 1, "north": 3, "south": 2}


def test_correlation_matrix_matches_pearson() -> None:
    (result,) = analyze([{"op": "correlation", "columns": ["sales", "price", "units"]}])
    sales = [r["sales"] for r in ROWS]
    price = [r["price"] for r in ROWS]
    assert result["matrix"]["sales"]["price"] == pytest.approx(statistics.correlation(sales, price), rel=1e-9)
    assert result["matrix"]["price"]["sales"] == result["matrix"]["sales"]["price"]
    assert result["matrix"]["units"]["units"] == 1.0
    paired = [(r["sales"], r["units"]) for r in ROWS if r["units"] is not None]
    assert result["matrix"]["sales"]["units"] == pytest.approx(
        statistics.correlation([p[0] for p in paired], [p[1] for p in paired]), rel=1e-9)
    assert result["strongest"][0]["r"] == max((p["r"] for p in result["strongest"]), key=abs)


def test_trend_over_dates_is_ordered_and_matches_linear_regression() -> None:
    (result,) = analyze([{"op": "trend", "x": "day", "y": "sales"}])
    ordered = sorted(ROWS, key=lambda r: r["day"])  # rows are out of order on purpose
    xs = [float(int(r["day"][-2:]) - 1) for r in ordered]
    ys = [r["sales"] for r in ordered]
    slope, intercept = statistics.linear_regression(xs, ys)
    assert result["slope"] == pytest.approx(slope) and result["intercept"] == pytest.approx(intercept)
    assert result["r2"] == pytest.approx(statistics.correlation(xs, ys) ** 2)
    assert result["direction"] == "increasing" and result["x_origin"] == "2024-01-01"


def test_trend_over_a_numeric_column() -> None:
    (result,) = analyze([{"op": "trend", "x": "price", "y": "sales"}])
    assert result["direction"] == "decreasing" and "x_unit" not in result


def test_data_from_a_corpus_document(ctx: ToolContext) -> None:
    result = run(AnalyzeDataInput(document_id="data/sales", operations=[{"op": "describe"}]), ctx)
    assert result["rows"] == 3 and result["results"][0]["stats"]["revenue"]["mean"] == pytest.approx(310 / 3)


@pytest.mark.parametrize("op, message", [
    ({"op": "describe", "columns": ["region"]}, "column 'region' is not numeric"),
    ({"op": "group_by", "by": "region", "column": "day", "agg": "sum"}, "column 'day' is not numeric"),
    ({"op": "group_by", "by": "colour", "agg": "count"}, "no column 'colour'; the columns are: day, region"),
    ({"op": "trend", "x": "region", "y": "sales"}, "ordered x column"),
    ({"op": "correlation", "columns": ["sales"]}, "at least two numeric columns"),
])
def test_clear_errors(op: dict, message: str) -> None:
    with pytest.raises(ToolFailure, match=message):
        analyze([op])


def test_missing_operation_fields_are_validation_errors() -> None:
    with pytest.raises(ValidationError, match="trend needs x, y"):
        AnalyzeDataInput(data=CSV, operations=[{"op": "trend"}])
    with pytest.raises(ValidationError, match="group_by needs column"):
        AnalyzeDataInput(data=CSV, operations=[{"op": "group_by", "by": "region", "agg": "sum"}])


@pytest.mark.parametrize("data, message", [
    ("[1, 2, 3]", "array of objects"),
    ("{not json", "not valid JSON"),
    ("a,b\n1,2,3\n", "row 2 has 3 fields"),
    ("a,b\n", "no rows"),
])
def test_bad_data_is_explained(data: str, message: str) -> None:
    with pytest.raises(ToolFailure, match=message):
        analyze([{"op": "describe"}], data)


def test_semicolon_csv_and_columnar_json() -> None:
    (semi,) = analyze([{"op": "describe"}], "a;b\n1;2\n3;4\n")
    assert semi["stats"]["a"]["mean"] == 2.0
    (cols,) = analyze([{"op": "describe"}], json.dumps({"x": [1, 2, 3], "y": [2, 4, 6]}))
    assert cols["stats"]["y"]["max"] == 6.0
