"""The tables of the profile stores and their migrations, one list for every backend (each
statement in SQLite's words, rendered by the backend's `Dialect`: profiles/sql.py). Where a
backend keeps its version differs: SQLite in `PRAGMA user_version`, PostgreSQL in the one-row
table `schema_version`; the numbers and steps are the same.

Schema versions, applied in order at open:
0. profiles + events (turn events hold only their text);
1. events gain `understood` (TurnSignal.to_json(); NULL: not yet understood), `positive`,
   `negative` (its phrase vectors); table `whys`. Turn events written before it have
   `understood IS NULL` until an engine replays their text once (`pending_turns`).
2. table `picks`: which items a posted message (a Discord card) shows to whom, and that
   person's reactions on it, so whichever process receives a reaction can act on it;
3. the shared learning of several processes (profiles/learning.py): checkpoints of the
   collaborative counts and a count of forgets. SQLite, one process, learns from its own writes
   and needs no table: its step 3 only records the version, so both stores keep one numbering.
"""

from __future__ import annotations

from dataclasses import dataclass

from .sql import Dialect

SCHEMA_VERSION = 4

_BASE = """
CREATE TABLE IF NOT EXISTS profiles (
    user_id TEXT PRIMARY KEY,
    data TEXT NOT NULL,
    u {blob},  -- Profile.interest
    n {blob},  -- Profile.aversion
    updated_at {real} NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    id {event_id},
    user_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    item_id TEXT,
    value {real},
    text TEXT,
    time {real} NOT NULL
);
CREATE INDEX IF NOT EXISTS events_user ON events(user_id, id);
"""
"""Version 0, as every database before versioning has it; a new database starts here too."""


@dataclass(frozen=True)
class Step:
    """What brings the schema from the version before to this one."""

    every: tuple[str, ...] = ()
    """Run on every backend."""
    shared_log: tuple[str, ...] = ()
    """Run only where several processes share the log (`Dialect.shared_log`)."""


_MIGRATIONS: dict[int, Step] = {
    1: Step(
        every=(
            "ALTER TABLE events ADD COLUMN understood TEXT",
            "ALTER TABLE events ADD COLUMN positive {blob}",
            "ALTER TABLE events ADD COLUMN negative {blob}",
            "CREATE INDEX events_pending ON events(id) WHERE kind = 'turn' AND understood IS NULL",
            "CREATE TABLE whys (user_id TEXT NOT NULL, item_id TEXT NOT NULL, why TEXT NOT NULL, "
            "PRIMARY KEY (user_id, item_id)){without_rowid}",
        )
    ),
    2: Step(
        every=(
            # item_ids and held are JSON lists; held: the owner's reactions still on the message, oldest first
            "CREATE TABLE picks (message_id TEXT PRIMARY KEY, user_id TEXT NOT NULL, item_ids TEXT NOT NULL, "
            "held TEXT NOT NULL DEFAULT '[]', time {real} NOT NULL)",
            "CREATE INDEX picks_user ON picks(user_id)",
        )
    ),
    3: Step(
        shared_log=(
            # one checkpoint per catalog (learning.scope_of): CoOccurrence.to_bytes() of events up to last_id
            "CREATE TABLE learned (scope TEXT PRIMARY KEY, last_id BIGINT NOT NULL, model {blob} NOT NULL, "
            "saved_at {real} NOT NULL)",
            "CREATE TABLE log_state (forgets BIGINT NOT NULL)",  # one row
            "INSERT INTO log_state(forgets) VALUES (0)",
        )
    ),
    4: Step(
        every=(
            # items: a JSON list of the catalog's item ids the conversation liked, in order (CrowdConversation)
            "CREATE TABLE crowd (catalog TEXT NOT NULL, source TEXT NOT NULL, conversation TEXT NOT NULL, "
            "digest TEXT NOT NULL, items TEXT NOT NULL, imported_at {real} NOT NULL, "
            "PRIMARY KEY (catalog, source, conversation)){without_rowid}",
        )
    ),
}
"""Step N brings version N-1 to N."""


def base(dialect: Dialect) -> list[str]:
    """The statements that make version 0 (each keeps its own text: SQLite stores it as the table's)."""
    return [dialect.render(statement) for statement in _BASE.split(";") if statement.strip()]


def step(dialect: Dialect, target: int) -> list[str]:
    """The statements that bring version `target - 1` to `target` on this backend."""
    found = _MIGRATIONS[target]
    statements = found.every + (found.shared_log if dialect.shared_log else ())
    return [dialect.render(statement) for statement in statements]
