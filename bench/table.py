"""The bench table's row, and how a figure or a missing one is written in it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass
class Row:
    """One line of the table; `met` is None when the figure has no goal."""

    section: str
    figure: str
    value: str
    reference: str = ""
    goal: str = ""
    met: bool | None = None

    @property
    def status(self) -> str:
        """met, MISSED, NOT MEASURED, or empty for a figure without a goal."""
        if self.value.startswith("not measured"):
            return "NOT MEASURED" if self.goal else ""
        if self.met is None:
            return ""
        return "met" if self.met else "MISSED"


def fmt(value: Any, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def missing(section: dict[str, Any], *keys: str) -> str | None:
    """'not measured: why' when the section failed or lacks a key, else None."""
    if "error" in section:
        error = str(section["error"])
        return f"not measured: {error[:50]}{'... (results.json)' if len(error) > 50 else ''}"
    absent = [k for k in keys if section.get(k) is None]
    return f"not measured: no {', '.join(absent)}" if absent else None
