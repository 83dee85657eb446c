"""One contract for every profile store: each test runs on SQLite (the default) and on
PostgreSQL (a throwaway cluster, benchmarks/pg_cluster.py), so the two backends stay one behaviour.

A `Backend` opens stores on one database (a second `open()` is what another process would
open) and reaches under them only where a test must: to make a write fail, to build a
database of an older or newer schema. The tests after the contract are PostgreSQL's own:
settings, errors and the CLI with RECOCHAT_DATABASE_URL."""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import psycopg
import pytest

from recochat.benchmarks.pg_cluster import Cluster, ClusterError, find_bin_dir
from recochat.benchmarks.stress import profile_differences
from recochat.bot.errors import SetupError
from recochat.profiles.contract import CrowdChange, Event, Picks, PickStorage, ProfileStorage, picks_kept_by
from recochat.profiles.crowd import CrowdConversation
from recochat.profiles.model import Constraints, Profile, TurnSignal
from recochat.profiles.postgres import PostgresProfileStore
from recochat.profiles.schema import SCHEMA_VERSION
from recochat.profiles.sql import POSTGRES, SQLITE, Statements
from recochat.profiles.store import ProfileStore

OLD_TURNS = ["something funny", "no horror please", "I loved Village Cops"]
"""Turn texts of a version-0 log: logged before turns kept what they were understood to say."""


class Backend(ABC):
    """One database and the stores opened on it; closes them all at the end of the test."""

    name: str
    cross_process: bool
    """`locked` keeps out the writers of another store (another process), not only this store's threads."""
    error: type[Exception]
    """What a failed statement raises."""

    def __init__(self) -> None:
        self.opened: list[ProfileStorage] = []

    def open(self) -> ProfileStorage:
        store = self._open()
        self.opened.append(store)
        return store

    def close_all(self) -> None:
        for store in self.opened:
            store.close()

    @abstractmethod
    def _open(self) -> ProfileStorage: ...

    @abstractmethod
    def sql(self, script: str) -> None:
        """Run statements on the database directly, as another program would."""

    @abstractmethod
    def fail_profile_writes(self) -> None:
        """From now on, writing a profile row fails (as with a full disk); `allow_profile_writes` undoes it."""

    @abstractmethod
    def allow_profile_writes(self) -> None: ...

    @abstractmethod
    def make_version_0(self, user_id: str, turns: list[str]) -> None:
        """A database as recochat left it before schema versioning: turn events hold only their text."""

    @abstractmethod
    def set_version(self, version: int) -> None: ...


class SQLiteBackend(Backend):
    name, cross_process, error = "sqlite", False, sqlite3.DatabaseError

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path

    def _open(self) -> ProfileStorage:
        return ProfileStore(self.path)

    def sql(self, script: str) -> None:
        with sqlite3.connect(self.path) as db:
            db.executescript(script)

    def fail_profile_writes(self) -> None:
        self.sql(
            "CREATE TRIGGER fail_insert BEFORE INSERT ON profiles BEGIN SELECT RAISE(ABORT, 'disk full'); END;"
            "CREATE TRIGGER fail_update BEFORE UPDATE ON profiles BEGIN SELECT RAISE(ABORT, 'disk full'); END;"
        )

    def allow_profile_writes(self) -> None:
        self.sql("DROP TRIGGER fail_insert; DROP TRIGGER fail_update;")

    def make_version_0(self, user_id: str, turns: list[str]) -> None:
        self.sql(
            "CREATE TABLE profiles (user_id TEXT PRIMARY KEY, data TEXT NOT NULL, u BLOB, n BLOB, updated_at REAL NOT NULL);"
            "CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, user_id TEXT NOT NULL, kind TEXT NOT NULL,"
            " item_id TEXT, value REAL, text TEXT, time REAL NOT NULL);"
            "CREATE INDEX events_user ON events(user_id, id);"
        )
        with sqlite3.connect(self.path) as db:
            db.executemany(
                "INSERT INTO events(user_id, kind, text, time) VALUES (?, 'turn', ?, ?)",
                [(user_id, text, 1000.0 + i) for i, text in enumerate(turns)],
            )

    def set_version(self, version: int) -> None:
        self.sql(f"PRAGMA user_version = {version}")


class PostgresBackend(Backend):
    name, cross_process, error = "postgres", True, psycopg.Error

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url

    def _open(self) -> ProfileStorage:
        return PostgresProfileStore(self.url)

    def sql(self, script: str) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(script)  # type: ignore[arg-type]  # the test's own constant SQL

    def fail_profile_writes(self) -> None:
        self.sql(
            "CREATE FUNCTION fail_write() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'disk full'; END $$;"
            "CREATE TRIGGER fail_write BEFORE INSERT OR UPDATE ON profiles FOR EACH ROW EXECUTE FUNCTION fail_write();"
        )

    def allow_profile_writes(self) -> None:
        self.sql("DROP TRIGGER fail_write ON profiles; DROP FUNCTION fail_write();")

    def make_version_0(self, user_id: str, turns: list[str]) -> None:
        self.sql(
            "CREATE TABLE schema_version (version INTEGER NOT NULL); INSERT INTO schema_version VALUES (0);"
            "CREATE TABLE profiles (user_id TEXT PRIMARY KEY, data TEXT NOT NULL, u BYTEA, n BYTEA,"
            " updated_at DOUBLE PRECISION NOT NULL);"
            "CREATE TABLE events (id BIGSERIAL PRIMARY KEY, user_id TEXT NOT NULL, kind TEXT NOT NULL,"
            " item_id TEXT, value DOUBLE PRECISION, text TEXT, time DOUBLE PRECISION NOT NULL);"
            "CREATE INDEX events_user ON events(user_id, id);"
        )
        with psycopg.connect(self.url, autocommit=True) as conn, conn.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO events(user_id, kind, text, time) VALUES (%s, 'turn', %s, %s)",
                [(user_id, text, 1000.0 + i) for i, text in enumerate(turns)],
            )

    def set_version(self, version: int) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute("UPDATE schema_version SET version = %s", (version,))


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    chosen: Backend
    if request.param == "sqlite":
        chosen = SQLiteBackend(tmp_path / "profiles.sqlite3")
    else:
        chosen = PostgresBackend(request.getfixturevalue("postgres_url"))
    yield chosen
    chosen.close_all()


@pytest.fixture
def store(backend: Backend) -> ProfileStorage:
    return backend.open()


def vector(*values: float) -> np.ndarray:
    return np.asarray(values, dtype=np.float32)


def rich_profile(user_id: str) -> Profile:
    """A profile with every kind of field set, vectors included."""
    profile = Profile(
        user_id=user_id,
        interest=vector(0.6, 0.8, 0.0),
        aversion=vector(0.0, -1.0, 0.25),
        liked=["m1", "m3"],
        disliked=["m4"],
        seen=["m9"],
        shown=["m1", "m2", "m3"],
        last_shown=["m2", "m3"],
        constraints=Constraints(year_min=1990, required_genres=["comedy"], exclude_genres=["horror"]),
        liked_aspects=["funny"],
        disliked_aspects=["gore"],
        liked_people=["Ann Director"],
        anchors=["m3"],
        anchors_shown=True,
    )
    profile.note_turn("something funny, no horror")
    return profile


def turn(user_id: str, text: str, at: float = 0.0) -> Event:
    """A turn event with what it was understood to say, phrase vectors included."""
    signal = TurnSignal(positive=[text], titles=[("m3", "like")], year_min=1990, positive_vector=vector(1.0, 0.0, 0.5))
    return Event(user_id, "turn", text=text, time=at, signal=signal)


def same(a: Profile, b: Profile) -> bool:
    return profile_differences(a, b) == []


# -- the contract ------------------------------------------------------------------------------
def test_a_new_store_is_empty_at_the_current_schema(store: ProfileStorage):
    assert store.schema_version == SCHEMA_VERSION
    assert store.users() == [] and list(store.events()) == [] and store.pending_turns() == []
    cold = store.load("nobody")
    assert cold.user_id == "nobody" and cold.is_cold and cold.turns == 0
    assert store.why("nobody", "m1") is None and store.whys("nobody") == {}


def test_a_profile_round_trips_and_survives_a_reopen(backend: Backend, store: ProfileStorage):
    profile = rich_profile("a")
    store.save(profile)
    loaded = store.load("a")
    assert same(loaded, profile) and loaded.interest is not None and loaded.interest.dtype == np.float32
    profile.liked.append("m7")
    profile.interest = None
    store.save(profile)  # an upsert: the row is replaced, not added
    assert same(backend.open().load("a"), profile) and store.users() == ["a"]


def test_write_stores_events_whys_and_profile_and_returns_the_stored_events(store: ProfileStorage):
    profile = rich_profile("a")
    events = [
        turn("a", "something funny", at=1234.5),
        Event("a", "mention", item_id="m3", value=1.0),
        Event("a", "shown", text=json.dumps(["m1", "m2"])),
    ]
    stored = store.write(events, profile, {"m1": "close to Village Cops", "m2": "funny"})
    ids = [e.id for e in stored]
    assert all(isinstance(i, int) for i in ids) and ids == sorted(ids) and len(set(ids)) == 3
    assert stored[0].time == 1234.5 and stored[1].time > 0  # a given time is kept, a missing one stamped
    assert list(store.events("a")) == stored
    signal = stored[0].signal
    assert signal is not None and list(store.events("a"))[0].signal == signal
    assert store.whys("a") == {"m1": "close to Village Cops", "m2": "funny"}
    assert same(store.load("a"), profile)
    store.write([], profile, {"m1": "now for another reason"})  # the latest why wins
    assert store.why("a", "m1") == "now for another reason" and store.why("b", "m1") is None


def test_events_filter_by_user_kind_and_id(store: ProfileStorage):
    for n in range(3):
        store.append(Event("a", "feedback", item_id=f"m{n}", value=1.0))
        store.append(Event("b", "seen", item_id=f"m{n}", value=0.0))
    every = list(store.events())
    assert [e.id for e in every] == sorted(e.id for e in every if e.id) and len(every) == 6
    assert [e.item_id for e in store.events("a")] == ["m0", "m1", "m2"]
    assert [e.user_id for e in store.events(kinds=["seen"])] == ["b"] * 3
    assert list(store.events("a", kinds=[])) == []
    third = every[2].id
    assert [e.id for e in store.events(before=third)] == [e.id for e in every[:2]]
    assert [e.item_id for e in store.events("b", ["seen", "turn"], before=third)] == ["m0"]


def test_a_write_whose_profile_fails_leaves_nothing_behind(backend: Backend, store: ProfileStorage):
    store.write([turn("a", "first")], rich_profile("a"), {"m1": "first why"})
    before = list(store.events()), store.whys("a"), store.load("a")
    backend.fail_profile_writes()
    changed = rich_profile("a")
    changed.liked.append("m8")
    with pytest.raises(backend.error, match="disk full"):
        store.write([turn("a", "second"), Event("a", "feedback", "m8", 1.0)], changed, {"m8": "second why"})
    assert list(store.events()) == before[0] and store.whys("a") == before[1]
    assert same(store.load("a"), before[2])
    backend.allow_profile_writes()
    store.write([turn("a", "second")], changed)  # usable again
    assert same(store.load("a"), changed) and len(list(store.events("a"))) == 2


def test_a_bad_event_rolls_back_the_events_before_it(backend: Backend, store: ProfileStorage):
    bad = Event("a", None)  # type: ignore[arg-type]  # NOT NULL: the database refuses it
    with pytest.raises(backend.error):
        store.write([Event("a", "seen", "m1", 0.0), bad], rich_profile("a"))
    assert list(store.events()) == [] and store.load("a").is_cold and store.users() == []


def test_clear_profile_keeps_the_events_and_append_stores_one(store: ProfileStorage):
    store.write([Event("a", "feedback", "m1", 1.0)], rich_profile("a"))
    reset = store.append(Event("a", "reset"))
    store.clear_profile("a")
    assert store.load("a").is_cold and store.load("a").liked == []
    assert [e.kind for e in store.events("a")] == ["feedback", "reset"] and reset.id == list(store.events("a"))[1].id
    assert store.users() == ["a"]  # someone with events is still a user


def test_users_are_everyone_with_a_profile_or_events_in_code_point_order(store: ProfileStorage):
    for user in ("b", "Z", "a", "é", "B"):
        store.append(Event(user, "reset"))
    store.save(Profile(user_id="0-profile-only"))
    assert store.users() == sorted(["b", "Z", "a", "é", "B", "0-profile-only"])


def test_pending_turns_get_their_signals_in_one_write(store: ProfileStorage):
    old = [store.append(Event("a", "turn", text=t)) for t in OLD_TURNS]
    store.append(turn("a", "already understood"))
    assert [e.text for e in store.pending_turns()] == OLD_TURNS
    signals = {e.id: TurnSignal(positive=[e.text or ""], positive_vector=vector(0.0, 1.0)) for e in old if e.id}
    store.set_signals(signals)
    assert store.pending_turns() == []
    by_id = {e.id: e.signal for e in store.events("a")}
    assert all(by_id[i] == signal for i, signal in signals.items())


def test_remove_user_deletes_one_user_whole_and_forget_counts(backend: Backend, store: ProfileStorage):
    for user in ("a", "b"):
        store.write([turn(user, "x"), Event(user, "feedback", "m1", 1.0)], rich_profile(user), {"m1": "why"})
    mine = list(store.events("a"))
    assert store.remove_user("a") == mine  # in log order: what in-memory models must unlearn
    assert list(store.events("a")) == [] and store.whys("a") == {} and store.load("a").is_cold
    assert len(list(store.events("b"))) == 2 and store.whys("b") == {"m1": "why"}
    assert backend.open().users() == ["b"]
    assert store.forget("b") == 2 and store.forget("nobody") == 0 and store.users() == []


def test_picks_of_a_posted_message_are_seen_by_another_store_and_keep_their_reactions(backend: Backend):
    """A bot process posts a card; another (a second store: another process on PostgreSQL, or the
    same process reopened on SQLite) receives the reaction and must know whose card it is."""
    poster, other = backend.open(), backend.open()
    poster.save_picks("1100", "discord:7", ["m3"])
    poster.save_picks("1101", "discord:7", ["m1", "m2"])
    found = other.picks("1100")
    assert found == Picks("1100", "discord:7", ["m3"], []) and other.picks("1101").item_ids == ["m1", "m2"]  # type: ignore[union-attr]
    assert other.picks("9999") is None
    other.set_held("1100", ["👎", "👍🏽"])  # in the order given, skin tones and all
    assert poster.picks("1100").held == ["👎", "👍🏽"]  # type: ignore[union-attr]
    other.set_held("9999", ["👍"])  # an unknown message: nothing to change, nothing made
    assert poster.picks("9999") is None
    poster.save_picks("1100", "discord:8", ["m4"])  # a message id saved again is replaced, reactions cleared
    assert other.picks("1100") == Picks("1100", "discord:8", ["m4"], [])


def test_picks_are_their_own_interface_which_every_store_offers(store: ProfileStorage):
    """The core contract asks nothing of posted messages (only Discord keeps any); both stores keep them."""
    assert not {"save_picks", "picks", "set_held"} & ProfileStorage.__abstractmethods__
    assert picks_kept_by(store) is store and isinstance(store, PickStorage)
    bare = type("Bare", (ProfileStorage,), dict.fromkeys(ProfileStorage.__abstractmethods__, lambda *args: None))
    with pytest.raises(TypeError, match="does not keep posted messages"):  # a store of the core contract alone
        picks_kept_by(bare())


def test_forget_deletes_the_users_picks_only(store: ProfileStorage):
    store.save_picks("1", "a", ["m1"])
    store.save_picks("2", "b", ["m2"])
    store.append(Event("a", "feedback", "m1", 1.0))
    assert store.forget("a") == 1
    assert store.picks("1") is None and store.picks("2") == Picks("2", "b", ["m2"], [])


def test_an_imported_crowd_is_stored_once_per_content_removed_whole_and_never_forgotten(backend: Backend):
    """`recochat import conversations` (profiles/crowd.py): keyed by catalog, import and conversation; the same
    content again changes nothing, new content replaces, `remove_crowd` takes one import out of every catalog,
    and a user's forget (even one named like a conversation) leaves every crowd as it was."""
    store, other = backend.open(), backend.open()
    first = [CrowdConversation("c1", "h1", ["m1", "m2"]), CrowdConversation("c2", "h2", ["m3"])]
    assert store.save_crowd("films", "redial", first, dry_run=True) == CrowdChange(added=2)
    assert store.crowd("films") == []
    assert store.save_crowd("films", "redial", first) == CrowdChange(added=2)
    again = [first[0], CrowdConversation("c2", "h3", ["m3", "m4"]), CrowdConversation("c3", "h4", [])]
    assert other.save_crowd("films", "redial", again) == CrowdChange(added=1, updated=1, unchanged=1)
    other.save_crowd("films", "ours", first[:1])
    other.save_crowd("books", "redial", first[1:])
    assert store.crowd("films") == [
        ("ours", first[0]),
        ("redial", first[0]),
        ("redial", again[1]),
        ("redial", again[2]),
    ]
    assert store.crowd_sources() == [("books", "redial", 1), ("films", "ours", 1), ("films", "redial", 3)]
    store.append(Event("c1", "feedback", "m1", 1.0))
    assert store.forget("c1") == 1 and len(other.crowd("films")) == 4
    assert store.remove_crowd("redial") == 4 and store.remove_crowd("redial") == 0
    assert other.crowd("films") == [("ours", first[0])] and other.crowd("books") == []


def test_export_holds_profile_events_and_whys_as_json(store: ProfileStorage):
    store.write([turn("a", "funny"), Event("a", "feedback", "m1", 1.0)], rich_profile("a"), {"m1": "why"})
    exported = json.loads(json.dumps(store.export("a")))  # JSON-ready: nothing numpy is left
    assert exported["user"] == "a" and exported["schema_version"] == SCHEMA_VERSION
    assert exported["profile"]["liked"] == ["m1", "m3"] and exported["profile"]["interest"] == pytest.approx(
        [0.6, 0.8, 0]
    )
    first = exported["events"][0]
    assert first["kind"] == "turn" and first["understood"]["titles"] == [["m3", "like"]]
    assert first["understood"]["positive_vector"] == [1.0, 0.0, 0.5] and "user_id" not in first
    assert set(exported["events"][1]) == {"id", "kind", "item_id", "value", "time"}  # no Nones, no signal
    assert exported["whys"] == {"m1": "why"}
    assert store.export("nobody")["events"] == [] and store.export("nobody")["profile"]["turns"] == 0


def test_a_version_0_database_is_migrated_and_its_turns_wait_to_be_understood(backend: Backend):
    backend.make_version_0("a", OLD_TURNS)
    store = backend.open()
    assert store.schema_version == SCHEMA_VERSION
    assert [(e.text, e.signal) for e in store.pending_turns()] == [(t, None) for t in OLD_TURNS]
    store.write([turn("a", "new")], rich_profile("a"), {"m1": "why"})  # the columns and tables of version 1
    assert store.why("a", "m1") == "why" and list(store.events("a"))[-1].signal is not None
    store.save_picks("5", "a", ["m1"])  # the table of version 2
    assert store.picks("5") == Picks("5", "a", ["m1"], [])
    again = backend.open()  # a second open finds nothing to migrate
    assert again.schema_version == SCHEMA_VERSION and len(again.pending_turns()) == len(OLD_TURNS)


def test_a_database_from_a_newer_recochat_is_refused(backend: Backend):
    backend.open().close()
    backend.set_version(SCHEMA_VERSION + 1)
    with pytest.raises(SetupError, match="newer than this recochat"):
        backend.open()


def test_stores_opened_at_once_on_a_new_database_make_the_schema_once(backend: Backend):
    opened: list[ProfileStorage] = []
    errors: list[BaseException] = []

    def open_one() -> None:
        try:
            opened.append(backend.open())
        except BaseException as error:  # noqa: BLE001
            errors.append(error)

    openers = [threading.Thread(target=open_one) for _ in range(4)]
    for opener in openers:
        opener.start()
    for opener in openers:
        opener.join()
    assert errors == [] and len(opened) == 4
    for n, store in enumerate(opened):
        store.append(Event(f"u{n}", "reset"))
    assert all(store.schema_version == SCHEMA_VERSION for store in opened) and len(opened[0].users()) == 4


def test_concurrent_load_change_write_of_one_user_loses_no_update(backend: Backend):
    """Writers in threads, each a load → change → write of the same user inside `locked`. On
    PostgreSQL the writers are spread over two stores (two pools: as two processes would)."""
    stores = [backend.open(), backend.open()] if backend.cross_process else [backend.open()]
    threads, rounds = 4, 12
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        store = stores[n % len(stores)]
        try:
            for i in range(rounds):
                with store.locked("u"):
                    profile = store.load("u")
                    profile.note_turn(f"writer {n} round {i}")
                    profile.liked.append(f"{n}-{i}")
                    store.write([Event("u", "turn", text=f"{n}-{i}")], profile)
        except BaseException as error:  # noqa: BLE001
            errors.append(error)

    workers = [threading.Thread(target=writer, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []
    final = backend.open().load("u")
    assert final.turns == threads * rounds  # every increment is there: none overwrote another
    assert sorted(final.liked) == sorted(f"{n}-{i}" for n in range(threads) for i in range(rounds))
    assert len(list(stores[0].events("u"))) == threads * rounds


def test_locked_is_reentrant_and_released(backend: Backend, store: ProfileStorage):
    with store.locked("a"), store.locked("a"):
        with store.locked("b"):
            store.write([Event("b", "reset")])
        store.write([Event("a", "reset")], rich_profile("a"))
    other = backend.open() if backend.cross_process else store
    got_it = threading.Event()

    def take() -> None:
        with other.locked("a"), other.locked("b"):
            got_it.set()

    thread = threading.Thread(target=take)
    thread.start()
    thread.join(timeout=10)
    assert got_it.is_set(), "a lock was not released"
    assert [e.user_id for e in store.events()] == ["b", "a"]


def test_every_statement_is_written_once_and_rendered_per_dialect():
    """SQLite's copy is the text as written; psycopg's differs only in its placeholder and words."""
    written, sqlite, postgres = Statements(), Statements().rendered(SQLITE), Statements().rendered(POSTGRES)
    assert sqlite.load_profile == written.load_profile == "SELECT data, u, n FROM profiles WHERE user_id = ?"
    assert postgres.set_held == "UPDATE picks SET held = %s WHERE message_id = %s"
    assert sqlite.users.endswith("COLLATE BINARY") and postgres.users.endswith('COLLATE "C"')
    assert all("?" not in s for s in postgres.delete_user) and len(postgres.delete_user) == 4


# -- PostgreSQL's own: settings, errors, the CLI -----------------------------------------------
def test_the_runtime_picks_postgres_only_when_the_url_is_set(postgres_url: str, tmp_path: Path):
    from recochat.bot.runtime import open_profiles
    from recochat.bot.settings import Settings

    default = open_profiles(Settings(home=tmp_path))
    assert isinstance(default, ProfileStore) and default.path == tmp_path / "profiles.sqlite3"
    default.close()
    assert isinstance(empty := open_profiles(Settings(home=tmp_path, database_url="")), ProfileStore)
    empty.close()
    shared = open_profiles(Settings(home=tmp_path / "other", database_url=postgres_url))
    assert isinstance(shared, PostgresProfileStore) and shared.schema_version == SCHEMA_VERSION
    shared.close()


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("mysql://root:hunter2@127.0.0.1/recochat", "starts with postgresql://"),
        ("postgresql://root:hunter2@127.0.0.1:notaport/recochat", "cannot connect|not a valid"),
        ("postgresql://root:hunter2@[::1/recochat", "not a valid PostgreSQL URL"),
        ("postgresql://root:hunter2@127.0.0.1:1/recochat", "cannot connect to PostgreSQL at 127.0.0.1:1/recochat"),
    ],
)
def test_a_bad_or_unreachable_url_is_a_setup_error_naming_the_setting(url: str, says: str, tmp_path: Path):
    from recochat.bot.runtime import open_profiles
    from recochat.bot.settings import Settings

    with pytest.raises(SetupError, match=says) as caught:
        open_profiles(Settings(home=tmp_path, database_url=url))
    message = str(caught.value)
    assert message.startswith("RECOCHAT_DATABASE_URL: ") and "hunter2" not in message


def test_without_the_server_binaries_the_test_cluster_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    monkeypatch.setenv("RECOCHAT_TEST_PG_BIN", str(tmp_path))  # no initdb there
    with pytest.raises(ClusterError, match=r"apt-get install -y postgresql.*RECOCHAT_TEST_PG_BIN"):
        find_bin_dir()


def test_a_user_who_may_not_create_tables_is_told_so(postgres_cluster: Cluster):
    name = f"r_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres_cluster.url, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {name} LOGIN")
        conn.execute(f"CREATE SCHEMA {name}")  # owned by postgres: the role may not create tables in it
    with pytest.raises(SetupError, match="needs the right to create tables"):
        PostgresProfileStore(
            f"postgresql://{name}@127.0.0.1:{postgres_cluster.port}/postgres?options=-csearch_path%3D{name}"
        )


def test_the_profile_commands_use_postgres_when_the_url_is_set(
    make_runtime, fake_encoder, postgres_url: str, monkeypatch: pytest.MonkeyPatch, isolated_home: Path
):  # type: ignore[no-untyped-def]
    from click.testing import CliRunner

    import recochat.bot.runtime as runtime_module
    from recochat.bot.frontends.cli import main

    runtime = make_runtime(encoder=fake_encoder, database_url=postgres_url)
    assert isinstance(runtime.engine.profiles, PostgresProfileStore)
    runtime.engine.turn("a", "something funny, I loved Village Cops")
    logged = len(list(runtime.engine.profiles.events("a")))
    monkeypatch.setenv("RECOCHAT_DATABASE_URL", postgres_url)
    monkeypatch.setattr(runtime_module, "open_encoder", lambda settings: fake_encoder)
    cli = CliRunner()

    shown = cli.invoke(main, ["profile", "show", "a", "--collection", "tiny", "--json"])
    assert shown.exit_code == 0, shown.output
    exported = cli.invoke(main, ["profile", "export", "a", "--collection", "tiny"])
    assert exported.exit_code == 0, exported.output
    assert len(json.loads(exported.stdout)["events"]) == logged and logged > 0
    forgot = cli.invoke(main, ["profile", "forget", "a", "--yes"])
    assert forgot.exit_code == 0 and f"profile and {logged} events deleted" in forgot.output
    assert list(runtime.engine.profiles.events("a")) == [] and runtime.engine.profiles.load("a").is_cold
    assert not (isolated_home / "profiles.sqlite3").exists()  # nothing went to SQLite
    runtime.close()

    monkeypatch.setenv("RECOCHAT_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/nowhere")
    refused = cli.invoke(main, ["profile", "forget", "a", "--yes"])
    assert refused.exit_code == 2 and "RECOCHAT_DATABASE_URL" in refused.output
    assert "Traceback" not in refused.output
