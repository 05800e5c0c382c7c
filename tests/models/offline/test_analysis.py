"""The analysis playbook: data from the task or found through search, analysed over the real tool."""

from __future__ import annotations

from pathlib import Path

from agent_runtime.models.offline import OFFLINE_NOTE, inline_data
from tests.models.offline.support import make_agent, tool_steps


async def test_analysis_of_an_inline_csv_block(corpus: Path, tmp_path: Path) -> None:
    task = ("Which team is fastest, and is speed improving?\n```csv\nday,team,speed\n1,red,10\n2,blue,14\n"
            "3,red,12\n4,blue,18\n5,red,14\n```")
    result = await make_agent("analysis", corpus, tmp_path / "data").run(task)
    assert result.status == "succeeded"
    steps = tool_steps(result)
    assert steps[0] == ["analyze_data"]  # no search: the data is in the task
    assert len(steps[1]) == 3  # group_by, correlation and trend in parallel
    answer = result.answer or ""
    assert answer.startswith(OFFLINE_NOTE)
    assert "| blue | 16 | 2 |" in answer and "| red | 12 | 3 |" in answer  # mean speed per team
    assert "speed is increasing: 1.2 per unit of day" in answer
    assert "the data given in the task" in answer


async def test_analysis_finds_the_data_file_through_search(corpus: Path, tmp_path: Path) -> None:
    result = await make_agent("analysis", corpus, tmp_path / "data").run("What do the monthly sales figures say?")
    assert result.status == "succeeded"
    assert tool_steps(result)[:2] == [["search_documents"], ["analyze_data"]]
    answer = result.answer or ""
    assert "[data/sales.csv]" in answer
    assert "| north | 150 | 3 |" in answer  # mean revenue per region, from the real file
    assert "units and revenue: r = +0.99" in answer


async def test_analysis_without_any_data_explains_what_to_give(corpus: Path, tmp_path: Path) -> None:
    result = await make_agent("analysis", corpus, tmp_path / "data").run("Analyse the sourdough rising times")
    assert result.status == "succeeded"
    assert "No data to analyse" in (result.answer or "")


def test_inline_data_is_found_in_fences_json_and_plain_lines() -> None:
    assert inline_data("x\n```csv\na,b\n1,2\n```") == ("a,b\n1,2", "csv")
    assert inline_data('rows: [{"a": 1}, {"a": 2}]') == ('[{"a": 1}, {"a": 2}]', "json")
    assert inline_data("Look at this:\nname,score\nann,3\nbob,5\nthanks") == ("name,score\nann,3\nbob,5", "csv")
    assert inline_data("Just a question, with a comma.") is None
