"""Test doubles: a queue-based fake chat model (like the `llm` project's MockModel) for writer
tests, and a hashing encoder for tests where the sentence model is not what is under test."""

from __future__ import annotations

import asyncio
import re
import zlib
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any

import numpy as np
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import Field


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


_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset(
    "a an and the of to in on for with at by as is it its me my i you your that this from who something please".split()
)


def _singular(word: str) -> str:
    """'ghosts' matches 'ghost', 'screams' matches 'Scream Camp'; 'class' stays."""
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


class HashingEncoder:
    """A deterministic `TextEncoder` with no model: each word (lowercased, a plural 's' dropped,
    stop words skipped) adds ±1 to one of `dim` hashed buckets, and the sum is L2-normalized.
    Texts that share words get similar vectors, so plumbing tests still rank by meaning-ish
    overlap, in microseconds and identically on every machine and device."""

    def __init__(self, dim: int = 256) -> None:
        self.dim = dim

    def _words(self, text: str) -> list[str]:
        words = (_singular(w) for w in _WORD.findall(text.lower()))
        return [w for w in words if w not in _STOP]

    def _vector(self, text: str) -> np.ndarray:
        vector = np.zeros(self.dim, dtype=np.float32)
        for word in self._words(text) or [""]:  # no words: still a unit vector, never NaN
            h = zlib.crc32(word.encode())
            vector[h % self.dim] += 1.0 if (h >> 16) & 1 else -1.0
        norm = float(np.linalg.norm(vector))
        if norm == 0.0:  # words that cancelled out
            vector[zlib.crc32(text.encode()) % self.dim] = norm = 1.0
        return vector / norm

    def encode_texts(self, texts: Sequence[str], show_progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._vector(t) for t in texts])

    def encode_queries(self, texts: list[str]) -> list[np.ndarray]:
        """Read-only rows, like the real encoder's cached vectors, so a caller that mutates one fails here too."""
        vectors = list(self.encode_texts(texts))
        for vector in vectors:
            vector.setflags(write=False)
        return vectors

    def encode_query(self, text: str) -> np.ndarray:
        return self.encode_queries([text])[0]
