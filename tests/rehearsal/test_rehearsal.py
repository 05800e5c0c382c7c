"""The deployed platform, rehearsed: every scenario of `python -m rehearsal` passes (run once per module)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rehearsal.scenarios import ORDER

_VENV_BIN = str(Path(sys.executable).parent)


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    if (Path(_VENV_BIN) / "node").exists() and not os.environ.get("PATH", "").startswith(_VENV_BIN):
        os.environ["PATH"] = _VENV_BIN + os.pathsep + os.environ.get("PATH", "")
    from rehearsal.__main__ import rehearse

    yield rehearse(tmp_path_factory.mktemp("rehearsal"), echo=False)


@pytest.mark.parametrize("scenario", ORDER)
def test_scenario_passes(results: dict[str, Any], scenario: str) -> None:
    assert results["scenarios"][scenario] == "passed"


def test_costs_cover_every_agent(results: dict[str, Any]) -> None:
    assert set(results["usd_per_task"]) == {"research", "content", "analysis"}
    assert all(results["aws_requests_per_task"][agent] for agent in results["usd_per_task"])
