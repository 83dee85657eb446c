"""The ANN path of large catalogs: candidates come from the store, filters never empty a reply."""

import numpy as np
import pytest

from recochat.retrieval import recommender as recommender_module
from recochat.retrieval.catalog import CatalogItem
from recochat.retrieval.recommender import RankRequest, Recommender
from recochat.retrieval.store import StoredCatalog

OLD = range(590, 600)
"""The ten 1960 items point away from every query below, so no ANN fetch returns them."""


@pytest.fixture
def large(monkeypatch: pytest.MonkeyPatch) -> StoredCatalog:
    """600 items; the 'large catalog' threshold lowered so the ANN path runs."""
    monkeypatch.setattr(recommender_module, "EXACT_LIMIT", 100)
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(600, 16)).astype(np.float32)
    vectors[:, 0] = np.abs(vectors[:, 0])
    vectors[list(OLD), 0] = -8.0
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    items = [CatalogItem(f"i{n}", f"Item {n}", f"Item {n}", {"year": 1960 if n in OLD else 2000}) for n in range(600)]
    return StoredCatalog("synthetic", items, vectors)


def nearest(catalog: StoredCatalog, calls: list[int]):
    def query(vector: np.ndarray, count: int) -> list[str]:
        calls.append(count)
        order = np.argsort(-(catalog.embeddings @ vector))[:count]
        return [catalog.items[i].id for i in order]

    return query


def test_large_catalogs_take_candidates_from_the_ann_query(large):
    calls: list[int] = []
    ranker = Recommender(large, ann_query=nearest(large, calls))
    top = ranker.rank(RankRequest(interest=large.embeddings[7], aversion=None, k=5, diversify=False))
    assert calls == [400]
    assert top[0].item.id == "i7"


def test_filters_that_empty_the_ann_candidates_fall_back_to_the_whole_catalog(large):
    calls: list[int] = []
    ranker = Recommender(large, ann_query=nearest(large, calls))
    interest = np.eye(16, dtype=np.float32)[0]
    assert not {f"i{n}" for n in OLD} & set(nearest(large, [])(interest, 400))

    top = ranker.rank(RankRequest(interest=interest, aversion=None, k=3, year_max=1970, diversify=False))

    assert len(top) == 3
    assert {r.item.year for r in top} == {1960}
    best = max((f"i{n}" for n in OLD), key=lambda i: float(large.embeddings[large.row_of[i]] @ interest))
    assert top[0].item.id == best


def test_the_second_pass_takes_the_nearest_allowed_items_and_reads_only_their_texts(large, monkeypatch):
    """Filters that empty the ANN candidates: the nearest allowed items are the candidates (exact within the filter),
    excluded words are checked on those texts only (not a regex over all of a 1M catalog), and the allowed rows are
    kept for the next turn with the same filters."""
    monkeypatch.setattr(recommender_module, "SECOND_PASS", 4)
    for n in (590, 591):
        large.items[n].meta["tags"] = ["violent"]
    read: list[str] = []
    original = recommender_module._text_of
    monkeypatch.setattr(recommender_module, "_text_of", lambda item: read.append(item.id) or original(item))
    ranker = Recommender(large, ann_query=nearest(large, []))
    interest = np.eye(16, dtype=np.float32)[0]
    request = RankRequest(interest=interest, aversion=None, k=3, year_max=1970, diversify=False, exclude={"i592"})
    request.exclude_words = ["violent"]
    top = [r.item.id for r in ranker.rank(request)]
    allowed = [f"i{n}" for n in OLD if n not in (590, 591, 592)]
    by_nearness = sorted(allowed, key=lambda i: -float(large.embeddings[large.row_of[i]] @ interest))
    assert top == by_nearness[:3]  # the violent two are skipped and the next nearest checked
    assert len(set(read)) <= 8 + 400  # two chunks of the second pass's rows and the ANN candidates, not the catalog
    ranker.rank(request)
    assert len(ranker._slices) == 1


def test_ann_candidates_score_like_the_whole_catalog_with_every_signal(large, monkeypatch):
    """Exclusions, learned counts, co-occurrence and people are looked up on the candidate rows
    only; when the ANN returns everything the ranking must equal the exact one."""
    for n in (3, 40, 41):
        large.items[n].meta["stars"] = ["Ada Lovelace"]
    everything_reversed = [i.id for i in large.items][::-1]  # unsorted on purpose
    ranker = Recommender(large, ann_query=lambda vector, count: everything_reversed)
    request = RankRequest(
        interest=large.embeddings[7],
        aversion=large.embeddings[11],
        k=8,
        exclude={"i7", "i12", "missing"},
        collaborative={"i40": 1.0, "i500": 0.5, "missing": 2.0},
        popularity_counts={"i41": 9, "i3": 2, "missing": 50},
        liked_people=["Ada Lovelace"],
        diversify=False,
        explain=False,
    )
    through_ann = [(r.item.id, round(r.score, 5)) for r in ranker.rank(request)]
    monkeypatch.setattr(recommender_module, "EXACT_LIMIT", 10_000)
    exact = [(r.item.id, round(r.score, 5)) for r in Recommender(large).rank(request)]
    assert through_ann == exact
    assert "i7" not in dict(exact) and {"i3", "i500"} <= set(dict(exact))  # boosted by a person, co-occurrence


def test_top_positions_are_best_first_with_ties_in_catalog_order():
    from recochat.retrieval.scoring import top_positions

    assert top_positions(np.array([0.1, 0.5, 0.5, 0.9, 0.0], dtype=np.float32), 3).tolist() == [3, 1, 2]
    assert top_positions(np.zeros(3, dtype=np.float32), 5).tolist() == [0, 1, 2]
