"""Profiles in SQLite (WAL): one row per user plus an append-only event log.

The event log (user, kind, item, value, text, time) is the source of truth: a profile can
be rebuilt by replaying it, and `forget` deletes both.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .model import Constraints, Profile

_SCHEMA = """
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


@dataclass(frozen=True)
class Event:
    user_id: str
    kind: str
    """'turn' (text), 'feedback' (item, value +1/-1), 'seen' (item), 'reset'."""
    item_id: str | None = None
    value: float | None = None
    text: str | None = None
    time: float = 0.0


def _vector_to_blob(vector: np.ndarray | None) -> bytes | None:
    return None if vector is None else np.asarray(vector, dtype=np.float32).tobytes()


def _blob_to_vector(blob: bytes | None) -> np.ndarray | None:
    return None if blob is None else np.frombuffer(blob, dtype=np.float32).copy()


class ProfileStore:
    """Thread-safe: one connection guarded by a lock (turns run in worker threads)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def load(self, user_id: str) -> Profile:
        """The saved profile, or a fresh (cold) one for a user never saved."""
        with self._lock:
            row = self._db.execute(
                "SELECT data, u, n FROM profiles WHERE user_id = ?", (user_id,)
            ).fetchone()
        if row is None:
            return Profile(user_id=user_id)
        data = json.loads(row[0])
        data["constraints"] = Constraints(**data.get("constraints", {}))
        # columns u and n predate the field names; existing databases keep them
        interest, aversion = _blob_to_vector(row[1]), _blob_to_vector(row[2])
        return Profile(user_id=user_id, interest=interest, aversion=aversion, **data)

    def save(self, profile: Profile) -> None:
        """Upsert: the vectors go to their own BLOB columns, everything else to the JSON `data`."""
        data = asdict(profile)
        for key in ("user_id", "interest", "aversion"):
            data.pop(key)
        vectors = _vector_to_blob(profile.interest), _vector_to_blob(profile.aversion)
        with self._lock:
            self._db.execute(
                "INSERT INTO profiles(user_id, data, u, n, updated_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT(user_id) DO UPDATE SET data=excluded.data, u=excluded.u, n=excluded.n, "
                "updated_at=excluded.updated_at",
                (profile.user_id, json.dumps(data), *vectors, time.time()),
            )

    def append(self, event: Event) -> Event:
        stamped = Event(**{**asdict(event), "time": event.time or time.time()})
        with self._lock:
            self._db.execute(
                "INSERT INTO events(user_id, kind, item_id, value, text, time) VALUES (?, ?, ?, ?, ?, ?)",
                (stamped.user_id, stamped.kind, stamped.item_id, stamped.value, stamped.text, stamped.time),
            )
        return stamped

    def events(self, user_id: str | None = None) -> Iterator[Event]:
        query = "SELECT user_id, kind, item_id, value, text, time FROM events"
        args: tuple = ()
        if user_id is not None:
            query += " WHERE user_id = ?"
            args = (user_id,)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY id", args).fetchall()
        for row in rows:
            yield Event(*row)

    def users(self) -> list[str]:
        with self._lock:
            rows = self._db.execute(
                "SELECT user_id FROM profiles UNION SELECT user_id FROM events ORDER BY 1"
            ).fetchall()
        return [r[0] for r in rows]

    def forget(self, user_id: str) -> int:
        """Delete the profile and every event of this user; returns how many events went."""
        with self._lock:
            self._db.execute("BEGIN")
            gone = self._db.execute("DELETE FROM events WHERE user_id = ?", (user_id,)).rowcount
            self._db.execute("DELETE FROM profiles WHERE user_id = ?", (user_id,))
            self._db.execute("COMMIT")
        return gone

    def clear_profile(self, user_id: str) -> None:
        """Reset: the profile row goes, the events stay (a 'reset' event marks the cut)."""
        with self._lock:
            self._db.execute("DELETE FROM profiles WHERE user_id = ?", (user_id,))
