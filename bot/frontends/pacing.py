"""Pacing a chat service's replies, with no chat-service imports (the Discord front end uses it): a per-user rate
limit (`RateLimiter`, with `polite` to say so), text split at the service's length limit (`split_message`), and a
streamed reply shown as it comes but edited at most once per interval (`LiveMessage`)."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from typing import Any

MESSAGE_LIMIT = 2000
"""Discord's length limit for one message."""


class RateLimiter:
    """At most `turns` turns per `per_s` seconds per user (sliding window).

    Bounded memory: a user whose last turn is older than the window has nothing left to count and
    is dropped; past `max_users` users the least recently active go first (they only get a fresh
    window, never a longer wait)."""

    def __init__(
        self,
        turns: int = 6,
        per_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        max_users: int = 10_000,
    ) -> None:
        self.turns = turns
        self.per_s = per_s
        self.clock = clock
        self.max_users = max_users
        self._hits: OrderedDict[str, deque[float]] = OrderedDict()
        """Per user, the times of the turns in the window; ordered by the latest turn, oldest first."""
        self._warned_until: OrderedDict[str, float] = OrderedDict()

    @property
    def tracked(self) -> int:
        """Users currently held in memory."""
        return len(self._hits)

    def wait_s(self, key: str) -> float:
        """0 and count the turn when `key` may go now, else the seconds until it may."""
        now = self.clock()
        self._expire(now)
        hits = self._hits.get(key)
        if hits is None:
            hits = self._hits[key] = deque()
        while hits and hits[0] <= now - self.per_s:
            hits.popleft()
        if len(hits) >= self.turns:
            return hits[0] + self.per_s - now
        hits.append(now)
        self._hits.move_to_end(key)
        while len(self._hits) > self.max_users:
            self._hits.popitem(last=False)
        return 0.0

    def should_warn(self, key: str, wait_s: float) -> bool:
        """Say the polite message once per wait, not once per extra message."""
        now = self.clock()
        if self._warned_until.get(key, 0.0) > now:
            return False
        self._warned_until[key] = now + wait_s
        self._warned_until.move_to_end(key)
        while len(self._warned_until) > self.max_users:
            self._warned_until.popitem(last=False)
        return True

    def _expire(self, now: float) -> None:
        """Drop users with no turn left in the window, and warnings that have run out (oldest first)."""
        while self._hits:
            key, hits = next(iter(self._hits.items()))
            if hits and hits[-1] > now - self.per_s:
                break
            del self._hits[key]
        while self._warned_until and next(iter(self._warned_until.values())) <= now:
            self._warned_until.popitem(last=False)


def polite(wait_s: float) -> str:
    return f"You're going a little fast for me — give me {max(1, round(wait_s))} s and ask again, please."


def split_message(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Pieces of at most `limit` characters, cut at a line break, else a space, else hard."""
    pieces = []
    text = text.strip()
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit + 1)
        if cut < limit // 2:
            cut = text.rfind(" ", 0, limit + 1)
        if cut < limit // 2:
            cut = limit
        pieces.append(text[:cut].rstrip())
        text = text[cut:].strip()
    if text:
        pieces.append(text)
    return pieces


Send = Callable[..., Awaitable[Any]]
"""`send(content=..., embed=...)` → the sent message (a channel send, or an interaction followup)."""


class LiveMessage:
    """Shows streamed text as it comes: one message per 2000 characters, each edited at most once per `interval_s`."""

    def __init__(self, send: Send, interval_s: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.send = send
        self.interval_s = interval_s
        self.clock = clock
        self.text = ""
        self.messages: list[Any] = []
        self._shown: list[str] = []
        self._last = float("-inf")

    async def push(self, chunk: str) -> None:
        self.text += chunk
        if self.text.strip() and self.clock() - self._last >= self.interval_s:
            await self._flush()

    async def finish(self) -> None:
        pieces = split_message(self.text)
        if pieces == self._shown:
            return
        if any(i < len(pieces) and pieces[i] != shown for i, shown in enumerate(self._shown)):
            pause = self._last + self.interval_s - self.clock()  # an edit: keep to the interval
            if pause > 0:
                await asyncio.sleep(pause)
        await self._flush()

    async def _flush(self) -> None:
        self._last = self.clock()
        for i, piece in enumerate(split_message(self.text)):
            if i < len(self.messages):
                if piece != self._shown[i]:
                    await self.messages[i].edit(content=piece)
                    self._shown[i] = piece
            else:
                self.messages.append(await self.send(content=piece))
                self._shown.append(piece)
