"""Ingest against real Chroma. What ingest stores and skips is tested with the hashing encoder;
what the vectors mean (normalized, searchable, cached) with the real MiniLM encoder."""

import numpy as np

from recochat.retrieval.catalog import load_catalog
from recochat.retrieval.ingest import ingest
from recochat.retrieval.store import ChromaStore

from conftest import TINY_CATALOG, write_catalog


class CountingEncoder:
    def __init__(self, encoder):
        self.encoder = encoder
        self.encoded: list[str] = []

    def encode_texts(self, texts):
        self.encoded.extend(texts)
        return self.encoder.encode_texts(texts)


def test_reingest_encodes_only_changed_items(tmp_path, fake_encoder):
    store = ChromaStore.persistent(tmp_path / "chroma")
    counting = CountingEncoder(fake_encoder)
    path = write_catalog(tmp_path / "c.jsonl")
    first = ingest(store, counting, "films", load_catalog(path).items)
    assert first.encoded == len(TINY_CATALOG) and store.count("films") == len(TINY_CATALOG)

    counting.encoded.clear()
    again = ingest(store, counting, "films", load_catalog(path).items)
    assert again.encoded == 0 and counting.encoded == []

    changed = list(TINY_CATALOG)
    changed[0] = ("m1", "Laugh Factory", 2004, ["comedy"], "A rewritten description about a baking contest.")
    write_catalog(path, changed)
    third = ingest(store, counting, "films", load_catalog(path).items)
    assert third.encoded == 1 and len(counting.encoded) == 1 and "rewritten" in counting.encoded[0]
    stored = store.load("films")
    assert "rewritten" in stored.items[stored.row_of["m1"]].text


def test_failure_half_way_keeps_what_was_stored(tmp_path, fake_encoder):
    store = ChromaStore.persistent(tmp_path / "chroma")
    path = write_catalog(tmp_path / "c.jsonl")
    ingest(store, fake_encoder, "films", load_catalog(path).items)

    class Exploding(CountingEncoder):
        def encode_texts(self, texts):
            if self.encoded:
                raise RuntimeError("disk full")
            return super().encode_texts(texts)

    changed = [(i, t + " II", y, g, d + " Sequel.") for i, t, y, g, d in TINY_CATALOG]
    write_catalog(path, changed)
    try:
        ingest(store, Exploding(fake_encoder), "films", load_catalog(path).items, chunk_size=5)
    except RuntimeError:
        pass
    stored = store.load("films")
    assert len(stored) == len(TINY_CATALOG)
    titles = [i.title for i in stored.items]
    assert sum(t.endswith(" II") for t in titles) == 5  # first chunk landed, the rest kept old versions


def test_embeddings_are_normalized_and_searchable(tmp_path, encoder):
    store = ChromaStore.persistent(tmp_path / "chroma")
    ingest(store, encoder, "films", load_catalog(write_catalog(tmp_path / "c.jsonl")).items)
    stored = store.load("films")
    assert np.allclose(np.linalg.norm(stored.embeddings, axis=1), 1.0, atol=1e-4)
    query = encoder.encode_query("ghosts in a haunted house")
    assert store.query("films", query, 1) == ["m5"]


def test_prune_removes_vanished_items_only_when_asked(tmp_path, fake_encoder):
    store = ChromaStore.persistent(tmp_path / "chroma")
    path = write_catalog(tmp_path / "c.jsonl")
    ingest(store, fake_encoder, "films", load_catalog(path).items)
    write_catalog(path, TINY_CATALOG[:10])
    ingest(store, fake_encoder, "films", load_catalog(path).items)
    assert store.count("films") == len(TINY_CATALOG)
    report = ingest(store, fake_encoder, "films", load_catalog(path).items, prune=True)
    assert report.removed == len(TINY_CATALOG) - 10 and store.count("films") == 10


def test_encode_queries_serves_hits_from_cache_and_batches_misses(encoder, monkeypatch):
    calls = []
    original = encoder.encode_texts

    def counting(texts, show_progress=False):
        calls.append(list(texts))
        return original(texts)

    monkeypatch.setattr(encoder, "encode_texts", counting)
    first = encoder.encode_query("a cosy heist caper for tonight")
    vectors = encoder.encode_queries(["a cosy heist caper for tonight", "no gore at all", "space opera"])
    assert calls == [["a cosy heist caper for tonight"], ["no gore at all", "space opera"]]
    assert vectors[0] is first
    assert np.allclose(vectors[2], original(["space opera"])[0], atol=1e-5)
