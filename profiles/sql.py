"""The statements every profile store runs, written once: in SQLite's words with `?` for a
parameter, and rendered for a backend by its `Dialect` (psycopg marks a parameter `%s`, calls
a BLOB a BYTEA, …). The schema's own statements are in profiles/schema.py; what only
PostgreSQL runs (advisory locks, the shared log) is in profiles/postgres.py."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields

from .codecs import EVENT_COLUMNS


@dataclass(frozen=True)
class Dialect:
    """The words in which one backend differs; `render` puts them into a statement."""

    placeholder: str
    """How the driver marks a parameter: `?` (sqlite3) or `%s` (psycopg)."""
    blob: str
    """Bytes: a vector."""
    real: str
    """A double: a time, a value."""
    event_id: str
    """The events' key, which numbers the log in order."""
    without_rowid: str
    """What follows a table kept in its primary key's order (SQLite's WITHOUT ROWID)."""
    code_points: str
    """The collation that sorts text by code point, as Python does."""
    shared_log: bool
    """Several processes append to the log and learn from it (the tables of profiles/learning.py)."""

    def render(self, statement: str) -> str:
        """`statement` in this backend's words: `{blob}`-style names filled in, each `?` made a placeholder."""
        words = {f.name: getattr(self, f.name) for f in fields(self) if isinstance(getattr(self, f.name), str)}
        return statement.format_map(words).replace("?", self.placeholder)


SQLITE = Dialect(
    placeholder="?",
    blob="BLOB",
    real="REAL",
    event_id="INTEGER PRIMARY KEY AUTOINCREMENT",
    without_rowid=" WITHOUT ROWID",
    code_points="BINARY",
    shared_log=False,
)
POSTGRES = Dialect(
    placeholder="%s",
    blob="BYTEA",
    real="DOUBLE PRECISION",
    event_id="BIGSERIAL PRIMARY KEY",
    without_rowid="",
    code_points='"C"',  # whatever the database's collation
    shared_log=True,
)

_DELETE_USER = tuple(f"DELETE FROM {table} WHERE user_id = ?" for table in ("events", "whys", "picks", "profiles"))


@dataclass(frozen=True)
class Statements:
    """Every statement of the shared contract (profiles/sqlstore.py); `rendered` gives a backend's copy."""

    load_profile: str = "SELECT data, u, n FROM profiles WHERE user_id = ?"
    upsert_profile: str = (
        "INSERT INTO profiles(user_id, data, u, n, updated_at) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (user_id) DO UPDATE SET data = excluded.data, u = excluded.u, n = excluded.n, "
        "updated_at = excluded.updated_at"
    )
    delete_profile: str = "DELETE FROM profiles WHERE user_id = ?"
    insert_event: str = (  # the values of codecs.event_values
        "INSERT INTO events(user_id, kind, item_id, value, text, time, understood, positive, negative) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
    )
    pending_turns: str = f"SELECT {EVENT_COLUMNS} FROM events WHERE kind = 'turn' AND understood IS NULL ORDER BY id"
    set_signal: str = "UPDATE events SET understood = ?, positive = ?, negative = ? WHERE id = ?"
    users: str = (
        "SELECT user_id FROM (SELECT user_id FROM profiles UNION SELECT user_id FROM events) AS everyone "
        "ORDER BY user_id COLLATE {code_points}"
    )
    upsert_why: str = (
        "INSERT INTO whys(user_id, item_id, why) VALUES (?, ?, ?) "
        "ON CONFLICT (user_id, item_id) DO UPDATE SET why = excluded.why"
    )
    why: str = "SELECT why FROM whys WHERE user_id = ? AND item_id = ?"
    whys: str = "SELECT item_id, why FROM whys WHERE user_id = ?"
    user_events: str = f"SELECT {EVENT_COLUMNS} FROM events WHERE user_id = ? ORDER BY id"
    delete_user: tuple[str, ...] = _DELETE_USER
    """Everything of one user, the events first."""
    save_picks: str = (  # item ids and reactions as JSON lists: codecs.ids_to_json
        "INSERT INTO picks(message_id, user_id, item_ids, held, time) VALUES (?, ?, ?, '[]', ?) "
        "ON CONFLICT (message_id) DO UPDATE SET user_id = excluded.user_id, item_ids = excluded.item_ids, "
        "held = '[]', time = excluded.time"
    )
    picks: str = "SELECT message_id, user_id, item_ids, held FROM picks WHERE message_id = ?"
    set_held: str = "UPDATE picks SET held = ? WHERE message_id = ?"
    crowd: str = (
        "SELECT source, conversation, digest, items FROM crowd WHERE catalog = ? "
        "ORDER BY source COLLATE {code_points}, conversation COLLATE {code_points}"
    )
    crowd_digests: str = "SELECT conversation, digest FROM crowd WHERE catalog = ? AND source = ?"
    upsert_crowd: str = (
        "INSERT INTO crowd(catalog, source, conversation, digest, items, imported_at) VALUES (?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (catalog, source, conversation) DO UPDATE SET digest = excluded.digest, "
        "items = excluded.items, imported_at = excluded.imported_at"
    )
    crowd_sources: str = (
        "SELECT catalog, source, COUNT(*) FROM crowd GROUP BY catalog, source "
        "ORDER BY catalog COLLATE {code_points}, source COLLATE {code_points}"
    )
    delete_crowd: str = "DELETE FROM crowd WHERE source = ?"

    def rendered(self, dialect: Dialect) -> Statements:
        def render(value: str | tuple[str, ...]) -> str | tuple[str, ...]:
            return dialect.render(value) if isinstance(value, str) else tuple(map(dialect.render, value))

        return Statements(**{f.name: render(getattr(self, f.name)) for f in fields(self)})  # type: ignore[arg-type]


def select_events(
    dialect: Dialect, user_id: str | None, kinds: Iterable[str] | None, before: int | None
) -> tuple[str, list[str | int]]:
    """The statement and arguments of `ProfileStorage.events()`: the log in order, filtered."""
    clauses: list[str] = []
    args: list[str | int] = []
    if user_id is not None:
        clauses.append("user_id = ?")
        args.append(user_id)
    if kinds is not None:
        kinds = list(kinds)
        clauses.append(f"kind IN ({', '.join(['?'] * len(kinds))})" if kinds else "FALSE")
        args.extend(kinds)
    if before is not None:
        clauses.append("id < ?")
        args.append(before)
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    return dialect.render(f"SELECT {EVENT_COLUMNS} FROM events{where} ORDER BY id"), args
