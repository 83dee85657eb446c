"""Ingest against real Chroma. What ingest stores and skips is tested with the hashing encoder;
what the vectors mean (normalized, searchable, cached) with the real MiniLM encoder."""

import numpy as np
import pytest
from conftest import TINY_CATALOG, write_catalog

from recochat.bot.runtime import build
from recochat.bot.settings import Settings
from recochat.retrieval.catalog import CatalogItem, load_catalog
from recochat.retrieval.ingest import ingest, plural
from recochat.retrieval.store import ChromaStore


class CountingEncoder:
    def __init__(self, encoder):
        self.encoder = encoder
        self.name = encoder.name
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


def test_a_field_an_item_no_longer_has_is_gone_after_a_reingest(tmp_path, fake_encoder):
    """Chroma's upsert merges metadata: a price taken out of the file stayed, and a catalog's plots made
    descriptions that its new columns no longer had."""
    store = ChromaStore.persistent(tmp_path / "chroma")
    priced = CatalogItem(id="w1", title="Red", text="A red wine.", meta={"price": 20, "tags": ["steak"]})
    ingest(store, fake_encoder, "wines", [priced])
    ingest(store, fake_encoder, "wines", [CatalogItem(id="w1", title="Red", text="A red wine.", meta={"tags": []})])
    assert store.load("wines").items[0].meta.get("price") is None
    assert not store.load("wines").items[0].meta.get("tags")


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


def test_the_noun_is_inferred_from_the_name_then_the_columns_and_stored(tmp_path, fake_encoder):
    store = ChromaStore.persistent(tmp_path / "chroma")

    def noun_of(name, meta, source=""):
        items = [CatalogItem("a", "A", "text", meta)]
        report = ingest(store, fake_encoder, name, items, source=source)
        assert store.noun(name) == report.noun and store.load(name).noun == report.noun  # stored, read back
        return report.noun

    assert noun_of("my_books", {"year": 2001}) == "book"
    assert noun_of("catalog-1", {"author": "Le Guin"}) == "book"
    assert noun_of("catalog-2", {"ingredients": ["egg"]}) == "recipe"
    assert noun_of("catalog-3", {"director": "Mann"}) == "movie"
    assert noun_of("catalog-4", {"year": 2001}, source="recipes") == "recipe"  # the file name counts too
    assert noun_of("catalog-5", {"year": 2001}) == "item"
    assert noun_of("catalog-6", {"cuisine": "thai"}, source="restaurants") == "restaurant"  # was "recipe"
    assert noun_of("catalog-7", {"author": "Le Guin"}, source="items") == "book"  # a generic plural says nothing
    assert store.noun("no-such-collection") is None


def test_an_explicit_noun_wins_and_outlives_a_reingest(tmp_path, fake_encoder):
    store = ChromaStore.persistent(tmp_path / "chroma")
    items = load_catalog(write_catalog(tmp_path / "films.jsonl")).items
    assert ingest(store, fake_encoder, "films", items, noun=" Short  Film ").noun == "short film"
    assert ingest(store, fake_encoder, "films", items).noun == "short film"  # not re-inferred as "movie"
    assert store.load("films").noun == "short film" and store.most_recent() == "films"
    assert ingest(store, fake_encoder, "films", items, noun="movie").noun == "movie"
    with pytest.raises(ValueError, match="noun 'b00k!' is not valid"):
        ingest(store, fake_encoder, "films", items, noun="b00k!")
    assert " ".join(plural(n) for n in ("book", "dish", "story", "movie", "day")) == "books dishes stories movies days"


def test_replies_use_the_stored_noun(tmp_path, fake_encoder):
    """`build` reads the noun back: the writer says "book", the cold-start question too; an old store without one
    gets it inferred."""
    settings = Settings(home=tmp_path / "home", llm="template")
    store = ChromaStore.persistent(settings.chroma_path)
    items = load_catalog(write_catalog(tmp_path / "c.jsonl")).items
    ingest(store, fake_encoder, "shelf", items, noun="book")
    ingest(store, fake_encoder, "old-films", items)
    meta = dict(store._collection("old-films").metadata)
    del meta["recochat_noun"]  # as stored before nouns were
    store._collection("old-films").modify(metadata=meta)
    runtime = build(settings, collection="shelf", encoder=fake_encoder)
    try:
        assert runtime.engine.catalog.noun == "book"
        assert "what kind of book" in runtime.conversations.writer.smalltalk("hi")
    finally:
        runtime.close()
    old = build(settings, collection="old-films", encoder=fake_encoder)
    try:
        assert old.engine.catalog.noun == "movie"
    finally:
        old.close()


def test_a_collection_records_its_encoder_and_is_never_read_with_another(tmp_path, fake_encoder, caplog):
    """Ingest records the encoder; ingesting with another one (here of another width) encodes every item again and
    keeps the noun and the corrections; the app refuses a catalog another encoder made, in one line, except the demo
    catalog, which it encodes again itself; a watch does not swap in a catalog re-ingested with another encoder."""
    from recochat.benchmarks.hashing_encoder import HashingEncoder
    from recochat.bot.errors import SetupError
    from recochat.bot.runtime import DEMO_COLLECTION, CatalogWatch, resolve_collection
    from recochat.retrieval.catalog import ColumnMap

    store = ChromaStore.persistent(tmp_path / "chroma")
    items = load_catalog(write_catalog(tmp_path / "c.jsonl")).items
    ingest(store, fake_encoder, "films", items, noun="picture", columns=ColumnMap(text=("description",)))
    assert store.encoder("films") == fake_encoder.name
    other = HashingEncoder(dim=64)
    again = ingest(store, CountingEncoder(other), "films", items)
    assert again.reencoded_from == fake_encoder.name and again.encoded == len(items) == store.count("films")
    assert store.encoder("films") == other.name and store.load("films").embeddings.shape[1] == 64
    assert store.noun("films") == "picture" and store.columns("films").text == ("description",)
    assert "encoding every item with hashing-64" in caplog.text

    settings = Settings(home=tmp_path / "home", llm="template")
    with pytest.raises(
        SetupError, match="catalog 'films' was encoded with hashing-64, but this app encodes with hashing-"
    ):
        resolve_collection(settings, store, fake_encoder, "films")
    assert resolve_collection(settings, store, other, "films") == "films"
    resolve_collection(settings, store, other, DEMO_COLLECTION)
    assert resolve_collection(settings, store, fake_encoder, DEMO_COLLECTION) == DEMO_COLLECTION
    assert store.encoder(DEMO_COLLECTION) == fake_encoder.name  # the demo catalog was encoded again

    loaded = []
    watch = CatalogWatch(store, "films", store.version("films"), loaded.append, interval_s=0, encoder=other.name)
    ingest(store, fake_encoder, "films", items)  # another process re-ingests with another encoder
    assert not watch.check() and loaded == []
    assert "ingested again with the encoder hashing-256" in caplog.text
