"""Learning from other users: popularity and item-to-item co-occurrence, updated per event.

Every positive signal (a 👍, a liked title, an accepted recommendation) is one observation.
Items a user liked together (within their last `history_per_user` positives of a session)
co-occur; the score of a candidate for a user sums its cosine-normalized co-occurrence with
the user's liked items.

The counts are a sum over users, and one user's share depends only on that user's own
signals, so an undo or a forget replaces that one share (`replace_user`): cost O(that user's
events), and observations of other users made meanwhile are never lost. The same property lets
several processes learn from one shared log (profiles/learning.py) and store the counts as a
checkpoint (`to_bytes`) from which one user's share can still be taken out.
"""

from __future__ import annotations

import itertools
import json
import math
import threading
import zlib
from collections import Counter, OrderedDict, defaultdict
from collections.abc import Callable, Container, Iterable
from dataclasses import dataclass, field
from typing import Any

from .contract import Event, without_undone

Signal = str | None
"""One step of a user's history: an item they liked, or None where a session ended (a reset)."""

_EDITS = itertools.count(1)
"""Numbers for `CoOccurrence.version`, unique across every model of the process."""

COLLABORATIVE_KINDS = ("mention", "feedback", "undo", "reset")
"""The events the collaborative component learns from (with the undos and resets that shape them)."""


def is_positive(event: Event) -> bool:
    """A liked title or a 👍: what the collaborative component learns from."""
    return event.kind in ("mention", "feedback") and (event.value or 0) > 0


def signals_of(events: Iterable[Event], known: Container[str]) -> list[Signal]:
    """One user's events as the collaborative component learns them: liked items that are in
    `known` (the catalog), None at each reset; undone feedback is dropped."""
    out: list[Signal] = []
    for event in without_undone(list(events)):
        if event.kind == "reset":
            out.append(None)
        elif is_positive(event) and event.item_id in known:
            out.append(event.item_id)
    return out


@dataclass
class _Share:
    """What a sequence of signals adds: item counts, ordered pair counts, and the window left open."""

    counts: Counter[str] = field(default_factory=Counter)
    pairs: Counter[tuple[str, str]] = field(default_factory=Counter)
    window: list[str] = field(default_factory=list)


class CoOccurrence:
    """Thread-safe: one lock guards the counts, the pairs and the per-user windows.

    The windows (each user's recent positives) are kept for at most `max_users` users, least
    recently active dropped first. `observe` takes a `history` callback that rebuilds a dropped
    window from that user's log; without one, a dropped user starts a new window.
    """

    def __init__(self, history_per_user: int = 50, max_users: int = 10_000) -> None:
        self.counts: Counter[str] = Counter()
        self.pairs: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self._recent: OrderedDict[str, list[str]] = OrderedDict()
        self._history = history_per_user
        self._max_users = max_users
        self._lock = threading.RLock()
        self.version = next(_EDITS)
        """Changes whenever the counts or pairs do, and no two models share one: equal versions mean equal counts,
        so a reader may keep what it computed from them (the scorer's dense popularity prior)."""

    # a lock neither copies nor pickles: copies get their own
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.RLock()
        self.version = next(_EDITS)

    # -- learning ----------------------------------------------------------------------------
    def _step(self, window: list[str], item_id: str, share: _Share | None = None) -> None:
        """One positive into `window`: counted into `share` if given, else into the model."""
        if item_id in window:
            return
        if share is None:
            self.version = next(_EDITS)
            self.counts[item_id] += 1
            for other in window:
                self.pairs[item_id][other] += 1
                self.pairs[other][item_id] += 1
        else:
            share.counts[item_id] += 1
            for other in window:
                share.pairs[(item_id, other)] += 1
                share.pairs[(other, item_id)] += 1
        window.append(item_id)
        del window[: -self._history]

    def share(self, signals: Iterable[Signal]) -> _Share:
        """What this sequence of one user's signals adds to the model (the model is not touched)."""
        share = _Share()
        for signal in signals:
            if signal is None:
                share.window = []
            else:
                self._step(share.window, signal, share)
        return share

    def _window(self, user_id: str, history: Callable[[], Iterable[Signal]] | None) -> list[str]:
        window = self._recent.get(user_id)
        if window is not None:
            self._recent.move_to_end(user_id)
            return window
        window = self.share(history()).window if history is not None else []
        self._remember(user_id, window)
        return window

    def _remember(self, user_id: str, window: list[str]) -> None:
        self._recent[user_id] = window
        self._recent.move_to_end(user_id)
        while len(self._recent) > self._max_users:
            self._recent.popitem(last=False)

    def observe(self, user_id: str, item_id: str, history: Callable[[], Iterable[Signal]] | None = None) -> None:
        """One positive event; co-occurs with the user's earlier positives of the session.
        `history` gives the user's signals before this one, read only if their window was dropped."""
        self.observe_all(user_id, [item_id], history)

    def observe_all(
        self, user_id: str, item_ids: Iterable[str], history: Callable[[], Iterable[Signal]] | None = None
    ) -> None:
        """Several positives of one user in order, under one hold of the lock (so `history`,
        the signals before the first of them, stays right for all of them)."""
        with self._lock:
            window = self._window(user_id, history)
            for item_id in item_ids:
                self._step(window, item_id)

    def end_session(self, user_id: str) -> None:
        with self._lock:
            self._recent.pop(user_id, None)

    def end_sessions(self) -> None:
        """Close every user's window (a copy taken as a seed starts with no sessions open)."""
        with self._lock:
            self._recent.clear()

    def replace_user(self, user_id: str, old: Iterable[Signal], new: Iterable[Signal]) -> None:
        """Swap one user's share: take out what `old` (their signals as learned) added and put in
        what `new` adds. An undo passes their log before and after; a forget passes `new=[]`."""
        before, after = self.share(old), self.share(new)
        with self._lock:
            self._add(before, -1)
            self._add(after, 1)
            if after.window:
                self._remember(user_id, after.window)
            else:
                self._recent.pop(user_id, None)

    def learn_log(self, events: Iterable[Event], known: Container[str]) -> None:
        """Add every user's share of these events (the log, in order): O(events), one pass, no
        reads; each user's window is left as their events end."""
        per_user: defaultdict[str, list[Event]] = defaultdict(list)
        for event in events:
            per_user[event.user_id].append(event)
        for user_id, theirs in per_user.items():
            self.replace_user(user_id, [], signals_of(theirs, known))

    def merge(self, other: CoOccurrence, sign: int = 1) -> None:
        """Add (sign=1) or take out (sign=-1) another model's counts and pairs; windows stay as
        they are. A checkpoint is the live model less the seed, and a start is the seed plus it."""
        counts, pairs = other.snapshot()
        share = _Share(Counter(counts), Counter({(a, b): n for a, row in pairs.items() for b, n in row.items()}))
        with self._lock:
            self._add(share, sign)

    def replace_all(self, other: CoOccurrence) -> None:
        """Become a copy of `other` (counts, pairs, windows) in place: readers keep their reference."""
        counts, pairs = other.snapshot()
        with other._lock:
            recent = OrderedDict((user_id, list(window)) for user_id, window in other._recent.items())
        with self._lock:
            self.counts = Counter(counts)
            self.pairs = defaultdict(Counter, {a: Counter(row) for a, row in pairs.items()})
            self._recent = recent
            self.version = next(_EDITS)

    def to_bytes(self) -> bytes:
        """Counts, pairs and the window length as compressed JSON (no windows): a checkpoint."""
        counts, pairs = self.snapshot()
        data = {"history_per_user": self._history, "counts": counts, "pairs": pairs}
        return zlib.compress(json.dumps(data, separators=(",", ":")).encode())

    @classmethod
    def from_bytes(cls, blob: bytes) -> CoOccurrence:
        data = json.loads(zlib.decompress(blob))
        model = cls(history_per_user=int(data["history_per_user"]))
        model.counts = Counter({k: int(v) for k, v in data["counts"].items()})
        for a, row in data["pairs"].items():
            model.pairs[a] = Counter({b: int(n) for b, n in row.items()})
        model.version = next(_EDITS)
        return model

    @property
    def history_per_user(self) -> int:
        return self._history

    def _add(self, share: _Share, sign: int) -> None:
        self.version = next(_EDITS)
        for item_id, n in share.counts.items():
            self.counts[item_id] += sign * n
            if self.counts[item_id] <= 0:
                del self.counts[item_id]
        for (a, b), n in share.pairs.items():
            neighbours = self.pairs[a]
            neighbours[b] += sign * n
            if neighbours[b] <= 0:
                del neighbours[b]
                if not neighbours:
                    del self.pairs[a]

    # -- reading -----------------------------------------------------------------------------
    def popularity(self, item_id: str) -> int:
        return self.counts.get(item_id, 0)

    def tracked_users(self) -> int:
        """How many users' windows are held (at most `max_users`)."""
        return len(self._recent)

    def snapshot(self) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
        """Counts and pairs as plain dicts, without zeros: for comparing two models."""
        with self._lock:
            counts = {k: v for k, v in self.counts.items() if v}
            pairs = {a: {b: n for b, n in c.items() if n} for a, c in self.pairs.items()}
        return counts, {a: c for a, c in pairs.items() if c}

    def scores(self, liked: Iterable[str]) -> dict[str, float]:
        """Candidate → Σ_l cooc(l, c) / sqrt(count(l)·count(c)). A pair whose item has no count
        adds nothing: a pair always comes with both counts when the model learned the whole log,
        but a model that missed some of it (two processes each counting only their own writes,
        once) must still rank, not divide by zero."""
        out: defaultdict[str, float] = defaultdict(float)
        with self._lock:
            for source in liked:
                neighbours = self.pairs.get(source)
                source_count = self.counts.get(source, 0)
                if not neighbours or source_count <= 0:
                    continue
                for target, together in neighbours.items():
                    target_count = self.counts.get(target, 0)
                    if target_count > 0:
                        out[target] += together / math.sqrt(source_count * target_count)
        return dict(out)

    def neighbourhood(self, liked: Iterable[str]) -> tuple[dict[str, int], dict[str, dict[str, int]], int]:
        """A copy of the counts, of the liked items' rows of pairs and the `version` they are at, read together:
        what a blend with another model needs (profiles/crowd.py)."""
        with self._lock:
            rows = {source: dict(row) for source in liked if (row := self.pairs.get(source))}
            return dict(self.counts), rows, self.version
