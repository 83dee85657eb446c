"""The event log at start-up and the collaborative component that follows it.

`migrate_old_turns` runs once when the app starts (`runtime.build`): turn events logged before schema 1 hold
only their text; each is understood and encoded once and its signal stored, so from then on it replays like any
other. `CollaborativeLog` builds an engine's collaborative component from the whole log (once per catalog: the
log is read against the catalog's items) and keeps it in step with the writes that follow.
"""

from __future__ import annotations

import copy
import logging

from recochat.profiles.collaborative import COLLABORATIVE_KINDS, CoOccurrence, Signal, signals_of
from recochat.profiles.learning import SharedLearning, scope_of
from recochat.profiles.store import Event, ProfileStorage
from recochat.retrieval.store import StoredCatalog

from .profile_update import ReadTurn

log = logging.getLogger("recochat.engine")


def migrate_old_turns(profiles: ProfileStorage, read: ReadTurn) -> int:
    """Understand and encode the turn events logged before schema 1 (understood against this catalog, as every
    rebuild used to do), and store their signals in one transaction; returns how many there were."""
    old = profiles.pending_turns()
    if old:
        profiles.set_signals({e.id: read(e.text or "") for e in old if e.id})
        log.info("understood %d turn events logged before profile schema 1", len(old))
    return len(old)


class CollaborativeLog:
    """What the collaborative component learns from the log, for one engine (one catalog).

    `start()` makes the component: where several processes share the log (PostgreSQL) it follows the log, every
    process's events included (`shared`); on SQLite it is the seed plus every user's share of the log, and this
    process learns from its own writes. The other methods take the live component and change it in place.
    learn=False freezes it at the seed (evaluation on held-out users)."""

    def __init__(
        self, profiles: ProfileStorage, catalog: StoredCatalog, seed: CoOccurrence | None, learn: bool = True
    ) -> None:
        self.profiles = profiles
        self.row_of = catalog.row_of
        self.learn = learn
        self.seed = copy.deepcopy(seed) if seed else CoOccurrence()
        """What was learned before this store's events (e.g. logged conversations)."""
        self.seed.end_sessions()  # a live user's share must depend on their own events only
        self.shared = self._shared_learning(catalog.name)
        """The follower of the shared log (PostgreSQL); None on SQLite."""

    def _shared_learning(self, catalog_name: str) -> SharedLearning | None:
        shared_log = self.profiles.shared_log()
        if shared_log is None or not self.learn:
            return None
        scope = scope_of(catalog_name, self.row_of, self.seed.history_per_user)
        return SharedLearning(shared_log, self.seed, self.row_of, scope)

    def start(self) -> CoOccurrence:
        """The component to serve with: the shared log's, else the one `from_log` makes."""
        return self.shared.model if self.shared else self.from_log()

    def from_log(self) -> CoOccurrence:
        """The seed plus every user's share from the whole log: O(all events), so for start-up
        and for checks; undo and forget update the live component per user instead. With
        learn=False the component is frozen at the seed."""
        fresh = copy.deepcopy(self.seed)
        if self.learn:
            fresh.learn_log(self.profiles.events(kinds=COLLABORATIVE_KINDS), self.row_of)
        return fresh

    def close(self) -> None:
        """Stop following the shared log (nothing to do on SQLite)."""
        if self.shared is not None:
            self.shared.close()

    def _signals(self, events: list[Event]) -> list[Signal]:
        """One user's events as the collaborative component learns them: liked items of this
        catalog, None at each reset."""
        return signals_of(events, self.row_of)

    def observe(self, model: CoOccurrence, user_id: str, stored: list[Event]) -> None:
        """Teach the component the positives just stored. Should this user's window have been
        dropped (LRU), it is rebuilt from their events before these. With a shared log, the log
        itself is read up to these events: other processes' events first, in order, each learned
        once (a write with nothing to learn reads nothing: the follower thread brings the rest
        within half a second)."""
        if not self.learn or not any(e.kind in COLLABORATIVE_KINDS for e in stored):
            return
        if self.shared is not None:
            self.shared.sync()
            return
        items = [s for s in self._signals(stored) if s is not None]
        if not items:
            return
        first = stored[0].id

        def history() -> list[Signal]:
            return self._signals(list(self.profiles.events(user_id, COLLABORATIVE_KINDS, before=first)))

        model.observe_all(user_id, items, history)

    def relearn(self, model: CoOccurrence, user_id: str, old: list[Event], new: list[Event]) -> None:
        """After an undo or a forget: swap this user's share (their events as learned before,
        and as they stand now). With a shared log, read it instead: an undo is an event like any
        other, and a forget makes every process reload from the checkpoint it was taken out of."""
        if not self.learn:
            return
        if self.shared is not None:
            self.shared.sync()
            return
        model.replace_user(user_id, self._signals(old), self._signals(new))

    def reset(self, model: CoOccurrence, user_id: str) -> None:
        """After a reset: the user's session ends (a shared log brings the reset event like any other)."""
        if self.shared is not None:
            self.shared.sync()
        else:
            model.end_session(user_id)
