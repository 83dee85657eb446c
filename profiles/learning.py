"""Learning from a log that several processes share: the collaborative component (co-occurrence
and learned popularity) of every process follows the one event log in PostgreSQL.

Setup: a store whose `shared_log()` is not None (`PostgresProfileStore`); SQLite has none, and
its single process goes on learning from its own writes (bot/engine.py).
Construct: `SharedLearning(log, seed, known, scope)`; `model` is what rankings read; `close()`
stops the follower thread.

How it follows: a thread reads the events after the last one it has learned
(`SELECT … WHERE id > last` on the primary key, at most every `poll_s` = 0.5 s) and applies
them in log order, exactly as the writing process would have: a like is observed in its user's
window, a reset closes the window, an undo swaps that user's share. The writer of an event also
reads the log right after its own write (`sync()`), so a process never waits to learn its own
events. An event written by one process is in every other process's counts within about
`poll_s` plus one query.

Why polling and not LISTEN/NOTIFY: a poll is one index-range read that returns nothing most of
the time; it needs no connection held open, and it cannot miss anything across a dropped
connection or a server restart, whereas notifications sent while a listener reconnects are lost,
so a listener needs this very poll as its fallback anyway. Half a second of latency is well
inside the second a user could notice.

Why reading by id is safe: `PostgresProfileStore.write` appends events under one short
database-wide lock held to commit, so ids become visible in order and `id > last` never skips
a row that commits late with a lower id.

A late start: checkpoints (the counts less the seed, with the last event id they cover, one per
catalog: `scope_of`) are stored in the database by the follower thread, once the log has grown
`checkpoint_every` ids past the last one, so a process starts from the newest checkpoint and
reads only the events after it; with no checkpoint it replays the log once and stores one.

A forget: the store deletes the user's events and, in the same transaction, takes their share
out of every checkpoint and counts one more forget. Every process sees the count change on its
next read and reloads from the checkpoint (no user's share can be taken out of a model without
that user's events, which are gone), so the forgotten user is out of every process within a
poll, and out of every checkpoint at once.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import threading
from collections.abc import Container, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from .collaborative import COLLABORATIVE_KINDS, CoOccurrence, is_positive, signals_of
from .contract import Event

log = logging.getLogger(__name__)

BATCH = 5000
"""Events read per query while catching up (a bounded read, whatever the backlog)."""


@dataclass(frozen=True)
class Poll:
    """One read of the shared log, from one snapshot."""

    forgets: int
    """How many forgets the database has seen: a change means some user's share is gone."""
    head: int
    """The last event id this read covers (the events are every learned one up to it)."""
    events: list[Event]


@dataclass(frozen=True)
class Checkpoint:
    last_id: int
    """The counts hold every event with an id up to this one."""
    forgets: int
    """The forget count the checkpoint is consistent with."""
    model: bytes
    """`CoOccurrence.to_bytes()`: counts and pairs, without the seed of any process."""


class SharedLog(Protocol):
    """What a store shared by several processes offers to learn from (PostgresProfileStore)."""

    @property
    def closed(self) -> bool: ...

    def poll(self, after: int, kinds: Sequence[str], limit: int | None) -> Poll:
        """The learned events after id `after`, in order, at most `limit` (None: all)."""

    def checkpoint(self, scope: str) -> Checkpoint | None:
        """The newest checkpoint of this scope, None where there is none."""

    def save_checkpoint(self, scope: str, checkpoint: Checkpoint) -> bool:
        """Store it unless a forget came after it or a newer one is stored; True when stored."""

    def events(
        self, user_id: str | None = None, kinds: Iterable[str] | None = None, before: int | None = None
    ) -> Iterator[Event]: ...


def scope_of(catalog: str, item_ids: Iterable[str], history_per_user: int) -> str:
    """What a checkpoint is valid for: the catalog (name and items: a model learns only the
    catalog's items) and the window length. Processes on other catalogs keep their own."""
    digest = hashlib.sha256("\n".join(sorted(item_ids)).encode())
    digest.update(f"\n{history_per_user}".encode())
    return f"{catalog}:{digest.hexdigest()[:16]}"


class SharedLearning:
    """The collaborative component of one process, following the shared log (see the module)."""

    def __init__(
        self,
        log: SharedLog,
        seed: CoOccurrence,
        known: Container[str],
        scope: str,
        *,
        poll_s: float = 0.5,
        checkpoint_every: int = 1000,
    ) -> None:
        self._log = log
        self._seed = seed
        self._known = known
        self._scope = scope
        self._poll_s = poll_s
        self._every = checkpoint_every
        self.model = copy.deepcopy(seed)
        """What rankings read; changed in place, so a reference to it stays current."""
        self._sync_lock = threading.Lock()
        self._after = 0
        self._forgets = 0
        self._saved = 0
        """The last id of the newest checkpoint this process knows of."""
        self._failing = False
        with self._sync_lock:
            self._reload()
            self._sync()
            self._checkpoint_if_due()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, name="recochat-shared-learning", daemon=True)
        self._thread.start()

    @property
    def last_id(self) -> int:
        """The last event id the model has learned (and every one before it)."""
        return self._after

    def sync(self) -> None:
        """Learn every event stored so far: after this process's own write, before it answers."""
        with self._sync_lock:
            self._sync()

    def close(self) -> None:
        """Stop following; `sync()` still works (a turn still running on this engine finishes)."""
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    # -- following ---------------------------------------------------------------------------
    def _follow(self) -> None:
        while not self._stop.wait(self._poll_s):
            if self._log.closed:
                return
            try:
                with self._sync_lock:
                    self._sync()
                    self._checkpoint_if_due()
            except Exception:  # noqa: BLE001  # the database may be restarting: try again next time
                if self._log.closed:
                    return
                if not self._failing:
                    log.warning("cannot read the shared event log; learning pauses until it answers", exc_info=True)
                self._failing = True
            else:
                if self._failing:
                    log.info("reading the shared event log again")
                self._failing = False

    def _sync(self) -> None:
        while True:
            poll = self._log.poll(self._after, COLLABORATIVE_KINDS, BATCH)
            if poll.forgets != self._forgets:
                self._reload()
                continue
            for event in poll.events:
                self._apply(event)
            self._after = max(self._after, poll.head)
            if len(poll.events) < BATCH:
                return

    def _apply(self, event: Event) -> None:
        """One event, as the process that wrote it learned it (bot/engine.py)."""
        user_id = event.user_id
        if event.kind == "reset":
            self.model.end_session(user_id)
        elif event.kind == "undo":
            before = list(self._log.events(user_id, COLLABORATIVE_KINDS, before=event.id))
            self.model.replace_user(user_id, signals_of(before, self._known), signals_of([*before, event], self._known))
        elif is_positive(event) and event.item_id in self._known:
            self.model.observe(user_id, event.item_id or "", lambda: self._history(user_id, event.id))

    def _history(self, user_id: str, before: int | None) -> list[str | None]:
        """A user's signals before an event: their window, where it was closed or never opened here."""
        return signals_of(self._log.events(user_id, COLLABORATIVE_KINDS, before=before), self._known)

    def _reload(self) -> None:
        """Start again from the newest checkpoint (or, with none, from the whole log, once)."""
        fresh = copy.deepcopy(self._seed)
        stored = self._log.checkpoint(self._scope)
        if stored is not None:
            fresh.merge(CoOccurrence.from_bytes(stored.model))
            self._after, self._forgets, self._saved = stored.last_id, stored.forgets, stored.last_id
        else:
            whole = self._log.poll(0, COLLABORATIVE_KINDS, None)
            fresh.learn_log(whole.events, self._known)
            self._after, self._forgets, self._saved = whole.head, whole.forgets, 0
        self.model.replace_all(fresh)

    def _checkpoint_if_due(self) -> None:
        """Store the counts less the seed when the log has grown `checkpoint_every` ids past the
        last checkpoint, or at once where there is none yet (under the sync lock: the model is
        exactly what the log up to `_after` makes)."""
        if self._after - self._saved < self._every and not (self._saved == 0 and self._after > 0):
            return
        learned = CoOccurrence(history_per_user=self.model.history_per_user)
        learned.merge(self.model)
        learned.merge(self._seed, -1)
        if self._log.save_checkpoint(self._scope, Checkpoint(self._after, self._forgets, learned.to_bytes())):
            log.info("stored a checkpoint of the collaborative counts at event %d", self._after)
        self._saved = self._after  # stored, or a newer one or a forget came first: try again later
