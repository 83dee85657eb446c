"""The profile-store contract written once over SQL, for every backend: `SQLProfileStore` runs
the shared statements (profiles/sql.py) through a few primitives that a backend provides
(a read, a transaction, the insert of one event), so SQLite and PostgreSQL differ only in how
they connect, lock and migrate."""

from __future__ import annotations

import threading
import time
import weakref
from abc import abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from typing import Any, ClassVar, Protocol

from .codecs import crowd_of, event_of, event_values, ids_to_json, picks_of, profile_columns, profile_of, signal_columns
from .contract import CrowdChange, Event, Picks, PickStorage, ProfileStorage
from .crowd import CrowdConversation
from .model import Profile, TurnSignal
from .sql import Dialect, Statements, select_events


class Session(Protocol):
    """A connection inside a transaction, as the shared code uses it (sqlite3's connection, a psycopg cursor)."""

    def execute(self, statement: str, args: Sequence[Any] = (), /) -> Any: ...

    def executemany(self, statement: str, rows: Iterable[Sequence[Any]], /) -> Any: ...


class UserLocks:
    """One re-entrant lock per user, in this process; a weak map, so only users being served hold one."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: weakref.WeakValueDictionary[str, threading.RLock] = weakref.WeakValueDictionary()

    def __call__(self, user_id: str) -> threading.RLock:
        with self._guard:
            lock = self._locks.get(user_id)
            if lock is None:
                lock = self._locks[user_id] = threading.RLock()
            return lock


class SQLProfileStore(ProfileStorage, PickStorage):
    """`ProfileStorage` and `PickStorage` for a SQL database. A backend names its `dialect` and
    `sql` (the statements in its words) and implements `_rows`, `_transaction` and
    `_insert_event`; it may widen `_run`, `_append` and `_forgotten`."""

    dialect: ClassVar[Dialect]
    sql: ClassVar[Statements]

    # -- what a backend provides -------------------------------------------------------------
    @abstractmethod
    def _rows(self, statement: str, args: Sequence[Any] = ()) -> list[Sequence[Any]]:
        """The rows of one read, made on its own (no transaction held open)."""

    @abstractmethod
    def _transaction(self, users: Iterable[str | None] = ()) -> AbstractContextManager[Session]:
        """One transaction, which keeps the other writers of these users out; anything raised
        inside rolls all of it back."""

    @abstractmethod
    def _insert_event(self, session: Session, values: Sequence[Any]) -> int:
        """Insert one event row (`codecs.event_values`); its id."""

    def _run(self, statement: str, args: Sequence[Any]) -> None:
        """One statement that is a write of its own."""
        with self._transaction() as session:
            session.execute(statement, args)

    def _append(self, session: Session, events: list[Event]) -> list[Event]:
        """Insert a write's events, last in its transaction; the events as stored."""
        return [replace(event, id=self._insert_event(session, event_values(event))) for event in events]

    def _forgotten(self, session: Session, user_id: str, gone: list[Event]) -> None:
        """What else a forget changes, in its transaction, once the user's rows are gone (nothing here)."""

    def _row(self, statement: str, args: Sequence[Any]) -> Sequence[Any] | None:
        rows = self._rows(statement, args)
        return rows[0] if rows else None

    # -- profiles ----------------------------------------------------------------------------
    def load(self, user_id: str) -> Profile:
        return profile_of(user_id, self._row(self.sql.load_profile, (user_id,)))

    # -- the log -----------------------------------------------------------------------------
    def write(
        self,
        events: Iterable[Event],
        profile: Profile | None = None,
        whys: dict[str, str] | None = None,
        clear: str | None = None,
    ) -> list[Event]:
        now = time.time()
        events = [replace(event, time=event.time or now) for event in events]
        owners = [e.user_id for e in events] + [profile.user_id if profile else None, clear]
        with self._transaction(owners) as session:
            if whys and profile is not None:
                session.executemany(
                    self.sql.upsert_why, [(profile.user_id, item_id, why) for item_id, why in whys.items()]
                )
            if profile is not None:
                session.execute(self.sql.upsert_profile, (profile.user_id, *profile_columns(profile), time.time()))
            if clear is not None:
                session.execute(self.sql.delete_profile, (clear,))
            return self._append(session, events)

    def events(
        self, user_id: str | None = None, kinds: Iterable[str] | None = None, before: int | None = None
    ) -> Iterator[Event]:
        statement, args = select_events(self.dialect, user_id, kinds, before)
        for row in self._rows(statement, args):
            yield event_of(row)

    def pending_turns(self) -> list[Event]:
        return [event_of(row) for row in self._rows(self.sql.pending_turns)]

    def set_signals(self, signals: dict[int, TurnSignal]) -> None:
        with self._transaction() as session:
            session.executemany(
                self.sql.set_signal, [(*signal_columns(signal), event_id) for event_id, signal in signals.items()]
            )

    def users(self) -> list[str]:
        return [str(row[0]) for row in self._rows(self.sql.users)]

    def why(self, user_id: str, item_id: str) -> str | None:
        row = self._row(self.sql.why, (user_id, item_id))
        return None if row is None else str(row[0])

    def whys(self, user_id: str) -> dict[str, str]:
        return {str(item_id): str(why) for item_id, why in self._rows(self.sql.whys, (user_id,))}

    # -- privacy -----------------------------------------------------------------------------
    def remove_user(self, user_id: str) -> list[Event]:
        with self._transaction([user_id]) as session:
            gone = [event_of(row) for row in session.execute(self.sql.user_events, (user_id,)).fetchall()]
            for statement in self.sql.delete_user:
                session.execute(statement, (user_id,))
            self._forgotten(session, user_id, gone)
        return gone

    # -- imported crowds ---------------------------------------------------------------------
    def crowd(self, catalog: str) -> list[tuple[str, CrowdConversation]]:
        return [(str(row[0]), crowd_of(row[1:])) for row in self._rows(self.sql.crowd, (catalog,))]

    def save_crowd(
        self, catalog: str, source: str, conversations: Sequence[CrowdConversation], dry_run: bool = False
    ) -> CrowdChange:
        with self._transaction() as session:
            held = dict(session.execute(self.sql.crowd_digests, (catalog, source)).fetchall())
            new = {c.key: c for c in conversations if held.get(c.key) != c.digest}
            if not dry_run:
                now = time.time()
                rows = [(catalog, source, c.key, c.digest, ids_to_json(c.items), now) for c in new.values()]
                session.executemany(self.sql.upsert_crowd, rows)
        updated = sum(1 for key in new if key in held)
        return CrowdChange(len(new) - updated, updated, len({c.key for c in conversations}) - len(new))

    def remove_crowd(self, source: str) -> int:
        with self._transaction() as session:
            return int(session.execute(self.sql.delete_crowd, (source,)).rowcount)

    def crowd_sources(self) -> list[tuple[str, str, int]]:
        return [(str(c), str(s), int(n)) for c, s, n in self._rows(self.sql.crowd_sources)]

    # -- posted messages ---------------------------------------------------------------------
    def save_picks(self, message_id: str, user_id: str, item_ids: Sequence[str]) -> None:
        self._run(self.sql.save_picks, (message_id, user_id, ids_to_json(item_ids), time.time()))

    def picks(self, message_id: str) -> Picks | None:
        return picks_of(self._row(self.sql.picks, (message_id,)))

    def set_held(self, message_id: str, held: Sequence[str]) -> None:
        self._run(self.sql.set_held, (ids_to_json(held), message_id))
