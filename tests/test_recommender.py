"""The ANN path of large catalogs: candidates come from the store, filters never empty a reply."""

import re

import numpy as np
import pytest

from recochat.retrieval import candidates as candidates_module
from recochat.retrieval import cold as cold_module
from recochat.retrieval.candidates import CatalogTexts, stem
from recochat.retrieval.catalog import CatalogItem
from recochat.retrieval.recommender import RankRequest, Recommender
from recochat.retrieval.store import StoredCatalog

OLD = range(590, 600)
"""The ten 1960 items point away from every query below, so no ANN fetch returns them."""


@pytest.fixture
def large(monkeypatch: pytest.MonkeyPatch) -> StoredCatalog:
    """600 items; the 'large catalog' threshold lowered so the ANN path runs."""
    monkeypatch.setattr(candidates_module, "EXACT_LIMIT", 100)
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
    top = ranker.rank(RankRequest(interest=large.embeddings[7], aversion=None, k=5, diversify=False)).items
    assert calls == [400]
    assert top[0].item.id == "i7"


def test_filters_that_empty_the_ann_candidates_fall_back_to_the_whole_catalog(large):
    calls: list[int] = []
    ranker = Recommender(large, ann_query=nearest(large, calls))
    interest = np.eye(16, dtype=np.float32)[0]
    assert not {f"i{n}" for n in OLD} & set(nearest(large, [])(interest, 400))

    top = ranker.rank(RankRequest(interest=interest, aversion=None, k=3, year_max=1970, diversify=False)).items

    assert len(top) == 3
    assert {r.item.year for r in top} == {1960}
    best = max((f"i{n}" for n in OLD), key=lambda i: float(large.embeddings[large.row_of[i]] @ interest))
    assert top[0].item.id == best


def test_the_second_pass_takes_the_nearest_allowed_items_and_reads_only_their_texts(large, monkeypatch):
    """Filters that empty the ANN candidates: the nearest allowed items are the candidates (exact within the filter),
    excluded words are checked on those texts only (not a regex over all of a 1M catalog), and the allowed rows are
    kept for the next turn with the same filters."""
    monkeypatch.setattr(candidates_module, "SECOND_PASS", 4)
    for n in (590, 591):
        large.items[n].meta["tags"] = ["violent"]
    ranker = Recommender(large, ann_query=nearest(large, []))
    ranker.warm()  # the joined texts, as the app builds them at start
    read: list[int] = []
    original = CatalogTexts.texts
    monkeypatch.setattr(CatalogTexts, "texts", lambda self, rows: read.extend(rows.tolist()) or original(self, rows))
    interest = np.eye(16, dtype=np.float32)[0]
    request = RankRequest(
        interest=interest,
        aversion=None,
        k=3,
        year_max=1970,
        diversify=False,
        exclude={"i592"},
        exclude_words=["violent"],
    )
    top = [r.item.id for r in ranker.rank(request).items]
    allowed = [f"i{n}" for n in OLD if n not in (590, 591, 592)]
    by_nearness = sorted(allowed, key=lambda i: -float(large.embeddings[large.row_of[i]] @ interest))
    assert top == by_nearness[:3]  # the violent two are skipped and the next nearest checked
    assert 0 < len(set(read)) <= 8 + 400  # two chunks of the second pass's rows and the ANN candidates, not the catalog
    ranker.rank(request)
    assert len(ranker.index.slices()) == 1


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
    through_ann = [(r.item.id, round(r.score, 5)) for r in ranker.rank(request).items]
    monkeypatch.setattr(candidates_module, "EXACT_LIMIT", 10_000)
    exact = [(r.item.id, round(r.score, 5)) for r in Recommender(large).rank(request).items]
    assert through_ann == exact
    assert "i7" not in dict(exact) and {"i3", "i500"} <= set(dict(exact))  # boosted by a person, co-occurrence


def test_a_versioned_learned_prior_is_built_once_and_rebuilt_when_the_counts_change(large):
    """The learned popularity a version names is mapped to catalog rows once; the scores equal the unversioned
    path, and a new version (feedback changed the counts) is read, not the kept prior."""
    from recochat.profiles.collaborative import CoOccurrence
    from recochat.profiles.crowd import Crowd

    live = CoOccurrence()
    live.observe_all("u", ["i41", "i3", "i41"])
    ranker = Recommender(large)

    def ranked(blended, versioned: bool) -> list[tuple[str, float]]:
        request = RankRequest(
            interest=large.embeddings[41] + large.embeddings[3],
            aversion=None,
            k=20,
            popularity_counts=blended.counts,
            popularity_version=blended.counts_version if versioned else None,
            diversify=False,
            explain=False,
        )
        return [(r.item.id, round(r.score, 5)) for r in ranker.rank(request).items]

    before = Crowd(base=0).blend(live, [])
    assert (
        ranked(before, versioned=True)
        == ranked(before, versioned=False)
        != ranked(Crowd(base=0).blend(CoOccurrence(), []), versioned=False)
    )  # the counts move the scores
    kept = ranker.scorer._learned
    assert ranked(before, versioned=True) and ranker.scorer._learned is kept  # same version: nothing rebuilt
    live.observe_all("v", ["i500"] * 1 + ["i41"])
    after = Crowd(base=0).blend(live, [])
    assert after.counts_version != before.counts_version
    assert ranked(after, versioned=True) == ranked(after, versioned=False)
    assert ranker.scorer._learned is not kept


def test_top_positions_are_best_first_with_ties_in_catalog_order():
    from recochat.retrieval.scoring import top_positions

    assert top_positions(np.array([0.1, 0.5, 0.5, 0.9, 0.0], dtype=np.float32), 3).tolist() == [3, 1, 2]
    assert top_positions(np.zeros(3, dtype=np.float32), 5).tolist() == [0, 1, 2]


def test_a_year_ordered_catalog_ranks_its_second_pass_as_the_same_catalog_in_any_order(monkeypatch):
    """In year order a year range is one block of the matrix, multiplied in place (or gathered from, when its
    filter leaves few rows); the candidates, and so the rankings, are those of the same catalog unordered."""
    from recochat.retrieval import store as store_module
    from recochat.retrieval.store import year_ordered

    monkeypatch.setattr(candidates_module, "EXACT_LIMIT", 100)
    monkeypatch.setattr(candidates_module, "SECOND_PASS", 6)
    monkeypatch.setattr(store_module, "YEAR_ORDER_MIN", 0)
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(800, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    genres = ["drama", "comedy", "musical", "war"]
    items = [
        CatalogItem(
            f"i{n}",
            f"Item {n}",
            f"Item {n}",
            {
                "year": [0, *range(1950, 2011)][int(rng.integers(0, 62))],
                "genres": [genres[int(g)] for g in rng.choice(4, size=int(rng.integers(1, 3)), replace=False)],
                "tags": ["violent"] if n % 7 == 0 else [],
            },
        )
        for n in range(800)
    ]
    plain = StoredCatalog("plain", items, vectors)
    ordered_items, ordered_vectors = year_ordered(items, vectors)
    ordered = StoredCatalog("ordered", ordered_items, ordered_vectors)
    assert [i.id for i in ordered.items] != [i.id for i in plain.items]

    def far(catalog: StoredCatalog):  # an ANN list with none of the filtered items: every request takes the second pass
        return lambda vector, count: [catalog.items[r].id for r in range(len(catalog)) if catalog.items[r].year == 0]

    interest = vectors[5]
    requests = [
        dict(year_min=1960, year_max=1969),
        dict(year_min=1960, year_max=1969, include_genres=["musical"]),  # few rows of the block: gathered
        dict(year_max=1975, exclude_genres=["war"]),  # unknown years pass a range with only an end
        dict(year_min=1990, preferred_genres=["comedy"], exclude={"i1", "i2"}, exclude_words=["violent"]),
        dict(year_min=2030),
    ]
    plain_ranker = Recommender(plain, ann_query=far(plain))
    ordered_ranker = Recommender(ordered, ann_query=far(ordered))
    assert ordered_ranker.index.year_ordered and not plain_ranker.index.year_ordered
    for fields in requests:
        request = RankRequest(interest=interest, aversion=None, k=4, diversify=False, explain=False, **fields)
        by_plain = [(r.item.id, round(r.score, 5), r.loosened) for r in plain_ranker.rank(request).items]
        by_order = [(r.item.id, round(r.score, 5), r.loosened) for r in ordered_ranker.rank(request).items]
        assert by_order == by_plain, fields
        assert set(plain.items[r].id for r in plain_ranker.index.second_pass(request)) == {
            ordered.items[r].id for r in ordered_ranker.index.second_pass(request)
        }
    assert any(kept.span is not None for kept in ordered_ranker.index.slices())


def test_excluded_words_read_each_text_once_and_rule_out_what_each_word_would(large, monkeypatch):
    texts = ["a violent heist", "violence everywhere", "cats", "two cats and a kill", "killers", "skills", ""]
    for n, text in enumerate(texts):
        large.items[n].meta["description"] = text
    index = Recommender(large).index
    rows = np.arange(len(texts))
    words = ["violent", "kill", "cat"]
    each = np.logical_or.reduce([index.saying_any([word], rows) for word in words])
    assert index.saying_any(words, rows).tolist() == each.tolist() == [True, True, True, True, False, False, False]
    assert index.saying_any(["violent"], rows[:0]).tolist() == []
    # over the whole catalog: the joined-text scan, and for a word it cannot bound ("-core") a pattern per text
    everything = np.arange(len(large))
    assert CatalogTexts.scans("kill") and not CatalogTexts.scans("-core")
    for word in ["kill", "-core"]:
        whole = index.saying(word)
        assert whole.tolist() == index.saying_any([word], everything).tolist(), word
    assert index.saying("kill")[: len(texts)].tolist() == [0, 0, 0, 1, 0, 0, 0]
    # `says`: the kept masks for all rows, or for some rows of a catalog scored whole; the rows' texts otherwise
    assert index.says(words, everything)[: len(texts)].tolist() == each.tolist()
    assert index.says(words, rows[2:5]).tolist() == each[2:5].tolist()  # 600 items: above the lowered EXACT_LIMIT
    monkeypatch.setattr(candidates_module, "EXACT_LIMIT", 1000)
    said = len(index.said_words())
    assert index.says(["cats", "heist"], rows[2:5]).tolist() == [True, True, False]
    assert len(index.said_words()) == said + 2  # from whole-catalog masks, kept


def test_the_joined_text_scan_finds_what_the_pattern_finds_in_each_text():
    """`CatalogTexts.saying` searches one joined, lower-cased text for the literal stem: the rows it finds are the
    ones `\\b{stem}\\b` (ignoring case) finds text by text, at the edges too (a word first in a text, inside a
    longer word, after an underscore or a digit, next to the newline that joins two texts)."""
    texts = ["Violence first", "a violent heist", "skills", "x_kill", "2kill", "kill", "KILLS!", "killer", "cats",
             "bobcat", "", "Straße", "éviolent", "naïve kill"]  # fmt: skip
    items = [CatalogItem(id=str(n), title=str(n), text="", meta={"description": text}) for n, text in enumerate(texts)]
    scan = CatalogTexts(items)
    for word in ["violent", "kill", "cat", "straße", "naïve", "heist", "first"]:
        pattern = re.compile(rf"\b{stem(word)}\b", re.I)
        expected = [bool(pattern.search(text)) for text in texts]
        assert scan.saying(word).tolist() == expected, word
    assert scan.saying("kill").sum() == 3  # "kill", "KILLS!", "naïve kill"; not skills, x_kill, 2kill or killer


def test_the_chunked_gather_gives_the_products_of_one_gather(large, monkeypatch):
    """`CandidateIndex.nearness` gathers a few rows at a time into a kept buffer: the numbers of `embeddings[rows] @ q` (to the last
    bits: BLAS may sum a short chunk in another order, as the year block's in-place product does), whatever the chunk
    (a part chunk at the end, rows from anywhere), in each thread."""
    import threading

    monkeypatch.setattr(candidates_module, "GATHER_CHUNK", 7)
    index = Recommender(large).index
    rng = np.random.default_rng(4)
    for count in (1, 7, 8, 50, 599):
        rows = np.sort(rng.choice(600, count, replace=False))
        query = large.embeddings[int(rng.integers(600))]
        np.testing.assert_allclose(index.nearness(rows, query), large.embeddings[rows] @ query, rtol=0, atol=1e-6)
    seen: list[bool] = []
    rows = np.arange(0, 600, 3)
    thread = threading.Thread(
        target=lambda: seen.append(
            np.allclose(
                index.nearness(rows, large.embeddings[1]), large.embeddings[rows] @ large.embeddings[1], 0, 1e-6
            )
        )
    )
    thread.start()
    thread.join()
    assert seen == [True]


def test_a_soft_genre_second_pass_is_the_same_whichever_way_it_multiplies(large, monkeypatch):
    """The soft-genre pass over all years (no year block): gathered in chunks or multiplied over the whole matrix,
    the same rows."""
    for n, item in enumerate(large.items):
        item.meta["genres"] = ["musical"] if n % 9 == 0 else ["drama"]
    request = RankRequest(interest=large.embeddings[3], aversion=None, k=5, preferred_genres=["musical"])
    found = []
    for cost in (1, 10_000):  # gather 67 of 600 rows, or multiply all 600 (67 · cost > 600)
        monkeypatch.setattr(candidates_module, "GATHER_COST", cost)
        monkeypatch.setattr(candidates_module, "SECOND_PASS", 10)
        found.append(Recommender(large).index.second_pass(request, soft=True).tolist())
    assert found[0] == found[1] and len(found[0]) == 10


def test_a_cold_start_pool_picks_what_scoring_every_row_picks(monkeypatch):
    """A large catalog's cold start scores its most popular rows per soft-genre level, not every row: the same
    picks, scores and order as scoring them all, with ties in popularity, aversion, filters and the extras only
    some rows get (co-occurrence, learned counts, people)."""
    monkeypatch.setattr(candidates_module, "EXACT_LIMIT", 100)
    monkeypatch.setattr(cold_module, "COLD_HEAD", 16)
    rng = np.random.default_rng(11)
    vectors = rng.normal(size=(3000, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    genres = ["drama", "comedy", "war", "musical"]
    items = [
        CatalogItem(
            f"i{n}",
            f"Item {n}",
            f"Item {n}",
            {
                "year": int(rng.integers(1950, 2020)),
                "genres": list(rng.choice(genres, int(rng.integers(1, 3)), replace=False, p=[0.5, 0.35, 0.1, 0.05])),
                "popularity": int(rng.integers(0, 12)),  # many ties
                **({"director": "Ann Lee"} if n % 97 == 0 else {}),
            },
        )
        for n in range(3000)
    ]
    catalog = StoredCatalog("synthetic", items, vectors)
    pooled = Recommender(catalog)
    every = Recommender(catalog)
    monkeypatch.setattr(every.cold_start, "pool", lambda rows, request: rows)
    sizes: list[int] = []
    original = pooled.cold_start.pool

    def counted(rows, request):
        kept = original(rows, request)
        sizes.append(len(kept))
        return kept

    monkeypatch.setattr(pooled.cold_start, "pool", counted)
    requests = [
        RankRequest(interest=None, aversion=None),
        RankRequest(interest=None, aversion=None, preferred_genres=["war"]),
        RankRequest(interest=None, aversion=None, preferred_genres=["war", "musical"]),
        RankRequest(interest=None, aversion=None, preferred_genres=["comedy"], year_min=1990),
        RankRequest(interest=None, aversion=vectors[5], preferred_genres=["drama"]),
        RankRequest(interest=None, aversion=vectors[9], exclude={"i1", "i2"}, exclude_genres=["drama"]),
        RankRequest(interest=None, aversion=None, collaborative={"i40": 3.0, "i41": 1.0}, popularity_counts={"i7": 9}),
        RankRequest(interest=None, aversion=None, liked_people=["Ann Lee"], preferred_genres=["musical"]),
        RankRequest(interest=None, aversion=None, disliked_people=["Ann Lee"], k=8),
        RankRequest(interest=None, aversion=None, include_genres=["musical"], year_max=1960),
        RankRequest(interest=None, aversion=None, diversify=False, k=10),
    ]
    for request in requests:
        a, b = pooled.rank(request).items, every.rank(request).items
        assert [(r.item.id, r.score, r.loosened) for r in a] == [(r.item.id, r.score, r.loosened) for r in b], request
    assert sum(size < 1000 for size in sizes) >= len(requests) - 2  # the pool is small, not the catalog


def test_a_ranking_carries_its_items_timings_and_typed_loosenings(large):
    """`rank` answers one frozen `Ranking`; what a filled reply gave up is a `Loosening` (equal to its old text);
    a request is never patched, only replaced."""
    import dataclasses

    from recochat.retrieval.recommender import LOOSENING, Loosening, Ranking

    request = RankRequest(interest=large.embeddings[3], aversion=None, k=12, year_max=1970, diversify=False)
    ranking = Recommender(large).rank(request)
    assert isinstance(ranking, Ranking) and set(ranking.timings_ms) == {"retrieve", "score"}
    assert [r.loosened for r in ranking.items] == [()] * 10 + [(Loosening.YEARS,)] * 2
    assert ranking.items[-1].loosened == ("years",) and isinstance(ranking.items[-1].loosened[0], Loosening)
    assert LOOSENING[0] == (Loosening.YEARS,) and Loosening.SOFT_GENRES == "soft genres"
    with pytest.raises(dataclasses.FrozenInstanceError):
        ranking.items = []  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        request.k = 3  # type: ignore[misc]


def test_weights_and_ranker_set_later_rank_as_given_at_construction(large):
    """Benchmarks tune a built recommender (`recommender.weights = …`, `.ranker = …`): every part scores with them."""
    from recochat.retrieval.ranker import FEATURES, RankerModel
    from recochat.retrieval.scoring import ScoringWeights

    weights = ScoringWeights(popularity=-0.5, mmr_lambda=0.3)
    model = RankerModel(np.linspace(-1, 1, len(FEATURES)).astype(np.float32))
    requests = [
        RankRequest(interest=large.embeddings[5], aversion=None, k=6),
        RankRequest(interest=None, aversion=None),
    ]
    tuned = Recommender(large)
    tuned.weights, tuned.ranker = weights, model
    built = Recommender(large, weights, ranker=model)
    for request in requests:
        assert [(r.item.id, r.score) for r in tuned.rank(request).items] == [
            (r.item.id, r.score) for r in built.rank(request).items
        ]


def test_a_store_that_searches_deeper_than_a_turn_fetches_is_asked_for_more_before_any_exact_pass(large, monkeypatch):
    """At 1M items the index visits 2,500 items (its ef_search) for a turn's 400: asking it for those 2,500 cost
    9-29 ms more, where the exact pass over a user's allowed rows cost 55-175 ms. The exact pass stays the answer
    when those hold too few."""
    import recochat.retrieval.store as store_module

    monkeypatch.setattr(store_module, "EF_SEARCH_BY_SIZE", ((100, 100), (500, 600)))  # 600 items: ef_search 600
    monkeypatch.setattr(candidates_module, "EXACT_PASS_ROWS", 0)
    interest = np.eye(16, dtype=np.float32)[0]
    request = RankRequest(interest=interest, aversion=None, k=3, year_max=1970, diversify=False)
    by_nearness = sorted((f"i{n}" for n in OLD), key=lambda i: -float(large.embeddings[large.row_of[i]] @ interest))

    calls: list[int] = []
    ranker = Recommender(large, ann_query=nearest(large, calls))
    monkeypatch.setattr(ranker.index, "second_pass", lambda *args: pytest.fail("exact pass"))
    assert [r.item.id for r in ranker.rank(request).items] == by_nearness[:3]
    assert calls == [400, 600]

    shallow, asked = nearest(large, []), []
    ranker = Recommender(  # the 500 nearest at most: not OLD, the farthest
        large, ann_query=lambda vector, count: asked.append(count) or shallow(vector, min(count, 500))
    )
    exact_calls: list[bool] = []
    exact = ranker.index.second_pass
    monkeypatch.setattr(ranker.index, "second_pass", lambda *args: exact_calls.append(True) or exact(*args))
    assert [r.item.id for r in ranker.rank(request).items] == by_nearness[:3]
    assert asked == [400, 600] and exact_calls == [True]


def test_a_soft_genre_leans_more_to_what_an_item_is_than_to_a_flavour_and_its_why_names_it_first():
    """'A funny movie' gave Toy Story and Parasite (comedy third) beside Superbad: an item whose first genre is the
    one asked for leads an equally close item that has it only as a flavour; a why names the asked genre first."""
    vector = np.zeros((2, 4), dtype=np.float32)
    vector[:, 0] = 1.0
    items = [
        CatalogItem(
            "parasite", "Parasite", "A class satire.", {"year": 2019, "genres": ["drama", "thriller", "comedy"]}
        ),
        CatalogItem("superbad", "Superbad", "A teen comedy.", {"year": 2007, "genres": ["comedy"]}),
    ]
    catalog = StoredCatalog("two", items, vector)
    request = RankRequest(interest=vector[0], aversion=None, k=2, preferred_genres=["comedy"], diversify=False)
    top = Recommender(catalog).rank(request).items
    assert [r.item.id for r in top] == ["superbad", "parasite"]
    assert "comedy/drama" in top[1].why
