"""The soak's bookkeeping (bench/soak.py): a watcher that missed or repeated an event, a stuck task or RSS
growth fails it; and it runs only when named, never in a plain `make bench`."""

from __future__ import annotations

from bench import soak
from bench.__main__ import OPT_IN, _sections


def tally(seqs: dict[str, list[int]]) -> soak.Tally:
    t = soak.Tally()
    for task_id, got in seqs.items():
        t.tasks[task_id] = "research"
        t.seqs[task_id] = got
    return t


FLAT = [(float(i), 100_000) for i in range(10)]


def test_a_clean_run_is_ok() -> None:
    s = soak.summary(tally({"a": [1, 2, 3], "b": [1, 2]}), FLAT, 10, [])
    assert (s["lost_events"], s["duplicated_events"], s["stuck_tasks"], s["rss_growth_pct"], s["ok"]) == (
        0, 0, 0, 0.0, True)


def test_lost_repeated_stuck_and_growth_each_fail_it() -> None:
    assert soak.summary(tally({"a": [1, 3]}), FLAT, 10, [])["lost_events"] == 1
    repeated = soak.summary(tally({"a": [1, 2, 2, 3]}), FLAT, 10, [])
    assert repeated["duplicated_events"] == 1 and not repeated["ok"]
    assert not soak.summary(tally({"a": [1]}), FLAT, 10, ["a"])["ok"]
    growing = [(float(i), 100_000 + i * 5_000) for i in range(10)]
    grown = soak.summary(tally({"a": [1]}), growing, 10, [])
    assert grown["rss_growth_pct"] > soak.MAX_RSS_GROWTH_PCT and not grown["ok"]


def test_the_soak_runs_only_when_named() -> None:
    assert "soak" in _sections({}) and OPT_IN == {"soak"}
