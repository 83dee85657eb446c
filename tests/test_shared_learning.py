"""Several recochat processes on one PostgreSQL database: the collaborative component follows the
shared log (profiles/learning.py), a user moves between processes, and a process killed mid-run
loses no acknowledged write.

The first tests run engines in this process, each on its own store (its own pool, as another
process would have), where the model and the checkpoints can be looked into. The last ones run
real processes (tests/pg_worker.py) on a throwaway cluster (benchmarks/pg_cluster.py)."""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import IngestedTiny
from fakes import HashingEncoder

from recochat.benchmarks.pg_cluster import Cluster
from recochat.bot.engine import Engine
from recochat.profiles.collaborative import COLLABORATIVE_KINDS, CoOccurrence
from recochat.profiles.contract import Event
from recochat.profiles.learning import Checkpoint, Poll, SharedLearning
from recochat.profiles.postgres import PostgresProfileStore
from recochat.profiles.store import ProfileStore

WORKER = Path(__file__).with_name("pg_worker.py")
SOON_S = 1.0
"""How soon an event written by one process must be in another's counts."""


def eventually(check: Callable[[], bool], within: float = SOON_S) -> float:
    """Poll `check` until it holds; the seconds it took. Fails after `within` seconds."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > within:
            pytest.fail(f"not within {within} s")
        time.sleep(0.02)
    return time.monotonic() - started


def from_log(store: PostgresProfileStore, known: set[str], up_to: int | None = None) -> CoOccurrence:
    """The counts the whole log (or its events up to id `up_to`) makes: what every process must hold."""
    model = CoOccurrence()
    before = None if up_to is None else up_to + 1
    model.learn_log(store.events(kinds=COLLABORATIVE_KINDS, before=before), known)
    return model


# -- the model ------------------------------------------------------------------------------------
def test_scores_skip_a_pair_whose_item_has_no_count():
    """Two processes that each counted only their own writes once left pairs without counts, and
    ranking divided by zero; such a pair now adds nothing."""
    model = CoOccurrence()
    model.observe("a", "m1")
    model.observe("a", "m2")
    model.counts.pop("m2")  # what a forget of a user this process never learned did
    assert model.scores(["m1"]) == {}
    model.counts.pop("m1")
    assert model.scores(["m1", "m2"]) == {}


def test_sqlite_keeps_learning_from_its_own_writes(fake_runtime, tmp_path: Path):  # type: ignore[no-untyped-def]
    engine = Engine(fake_runtime.engine.catalog, fake_runtime.encoder, ProfileStore(tmp_path / "p.sqlite3"))
    assert engine.learning.shared is None
    engine.feedback("a", "m1", "like")
    assert engine.collaborative.popularity("m1") == 1


# -- engines in this process, each on its own pool --------------------------------------------------
@pytest.fixture
def engines(fake_runtime, postgres_url: str) -> Iterator[list[Engine]]:  # type: ignore[no-untyped-def]
    """Two engines on one database, as two processes would be."""
    made = [
        Engine(fake_runtime.engine.catalog, fake_runtime.encoder, PostgresProfileStore(postgres_url)) for _ in range(2)
    ]
    yield made
    for engine in made:
        engine.close()
        engine.profiles.close()


def test_two_engines_learn_the_same_counts_from_one_log_under_churn(engines: list[Engine]):
    """Likes, undos, resets and forgets on both engines at once, users moving between them: once
    each has read the log, both hold exactly what the whole log makes (no ZeroDivisionError on the way)."""
    items = [item.id for item in engines[0].catalog.items]
    errors: list[BaseException] = []

    def churn(n: int) -> None:
        try:
            for i in range(24):
                engine = engines[(n + i) % 2]  # the user's next write goes to the other process
                user = f"u{n}"
                engine.feedback(user, items[(i * 3 + n) % len(items)], "like")
                if i % 5 == 4:
                    engine.undo_feedback(user, items[(i * 3 + n) % len(items)])
                if i % 7 == 6:
                    engine.reset(user)
                if n == 0 and i % 11 == 10:
                    engine.forget(user)
                engine.collaborative.scores(items[:3])
        except BaseException as error:  # noqa: BLE001
            errors.append(error)

    workers = [threading.Thread(target=churn, args=(n,)) for n in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []
    for engine in engines:
        assert engine.learning.shared is not None
        engine.learning.shared.sync()
    expected = engines[0].learning.from_log().snapshot()
    assert expected[0]  # something was learned
    assert engines[0].collaborative.snapshot() == expected
    assert engines[1].collaborative.snapshot() == expected


class CountingLog:
    """A store whose polls count the events they return (how much of the log a start reads)."""

    def __init__(self, store: PostgresProfileStore) -> None:
        self.store = store
        self.read = 0

    def poll(self, after: int, kinds: Any, limit: int | None) -> Poll:
        poll = self.store.poll(after, kinds, limit)
        self.read += len(poll.events)
        return poll

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


def likes(store: PostgresProfileStore, user: str, items: list[str]) -> None:
    store.write([Event(user, "feedback", item_id=item, value=1.0) for item in items])


def stored_checkpoint(store: PostgresProfileStore, scope: str) -> Checkpoint:
    found = store.checkpoint(scope)
    assert found is not None
    return found


def test_a_late_start_reads_the_checkpoint_and_only_the_events_after_it(postgres_url: str):
    known = {f"m{n}" for n in range(1, 15)}
    first, late = PostgresProfileStore(postgres_url), PostgresProfileStore(postgres_url)
    running = SharedLearning(first, CoOccurrence(), known, "tiny", poll_s=0.02, checkpoint_every=20)
    for n in range(15):
        likes(first, f"u{n}", [f"m{1 + n % 14}", f"m{1 + (n + 3) % 14}", f"m{1 + (n + 5) % 14}"])
    # checkpoints every 20 ids: whenever the last one was stored, one covers more than 45 - 20 ids in the end
    eventually(lambda: (c := first.checkpoint("tiny")) is not None and c.last_id > 25)
    likes(first, "last", ["m1", "m2"])
    covered = stored_checkpoint(first, "tiny").last_id
    counting = CountingLog(late)
    started = SharedLearning(counting, CoOccurrence(), known, "tiny")  # type: ignore[arg-type]
    after = [e for e in first.events() if e.id is not None and e.id > covered]
    assert counting.read <= len(after) < 47 - 25  # only the events after the checkpoint, of 47
    running.sync()
    assert started.model.snapshot() == running.model.snapshot() == from_log(first, known).snapshot()
    for learning in (running, started):
        learning.close()
    first.close()
    late.close()


def test_a_forget_from_anywhere_leaves_no_trace_in_the_checkpoints(postgres_url: str):
    """A forget through the store alone (as `recochat profile forget` does) takes the user's share
    out of the checkpoint in its transaction; a running process reloads without it."""
    known = {f"m{n}" for n in range(1, 15)}
    store, cli = PostgresProfileStore(postgres_url), PostgresProfileStore(postgres_url)
    likes(store, "kept", ["m1", "m2", "m3"])
    likes(store, "gone", ["m1", "m4", "m9", "m10"])
    store.write([Event("gone", "undo", item_id="m9"), Event("gone", "reset")])
    likes(store, "gone", ["m2", "m11"])
    learning = SharedLearning(store, CoOccurrence(), known, "tiny", poll_s=0.02)  # stores a checkpoint at start
    assert stored_checkpoint(store, "tiny").last_id == learning.last_id
    likes(store, "gone", ["m5"])  # after the checkpoint
    learning.sync()
    assert cli.forget("gone") == 9
    left = CoOccurrence.from_bytes(stored_checkpoint(store, "tiny").model)
    assert left.snapshot() == from_log(store, known).snapshot()  # the checkpoint as if "gone" never was
    eventually(lambda: learning.model.snapshot() == from_log(store, known).snapshot())
    learning.close()
    store.close()
    cli.close()


# -- real processes ---------------------------------------------------------------------------------
class Worker:
    """A recochat process (tests/pg_worker.py) and a line-reading thread, so reads can time out."""

    def __init__(self, home: Path, url: str, chroma: Path) -> None:
        shutil.copytree(chroma, home / "chroma")
        self.log = (home / "stderr.log").open("w")
        self.process = subprocess.Popen(
            [sys.executable, str(WORKER), str(home), url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
        )
        self.lines: queue.Queue[dict[str, Any]] = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(json.loads(line))

    def next(self, timeout: float = 10.0) -> dict[str, Any]:
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            pytest.fail(f"worker {self.process.pid} said nothing for {timeout} s")

    def send(self, op: str, **fields: Any) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"op": op, **fields}) + "\n")
        self.process.stdin.flush()

    def ask(self, op: str, **fields: Any) -> Any:
        self.send(op, **fields)
        said = self.next()
        assert "error" not in said, said["error"]
        return said["ok"]

    def counts(self) -> dict[str, int]:
        return dict(self.ask("scores", liked=[])["counts"])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.send("quit")
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.log.close()


class Fleet:
    """One fresh database and the recochat processes started on it (all stopped at the end)."""

    def __init__(self, url: str, chroma: Path, homes: pytest.TempPathFactory) -> None:
        self.url, self.chroma, self.homes = url, chroma, homes
        self.started: list[Worker] = []

    def start(self) -> Worker:
        worker = Worker(self.homes.mktemp("worker"), self.url, self.chroma)
        self.started.append(worker)
        return worker

    def store(self) -> PostgresProfileStore:
        """The database as this test process sees it."""
        return PostgresProfileStore(self.url)


@pytest.fixture(scope="module")
def fleet(
    postgres_cluster: Cluster, ingested_tiny: IngestedTiny, fake_encoder: HashingEncoder, tmp_path_factory
) -> Iterator[Fleet]:  # type: ignore[no-untyped-def]
    started = Fleet(postgres_cluster.fresh_schema_url(), ingested_tiny.chroma(fake_encoder), tmp_path_factory)
    yield started
    for worker in started.started:
        worker.stop()


@pytest.fixture(scope="module")
def pair(fleet: Fleet) -> tuple[Worker, Worker]:
    """Processes A and B, started together."""
    a, b = fleet.start(), fleet.start()
    assert a.next(timeout=60) == {"ready": True} and b.next(timeout=60) == {"ready": True}
    return a, b


def test_a_user_moves_between_processes_and_a_dislike_is_respected(fleet: Fleet, pair: tuple[Worker, Worker]):
    """A 👎 on A never comes back on B, and "#2" on B means the second item A showed."""
    a, b = pair
    shown = a.ask("turn", user="mover", text="something funny")
    disliked = shown[0]
    a.ask("feedback", user="mover", item=disliked, value="dislike")
    replies = b.ask("turn", user="mover", text="the second one looks great")
    store = fleet.store()
    assert shown[1] in store.load("mover").liked
    replies += b.ask("turn", user="mover", text="something funny, show them again")
    replies += b.ask("turn", user="mover", text="anything else")
    assert replies and disliked not in replies
    store.close()


def test_a_like_on_one_process_is_in_the_others_counts_within_a_second(pair: tuple[Worker, Worker]):
    a, b = pair
    before = b.counts()
    a.ask("feedback", user="liker", item="m13", value="like")
    a.ask("feedback", user="liker", item="m14", value="like")
    took = eventually(lambda: b.counts().get("m14", 0) == before.get("m14", 0) + 1)
    assert took < SOON_S
    assert "m14" in b.ask("scores", liked=["m13"])["scores"]
    assert b.counts() == a.counts()


def test_two_processes_serving_one_user_at_once_lose_no_update(fleet: Fleet, pair: tuple[Worker, Worker]):
    for worker in pair:
        worker.send("load", user="both", n=30)
    for worker in pair:
        while "ok" not in (said := worker.next()):
            assert "error" not in said, said
    store = fleet.store()
    turns = [e for e in store.events("both") if e.kind == "turn"]
    assert store.load("both").turns == len(turns) == 30  # 15 turns from each: none overwrote another
    store.close()


def test_a_forget_on_one_process_removes_the_users_share_on_the_other(pair: tuple[Worker, Worker]):
    a, b = pair
    before = b.counts()
    for item in ("m5", "m6", "m7"):
        a.ask("feedback", user="leaving", item=item, value="like")
    eventually(lambda: b.counts().get("m7", 0) == before.get("m7", 0) + 1)
    assert a.ask("forget", user="leaving") == 3
    eventually(lambda: b.counts() == before)
    assert a.counts() == before


def test_a_process_killed_mid_run_loses_no_acknowledged_write_and_the_other_carries_on(
    fleet: Fleet, pair: tuple[Worker, Worker]
):
    victim, survivor = fleet.start(), pair[1]
    assert victim.next(timeout=60) == {"ready": True}
    victim.send("load", user="victim", n=5000)
    survivor.send("load", user="survivor", n=200)
    acked = 0
    while acked < 40:
        acked = victim.next()["acked"]
    os.kill(victim.process.pid, signal.SIGKILL)
    victim.process.wait(timeout=10)
    victim.reader.join(timeout=10)
    while not victim.lines.empty():  # acks it wrote before it died
        acked = victim.lines.get()["acked"]
    while "ok" not in (said := survivor.next()):
        assert "error" not in said, said
    store = fleet.store()
    kinds = [e.kind for e in store.events("victim")]
    # write i (from 1) is a 👍 when i is odd, else a turn: every acknowledged one is in the log
    assert kinds.count("feedback") >= (acked + 1) // 2 and kinds.count("turn") >= acked // 2
    assert kinds.count("feedback") + kinds.count("turn") <= acked + 1  # at most the one in flight
    assert survivor.ask("turn", user="newcomer", text="something funny")  # it still answers
    known = {f"m{n}" for n in range(1, 15)}
    eventually(lambda: survivor.counts() == from_log(store, known).snapshot()[0])
    store.close()
