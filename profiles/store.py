"""Profiles in SQLite (WAL), the default store: one row per user, an append-only event log, the
"why" of each item shown and the picks of posted messages, in one file.

The contract, the event and the codecs are profiles/contract.py and profiles/codecs.py; the
statements profiles/sql.py, the tables and their versions profiles/schema.py (`PRAGMA
user_version` holds the version here). The names callers import from this module stay here.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from recochat.bot.errors import SetupError

from . import schema
from .contract import Event, Picks, PickStorage, ProfileStorage, without_undone
from .schema import SCHEMA_VERSION
from .sql import SQLITE, Statements
from .sqlstore import Session, SQLProfileStore, UserLocks

__all__ = [
    "SCHEMA_VERSION",
    "Event",
    "PickStorage",
    "Picks",
    "ProfileStorage",
    "ProfileStore",
    "UserLocks",
    "without_undone",
]


class ProfileStore(SQLProfileStore):
    """Profiles in one SQLite file, the default. Thread-safe: one connection guarded by a lock
    (turns run in worker threads). Every write that belongs together (a turn's events and its
    profile row, a forget) is one transaction. One process per file: `locked` keeps the threads
    of this process apart, not other processes (PostgreSQL is for several)."""

    dialect = SQLITE
    sql = Statements().rendered(SQLITE)

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
            return _user_version(self._db)

    def _migrate(self) -> None:
        """Bring the schema to SCHEMA_VERSION, one transaction per step (another process may be
        opening the same file: the version is read again inside each transaction)."""
        with self._transaction() as db:
            version = _user_version(db)
            if version > SCHEMA_VERSION:
                raise SetupError(
                    f"{self.path} has profile schema {version}, newer than this recochat ({SCHEMA_VERSION}); "
                    "upgrade recochat to open it"
                )
            if version == 0:
                for statement in schema.base(SQLITE):
                    db.execute(statement)
        for target in range(1, SCHEMA_VERSION + 1):
            with self._transaction() as db:
                if _user_version(db) >= target:
                    continue
                for statement in schema.step(SQLITE, target):
                    db.execute(statement)
                db.execute(f"PRAGMA user_version = {target}")

    # -- connection, transactions and locks --------------------------------------------------
    @contextmanager
    def _transaction(self, users: Iterable[str | None] = ()) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE … COMMIT under the lock; anything raised rolls the whole block back.
        The one connection keeps every other writer out, whoever `users` are."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise

    def _rows(self, statement: str, args: Sequence[Any] = ()) -> list[Sequence[Any]]:
        with self._lock:
            return self._db.execute(statement, args).fetchall()

    def _insert_event(self, session: Session, values: Sequence[Any]) -> int:
        return int(session.execute(self.sql.insert_event, values).lastrowid)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def locked(self, user_id: str) -> Iterator[None]:
        with self._users(user_id):
            yield


def _user_version(db: sqlite3.Connection) -> int:
    """The schema version this file records (0 for a new file)."""
    return int(db.execute("PRAGMA user_version").fetchone()[0])
