"""Model providers behind one protocol (see `base.Model`)."""

from agent_runtime.models.base import Message, Model, ModelReply, ToolCall, ToolMode

__all__ = ["Message", "Model", "ModelReply", "ToolCall", "ToolMode"]
