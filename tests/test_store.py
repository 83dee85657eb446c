"""The engine's use of the profile store: old logs migrate at start-up, writes are atomic, the "why" of shown
items persists, and undo/forget keep the collaborative component exact under concurrency. What a turn logs and
how a rebuild replays it is tests/test_engine.py; the store's own contract, on SQLite and PostgreSQL alike,
tests/test_profile_store_contract.py."""

from __future__ import annotations

import sqlite3
import sys
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from test_engine import CountingEncoder, assert_same, converse, engine_over

from recochat.bot.engine import Engine
from recochat.bot.event_log import migrate_old_turns
from recochat.profiles.collaborative import CoOccurrence
from recochat.profiles.store import SCHEMA_VERSION, ProfileStore

OLD_SCHEMA = """
CREATE TABLE profiles (user_id TEXT PRIMARY KEY, data TEXT NOT NULL, u BLOB, n BLOB, updated_at REAL NOT NULL);
CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT, user_id TEXT NOT NULL, kind TEXT NOT NULL,
    item_id TEXT, value REAL, text TEXT, time REAL NOT NULL
);
CREATE INDEX events_user ON events(user_id, id);
"""
"""The schema before versioning (user_version 0): turn events hold only their text."""


# -- 1. old logs migrate at start-up -----------------------------------------------------------
def old_database(path: Path, source: ProfileStore, user: str) -> None:
    """Write `user`'s log and profile row from `source` into a database with the pre-versioning schema."""
    db = sqlite3.connect(path)
    db.executescript(OLD_SCHEMA)
    db.executemany(
        "INSERT INTO events(user_id, kind, item_id, value, text, time) VALUES (?, ?, ?, ?, ?, ?)",
        [(e.user_id, e.kind, e.item_id, e.value, e.text, e.time) for e in source.events(user)],
    )
    with sqlite3.connect(source.path) as new:
        row = new.execute("SELECT user_id, data, u, n, updated_at FROM profiles WHERE user_id = ?", (user,)).fetchone()
    db.execute("INSERT INTO profiles VALUES (?, ?, ?, ?, ?)", row)
    db.commit()
    db.close()


def test_an_old_database_migrates_once_at_start_up_and_rebuilds_equal(make_runtime, tmp_path):
    encoder = CountingEncoder()
    runtime = make_runtime(encoder=encoder)
    live_engine = engine_over(runtime, tmp_path / "new.sqlite3")
    converse(live_engine)
    live = live_engine.profiles.load("a")
    runtime.close()
    path = runtime.settings.profiles_path
    for stale in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        stale.unlink(missing_ok=True)
    old_database(path, live_engine.profiles, "a")
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == 0

    encoder.calls = 0
    started = make_runtime(encoder=encoder)  # a start over the old database
    engine = started.engine
    assert engine.profiles.schema_version == SCHEMA_VERSION
    assert encoder.calls > 0  # the old turns were understood and encoded, once, at start-up
    turns = [e for e in engine.profiles.events("a") if e.kind == "turn"]
    assert turns and all(e.signal is not None for e in turns)
    assert engine.profiles.pending_turns() == []
    assert_same(engine.profiles.load("a"), live)  # the stored row still reads
    encoder.calls = 0
    assert_same(engine.rebuild("a"), live)
    assert encoder.calls == 0
    assert engine.collaborative.snapshot() == live_engine.collaborative.snapshot()
    started.close()
    again = make_runtime(encoder=encoder).engine  # a second start has nothing to migrate
    assert encoder.calls == 0 and again.profiles.schema_version == SCHEMA_VERSION
    assert migrate_old_turns(again.profiles, again.reader.read) == 0


# -- 2. atomic writes, persisted whys ----------------------------------------------------------
def fail_profile_writes(store: ProfileStore) -> None:
    """The profile row cannot be written (as with a full disk): the last write of a turn fails."""
    for op in ("INSERT", "UPDATE"):
        store._db.execute(
            f"CREATE TRIGGER fail_{op.lower()} BEFORE {op} ON profiles BEGIN SELECT RAISE(ABORT, 'disk full'); END"
        )


def test_a_turn_whose_profile_save_fails_leaves_nothing_behind(fake_runtime, tmp_path):
    engine = engine_over(fake_runtime, tmp_path / "p.sqlite3")
    engine.turn("a", "something clever")
    events, whys, profile = list(engine.profiles.events()), engine.profiles.whys("a"), engine.profiles.load("a")
    collaborative = engine.collaborative.snapshot()
    fail_profile_writes(engine.profiles)
    with pytest.raises(sqlite3.DatabaseError, match="disk full"):
        engine.turn("a", "I loved Village Cops, something funny, the first one looks great")
    with pytest.raises(sqlite3.DatabaseError):
        engine.feedback("a", "m1", "like")
    assert list(engine.profiles.events()) == events  # no turn, mention, feedback or shown event stayed
    assert engine.profiles.whys("a") == whys
    assert_same(engine.profiles.load("a"), profile)
    assert engine.collaborative.snapshot() == collaborative  # a failed write teaches nothing
    engine.profiles._db.execute("DROP TRIGGER fail_insert")
    engine.profiles._db.execute("DROP TRIGGER fail_update")
    engine.turn("a", "I loved Village Cops")  # the store is usable again
    assert_same(engine.rebuild("a"), engine.profiles.load("a"))


def test_forget_is_all_or_nothing(fake_runtime, tmp_path):
    engine = engine_over(fake_runtime, tmp_path / "p.sqlite3")
    converse(engine)
    events, collaborative = list(engine.profiles.events("a")), engine.collaborative.snapshot()
    engine.profiles._db.execute(
        "CREATE TRIGGER keep BEFORE DELETE ON profiles BEGIN SELECT RAISE(ABORT, 'locked'); END"
    )
    with pytest.raises(sqlite3.DatabaseError, match="locked"):
        engine.forget("a")
    assert list(engine.profiles.events("a")) == events and engine.profiles.whys("a")
    assert engine.collaborative.snapshot() == collaborative
    engine.profiles._db.execute("DROP TRIGGER keep")
    assert engine.forget("a") == len(events)
    assert list(engine.profiles.events("a")) == [] and engine.profiles.whys("a") == {}
    assert engine.collaborative.snapshot() == ({}, {})


async def test_why_survives_a_restart_and_forget_removes_it(fake_runtime, tmp_path):
    from recochat.bot.conversation import Conversations

    engine = engine_over(fake_runtime, tmp_path / "p.sqlite3")
    first = engine.turn("a", "something funny").items[0]
    assert not hasattr(engine, "_why")
    restarted = engine_over(fake_runtime, tmp_path / "p.sqlite3")
    assert restarted.why("a", first.item.id) == first.why
    assert restarted.turn("a", "why #1").subject_why == first.why
    assert first.why in await Conversations(restarted).why("a", 1)
    assert restarted.why("b", first.item.id) is None
    restarted.forget("a")
    assert restarted.why("a", first.item.id) is None
    assert engine_over(fake_runtime, tmp_path / "p.sqlite3").profiles.whys("a") == {}


# -- 3. undo/forget touch one user's share; nothing learned concurrently is lost ----------------
def test_undo_and_forget_read_only_that_users_events(fake_runtime, tmp_path, monkeypatch):
    engine = engine_over(fake_runtime, tmp_path / "p.sqlite3")
    for user in ("a", "b", "c"):
        converse(engine, user)
    reads: list[str | None] = []
    events = ProfileStore.events

    def spy(self, user_id=None, *args, **kwargs):  # type: ignore[no-untyped-def]
        reads.append(user_id)
        return events(self, user_id, *args, **kwargs)

    monkeypatch.setattr(ProfileStore, "events", spy)
    engine.undo_feedback("b", "m7")
    engine.forget("c")
    engine.feedback("a", "m2", "like")
    assert None not in reads and set(reads) <= {"a", "b", "c"}
    monkeypatch.undo()
    assert engine.collaborative.snapshot() == engine.learning.from_log().snapshot()


def _likes(engine: Engine, items: list[str], user: str, churned: threading.Event, liked: Counter[str]) -> None:
    """Every like counts: sessions of 4 distinct items (a reset ends a session), until the churn is over."""
    i = 0
    while not churned.is_set() or i < 8:
        engine.feedback(user, items[(i * 5 + len(user)) % len(items)], "like")
        liked[user] += 1
        if i % 4 == 3:
            engine.reset(user)
        i += 1


def _churn(engine: Engine, items: list[str], user: str) -> None:
    """Likes, undos and a forget every third round."""
    for i in range(30):
        engine.feedback(user, items[i % len(items)], "like")
        engine.feedback(user, items[(i + 3) % len(items)], "like")
        engine.undo_feedback(user, items[i % len(items)])
        if i % 3 == 2:
            engine.forget(user)


def _collecting(errors: list[BaseException], work: Callable[..., None]) -> Callable[..., None]:
    """`work`, with whatever it raises kept in `errors` (a thread's exception is otherwise only printed)."""

    def run(*args: object) -> None:
        try:
            work(*args)
        except BaseException as error:  # noqa: BLE001
            errors.append(error)

    return run


def test_concurrent_observe_undo_and_forget_lose_nothing(fake_runtime, tmp_path):
    """Users who like items all along, while others like, undo and are forgotten: at the end the
    live component equals the one rebuilt from the log (a forget that swapped in a model built
    from an earlier read of the log would lose the likes stored meanwhile)."""
    engine = engine_over(fake_runtime, tmp_path / "p.sqlite3")
    items = [item.id for item in engine.catalog.items]
    errors: list[BaseException] = []
    churned = threading.Event()
    liked: Counter[str] = Counter()
    likes, churn = _collecting(errors, _likes), _collecting(errors, _churn)
    keepers = [threading.Thread(target=likes, args=(engine, items, f"keep{n}", churned, liked)) for n in range(4)]
    churners = [threading.Thread(target=churn, args=(engine, items, f"churn{n}")) for n in range(4)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads interleave far more often than by default: races show
    try:
        for thread in keepers + churners:
            thread.start()
        for thread in churners:
            thread.join()
        churned.set()  # the keepers go on liking until the last forget is over
        for thread in keepers:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert errors == []
    assert engine.collaborative.snapshot() == engine.learning.from_log().snapshot()
    # every like of a kept user counts; every churned user is forgotten at the end
    assert sum(engine.collaborative.popularity(i) for i in items) == sum(liked.values())


def test_user_windows_are_bounded_and_rebuilt_from_the_log(fake_runtime, tmp_path):
    engine = engine_over(fake_runtime, tmp_path / "p.sqlite3", collaborative=CoOccurrence(max_users=2))
    for round_ in range(3):
        for user in ("a", "b", "c", "d", "e"):
            engine.feedback(user, f"m{1 + (round_ * 3 + len(user)) % 14}", "like")
            engine.feedback(user, f"m{1 + (round_ * 5 + ord(user)) % 14}", "like")
    assert engine.collaborative.tracked_users() <= 2
    assert engine.collaborative.snapshot() == engine.learning.from_log().snapshot()


# -- 4. export -----------------------------------------------------------------------------------
def test_profile_export_writes_events_profile_and_whys_as_json(fake_runtime, monkeypatch, tmp_path):
    import json

    from click.testing import CliRunner

    import recochat.bot.runtime as runtime_module
    from recochat.bot.frontends.cli import main

    converse(fake_runtime.engine)
    fake_runtime.engine.turn("b", "something scary")
    monkeypatch.setattr(runtime_module, "open_encoder", lambda settings: fake_runtime.encoder)
    result = CliRunner().invoke(main, ["profile", "export", "a", "--collection", "tiny"])
    assert result.exit_code == 0, result.output
    exported = json.loads(result.stdout)
    assert exported["user"] == "a" and exported["schema_version"] == SCHEMA_VERSION
    assert len(exported["events"]) == len(list(fake_runtime.engine.profiles.events("a")))
    assert exported["profile"]["liked"] == fake_runtime.engine.profiles.load("a").liked
    assert exported["whys"] and exported["items"]["m3"] == "Village Cops"
    turn = exported["events"][0]
    assert turn["kind"] == "turn" and turn["understood"]["titles"] == [["m3", "like"]]
    assert len(turn["understood"]["positive_vector"]) == fake_runtime.encoder.dim
    out = tmp_path / "a.json"
    result = CliRunner().invoke(main, ["profile", "export", "a", "--collection", "tiny", "--out", str(out)])
    assert result.exit_code == 0 and json.loads(out.read_text()) == exported
    nobody = json.loads(CliRunner().invoke(main, ["profile", "export", "nobody", "--collection", "tiny"]).stdout)
    assert nobody["events"] == [] and nobody["profile"]["turns"] == 0
