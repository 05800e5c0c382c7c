"""3. Parallel tools: one model turn asks for 4 calls of a tool that sleeps 100 ms.

The step's wall time runs from the loop's `model.turn` event (the reply is in)
to the last of the four `tool.finished` events (every result is in the
conversation): 100 ms if the calls overlap perfectly, 400 ms if they ran one
after another. Median and worst over a few runs.
"""

from __future__ import annotations

from typing import Any

from bench.common import TASK, fake_server, median
from bench.loops import OurLoop

CALLS = 4
SLEEP_MS = 100


async def run(*, repeats: int = 5) -> dict[str, Any]:
    walls: list[float] = []
    with fake_server(steps=2, parallel=CALLS, tool="sleep", arguments=f'{{"ms": {SLEEP_MS}}}') as url:
        loop = OurLoop(url)
        try:
            for _ in range(repeats + 1):  # the first run warms up
                result = await loop.agent.run(TASK)
                if result.status != "succeeded":
                    raise RuntimeError(f"parallel task {result.status}: {result.error}")
                turn = next(e for e in result.events if e.type == "model.turn")
                finished = [e for e in result.events if e.type == "tool.finished"]
                if len(finished) != CALLS or not all(e.ok for e in finished):  # type: ignore[attr-defined]
                    raise RuntimeError(f"expected {CALLS} successful tool calls, got {finished}")
                walls.append((max(e.ts for e in finished) - turn.ts) * 1000)
        finally:
            await loop.aclose()
    walls = walls[1:]
    return {"calls": CALLS, "tool_ms": SLEEP_MS, "wall_ms": round(median(walls), 1),
            "wall_ms_max": round(max(walls), 1), "sequential_ms": CALLS * SLEEP_MS}
