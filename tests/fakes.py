"""A queue-based fake chat model (like the `llm` project's MockModel) for writer tests."""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator, Iterator

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import Field


class Sleep:
    def __init__(self, seconds: float, then: str = "") -> None:
        self.seconds, self.then = seconds, then


class QueueChatModel(BaseChatModel):
    """Each call pops the next response: a string (streamed word by word), an exception, or Sleep."""

    queue: list[Any] = Field(default_factory=list)
    history: list[list[BaseMessage]] = Field(default_factory=list)

    def enqueue(self, *responses: Any) -> "QueueChatModel":
        self.queue.extend(responses)
        return self

    @property
    def _llm_type(self) -> str:
        return "queue-fake"

    def _next(self, messages: list[BaseMessage]) -> Any:
        self.history.append(messages)
        return self.queue.pop(0) if self.queue else ""

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any) -> ChatResult:
        response = self._next(messages)
        if isinstance(response, Exception):
            raise response
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=str(response)))])

    def _stream(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any) -> Iterator[ChatGenerationChunk]:
        raise NotImplementedError("async only")

    async def _astream(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any) -> AsyncIterator[ChatGenerationChunk]:
        response = self._next(messages)
        if isinstance(response, Exception):
            raise response
        if isinstance(response, Sleep):
            await asyncio.sleep(response.seconds)
            response = response.then
        for word in str(response).split(" "):
            yield ChatGenerationChunk(message=AIMessageChunk(content=word + " "))
