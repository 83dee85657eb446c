"""Profiles in PostgreSQL: the same tables, log and contract as the SQLite store, shared by
several recochat processes (psycopg 3 with a connection pool).

Setup: a database the URL's user may create tables in (recochat makes and migrates them).
To keep recochat in its own schema of a shared database, add
`?options=-csearch_path%3Drecochat` to the URL.

Construct: `PostgresProfileStore("postgresql://USER:PASSWORD@HOST:5432/DATABASE")`; a bad URL,
an unreachable server or a schema from a newer recochat is a SetupError that says so.

Concurrency: every write is one transaction that first takes a per-user advisory lock
(`pg_advisory_xact_lock`), so writers of one user queue instead of interleaving. `locked(user)`
holds that user's lock across a load and the write made from it (a session-level advisory
lock on a connection pinned to the thread), which is what keeps two processes from losing
each other's update to a profile.

Shared learning (profiles/learning.py): events are appended under one database-wide lock held
to commit (`_LOG_LOCK`), so their ids become visible in order and a reader that has seen id N
has seen every event before it; `poll` reads the events after an id. Table `learned` keeps
checkpoints of the collaborative counts, `log_state` how many forgets there have been; a forget
takes the user's share out of every checkpoint in its own transaction.

The tables and their migrations are every store's (profiles/schema.py, in PostgreSQL's words),
the version kept in the one-row table `schema_version`; the statements of the contract are
profiles/sql.py's, run by profiles/sqlstore.py. What is here is what only PostgreSQL does:
connecting, locking, and the shared log.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool, PoolTimeout

from recochat.bot.errors import SetupError

from . import schema
from .codecs import EVENT_COLUMNS, event_of
from .collaborative import CoOccurrence, signals_of
from .contract import Event
from .learning import Checkpoint, Poll
from .schema import SCHEMA_VERSION
from .sql import POSTGRES, Statements
from .sqlstore import Session, SQLProfileStore, UserLocks

log = logging.getLogger(__name__)

_USER_LOCK = 0x7265636F  # 'reco': the first key of every per-user advisory lock, apart from other apps' locks
_SCHEMA_LOCK = _USER_LOCK + 1  # held while a process checks and migrates the schema
_LOG_LOCK = _USER_LOCK + 2  # held from a write's first event to its commit: ids become visible in order
_LEARN_LOCK = _USER_LOCK + 3  # held while a checkpoint is stored or rewritten by a forget

URL_FORM = "postgresql://USER:PASSWORD@HOST:PORT/DATABASE"


def _said(error: Exception, url: str) -> str:
    """libpq's message on one line and without the URL's password (a bad URL is quoted whole)."""
    text = " ".join(str(error).split())
    found = re.search(r"://[^:/@]*:([^@]*)@", url)
    return text.replace(found.group(1), "***") if found and found.group(1) else text


def describe(url: str) -> str:
    """Where a URL points, without its password: 'HOST:PORT/DATABASE' (for messages and logs)."""
    parts = conninfo_to_dict(url)
    return f"{parts.get('host') or 'localhost'}:{parts.get('port') or 5432}/{parts.get('dbname') or parts.get('user') or ''}"


def check_url(url: str) -> None:
    """A SetupError unless `url` is a postgresql:// URL that libpq can parse."""
    if not url.startswith(("postgresql://", "postgres://")):
        raise SetupError(f"a PostgreSQL URL starts with postgresql:// ({URL_FORM})")
    try:
        conninfo_to_dict(url)
    except psycopg.ProgrammingError as error:
        raise SetupError(f"not a valid PostgreSQL URL ({URL_FORM}): {_said(error, url)}") from None


class PostgresProfileStore(SQLProfileStore):
    """Profiles, events and whys in PostgreSQL, for several recochat processes at once.

    Setup: a reachable server and a database; the tables are made and migrated at open.
    Construct: `PostgresProfileStore(url)`; `close()` closes the pool.
    Use: as any `ProfileStorage`; a load-change-write of one user goes inside `locked(user)`.
    """

    dialect = POSTGRES
    sql = Statements().rendered(POSTGRES)
    _INSERT_EVENT = sql.insert_event + " RETURNING id"

    def __init__(self, url: str, *, pool_size: int = 10, connect_timeout: int = 5) -> None:
        check_url(url)
        self.where = describe(url)
        """Host, port and database, no password: what messages name."""
        self._users = UserLocks()
        self._local = threading.local()
        try:
            conn = psycopg.connect(url, autocommit=True, connect_timeout=connect_timeout)
        except psycopg.Error as error:
            raise SetupError(
                f"cannot connect to PostgreSQL at {self.where}: {_said(error, url)}; "
                f"check that the server runs and the URL ({URL_FORM}) is right"
            ) from None
        with conn:
            try:
                self._migrate(conn)
            except psycopg.Error as error:
                raise SetupError(
                    f"cannot create or migrate the profile tables in PostgreSQL at {self.where}: "
                    f"{_said(error, url)}; the URL's user needs the right to create tables there"
                ) from None
        self._pool = ConnectionPool(
            url,
            min_size=1,
            max_size=pool_size,
            kwargs={"autocommit": True, "connect_timeout": connect_timeout},
            check=ConnectionPool.check_connection,  # a connection the server dropped is replaced, not used
            open=False,
            name="recochat-profiles",
        )
        try:
            self._pool.open(wait=True, timeout=connect_timeout)
        except PoolTimeout:
            self._pool.close()
            raise SetupError(f"cannot open a connection pool to PostgreSQL at {self.where}") from None

    # -- schema ------------------------------------------------------------------------------
    @property
    def schema_version(self) -> int:
        with self._connection() as conn:
            return _version(conn) or 0

    def _migrate(self, conn: psycopg.Connection) -> None:
        """Bring the schema to SCHEMA_VERSION in one transaction (DDL is transactional here),
        under an advisory lock, so two processes opening a new database at once make it once."""
        with conn.transaction():
            _hold(conn, _SCHEMA_LOCK)
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            version = _version(conn)
            if version is None:
                for statement in schema.base(POSTGRES):
                    conn.execute(statement)
                conn.execute("INSERT INTO schema_version(version) VALUES (0)")
                version = 0
            if version > SCHEMA_VERSION:
                raise SetupError(
                    f"the profiles database at {self.where} has schema {version}, newer than this recochat "
                    f"({SCHEMA_VERSION}); upgrade recochat to open it"
                )
            for target in range(version + 1, SCHEMA_VERSION + 1):
                for statement in schema.step(POSTGRES, target):
                    conn.execute(statement)
                conn.execute("UPDATE schema_version SET version = %s", (target,))

    def close(self) -> None:
        self._pool.close()

    # -- connections, transactions and locks -------------------------------------------------
    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection]:
        """The connection `locked` pinned to this thread, else one from the pool (autocommit:
        a read holds no transaction open)."""
        pinned = getattr(self._local, "conn", None)
        if pinned is not None:
            yield pinned
            return
        with self._pool.connection() as conn:
            yield conn

    @contextmanager
    def _transaction(self, users: Iterable[str | None] = ()) -> Iterator[psycopg.Cursor]:
        """One transaction that first takes the advisory lock of each user it writes (in sorted
        order: two transactions never wait on each other in a cycle); rolled back on any error."""
        with self._connection() as conn, conn.transaction(), conn.cursor() as cursor:
            for user_id in sorted({u for u in users if u is not None}):
                cursor.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (_USER_LOCK, user_id))
            yield cursor

    def _rows(self, statement: str, args: Sequence[Any] = ()) -> list[Sequence[Any]]:
        with self._connection() as conn:
            return list(conn.execute(statement, args).fetchall())

    def _run(self, statement: str, args: Sequence[Any]) -> None:
        with self._connection() as conn:  # one statement: autocommit is its transaction
            conn.execute(statement, args)

    @contextmanager
    def locked(self, user_id: str) -> Iterator[None]:
        """Threads of this process queue on an in-process lock first (so a waiting thread holds
        no pooled connection); the holder pins a connection to its thread and takes the user's
        session-level advisory lock there, which other processes wait on. Writes inside commit
        as they go, as outside."""
        with self._users(user_id), self._pinned() as conn:
            conn.execute("SELECT pg_advisory_lock(%s, hashtext(%s))", (_USER_LOCK, user_id))
            try:
                yield
            finally:
                try:
                    conn.execute("SELECT pg_advisory_unlock(%s, hashtext(%s))", (_USER_LOCK, user_id))
                except psycopg.Error:
                    log.warning("could not release the profile lock of %r; dropping the connection", user_id)
                    conn.close()  # the server releases a session's locks when it ends; the pool discards it

    @contextmanager
    def _pinned(self) -> Iterator[psycopg.Connection]:
        pinned = getattr(self._local, "conn", None)
        if pinned is not None:  # re-entered, or another user locked inside: the same session
            yield pinned
            return
        with self._pool.connection() as conn:
            self._local.conn = conn
            try:
                yield conn
            finally:
                self._local.conn = None

    # -- the log -----------------------------------------------------------------------------
    def _append(self, session: Session, events: list[Event]) -> list[Event]:
        """Insert the events last in their transaction, under `_LOG_LOCK` until it commits: a
        later writer takes its ids only after this one's are visible, so the log is readable by
        id (`poll`) without skipping a late commit. The lock covers a few inserts and the commit."""
        if events:
            _hold(session, _LOG_LOCK)
        return super()._append(session, events)

    def _insert_event(self, session: Session, values: Sequence[Any]) -> int:
        row = session.execute(self._INSERT_EVENT, values).fetchone()
        assert row is not None  # RETURNING gives one row per insert
        return int(row[0])

    def _forgotten(self, session: Session, user_id: str, gone: list[Event]) -> None:
        """In the forget's transaction: count one more forget (every process reloads when it sees
        it) and take the user's share out of every checkpoint. A checkpoint's counts include each
        of this user's live likes up to its last id, and no item of another catalog, so its own
        items tell which of the user's events it learned: no catalog is needed here, and a forget
        from the CLI is as thorough as one from a running bot."""
        _hold(session, _LEARN_LOCK)
        session.execute("UPDATE log_state SET forgets = forgets + 1")
        checkpoints = session.execute("SELECT scope, last_id, model FROM learned").fetchall()
        for scope, last_id, blob in checkpoints:
            model = CoOccurrence.from_bytes(bytes(blob))
            learned = [event for event in gone if event.id is not None and event.id <= last_id]
            model.replace_user(user_id, signals_of(learned, model.counts), [])
            session.execute("UPDATE learned SET model = %s WHERE scope = %s", (model.to_bytes(), scope))

    # -- shared learning (profiles/learning.py) ----------------------------------------------
    def shared_log(self) -> PostgresProfileStore:
        return self

    @property
    def closed(self) -> bool:
        return self._pool.closed

    def poll(self, after: int, kinds: Sequence[str], limit: int | None) -> Poll:
        """One statement, so one snapshot: the forget count, the log's last id, and the events
        of these kinds after `after` up to it (`limit` at most; then the last of them is the head)."""
        with self._connection() as conn:
            rows = conn.execute(
                "WITH head AS (SELECT coalesce(max(id), 0) AS id FROM events), "
                f"batch AS (SELECT {EVENT_COLUMNS} FROM events WHERE id > %s AND id <= (SELECT id FROM head) "
                "AND kind = ANY(%s) ORDER BY id LIMIT %s) "
                "SELECT (SELECT forgets FROM log_state), (SELECT id FROM head), batch.* "
                "FROM (SELECT 1) AS one LEFT JOIN batch ON TRUE ORDER BY batch.id",
                (after, list(kinds), limit),
            ).fetchall()
        events = [event_of(row[2:]) for row in rows if row[2] is not None]
        head = int(rows[0][1])
        if limit is not None and len(events) == limit:
            head = events[-1].id or head
        return Poll(int(rows[0][0]), max(head, after), events)

    def checkpoint(self, scope: str) -> Checkpoint | None:
        with self._connection() as conn:
            row = conn.execute(
                "SELECT l.last_id, s.forgets, l.model FROM log_state AS s JOIN learned AS l ON l.scope = %s",
                (scope,),
            ).fetchone()
        return None if row is None else Checkpoint(int(row[0]), int(row[1]), bytes(row[2]))

    def save_checkpoint(self, scope: str, checkpoint: Checkpoint) -> bool:
        """Under `_LEARN_LOCK`, which a forget holds while it rewrites the checkpoints: a
        checkpoint made before a forget is never stored after it."""
        with self._transaction() as cursor:
            _hold(cursor, _LEARN_LOCK)
            row = cursor.execute("SELECT forgets FROM log_state").fetchone()
            if row is None or int(row[0]) != checkpoint.forgets:
                return False
            stored = cursor.execute(
                "INSERT INTO learned(scope, last_id, model, saved_at) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (scope) DO UPDATE SET last_id = excluded.last_id, model = excluded.model, "
                "saved_at = excluded.saved_at WHERE learned.last_id < excluded.last_id",
                (scope, checkpoint.last_id, checkpoint.model, time.time()),
            )
            return stored.rowcount == 1


def _version(conn: psycopg.Connection) -> int | None:
    """The schema version recorded in this database; None where none is (a new database)."""
    row = conn.execute("SELECT version FROM schema_version").fetchone()
    return None if row is None else int(row[0])


def _hold(session: Session | psycopg.Connection, lock: int) -> None:
    """Take one of the database-wide locks (`_SCHEMA_LOCK`, `_LOG_LOCK`, `_LEARN_LOCK`) until the transaction ends."""
    session.execute("SELECT pg_advisory_xact_lock(%s, 0)", (lock,))
