"""Fixtures for the model tests: the fake OpenAI-compatible server over real HTTP."""

from tests.fakes.openai_server import fake_openai

__all__ = ["fake_openai"]
