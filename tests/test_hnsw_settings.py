"""The HNSW settings chosen from the measured curve (`store.HNSW`, benchmarks/results/scale_hnsw.md) reach new
collections, and a collection made before them gets their ef_search when the store opens it."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from recochat.retrieval.catalog import CatalogItem
from recochat.retrieval.store import HNSW, ChromaStore

chromadb = pytest.importorskip("chromadb")


def _items(count: int) -> tuple[list[CatalogItem], np.ndarray]:
    vectors = np.random.default_rng(0).standard_normal((count, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return [CatalogItem(id=f"i{n}", title=f"Item {n}", text=f"item {n}", meta={}) for n in range(count)], vectors


def _hnsw(store: ChromaStore, name: str) -> dict:
    return dict(store.client.get_collection(name, embedding_function=None).configuration["hnsw"])


def test_a_new_collection_carries_the_chosen_hnsw_settings(tmp_path):
    store = ChromaStore.persistent(tmp_path / "chroma")
    items, vectors = _items(5)
    store.upsert("new-one", items, vectors)
    assert {key: _hnsw(store, "new-one")[key] for key in HNSW} == HNSW
    assert store.query("new-one", vectors[0], 1) == ["i0"]


def test_an_older_collection_gets_the_chosen_ef_search_when_opened(tmp_path, caplog):
    items, vectors = _items(5)
    older = ChromaStore.persistent(tmp_path / "chroma")
    made = {"space": "cosine", "ef_search": HNSW["ef_search"] // 2}  # as an older release or another client made it
    older.client.create_collection("older", embedding_function=None, configuration={"hnsw": made}).add(
        ids=[i.id for i in items], embeddings=vectors
    )
    assert _hnsw(older, "older")["ef_search"] != HNSW["ef_search"]

    store = ChromaStore(older.client)  # a later start: a store that has not opened it yet
    with caplog.at_level(logging.INFO, logger="recochat.store"):
        assert store.count("older") == 5
    hnsw = _hnsw(store, "older")
    assert hnsw["ef_search"] == HNSW["ef_search"]
    rebuild = [r.getMessage() for r in caplog.records if "recochat ingest" in r.getMessage()]
    assert rebuild == []  # five items are scored whole: however the index was built, it is never searched


def test_a_collection_built_with_fewer_neighbours_says_once_how_to_rebuild(tmp_path, caplog, monkeypatch):
    """Only a collection large enough to be searched through its index (over `EXACT_LIMIT` items): a smaller one
    is scored whole, so its build settings never matter, and the ReDial catalog (6.5k films) warned every start."""
    import recochat.retrieval.candidates as candidates_module
    import recochat.retrieval.store as store_module

    items, vectors = _items(5)
    store = ChromaStore.persistent(tmp_path / "chroma")
    store.upsert("built", items, vectors)
    monkeypatch.setitem(store_module.HNSW, "max_neighbors", HNSW["max_neighbors"] * 2)

    def said_on_opening() -> list[str]:
        caplog.clear()
        later = ChromaStore(store.client)
        with caplog.at_level(logging.INFO, logger="recochat.store"):
            later.count("built")
            later.query("built", vectors[0], 2)
        return [r.getMessage() for r in caplog.records if "recochat ingest" in r.getMessage()]

    assert said_on_opening() == []
    monkeypatch.setattr(candidates_module, "EXACT_LIMIT", 4)  # 5 items: searched through the index
    said = said_on_opening()
    assert len(said) == 1 and "built" in said[0] and "max_neighbors" in said[0]


def test_a_large_collection_is_searched_with_the_ef_search_its_size_calls_for(tmp_path, monkeypatch):
    """At 1M items ef_search 100 held 0.776 of the exact top 50 and 2,500 held 0.921 (`EF_SEARCH_BY_SIZE`): a
    collection gets the ef_search of its size when the store opens it, sizes between two points interpolated."""
    import recochat.retrieval.store as store_module

    assert store_module.ef_search_for(10) == HNSW["ef_search"]
    small, large = store_module.EF_SEARCH_BY_SIZE
    assert store_module.ef_search_for(large[0] * 3) == large[1]
    assert small[1] < store_module.ef_search_for((small[0] * large[0]) ** 0.5) < large[1]
    monkeypatch.setattr(store_module, "EF_SEARCH_BY_SIZE", ((2, 100), (4, 700)))  # a catalog of 5 is "large"
    items, vectors = _items(5)
    ChromaStore.persistent(tmp_path / "chroma").upsert("grown", items, vectors)
    store = ChromaStore(ChromaStore.persistent(tmp_path / "chroma").client)  # a later start opens it
    assert store.count("grown") == 5
    assert _hnsw(store, "grown")["ef_search"] == 700
    assert store.query("grown", vectors[3], 1) == ["i3"]
