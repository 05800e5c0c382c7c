"""The offline model: a deterministic planner that runs each agent's playbook over the real tools.

It needs no network and no key, so a fresh checkout can run real tasks and the test suite
can drive the whole loop. Each call reads the conversation (the task and the tool results
so far) and decides the next step, so a task resumed from a checkpoint continues where it
stopped. Its answers are built only from tool results, cite the documents used, and say
they were produced offline.

Modules: `model` (the `Model` protocol), `plan` (one planning step), `parsing` (reading the
conversation), `rendering` (writing the answer), `passages` (what to read in a document),
and one module per playbook: `research`, `content`, `analysis` (with `analysis_report`).
"""

from agent_runtime.models.offline.analysis import inline_data
from agent_runtime.models.offline.model import OfflineModel
from agent_runtime.models.offline.parsing import read_state, search_query, topic_of, wants_publishing
from agent_runtime.models.offline.rendering import OFFLINE_NOTE

__all__ = ["OFFLINE_NOTE", "OfflineModel", "inline_data", "read_state", "search_query", "topic_of",
           "wants_publishing"]
