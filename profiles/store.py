"""Profiles in SQLite (WAL): one row per user, an append-only event log, and the "why" of each
item shown. `ProfileStorage` is what every store offers (this SQLite one, the default, and
`recochat.profiles.postgres.PostgresProfileStore`); callers are typed against it.

The event log is the source of truth: a profile can be rebuilt by replaying it, and `forget`
deletes everything about a user. A 'turn' event keeps what the turn was understood to say
(`TurnSignal`: aspects, titles, constraints as JSON, the two phrase vectors as BLOBs), so a
replay needs neither the understanding rules of the day nor the encoder.

Schema versions (`PRAGMA user_version`), applied in order at open:
0. profiles + events (turn events hold only their text);
1. events gain `understood`, `positive`, `negative`; table `whys`. Turn events written before
   it have `understood IS NULL` until an engine replays their text once (`pending_turns`).
2. table `picks`: which items a posted message (a Discord card) shows to whom, and that
   person's reactions on it, so whichever process receives a reaction can act on it;
3. PostgreSQL's shared learning (checkpoints of the collaborative counts, a count of forgets:
   profiles/postgres.py). SQLite, one process, learns from its own writes and needs no table:
   its step 3 only records the version, so both stores keep one numbering.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import weakref
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from recochat.bot.errors import SetupError

from .model import Constraints, Profile, TurnSignal

if TYPE_CHECKING:
    from .learning import SharedLog

SCHEMA_VERSION = 3

_BASE = """
CREATE TABLE IF NOT EXISTS profiles (
    user_id TEXT PRIMARY KEY,
    data TEXT NOT NULL,
    u BLOB,  -- Profile.interest
    n BLOB,  -- Profile.aversion
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    item_id TEXT,
    value REAL,
    text TEXT,
    time REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS events_user ON events(user_id, id);
"""
"""Version 0, as every database before versioning has it; a new database starts here too."""

_MIGRATIONS: dict[int, list[str]] = {
    1: [
        "ALTER TABLE events ADD COLUMN understood TEXT",  # TurnSignal.to_json(); NULL: not yet understood
        "ALTER TABLE events ADD COLUMN positive BLOB",
        "ALTER TABLE events ADD COLUMN negative BLOB",
        "CREATE INDEX events_pending ON events(id) WHERE kind = 'turn' AND understood IS NULL",
        "CREATE TABLE whys (user_id TEXT NOT NULL, item_id TEXT NOT NULL, why TEXT NOT NULL, "
        "PRIMARY KEY (user_id, item_id)) WITHOUT ROWID",
    ],
    2: [
        # item_ids and held are JSON lists; held: the owner's reactions still on the message, oldest first
        "CREATE TABLE picks (message_id TEXT PRIMARY KEY, user_id TEXT NOT NULL, item_ids TEXT NOT NULL, "
        "held TEXT NOT NULL DEFAULT '[]', time REAL NOT NULL)",
        "CREATE INDEX picks_user ON picks(user_id)",
    ],
    3: [],
}

_COLUMNS = "id, user_id, kind, item_id, value, text, time, understood, positive, negative"


@dataclass(frozen=True)
class Event:
    user_id: str
    kind: str
    """'turn' (text + signal), 'mention'/'feedback' (item, value ±), 'seen' (item), 'shown'
    (text: JSON list of ids), 'undo' (item), 'reset'."""
    item_id: str | None = None
    value: float | None = None
    text: str | None = None
    time: float = 0.0
    signal: TurnSignal | None = None
    """What a 'turn' was understood to say; None only for a turn logged before schema 1 and not yet migrated."""
    id: int | None = None
    """Position in the log, set once stored."""


@dataclass(frozen=True)
class Picks:
    """What one posted message shows (a Discord card: one item) and to whom; kept in the store,
    not in a process, so a reaction is understood by whichever process receives it."""

    message_id: str
    user_id: str
    item_ids: list[str]
    held: list[str] = field(default_factory=list)
    """The owner's reactions still on the message, oldest first (removing one undoes it and
    replays the later ones)."""


def _picks_of(row: Sequence[Any] | None) -> Picks | None:
    if row is None:
        return None
    message_id, user_id, item_ids, held = row
    return Picks(str(message_id), str(user_id), list(json.loads(item_ids)), list(json.loads(held)))


def without_undone(events: list[Event]) -> list[Event]:
    """The log as it counts: each 'undo' and the latest earlier feedback of that user on that
    item are dropped (what a replay, an undo check and the collaborative component all read)."""
    cancelled: set[int] = set()
    for index, event in enumerate(events):
        if event.kind != "undo":
            continue
        cancelled.add(index)
        for earlier in range(index - 1, -1, -1):
            other = events[earlier]
            if (
                earlier not in cancelled
                and other.kind == "feedback"
                and other.user_id == event.user_id
                and other.item_id == event.item_id
            ):
                cancelled.add(earlier)
                break
    return [e for i, e in enumerate(events) if i not in cancelled]


def _vector_to_blob(vector: np.ndarray | None) -> bytes | None:
    return None if vector is None else np.asarray(vector, dtype=np.float32).tobytes()


def _blob_to_vector(blob: bytes | None) -> np.ndarray | None:
    return None if blob is None else np.frombuffer(blob, dtype=np.float32).copy()


def _signal_columns(signal: TurnSignal | None) -> tuple[str | None, bytes | None, bytes | None]:
    if signal is None:
        return None, None, None
    return signal.to_json(), _vector_to_blob(signal.positive_vector), _vector_to_blob(signal.negative_vector)


def _event_of(row: Sequence[Any]) -> Event:
    event_id, user_id, kind, item_id, value, text, at, understood, positive, negative = row
    signal = None
    if understood is not None:
        signal = TurnSignal.from_json(understood, _blob_to_vector(positive), _blob_to_vector(negative))
    return Event(user_id, kind, item_id, value, text, at, signal, event_id)


def _profile_columns(profile: Profile) -> tuple[str, bytes | None, bytes | None]:
    """The vectors go to their own BLOB columns (named u and n, older than the field names), the rest to JSON."""
    data = asdict(profile)
    for key in ("user_id", "interest", "aversion"):
        data.pop(key)
    return json.dumps(data), _vector_to_blob(profile.interest), _vector_to_blob(profile.aversion)


def _profile_of(user_id: str, row: Sequence[Any] | None) -> Profile:
    """The profile a (data, u, n) row holds, or a fresh (cold) one where there is no row."""
    if row is None:
        return Profile(user_id=user_id)
    data = json.loads(row[0])
    data["constraints"] = Constraints.from_dict(data.get("constraints", {}))  # migrates old genre fields
    return Profile(user_id=user_id, interest=_blob_to_vector(row[1]), aversion=_blob_to_vector(row[2]), **data)


def _event_filter(
    user_id: str | None, kinds: Iterable[str] | None, before: int | None, mark: str
) -> tuple[str, list[str | int]]:
    """The WHERE clause (with `mark` as the driver's placeholder) and arguments of `events()`."""
    clauses: list[str] = []
    args: list[str | int] = []
    if user_id is not None:
        clauses.append(f"user_id = {mark}")
        args.append(user_id)
    if kinds is not None:
        kinds = list(kinds)
        clauses.append(f"kind IN ({', '.join([mark] * len(kinds))})" if kinds else "FALSE")
        args.extend(kinds)
    if before is not None:
        clauses.append(f"id < {mark}")
        args.append(before)
    return (f" WHERE {' AND '.join(clauses)}" if clauses else ""), args


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


class ProfileStorage(ABC):
    """What a profile store offers, whatever holds it: `ProfileStore` (SQLite, the default) or
    `PostgresProfileStore` (several processes sharing one database). tests/test_profile_store_contract.py
    holds every implementation to the same behaviour.

    Writes that belong together (a turn's events, whys and profile; a forget; a migration step)
    are one transaction each. A read-modify-write of one user (load, change, write) is safe only
    inside `locked(user_id)`: it keeps every other writer of that user out, in this process for
    SQLite and across processes for PostgreSQL."""

    # -- implemented by each backend ---------------------------------------------------------
    @property
    @abstractmethod
    def schema_version(self) -> int:
        """The schema version of the open database (SCHEMA_VERSION once opened)."""

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def locked(self, user_id: str) -> AbstractContextManager[None]:
        """While held, no other writer of this store changes this user: a load and the write
        made from it are one consistent update. Re-entrant in a thread."""

    @abstractmethod
    def load(self, user_id: str) -> Profile:
        """The saved profile, or a fresh (cold) one for a user never saved."""

    @abstractmethod
    def write(
        self,
        events: Iterable[Event],
        profile: Profile | None = None,
        whys: dict[str, str] | None = None,
        clear: str | None = None,
    ) -> list[Event]:
        """One transaction: append `events`, store the "why" of each item shown, then save
        `profile` (or delete the profile row of user `clear`). All or nothing: on any error
        nothing of it stays. Returns the events as stored (time and id set)."""

    @abstractmethod
    def events(
        self, user_id: str | None = None, kinds: Iterable[str] | None = None, before: int | None = None
    ) -> Iterator[Event]:
        """The log in order; only this user's, only these kinds, only ids below `before` when given."""

    @abstractmethod
    def pending_turns(self) -> list[Event]:
        """Turn events logged before schema 1, which still hold only their text."""

    @abstractmethod
    def set_signals(self, signals: dict[int, TurnSignal]) -> None:
        """Store what old turn events were understood to say (event id → signal), in one transaction."""

    @abstractmethod
    def users(self) -> list[str]:
        """Everyone with a profile row or an event, sorted by code point."""

    @abstractmethod
    def why(self, user_id: str, item_id: str) -> str | None:
        """Why `item_id` was recommended to this user (the latest time it was), if it was."""

    @abstractmethod
    def whys(self, user_id: str) -> dict[str, str]: ...

    @abstractmethod
    def remove_user(self, user_id: str) -> list[Event]:
        """Delete the profile, the whys, the picks and every event of this user in one transaction
        (all or nothing); returns the events that went, so in-memory models can unlearn them."""

    def shared_log(self) -> SharedLog | None:
        """The log as several processes append to it, for learning from each other's events
        (profiles/learning.py); None where this process is the log's only writer (SQLite)."""
        return None

    @abstractmethod
    def save_picks(self, message_id: str, user_id: str, item_ids: Sequence[str]) -> None:
        """Remember that message `message_id` shows these items to this user, with no reactions
        yet (saving a message id again replaces it)."""

    @abstractmethod
    def picks(self, message_id: str) -> Picks | None:
        """What `save_picks` stored for this message, with its reactions; None for any other message."""

    @abstractmethod
    def set_held(self, message_id: str, held: Sequence[str]) -> None:
        """The owner's reactions now on the message, oldest first; nothing for an unknown message."""

    # -- the same on every backend -----------------------------------------------------------
    def save(self, profile: Profile) -> None:
        """Upsert one profile row on its own; a turn uses `write`, which also logs its events."""
        self.write([], profile)

    def clear_profile(self, user_id: str) -> None:
        """Reset: the profile row goes, the events stay (a 'reset' event marks the cut)."""
        self.write([], clear=user_id)

    def append(self, event: Event) -> Event:
        """One event on its own (a turn's events go through `write` with its profile)."""
        return self.write([event])[0]

    def forget(self, user_id: str) -> int:
        """Delete everything about this user; returns how many events went."""
        return len(self.remove_user(user_id))

    def export(self, user_id: str) -> dict[str, Any]:
        """Everything stored about this user, JSON-ready: the profile, the events, the whys."""
        profile = asdict(self.load(user_id))
        for key in ("interest", "aversion"):
            profile[key] = _floats(profile[key])
        events = []
        for event in self.events(user_id):
            record: dict[str, Any] = {
                k: v for k, v in asdict(event).items() if k != "signal" and v is not None and k != "user_id"
            }
            if event.signal is not None:
                understood = asdict(event.signal)
                for key in TurnSignal.VECTORS:
                    understood[key] = _floats(understood[key])
                record["understood"] = understood
            events.append(record)
        return {
            "user": user_id,
            "schema_version": self.schema_version,
            "profile": profile,
            "events": events,
            "whys": self.whys(user_id),
        }


class ProfileStore(ProfileStorage):
    """Profiles in one SQLite file, the default. Thread-safe: one connection guarded by a lock
    (turns run in worker threads). Every write that belongs together (a turn's events and its
    profile row, a forget) is one transaction. One process per file: `locked` keeps the threads
    of this process apart, not other processes (PostgreSQL is for several)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.RLock()
        self._users = UserLocks()
        self._db = sqlite3.connect(str(path), timeout=30, check_same_thread=False, isolation_level=None)
        self._use_wal()
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._migrate()

    def _use_wal(self) -> None:
        """WAL, once per file. Switching needs the file to itself and may answer 'database is locked' at once,
        without waiting, while another connection is opening it (seen with four opened at the same time):
        a file already in WAL is left alone, and a busy switch is tried again."""
        for attempt in range(50):
            try:
                if self._db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                    self._db.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or attempt == 49:
                    raise
                time.sleep(0.05)

    # -- schema ------------------------------------------------------------------------------
    @property
    def schema_version(self) -> int:
        with self._lock:
            return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        """Bring the schema to SCHEMA_VERSION, one transaction per step (another process may be
        opening the same file: the version is read again inside each transaction)."""
        with self._transaction() as db:
            version = int(db.execute("PRAGMA user_version").fetchone()[0])
            if version > SCHEMA_VERSION:
                raise SetupError(
                    f"{self.path} has profile schema {version}, newer than this recochat ({SCHEMA_VERSION}); "
                    "upgrade recochat to open it"
                )
            if version == 0:
                for statement in _BASE.split(";"):
                    if statement.strip():
                        db.execute(statement)
        for target in range(1, SCHEMA_VERSION + 1):
            with self._transaction() as db:
                if int(db.execute("PRAGMA user_version").fetchone()[0]) >= target:
                    continue
                for statement in _MIGRATIONS[target]:
                    db.execute(statement)
                db.execute(f"PRAGMA user_version = {target}")

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE … COMMIT under the lock; anything raised rolls the whole block back."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def locked(self, user_id: str) -> Iterator[None]:
        with self._users(user_id):
            yield

    # -- profiles ----------------------------------------------------------------------------
    def load(self, user_id: str) -> Profile:
        with self._lock:
            row = self._db.execute("SELECT data, u, n FROM profiles WHERE user_id = ?", (user_id,)).fetchone()
        return _profile_of(user_id, row)

    @staticmethod
    def _upsert(db: sqlite3.Connection, profile: Profile) -> None:
        db.execute(
            "INSERT INTO profiles(user_id, data, u, n, updated_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT(user_id) DO UPDATE SET data=excluded.data, u=excluded.u, n=excluded.n, "
            "updated_at=excluded.updated_at",
            (profile.user_id, *_profile_columns(profile), time.time()),
        )

    # -- the log -----------------------------------------------------------------------------
    def write(
        self,
        events: Iterable[Event],
        profile: Profile | None = None,
        whys: dict[str, str] | None = None,
        clear: str | None = None,
    ) -> list[Event]:
        now = time.time()
        stored = []
        with self._transaction() as db:
            for event in events:
                stamped = replace(event, time=event.time or now)
                cursor = db.execute(
                    "INSERT INTO events(user_id, kind, item_id, value, text, time, understood, positive, negative) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        stamped.user_id,
                        stamped.kind,
                        stamped.item_id,
                        stamped.value,
                        stamped.text,
                        stamped.time,
                        *_signal_columns(stamped.signal),
                    ),
                )
                stored.append(replace(stamped, id=cursor.lastrowid))
            if whys and profile is not None:
                db.executemany(
                    "INSERT INTO whys(user_id, item_id, why) VALUES (?, ?, ?) "
                    "ON CONFLICT(user_id, item_id) DO UPDATE SET why=excluded.why",
                    [(profile.user_id, item_id, why) for item_id, why in whys.items()],
                )
            if profile is not None:
                self._upsert(db, profile)
            if clear is not None:
                db.execute("DELETE FROM profiles WHERE user_id = ?", (clear,))
        return stored

    def events(
        self, user_id: str | None = None, kinds: Iterable[str] | None = None, before: int | None = None
    ) -> Iterator[Event]:
        where, args = _event_filter(user_id, kinds, before, "?")
        with self._lock:
            rows = self._db.execute(f"SELECT {_COLUMNS} FROM events{where} ORDER BY id", args).fetchall()
        for row in rows:
            yield _event_of(row)

    def pending_turns(self) -> list[Event]:
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM events WHERE kind = 'turn' AND understood IS NULL ORDER BY id"
            ).fetchall()
        return [_event_of(row) for row in rows]

    def set_signals(self, signals: dict[int, TurnSignal]) -> None:
        with self._transaction() as db:
            db.executemany(
                "UPDATE events SET understood = ?, positive = ?, negative = ? WHERE id = ?",
                [(*_signal_columns(signal), event_id) for event_id, signal in signals.items()],
            )

    def users(self) -> list[str]:
        with self._lock:
            rows = self._db.execute(
                "SELECT user_id FROM profiles UNION SELECT user_id FROM events ORDER BY 1"
            ).fetchall()
        return [r[0] for r in rows]

    def why(self, user_id: str, item_id: str) -> str | None:
        with self._lock:
            row = self._db.execute(
                "SELECT why FROM whys WHERE user_id = ? AND item_id = ?", (user_id, item_id)
            ).fetchone()
        return None if row is None else str(row[0])

    def whys(self, user_id: str) -> dict[str, str]:
        with self._lock:
            rows = self._db.execute("SELECT item_id, why FROM whys WHERE user_id = ?", (user_id,)).fetchall()
        return {item_id: why for item_id, why in rows}

    # -- privacy -----------------------------------------------------------------------------
    def remove_user(self, user_id: str) -> list[Event]:
        with self._transaction() as db:
            rows = db.execute(f"SELECT {_COLUMNS} FROM events WHERE user_id = ? ORDER BY id", (user_id,)).fetchall()
            db.execute("DELETE FROM events WHERE user_id = ?", (user_id,))
            db.execute("DELETE FROM whys WHERE user_id = ?", (user_id,))
            db.execute("DELETE FROM picks WHERE user_id = ?", (user_id,))
            db.execute("DELETE FROM profiles WHERE user_id = ?", (user_id,))
        return [_event_of(row) for row in rows]

    # -- posted messages ---------------------------------------------------------------------
    def save_picks(self, message_id: str, user_id: str, item_ids: Sequence[str]) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT INTO picks(message_id, user_id, item_ids, held, time) VALUES (?, ?, ?, '[]', ?) "
                "ON CONFLICT(message_id) DO UPDATE SET user_id=excluded.user_id, item_ids=excluded.item_ids, "
                "held='[]', time=excluded.time",
                (message_id, user_id, json.dumps(list(item_ids)), time.time()),
            )

    def picks(self, message_id: str) -> Picks | None:
        with self._lock:
            row = self._db.execute(
                "SELECT message_id, user_id, item_ids, held FROM picks WHERE message_id = ?", (message_id,)
            ).fetchone()
        return _picks_of(row)

    def set_held(self, message_id: str, held: Sequence[str]) -> None:
        with self._transaction() as db:
            db.execute("UPDATE picks SET held = ? WHERE message_id = ?", (json.dumps(list(held)), message_id))


def _floats(vector: np.ndarray | None) -> list[float] | None:
    return None if vector is None else [float(x) for x in vector]
