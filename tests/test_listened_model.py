"""The worker's model for one task streams a call only while someone in the process follows the task live."""

from __future__ import annotations

import asyncio
from typing import Any

from agent_runtime.models.base import Message, ModelReply, TextSink
from agent_runtime.store.notify import Notifier, live_key
from agent_runtime.task_run import ListenedModel


class RecordingModel:
    name, offline, streams = "fake", False, True

    def __init__(self) -> None:
        self.streamed: list[bool] = []

    async def complete(self, messages: list[Message], tools: list[dict[str, Any]],
                       on_text: TextSink | None = None) -> ModelReply:
        self.streamed.append(on_text is not None)
        if on_text is not None:
            on_text("hi")
        return ModelReply(text="hi")

    async def aclose(self) -> None:
        return None


def test_streams_only_while_the_task_is_followed() -> None:
    async def scenario() -> tuple[list[bool], list[str]]:
        notifier, inner = Notifier(), RecordingModel()
        model = ListenedModel(inner, notifier, live_key("t1"))
        assert model.streams and model.name == "fake" and not model.offline
        received: list[str] = []
        await model.complete([], [], on_text=received.append)  # nobody follows: one plain reply
        with notifier.subscribed(live_key("t2")):  # another task's follower does not count
            await model.complete([], [], on_text=received.append)
        with notifier.subscribed(live_key("t1")):
            await model.complete([], [], on_text=received.append)
        await model.complete([], [])  # no sink: never streams
        return inner.streamed, received

    streamed, received = asyncio.run(scenario())
    assert streamed == [False, False, True, False]
    assert received == ["hi"]
