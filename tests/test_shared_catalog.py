"""Several recochat processes on one Chroma server (RECOCHAT_CHROMA_HOST): an ingest by one of
them reaches the others' in-memory catalogs through the version stored with the collection.

Against a real `chroma run` on loopback (conftest's `chroma_server`), with the hashing encoder:
these tests are about the catalog's plumbing, not ranking quality. The first test's reader is a
separate process; the others use a second Runtime in this process, which is what a second
process holds too (its own store client, catalog, engine and watch)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY_CATALOG, ChromaServer
from fakes import HashingEncoder, QueueChatModel

from recochat.bot.runtime import CatalogWatch, Runtime, build
from recochat.bot.settings import Settings
from recochat.bot.writer import LLMWriter
from recochat.retrieval.catalog import CatalogItem
from recochat.retrieval.ingest import ingest
from recochat.retrieval.store import ChromaStore, StoredCatalog

NEW_FILMS = [
    ("n1", "Clown Planet", ["comedy"], "A travelling circus crash-lands on a planet of very serious aliens."),
    ("n2", "Pun Intended", ["comedy"], "Two rival comedians are stuck writing jokes together for one chaotic night."),
    ("n3", "Laugh Track", ["comedy", "drama"], "A sitcom writer tries to make her grumpy family funny on air."),
    ("n4", "Deep Freeze", ["thriller"], "Scientists trapped in a polar station suspect one of them is not human."),
    ("n5", "Garden of Stars", ["science fiction"], "A botanist grows the first forest on a distant moon."),
    ("n6", "Jester Street", ["comedy", "crime"], "A clumsy pickpocket gang keeps robbing the wrong bank."),
]
"""A whole new catalog, none of whose ids the first one has: every item of a reply says which one it came from."""


def tiny_items() -> list[CatalogItem]:
    return [
        CatalogItem(id=i, title=t, text=f"{t}. {' '.join(g)}. {d}", meta={"year": y, "genres": g})
        for i, t, y, g, d in TINY_CATALOG
    ]


def new_items() -> list[CatalogItem]:
    return [
        CatalogItem(id=i, title=t, text=f"{t}. {' '.join(g)}. {d}", meta={"year": 2020, "genres": g})
        for i, t, g, d in NEW_FILMS
    ]


NEW_IDS = {i for i, *_ in NEW_FILMS}
OLD_IDS = {i for i, *_ in TINY_CATALOG}


def server_store(server: ChromaServer) -> ChromaStore:
    return ChromaStore.http(server.host, server.port)


def fresh_name() -> str:
    return f"shared-{uuid.uuid4().hex[:10]}"


def server_runtime(server: ChromaServer, home: Path, name: str, encoder: HashingEncoder) -> Runtime:
    settings = Settings(home=home, llm="template", chroma_host=server.host, chroma_port=server.port)
    return build(settings, collection=name, encoder=encoder)


READER = """
import asyncio, json, sys
sys.path.insert(0, sys.argv[1])
from fakes import HashingEncoder
from recochat.bot.runtime import build
from recochat.bot.settings import load_settings

runtime = build(load_settings(), collection=sys.argv[2], encoder=HashingEncoder())
print(json.dumps({"ready": True}), flush=True)
for line in sys.stdin:
    reply = asyncio.run(runtime.conversations.send("reader", line.strip()))
    print(json.dumps({"items": [i.id for i in reply.items], "reloads": runtime.catalog_watch.reloads}), flush=True)
"""
"""Process B: its settings from the environment (RECOCHAT_CHROMA_HOST/PORT), one reply per line read."""


def test_an_ingest_by_one_process_reaches_a_reader_in_another(
    chroma_server: ChromaServer, fake_encoder: HashingEncoder, tmp_path: Path
) -> None:
    name = fresh_name()
    writer = server_store(chroma_server)  # process A: this test
    ingest(writer, fake_encoder, name, tiny_items())
    env = {
        **os.environ,
        "RECOCHAT_HOME": str(tmp_path / "reader-home"),
        "RECOCHAT_CHROMA_HOST": chroma_server.host,
        "RECOCHAT_CHROMA_PORT": str(chroma_server.port),
        "RECOCHAT_LLM": "template",
    }
    tests = str(Path(__file__).parent)
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, tests, name],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert reader.stdin is not None and reader.stdout is not None

    def ask(text: str) -> dict:
        reader.stdin.write(text + "\n")  # type: ignore[union-attr]
        reader.stdin.flush()  # type: ignore[union-attr]
        line = reader.stdout.readline()  # type: ignore[union-attr]
        assert line, f"the reader process died: {reader.stderr.read() if reader.stderr else ''}"  # type: ignore[union-attr]
        return json.loads(line)

    try:
        assert json.loads(reader.stdout.readline() or "{}").get("ready"), reader.stderr.read()  # type: ignore[union-attr]
        first = ask("something funny")
        assert first["items"] and set(first["items"]) <= OLD_IDS and first["reloads"] == 0

        ingest(writer, fake_encoder, name, new_items(), prune=True)  # A replaces the catalog
        started = time.monotonic()
        while time.monotonic() - started < 15:
            answer = ask("something funny")
            if answer["reloads"]:
                break
            time.sleep(0.2)
        waited = time.monotonic() - started
        assert answer["reloads"] == 1, "the reader never picked up the new catalog"
        assert answer["items"] and set(answer["items"]) <= NEW_IDS  # answered from the new catalog only
        assert waited < 5  # checked about once a second
        assert ask("more comedy")["reloads"] == 1  # nothing changed since: no second load
    finally:
        reader.stdin.close()
        try:
            reader.wait(timeout=10)
        except subprocess.TimeoutExpired:
            reader.kill()


async def test_a_second_runtime_answers_and_takes_feedback_on_new_items_after_a_reingest(
    chroma_server: ChromaServer, fake_encoder: HashingEncoder, tmp_path: Path
) -> None:
    name = fresh_name()
    ingest(server_store(chroma_server), fake_encoder, name, tiny_items())
    a = server_runtime(chroma_server, tmp_path / "a", name, fake_encoder)
    b = server_runtime(chroma_server, tmp_path / "b", name, fake_encoder)
    assert b.catalog_watch is not None
    b.catalog_watch.interval_s = 0.0  # check at every turn: the test does not wait out the interval
    b.conversations.writer = LLMWriter(QueueChatModel(), b.engine.reader.titles, "fake")  # empty prose: template
    before = await b.conversations.send("u", "something funny")
    assert set(i.id for i in before.items) <= OLD_IDS
    old_engine = b.engine

    ingest(a.store, fake_encoder, name, new_items(), prune=True)
    # B's first contact after the ingest is feedback on an item it has never had: it reloads first
    found = await b.conversations.feedback("u", "n1", "like")
    assert found and b.engine is not old_engine and b.catalog_watch.reloads == 1
    after = await b.conversations.send("u", "something funny")
    assert after.items and {i.id for i in after.items} <= NEW_IDS - {"n1"}
    assert b.engine.item("m1") is None and b.engine.reader.titles.find("I loved Pun Intended")  # the title index too
    writer = b.conversations.writer
    assert isinstance(writer, LLMWriter) and writer.titles is b.engine.reader.titles  # grounding checks new titles
    assert b.engine.catalog.version == a.store.version(name)
    a.close()
    b.close()


def test_the_version_changes_with_every_ingest_and_is_none_without_a_collection(
    chroma_server: ChromaServer, fake_encoder: HashingEncoder, tmp_path: Path
) -> None:
    for store in (server_store(chroma_server), ChromaStore.persistent(tmp_path / "chroma")):
        name = fresh_name()
        assert store.version(name) is None
        ingest(store, fake_encoder, name, tiny_items())
        first = store.version(name)
        ingest(store, fake_encoder, name, tiny_items())  # nothing to encode: still a new version
        second = store.version(name)
        assert first and second and first != second and second.startswith("2@")
        assert store.load(name).version == second
        store.drop(name)
        assert store.version(name) is None


def test_the_embedded_store_picks_up_a_reingest_on_the_same_path(make_runtime, fake_encoder) -> None:  # type: ignore[no-untyped-def]
    """No server: `recochat ingest` in this process (or a second runtime on the same store) goes
    the same way."""
    runtime = make_runtime(encoder=fake_encoder)
    runtime.catalog_watch.interval_s = 0.0
    other = ChromaStore.persistent(runtime.settings.chroma_path)  # another client on the same path
    ingest(other, fake_encoder, "tiny", tiny_items() + new_items())
    result = runtime.engine.turn("u", "clown planet")  # the engine alone: no check
    assert runtime.engine.item("n1") is None and result.items
    runtime.conversations._turn("u", "something funny")
    assert runtime.engine.item("n1") is not None and runtime.catalog_watch.reloads == 1
    runtime.close()


class CountingStore:
    """A store double that counts version reads and can fail them."""

    def __init__(self, version: str | None = "1@0.0") -> None:
        self.stored_version = version
        self.reads = 0
        self.failing = False
        self.catalog = StoredCatalog(
            "c", [CatalogItem(id="x", title="X", text="x")], np.ones((1, 4), dtype=np.float32), version="2@1.0"
        )

    def version(self, name: str) -> str | None:
        self.reads += 1
        if self.failing:
            raise ConnectionError("server gone")
        return self.stored_version

    def load(self, name: str) -> StoredCatalog:
        return self.catalog


def test_the_watch_reads_the_version_at_most_once_per_interval_and_survives_a_dead_server(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]
    store = CountingStore()
    loaded: list[StoredCatalog] = []
    watch = CatalogWatch(store, "c", "1@0.0", loaded.append, interval_s=1.0, clock=lambda: now[0])  # type: ignore[arg-type]
    for _ in range(50):  # fifty turns in the first second: not one read
        assert not watch.check()
    assert store.reads == 0
    now[0] = 1.0
    assert not watch.check() and not watch.check() and store.reads == 1  # same version: nothing loaded
    store.stored_version = "2@1.0"
    now[0] = 1.5
    assert not watch.check()  # not due yet
    now[0] = 2.0
    assert watch.check() and loaded == [store.catalog] and watch.version == "2@1.0" and watch.reloads == 1

    store.failing = True
    for second in (3.0, 4.0, 5.0):
        now[0] = second
        assert not watch.check()  # a turn goes on with the catalog in memory
    warnings = [r for r in caplog.records if "cannot check catalog" in r.getMessage()]
    assert len(warnings) == 1 and "server gone" in warnings[0].getMessage()  # said once, not every second
    store.failing = False
    store.stored_version = None
    now[0] = 6.0
    assert not watch.check() and loaded == [store.catalog]  # the collection is gone: keep what we have
    assert any("is gone from the store" in r.getMessage() for r in caplog.records)
