"""Test doubles: a queue-based fake chat model (like the `llm` project's MockModel) for writer
tests, and (from the benchmarks package, whose smoke runs use it too) a hashing encoder for tests where the
sentence model is not what is under test."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import Field

from recochat.benchmarks.hashing_encoder import HashingEncoder

__all__ = ["HashingEncoder", "QueueChatModel", "Sleep", "naming_first"]


class Sleep:
    def __init__(self, seconds: float, then: str = "") -> None:
        self.seconds, self.then = seconds, then


def naming_first(template: str) -> Callable[[list[BaseMessage]], str]:
    """A response that names the reply's first pick as the recommend prompt gives it: '… starting with {first}.'"""

    def respond(messages: list[BaseMessage]) -> str:
        found = re.search(r"First pick: (.+?) \|", str(messages[-1].content))
        return template.format(first=found.group(1) if found else "?")

    return respond


class QueueChatModel(BaseChatModel):
    """Each call pops the next response: a string (streamed word by word), an exception, Sleep, or a function of
    the prompt's messages (`naming_first`)."""

    queue: list[Any] = Field(default_factory=list)
    history: list[list[BaseMessage]] = Field(default_factory=list)

    def enqueue(self, *responses: Any) -> QueueChatModel:
        self.queue.extend(responses)
        return self

    @property
    def _llm_type(self) -> str:
        return "queue-fake"

    def _next(self, messages: list[BaseMessage]) -> Any:
        self.history.append(messages)
        response = self.queue.pop(0) if self.queue else ""
        return response(messages) if callable(response) else response

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        response = self._next(messages)
        if isinstance(response, Exception):
            raise response
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=str(response)))])

    def _stream(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> Iterator[ChatGenerationChunk]:
        raise NotImplementedError("async only")

    async def _astream(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> AsyncIterator[ChatGenerationChunk]:
        response = self._next(messages)
        if isinstance(response, Exception):
            raise response
        if isinstance(response, Sleep):
            await asyncio.sleep(response.seconds)
            response = response.then(messages) if callable(response.then) else response.then
        for word in str(response).split(" "):
            yield ChatGenerationChunk(message=AIMessageChunk(content=word + " "))
