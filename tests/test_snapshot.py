"""Catalog snapshots under RECOCHAT_HOME: the second start reads the snapshot, not Chroma.

Embedded Chroma and the hashing encoder: these tests are about which copy of the catalog a start
reads and when it is rewritten, not about ranking."""

from __future__ import annotations

import itertools
import logging
import uuid
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY_CATALOG, ChromaServer
from fakes import HashingEncoder

from recochat.bot.runtime import SNAPSHOTS, build
from recochat.bot.settings import Settings
from recochat.retrieval.catalog import CatalogItem
from recochat.retrieval.ingest import ingest
from recochat.retrieval.snapshot import SnapshotCache, load_with_snapshot
from recochat.retrieval.store import ChromaStore, StoredCatalog

NAME = "films"


def tiny_items(suffix: str = "") -> list[CatalogItem]:
    return [
        CatalogItem(
            id=i, title=t + suffix, text=f"{t}{suffix}. {' '.join(g)}. {d}", meta={"year": y, "genres": g, "pop": 0.5}
        )
        for i, t, y, g, d in TINY_CATALOG
    ]


@pytest.fixture
def settings(tmp_path: Path, fake_encoder: HashingEncoder) -> Settings:
    settings = Settings(home=tmp_path / "home", llm="template")
    ingest(ChromaStore.persistent(settings.chroma_path), fake_encoder, NAME, tiny_items(), noun="film")
    return settings


class FullReads:
    """Counts `ChromaStore.load` (the bulk read a snapshot replaces); `forbid()` makes it fail."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        self.forbidden = False
        real = ChromaStore.load

        def load(store: ChromaStore, name: str) -> StoredCatalog:
            self.calls += 1
            if self.forbidden:
                raise AssertionError("the whole catalog was read out of Chroma")
            return real(store, name)

        monkeypatch.setattr(ChromaStore, "load", load)

    def forbid(self) -> None:
        self.forbidden = True


def start(settings: Settings, encoder: HashingEncoder) -> StoredCatalog:
    """Build a runtime as a front end would, and give back the catalog it started with."""
    runtime = build(settings, collection=NAME, encoder=encoder)
    try:
        return runtime.engine.catalog
    finally:
        runtime.close()


def snapshots(settings: Settings) -> list[Path]:
    return sorted((settings.home / SNAPSHOTS / NAME).glob("*.snapshot"))


def assert_same(a: StoredCatalog, b: StoredCatalog) -> None:
    assert a.items == b.items and a.version == b.version and a.noun == b.noun
    assert a.embeddings.dtype == b.embeddings.dtype == np.float32
    assert np.array_equal(a.embeddings, b.embeddings)


def test_the_second_start_reads_the_snapshot_not_chroma(
    settings: Settings, fake_encoder: HashingEncoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads = FullReads(monkeypatch)
    first = start(settings, fake_encoder)
    assert reads.calls == 1 and len(snapshots(settings)) == 1
    reads.forbid()
    second = start(settings, fake_encoder)
    assert_same(second, first)
    assert len(second) == len(TINY_CATALOG) and second.row_of == first.row_of


def test_the_snapshot_holds_what_chroma_holds(settings: Settings) -> None:
    store = ChromaStore.persistent(settings.chroma_path)
    cache = SnapshotCache(settings.home / SNAPSHOTS)
    from_store = store.load(NAME)
    assert cache.write(from_store) is not None
    from_snapshot = cache.read(NAME, store.head(NAME))
    assert from_snapshot is not None
    assert_same(from_snapshot, from_store)
    assert from_snapshot.noun == "film" and from_snapshot.items[0].meta["genres"] == TINY_CATALOG[0][3]


def test_a_reingest_makes_the_snapshot_stale_and_the_reload_writes_a_new_one(
    settings: Settings, fake_encoder: HashingEncoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads = FullReads(monkeypatch)
    runtime = build(settings, collection=NAME, encoder=fake_encoder)
    try:
        [old] = snapshots(settings)
        store = ChromaStore.persistent(settings.chroma_path)
        ingest(store, fake_encoder, NAME, tiny_items(" II"), noun="film")  # a version bump
        assert SnapshotCache(settings.home / SNAPSHOTS).read(NAME, store.head(NAME)) is None  # stale now
        watch = runtime.catalog_watch
        assert watch is not None
        watch.interval_s = 0.0
        assert watch.check() and reads.calls == 2  # the reload read Chroma once, for the new version
        [new] = snapshots(settings)
        assert new != old and not old.exists()  # the old snapshot is gone
        assert runtime.engine.catalog.items[0].title.endswith(" II")
        reloaded = runtime.engine.catalog
    finally:
        runtime.close()
    reads.forbid()
    assert_same(start(settings, fake_encoder), reloaded)  # the next start uses the reload's snapshot


def test_a_reload_uses_a_snapshot_that_is_already_there(
    settings: Settings, fake_encoder: HashingEncoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process on this home (a second bot) wrote the new version's snapshot first."""
    runtime = build(settings, collection=NAME, encoder=fake_encoder)
    try:
        store = ChromaStore.persistent(settings.chroma_path)
        ingest(store, fake_encoder, NAME, tiny_items(" III"), noun="film")
        load_with_snapshot(store, NAME, SnapshotCache(settings.home / SNAPSHOTS))
        FullReads(monkeypatch).forbid()
        watch = runtime.catalog_watch
        assert watch is not None
        watch.interval_s = 0.0
        assert watch.check() and runtime.engine.catalog.items[0].title.endswith(" III")
    finally:
        runtime.close()


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_a_corrupt_snapshot_is_ignored_with_a_warning_and_rebuilt(
    settings: Settings,
    fake_encoder: HashingEncoder,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    damage: str,
) -> None:
    first = start(settings, fake_encoder)
    [path] = snapshots(settings)
    data = path.read_bytes()
    path.write_bytes({"truncate": data[: len(data) // 2], "garbage": b"not a zip" * 100, "empty": b""}[damage])
    reads = FullReads(monkeypatch)
    with caplog.at_level(logging.WARNING, logger="recochat.snapshot"):
        assert_same(start(settings, fake_encoder), first)
    assert reads.calls == 1 and any("cannot be read" in r.getMessage() for r in caplog.records)
    reads.forbid()
    assert_same(start(settings, fake_encoder), first)  # rebuilt: the third start reads it again


def test_a_snapshot_with_another_item_count_is_not_used(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """Same version, fewer items (deleted without an ingest): the count check catches it."""
    store = ChromaStore.persistent(settings.chroma_path)
    cache = SnapshotCache(settings.home / SNAPSHOTS)
    load_with_snapshot(store, NAME, cache)
    store.delete_items(NAME, [TINY_CATALOG[0][0]])
    reads = FullReads(monkeypatch)
    catalog = load_with_snapshot(store, NAME, cache)
    assert reads.calls == 1 and len(catalog) == len(TINY_CATALOG) - 1


def test_a_snapshot_that_cannot_be_written_costs_only_speed(
    settings: Settings, fake_encoder: HashingEncoder, caplog: pytest.LogCaptureFixture
) -> None:
    settings.home.mkdir(parents=True, exist_ok=True)
    (settings.home / SNAPSHOTS).write_text("a file where the folder should be")
    with caplog.at_level(logging.WARNING, logger="recochat.snapshot"):
        assert len(start(settings, fake_encoder)) == len(TINY_CATALOG)
    assert any("cannot write catalog snapshot" in r.getMessage() for r in caplog.records)


def test_a_start_against_a_chroma_server_uses_the_snapshot_too(
    chroma_server: ChromaServer, tmp_path: Path, fake_encoder: HashingEncoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"snap-{uuid.uuid4().hex[:10]}"  # the server is shared by the session's tests
    settings = Settings(
        home=tmp_path / "server-home", llm="template", chroma_host=chroma_server.host, chroma_port=chroma_server.port
    )
    ingest(ChromaStore.http(chroma_server.host, chroma_server.port), fake_encoder, name, tiny_items(), noun="film")
    reads = FullReads(monkeypatch)
    first = build(settings, collection=name, encoder=fake_encoder)
    first.close()
    assert reads.calls == 1 and len(list((settings.home / SNAPSHOTS / name).glob("*.snapshot"))) == 1
    reads.forbid()
    second = build(settings, collection=name, encoder=fake_encoder)
    try:
        assert_same(second.engine.catalog, first.engine.catalog)
    finally:
        second.close()


def test_the_file_holds_items_columns_and_matrix_exactly(tmp_path: Path) -> None:
    """Metadata of several key sets (in any key order, as a store gives them back), Unicode and empty metadata
    come back equal, with the per-row columns a start would otherwise derive from the items."""
    from recochat.retrieval.store import catalog_columns

    items = [
        CatalogItem("a", "Amélie", "Amélie (2001). romance", {"year": 2001, "genres": ["romance"], "popularity": 3}),
        CatalogItem("b", "Heat", "Heat (1995).", {"genres": ["crime", "drama"], "year": 1995, "popularity": 9.5}),
        CatalogItem("c", "No meta\nat all", "", {}),
        CatalogItem("d", "Old", "Old.", {"year": 1930, "nbmentions": 4, "stars": ["Ada Lovelace", "Alan Turing"]}),
    ]
    catalog = StoredCatalog("films", items, np.arange(8, dtype=np.float32).reshape(4, 2), "film", "3@1.5")
    cache = SnapshotCache(tmp_path)
    path = cache.write(catalog)
    assert path is not None and path.suffix == ".snapshot"
    back = cache.read("films", catalog_head(catalog))
    assert back is not None
    assert_same(back, catalog)
    assert back.row_of == catalog.row_of and [i.meta for i in back.items] == [i.meta for i in items]
    stored, derived = back.column_arrays(), catalog_columns(items)
    assert stored.genres == derived.genres == ["crime", "drama", "romance"]
    assert stored.fields == derived.fields == ["genres", "nbmentions", "popularity", "stars", "year"]
    for name in ("years", "popularity", "prior_popularity", "genre_matrix"):
        assert np.array_equal(getattr(stored, name), getattr(derived, name)), name
    assert stored.prior_popularity.tolist() == [3, 9.5, 0, 4] and stored.years.tolist() == [2001, 1995, 0, 1930]


def test_large_blocks_are_mapped_writable_and_a_write_never_reaches_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every non-empty block takes the large-block path (a copy-on-write map of the file, `_mapped`): the arrays
    equal the catalog's and are writable; a write changes this catalog only, and a newer snapshot can replace
    the file while the map is in use."""
    import recochat.retrieval.snapshot as snapshot_module

    monkeypatch.setattr(snapshot_module, "_MAP_FROM", 1)
    items = tiny_items()
    matrix = np.random.default_rng(3).standard_normal((len(items), 16)).astype(np.float32)
    catalog = StoredCatalog("films", items, matrix, "film", "4@2.5")
    cache = SnapshotCache(tmp_path)
    cache.write(catalog)
    back = cache.read("films", catalog_head(catalog))
    assert back is not None
    assert_same(back, catalog)
    assert back.embeddings.flags.writeable and back.embeddings.shape == matrix.shape
    back.embeddings[0] = 0
    again = cache.read("films", catalog_head(catalog))
    assert again is not None and np.array_equal(again.embeddings, matrix) and not back.embeddings[0].any()
    newer = StoredCatalog("films", items, matrix * 2, "film", "5@3.5")
    cache.write(newer)  # replaces the mapped file and removes the old one
    assert np.array_equal(again.embeddings, matrix)
    latest = cache.read("films", catalog_head(newer))
    assert latest is not None and np.array_equal(latest.embeddings, matrix * 2)


def test_every_layout_reads_back_whatever_the_header_length(tmp_path: Path) -> None:
    """The header holds the blocks' offsets, and its length moves them: a header that grew past a 64-byte
    boundary on its second layout once shifted every block (catalogs of 31-34 of these items, and the 100k
    scale catalog), so each start read the store again and wrote the same unreadable snapshot. Items without
    genres: their empty genre block could not be written at all."""
    cache = SnapshotCache(tmp_path)
    for count, genres in itertools.product(range(1, 60), (["drama"], [])):
        meta = {"genres": genres} if genres else {}
        items = [CatalogItem(f"i{k}", f"T{k}", "x" * (count * 7 + k), {"year": 1990 + k, **meta}) for k in range(count)]
        catalog = StoredCatalog("c", items, np.ones((count, 8), np.float32), "film", f"{count}@{len(genres)}")
        cache.write(catalog)
        back = cache.read_version("c", f"{count}@{len(genres)}")
        assert back is not None, (count, genres)
        assert [i.text for i in back.items] == [i.text for i in items]


def test_a_start_counts_the_collection_once(
    settings: Settings, fake_encoder: HashingEncoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The HNSW check and the snapshot's head both need the item count; at 1M items each count is 1.7 s."""
    from chromadb.api.models.Collection import Collection

    counts = []
    real = Collection.count
    monkeypatch.setattr(Collection, "count", lambda self: counts.append(self.name) or real(self))
    start(settings, fake_encoder)
    assert counts == [NAME]


def test_a_format_1_snapshot_is_ignored_and_removed_by_the_next_write(tmp_path: Path) -> None:
    catalog = StoredCatalog("films", tiny_items(), np.ones((len(TINY_CATALOG), 4), dtype=np.float32), None, "1@2.0")
    old = tmp_path / "films" / "1_2.0.npz"
    old.parent.mkdir(parents=True)
    old.write_bytes(b"PK\x03\x04 a format 1 snapshot")
    cache = SnapshotCache(tmp_path)
    assert cache.read("films", catalog_head(catalog)) is None  # not found under the new name: the store is read
    assert cache.write(catalog) is not None and not old.exists()


def test_a_large_catalog_comes_from_the_store_in_year_order(
    settings: Settings, fake_encoder: HashingEncoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Above YEAR_ORDER_MIN items, rows are in year order (unknown first, then as stored), and a snapshot keeps
    that order; the matrix moves with its items."""
    from recochat.retrieval import store as store_module

    store = ChromaStore.persistent(settings.chroma_path)
    as_stored = store.load(NAME)
    monkeypatch.setattr(store_module, "YEAR_ORDER_MIN", 2)
    ordered = store.load(NAME)
    years = [item.year or 0 for item in ordered.items]
    assert years == sorted(years) and years != [item.year or 0 for item in as_stored.items]
    for item, vector in zip(ordered.items, ordered.embeddings, strict=True):
        assert np.array_equal(vector, as_stored.embeddings[as_stored.row_of[item.id]])
    cache = SnapshotCache(settings.home / SNAPSHOTS)
    cache.write(ordered)
    back = cache.read(NAME, store.head(NAME))
    assert back is not None and [i.id for i in back.items] == [i.id for i in ordered.items]


def test_the_ann_query_keeps_the_collection_and_fetches_it_again_once_it_is_gone(
    settings: Settings, fake_encoder: HashingEncoder
) -> None:
    store = ChromaStore.persistent(settings.chroma_path)
    vector = fake_encoder.encode_queries(["a comedy"])[0]
    assert len(store.query(NAME, vector, 3)) == 3
    other = ChromaStore.persistent(settings.chroma_path)  # another client drops and ingests the collection again
    other.drop(NAME)
    ingest(other, fake_encoder, NAME, tiny_items(" IV")[:2], noun="film")
    assert sorted(store.query(NAME, vector, 5)) == sorted(item.id for item in tiny_items()[:2])


def catalog_head(catalog: StoredCatalog):  # type: ignore[no-untyped-def]
    from recochat.retrieval.store import CatalogHead

    assert catalog.version is not None
    return CatalogHead(version=catalog.version, count=len(catalog), noun=catalog.noun)
