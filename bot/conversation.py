"""The one conversation API every front end uses (TUI, Discord, scripted tests, CLI).

Async, with no front-end imports. Blocking work (encoder, numpy, SQLite) runs in threads;
the engine work of one user's turns is serialized by a per-user lock, different users run
concurrently. A reply comes in two steps, items first, like a RAG answer's sources:

    stream = conversations.stream("alice", "something funny")
    items = await stream.items()       # ranked items, the moment ranking is done
    show(items)
    async for chunk in stream:         # then the prose only
        print(chunk, end="")
    reply = stream.reply               # everything, with reply.text = prose + item lines

Iterating without calling `items()` first is fine: it ranks before the first chunk.

Every message is cleaned here, once, whatever front end it came from (`clean_message`): control
characters and terminal escapes go, lone surrogates become U+FFFD, and a message over
`MAX_MESSAGE_CHARS` is cut at a word boundary, with a first prose sentence that says so.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections import Counter, OrderedDict
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Literal, Protocol

from recochat.profiles.model import Profile
from recochat.retrieval.catalog import CatalogItem, title_label
from recochat.retrieval.recommender import Recommendation

from .engine import Engine, TurnKind, TurnResult
from .errors import NoSuchRank, UnknownItem
from .writer import Status, TemplateWriter, WriteOutcome, item_lines

log = logging.getLogger("recochat.conversation")

MAX_MESSAGE_CHARS = 2000
"""Longest message read, in characters: Discord's own message limit, so no front end can send more
than a Discord user could, and understanding a message stays a bounded, fast step."""
TRUNCATED_NOTICE = f"Your message was long, so I read its first {MAX_MESSAGE_CHARS:,} characters."
MAX_USER_LOCKS = 10_000
"""Idle per-user locks kept (least recently used go first); a lock in use is never dropped."""

_ESCAPE_SEQUENCE = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-_]|\x9b[0-?]*[ -/]*[@-~]"
)
"""ANSI/VT escapes (CSI, OSC, two-character ones): removed whole, so no '[31m' is left behind."""
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
"""C0/C1 controls except tab and newline, and the bidi embeddings, overrides and isolates that
make text display in another order than it reads (a reply echoing them could be spoofed)."""
_SURROGATE = re.compile("[\ud800-\udfff]")
"""In a Python str every surrogate is a lone one (invalid Unicode: SQLite and UTF-8 refuse it)."""


def clean_message(text: str, limit: int = MAX_MESSAGE_CHARS) -> tuple[str, bool]:
    """The message as the engine reads it, and whether it was cut to `limit` characters.

    Cut at the last whitespace before the limit (a word is never split), or hard at the limit when
    the last `limit // 2` characters hold no space (one endless token)."""
    text = _SURROGATE.sub("\ufffd", text)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL.sub("", _ESCAPE_SEQUENCE.sub("", text))
    if len(text) <= limit:
        return text, False
    cut = next((i for i in range(limit, limit // 2, -1) if text[i].isspace()), limit)
    return text[:cut].rstrip(), True


class Writer(Protocol):
    name: str

    def stream(self, result: TurnResult, outcome: WriteOutcome) -> AsyncIterator[str]: ...


@dataclass
class ReplyItem:
    id: str
    title: str
    year: int | None
    genres: list[str]
    why: str
    score: float
    rank: int
    description: str
    meta: dict = field(default_factory=dict)

    @property
    def label(self) -> str:
        return title_label(self.title, self.year)


@dataclass
class Reply:
    user_id: str
    prose: str
    """What streamed: the writer's prose (and the cold-start question)."""
    text: str
    """The prose plus the grounded item lines: what `ask` prints and scripts check."""
    kind: TurnKind
    items: list[ReplyItem]
    timings_ms: dict[str, float]
    """Engine steps, plus `items_ms` (message → items), `write` and `turn_total`."""
    writer: str
    status: Status
    """How the prose came about: template, ok, repaired or replaced."""
    first_sentence_ms: float | None = None
    note: str | None = None
    """What happened to the model's prose when it is missing or cut, one sentence for a person ('The model was too
    slow (no sentence within 10.0 s); showing the plain reply.'), worded by `writer.status_note`; front ends show
    it as it is."""
    question: str | None = None
    subject: ReplyItem | None = None
    """The item an 'about' or 'why' turn talks about."""
    notice: str | None = None
    """What was done to the message before it was read ('Your message was long, so…'); also the
    first sentence of `prose`, so every front end shows it."""

    liked_ids: list[str] = field(default_factory=list)
    """What the profile holds as liked: prose may name these as liked ("Noted: you liked Heat")."""

    def grounded_ids(self) -> set[str]:
        """Items this reply may name: those shown, the one it talks about, and what the user liked."""
        return {i.id for i in self.items} | ({self.subject.id} if self.subject else set()) | set(self.liked_ids)

    def as_json(self) -> dict:
        return {
            "user": self.user_id,
            "text": self.text,
            "items": [{"id": i.id, "title": i.title, "score": round(i.score, 4), "why": i.why} for i in self.items],
            "prose": self.prose,
            "status": self.status,
            "writer": self.writer,
            "timings_ms": {k: round(v, 2) for k, v in self.timings_ms.items()},
            **({"notice": self.notice} if self.notice else {}),
            **({"note": self.note} if self.note else {}),
        }


@dataclass
class FeedbackResult:
    item_id: str
    title: str
    value: Literal["like", "dislike"]


@dataclass
class ProfileView:
    user_id: str
    turns: int
    liked: list[str]
    disliked: list[str]
    seen: list[str]
    liked_aspects: list[str]
    disliked_aspects: list[str]
    constraints: list[str]
    shown: int
    liked_kinds: list[str] = field(default_factory=list)
    """The catalog's facet values of the liked items, net of the rejected ones, most first ("cooperative ×3")."""
    disliked_kinds: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        def show(values: list[str]) -> str:
            return ", ".join(values) if values else "—"

        return [
            f"user: {self.user_id} ({self.turns} turns, {self.shown} items shown)",
            f"likes: {show(self.liked_aspects[::-1])}",
            f"dislikes: {show(self.disliked_aspects[::-1])}",
            f"liked items: {show(self.liked[::-1])}",
            f"rejected items: {show(self.disliked[::-1])}",
            f"seen: {show(self.seen[::-1])}",
            f"kinds liked: {show(self.liked_kinds)}",
            f"kinds rejected: {show(self.disliked_kinds)}",
            f"constraints: {show(self.constraints)}",
        ]


class ReplyStream:
    """One turn: `await items()` ranks (once), iterating streams the prose, then `reply` is set."""

    def __init__(self, owner: Conversations, user_id: str, text: str) -> None:
        self._owner = owner
        self._user_id = user_id
        self._text, truncated = clean_message(text)
        self.notice = TRUNCATED_NOTICE if truncated else None
        """Said before the prose: what the reply did with the message (it was cut)."""
        self._started = time.perf_counter()
        self._result: TurnResult | None = None
        self._items: list[ReplyItem] = []
        self._items_ms = 0.0
        self.reply: Reply | None = None

    async def items(self) -> list[ReplyItem]:
        """Run the engine's turn (understand, update, rank) and return the ranked items."""
        if self._result is None:
            owner = self._owner
            async with owner._hold(self._user_id):  # the engine's work only, never the front end's sending
                self._result = await asyncio.to_thread(owner._turn, self._user_id, self._text)
            self._items = [owner._item_view(r) for r in self._result.items]
            self._items_ms = (time.perf_counter() - self._started) * 1000
        return self._items

    def __aiter__(self) -> AsyncIterator[str]:
        return self._prose()

    async def _prose(self) -> AsyncIterator[str]:
        items = await self.items()
        result = self._result
        assert result is not None
        owner = self._owner
        outcome = WriteOutcome()
        parts: list[str] = []
        write_started = time.perf_counter()
        for said in ([self.notice] if self.notice else []) + result.caveats:
            parts.append(said + " ")  # outside the writer: no model can drop or reword it
            yield said + " "
        async for chunk in owner.writer.stream(result, outcome):
            parts.append(chunk)
            yield chunk
        if result.question:
            parts.append("\n" + result.question)
            yield "\n" + result.question
        prose = "".join(parts).strip()
        timings = dict(result.timings_ms)
        timings["items_ms"] = self._items_ms
        timings["write"] = (time.perf_counter() - write_started) * 1000
        timings["turn_total"] = (time.perf_counter() - self._started) * 1000
        self.reply = Reply(
            user_id=self._user_id,
            prose=prose,
            text=f"{prose}\n{item_lines(result)}" if items else prose,
            kind=result.kind,
            items=items,
            timings_ms=timings,
            writer=owner.writer.name,
            status=outcome.status,
            first_sentence_ms=outcome.first_sentence_ms,
            note=outcome.note,
            question=result.question,
            subject=owner._subject_view(result),
            notice=self.notice,
            liked_ids=[i.id for i in result.liked],
        )


class UserLocks:
    """One asyncio lock per user, so a user's turns and feedback never interleave in the engine.

    Bounded: past `size` users the least recently used idle locks are dropped. A lock that is held
    or waited on is never dropped (a dropped one would let a new caller in beside its holder)."""

    def __init__(self, size: int = MAX_USER_LOCKS) -> None:
        self.size = size
        self._locks: OrderedDict[str, asyncio.Lock] = OrderedDict()
        self._in_use: Counter[str] = Counter()
        """Holders and waiters per user; only users absent here may be dropped."""

    def __len__(self) -> int:
        return len(self._locks)

    def __contains__(self, user_id: object) -> bool:
        return user_id in self._locks

    @asynccontextmanager
    async def hold(self, user_id: str) -> AsyncIterator[None]:
        lock = self._locks.get(user_id)
        if lock is None:
            lock = self._locks[user_id] = asyncio.Lock()
        self._locks.move_to_end(user_id)
        self._in_use[user_id] += 1
        try:
            async with lock:
                yield
        finally:
            self._in_use[user_id] -= 1
            if not self._in_use[user_id]:
                del self._in_use[user_id]
            self._shrink()

    def _shrink(self) -> None:
        """Drop idle locks, oldest first, until at most `size` remain (or only busy ones do)."""
        excess = len(self._locks) - self.size
        if excess <= 0:
            return
        idle: list[str] = []
        for user_id in self._locks:  # oldest first; usually the first few are idle
            if len(idle) == excess:
                break
            if user_id not in self._in_use:
                idle.append(user_id)
        for user_id in idle:
            del self._locks[user_id]


class Conversations:
    def __init__(
        self, engine: Engine, writer: Writer | None = None, catalog_name: str = "", max_users: int = MAX_USER_LOCKS
    ) -> None:
        self.engine = engine
        self.writer: Writer = writer or TemplateWriter()
        self.catalog_name = catalog_name
        self._locks = UserLocks(max_users)
        self.refresh: Callable[[], object] | None = None
        """Run in the worker thread before each turn and item lookup: the runtime's catalog check,
        which may swap in an engine on a re-ingested catalog (`runtime.CatalogWatch`)."""

    def _turn(self, user_id: str, text: str) -> TurnResult:
        """The engine's turn, on the newest catalog: the refresh may swap `engine` first."""
        if self.refresh is not None:
            self.refresh()
        return self.engine.turn(user_id, text)

    def _hold(self, user_id: str) -> AbstractAsyncContextManager[None]:
        """The user's lock, as an async context manager: the engine's work for one user runs one at a time."""
        return self._locks.hold(user_id)

    @staticmethod
    def _view_of(item: CatalogItem, why: str, score: float = 0.0, rank: int = 0) -> ReplyItem:
        """The one way a catalog item becomes a reply item: ranked, asked about, or restored after a restart."""
        return ReplyItem(item.id, item.title, item.year, item.genres, why, score, rank, item.description, item.meta)

    def _item_view(self, r: Recommendation) -> ReplyItem:
        return self._view_of(r.item, r.why, r.score, r.rank)

    def _subject_view(self, result: TurnResult) -> ReplyItem | None:
        item = result.subject
        return None if item is None else self._view_of(item, result.subject_why or "")

    def stream(self, user_id: str, text: str) -> ReplyStream:
        return ReplyStream(self, user_id, text)

    async def send(self, user_id: str, text: str) -> Reply:
        stream = self.stream(user_id, text)
        async for _ in stream:
            pass
        assert stream.reply is not None
        return stream.reply

    async def feedback(self, user_id: str, item: str | int, value: Literal["like", "dislike"]) -> FeedbackResult:
        """`item` is an item id, or a 1-based rank in the user's last reply."""
        async with self._hold(user_id):
            item_id = await asyncio.to_thread(self._resolve, user_id, item)
            found = await asyncio.to_thread(self.engine.feedback, user_id, item_id, value)
        return FeedbackResult(found.id, found.title, value)

    async def undo_feedback(self, user_id: str, item: str | int) -> str:
        """Take back the latest 👍/👎 on an item (a removed reaction, /undo N); returns its title."""
        async with self._hold(user_id):
            item_id = await asyncio.to_thread(self._resolve, user_id, item)
            await asyncio.to_thread(self.engine.undo_feedback, user_id, item_id)
        return self._title(item_id)

    async def mark_seen(self, user_id: str, item: str | int) -> str:
        """The user has seen this item: it is never suggested again; returns its title."""
        async with self._hold(user_id):
            item_id = await asyncio.to_thread(self._resolve, user_id, item)
            found = await asyncio.to_thread(self.engine.mark_seen, user_id, item_id)
        return found.title

    def _title(self, item_id: str) -> str:
        found = self.engine.item(item_id)
        return found.title if found is not None else item_id

    def _resolve(self, user_id: str, item: str | int) -> str:
        """An item id from an id or a 1-based rank in the user's last reply."""
        if self.refresh is not None:  # an item another process just showed may be in a new catalog
            self.refresh()
        if isinstance(item, int):
            # ranks count from 1: the engine reads -1 as "the last one", which no caller of this API means
            item_id = self.engine.item_at(self.engine.profiles.load(user_id), item) if item >= 1 else None
            if item_id is None:
                shown = f"#{item}" if abs(item) < 10**9 else "such number"  # str() of a huge int raises
                raise NoSuchRank(f"there is no {shown} in your last reply")
            return item_id
        if self.engine.item(item) is None:
            raise UnknownItem(f"no item {item!r} in catalog {self.catalog_name!r}")
        return item

    async def why(self, user_id: str, item: str | int) -> str:
        item_id = await asyncio.to_thread(self._resolve, user_id, item)
        found = self.engine.item(item_id)
        assert found is not None
        reason = self.engine.why(user_id, item_id)
        if reason is None:
            return f"{found.label()} wasn't among my suggestions to you."
        return f"{found.label()}: {reason}."

    async def last_items(self, user_id: str) -> list[ReplyItem]:
        """The user's last reply's items with their whys, as stored: a restarted front end shows
        them again, so "#2" still means what is on screen."""

        def load() -> list[ReplyItem]:
            shown = self.engine.profiles.load(user_id).last_shown
            whys = self.engine.profiles.whys(user_id)
            found = [(rank, self.engine.item(item_id)) for rank, item_id in enumerate(shown, start=1)]
            return [self._view_of(item, whys.get(item.id, ""), rank=rank) for rank, item in found if item is not None]

        return await asyncio.to_thread(load)

    async def profile(self, user_id: str) -> ProfileView:
        profile = await asyncio.to_thread(self.engine.profiles.load, user_id)
        return self._view(profile)

    def _view(self, profile: Profile) -> ProfileView:
        def titles(ids: list[str]) -> list[str]:
            return [item.title for i in ids if (item := self.engine.item(i)) is not None]

        return ProfileView(
            user_id=profile.user_id,
            turns=profile.turns,
            liked=titles(profile.liked),
            disliked=titles(profile.disliked),
            seen=titles([i for i in profile.seen if i not in profile.liked and i not in profile.disliked]),
            liked_aspects=list(profile.liked_aspects),
            disliked_aspects=list(profile.disliked_aspects),
            constraints=profile.constraints.describe(),
            shown=len(profile.shown),
            **self._kinds(profile.liked, profile.disliked),
        )

    def _kinds(self, liked: list[str], disliked: list[str]) -> dict[str, list[str]]:
        """The facet values (genres, mechanics, grapes…) of the liked items, less those of the rejected ones: what
        the feedback says about kinds, liked (net above 0) and rejected (below 0), most first."""
        net: Counter[str] = Counter()
        for ids, sign in ((liked, 1), (disliked, -1)):
            for item_id in ids:
                if (item := self.engine.item(item_id)) is not None:
                    net.update({kind: sign for kind in item.genres})
        ranked = sorted(net.items(), key=lambda pair: (-abs(pair[1]), pair[0]))
        return {
            "liked_kinds": [f"{kind} ×{n}" for kind, n in ranked if n > 0],
            "disliked_kinds": [f"{kind} ×{-n}" for kind, n in ranked if n < 0],
        }

    async def export(self, user_id: str) -> dict:
        """Everything stored about the user as JSON-ready data: profile, events (with what each turn was understood
        to say), the why of each item shown, and the titles of the items named in this catalog."""

        def build() -> dict:
            exported = self.engine.profiles.export(user_id)
            ids = {e["item_id"] for e in exported["events"] if "item_id" in e}
            for event in exported["events"]:
                if event["kind"] == "shown":
                    ids.update(json.loads(event.get("text") or "[]"))
            ids |= set(exported["whys"]) | {
                i for key in ("liked", "disliked", "seen") for i in exported["profile"][key]
            }
            exported["collection"] = self.engine.catalog.name
            exported["items"] = {i: item.title for i in sorted(ids) if (item := self.engine.item(i)) is not None}
            return exported

        return await asyncio.to_thread(build)

    async def reset(self, user_id: str) -> None:
        async with self._hold(user_id):
            await asyncio.to_thread(self.engine.reset, user_id)

    async def forget(self, user_id: str) -> int:
        async with self._hold(user_id):
            return await asyncio.to_thread(self.engine.forget, user_id)
