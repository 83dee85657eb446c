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


def test_filtered_slices_are_kept_and_rank_as_a_gather_does(large, monkeypatch):
    """A turn whose filters empty the ANN candidates scores the kept slice of the catalog those filters allow
    (multiplied through, not gathered); it must rank exactly as gathering the rows does."""
    monkeypatch.setattr(recommender_module, "VIEW_MIN_ROWS", 0)
    interest = np.eye(16, dtype=np.float32)[0]
    request = RankRequest(interest=interest, aversion=large.embeddings[3], k=4, year_max=1970, exclude={"i591"})
    kept = Recommender(large, ann_query=nearest(large, []))
    first, again = kept.rank(request), kept.rank(request)
    assert len(kept._slices) == 1
    monkeypatch.setattr(recommender_module, "SLICE_BYTES", 0)
    uncached = Recommender(large, ann_query=nearest(large, []))
    plain = uncached.rank(request)
    assert not uncached._slices
    assert [r.item.id for r in first] == [r.item.id for r in again] == [r.item.id for r in plain]
    assert [r.score for r in first] == pytest.approx([r.score for r in plain], abs=1e-6)
    assert "i591" not in {r.item.id for r in first} and {r.item.year for r in first} == {1960}


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
