"""The app factory: it assembles routes over the services and documents the served agents."""

from __future__ import annotations

from typing import Any, cast

import pytest

from agent_runtime.api import ApiServices, create_app
from agent_runtime.store.notify import Notifier
from agent_runtime.worker import AgentRuntime


def _services(agents: list[str], **timings: float) -> ApiServices:
    # Only the agent names matter here: nothing is stored, queued or run.
    return ApiServices(store=cast(Any, None), queue=cast(Any, None),
                       agents={name: cast(AgentRuntime, None) for name in agents}, keys=cast(Any, None),
                       notifier=Notifier(), notify_cancel=lambda task_id: None, **timings)


def test_the_agent_path_parameter_lists_the_served_agents() -> None:
    document = create_app(_services(["research"])).openapi()
    operations = [op for path, ops in document["paths"].items() if "{agent}" in path for op in ops.values()]
    enums = [p["schema"]["enum"] for op in operations for p in op.get("parameters", []) if p["name"] == "agent"]
    assert len(operations) >= 7 and len(enums) == len(operations) and all(e == ["research"] for e in enums)


def test_each_app_documents_its_own_agents() -> None:
    research = create_app(_services(["research"])).openapi()
    both = create_app(_services(["content", "analysis"])).openapi()
    param = both["paths"]["/v1/agents/{agent}/tasks"]["post"]["parameters"][0]
    assert param["schema"]["enum"] == ["analysis", "content"]
    assert research["paths"]["/v1/agents/{agent}/tasks"]["post"]["parameters"][0]["schema"]["enum"] == ["research"]


@pytest.mark.parametrize("heartbeat_s", [0.0, 15.5])
def test_the_heartbeat_must_beat_within_the_load_balancers_idle_timeout(heartbeat_s: float) -> None:
    with pytest.raises(ValueError, match="heartbeat_s"):
        _services(["research"], heartbeat_s=heartbeat_s)
