"""Many users at once: turns, feedback, undo, seen, why, reset and forget, then invariants.

`run_stress(conversations, users, seconds)` drives the conversation API with `users` simulated
users, one task each, plus a few tasks that act on random users (so one user's calls overlap
too), for `seconds`. Once everything is quiet it checks:

- no exception but the domain errors a user can cause ("#3" with no reply yet), counted as refused;
- every user's stored profile equals the one rebuilt from that user's own events;
- no user's liked/disliked/seen/shown lists hold an item this user was never shown, never
  named and never rated (what leaks between users would show up here);
- the collaborative component equals the one rebuilt from the whole log: no observation lost
  to a concurrent undo or forget, nothing left of a forgotten user.

The result is a JSON-ready dict; `violations` counts users (or models) that broke each check.
`tests/test_stress.py` runs it over the tiny catalog; `recochat bench reliability` can call it.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from recochat.bot.conversation import Conversations
from recochat.bot.errors import RecochatError
from recochat.profiles.model import Profile

MESSAGES = (
    "something funny",
    "something clever but not stupid",
    "no horror please",
    "a thriller from the 90s",
    "something from the 2010s",
    "any year is fine",
    "more like #2",
    "the second one looks great",
    "meh",
    "show me those again",
    "why #1",
    "hi",
)
TITLE_MESSAGES = ("I loved {}", "I've seen {}", "I hated {}", "something like {}")
ACTIONS: dict[str, int] = {
    "send": 40,
    "feedback": 20,
    "undo": 10,
    "seen": 5,
    "why": 5,
    "profile": 5,
    "reset": 5,
    "forget": 5,
}
"""Relative weights of what a simulated user does next."""


def profile_differences(a: Profile, b: Profile, atol: float = 1e-5) -> list[str]:
    """The fields on which two profiles differ (vectors compared within `atol`); [] when equal."""
    left, right = asdict(a), asdict(b)
    differ = []
    for key in ("interest", "aversion"):
        x, y = left.pop(key), right.pop(key)
        if (x is None) != (y is None) or (x is not None and not np.allclose(x, y, atol=atol)):
            differ.append(key)
    return differ + [key for key in left if left[key] != right[key]]


@dataclass
class _Run:
    conversations: Conversations
    deadline: float
    exposed: defaultdict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    """Per user: every item they were shown, named or rated (what their profile may hold)."""
    rated: defaultdict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    latency_ms: defaultdict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    refused: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    error_samples: list[str] = field(default_factory=list)

    async def act(self, user: str, rng: random.Random) -> None:
        kind = rng.choices(list(ACTIONS), weights=list(ACTIONS.values()))[0]
        started = time.perf_counter()
        try:
            await self._do(kind, user, rng)
        except RecochatError as error:
            self.refused[type(error).__name__] += 1
        except Exception as error:  # noqa: BLE001 — counting every failure is the point
            self.errors[type(error).__name__] += 1
            if len(self.error_samples) < 10:
                self.error_samples.append(f"{kind} {user}: {type(error).__name__}: {error}")
        self.latency_ms[kind].append((time.perf_counter() - started) * 1000)

    async def _do(self, kind: str, user: str, rng: random.Random) -> None:
        c = self.conversations
        rank = rng.randint(1, 3)
        if kind == "send":
            await self._send(user, rng)
        elif kind == "feedback":
            result = await c.feedback(user, rank, rng.choice(("like", "dislike")))
            self.exposed[user].add(result.item_id)
            self.rated[user].append(result.item_id)
        elif kind == "undo":
            item = rng.choice(self.rated[user]) if self.rated[user] else rank
            await c.undo_feedback(user, item)
        elif kind == "seen":
            await c.mark_seen(user, rank)
        else:
            await self._manage(kind, user, rank)

    async def _send(self, user: str, rng: random.Random) -> None:
        engine = self.conversations.engine
        if rng.random() < 0.3:
            item = rng.choice(engine.catalog.items)
            text = rng.choice(TITLE_MESSAGES).format(item.title)
        else:
            text = rng.choice(MESSAGES)
        self.exposed[user].update(engine.reader.named_items(text))
        reply = await self.conversations.send(user, text)
        self.exposed[user].update(i.id for i in reply.items)

    async def _manage(self, kind: str, user: str, rank: int) -> None:
        c = self.conversations
        calls: dict[str, Callable[[], Awaitable[Any]]] = {
            "why": lambda: c.why(user, rank),
            "profile": lambda: c.profile(user),
            "reset": lambda: c.reset(user),
            "forget": lambda: c.forget(user),
        }
        await calls[kind]()

    async def user_loop(self, user: str, rng: random.Random) -> None:
        while time.monotonic() < self.deadline:
            await self.act(user, rng)

    async def chaos_loop(self, users: list[str], rng: random.Random) -> None:
        """Acts on random users, so calls of one user also run at the same time."""
        while time.monotonic() < self.deadline:
            await self.act(rng.choice(users), rng)


def check(conversations: Conversations, users: list[str], exposed: dict[str, set[str]]) -> dict[str, Any]:
    """The invariants, on a quiet engine: counts of users (or models) that break each, with samples."""
    engine = conversations.engine
    mismatched, foreign, samples = 0, 0, []
    for user in users:
        stored, rebuilt = engine.profiles.load(user), engine.rebuild(user)
        differ = profile_differences(stored, rebuilt)
        if differ:
            mismatched += 1
            samples.append(f"{user}: stored ≠ rebuilt on {', '.join(differ)}")
        held = {*stored.liked, *stored.disliked, *stored.seen, *stored.shown}
        stray = held - exposed.get(user, set())
        if stray:
            foreign += 1
            samples.append(f"{user}: holds items never shown, named or rated by them: {sorted(stray)[:5]}")
    collaborative = engine.collaborative.snapshot() != engine.learning.from_log().snapshot()
    if collaborative:
        samples.append("collaborative component ≠ the one rebuilt from the log")
    return {
        "violations": {
            "profile_vs_rebuild": mismatched,
            "foreign_items": foreign,
            "collaborative": int(collaborative),
        },
        "violation_samples": samples[:10],
    }


async def stress(conversations: Conversations, users: int = 50, seconds: float = 30.0, seed: int = 0) -> dict:
    """The async core of `run_stress`, for callers already in an event loop."""
    names = [f"stress-{i}" for i in range(users)]
    run = _Run(conversations, time.monotonic() + seconds)
    started = time.perf_counter()
    tasks = [run.user_loop(name, random.Random(f"{seed}-{name}")) for name in names]
    tasks += [run.chaos_loop(names, random.Random(f"{seed}-chaos-{i}")) for i in range(max(2, users // 10))]
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - started
    checked = await asyncio.to_thread(check, conversations, names, run.exposed)
    operations = sum(len(v) for v in run.latency_ms.values())
    by_kind = {
        kind: {
            "n": len(ms),
            "p50_ms": round(float(np.percentile(ms, 50)), 2),
            "p95_ms": round(float(np.percentile(ms, 95)), 2),
            "max_ms": round(max(ms), 2),
        }
        for kind, ms in sorted(run.latency_ms.items())
    }
    return {
        "users": users,
        "seconds": round(elapsed, 2),
        "operations": operations,
        "ops_per_s": round(operations / elapsed, 1) if elapsed else 0.0,
        "by_kind": by_kind,
        "refused": dict(run.refused),
        "errors": dict(run.errors),
        "error_samples": run.error_samples,
        **checked,
        "ok": not run.errors and not any(checked["violations"].values()),
    }


def run_stress(conversations: Conversations, users: int = 50, seconds: float = 30.0, seed: int = 0) -> dict:
    """Drive `users` simulated users for `seconds`, then check the invariants (module docstring).
    Returns counts: operations per kind with latencies, refused and failed calls, violations."""
    return asyncio.run(stress(conversations, users, seconds, seed))
