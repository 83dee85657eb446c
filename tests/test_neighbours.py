""" "More like X" by the links a fan names: people, rare and central genres, tags; a common genre alone is no link.
Also the exposure measure and the debias setting that trades relevance for it."""

from __future__ import annotations

import numpy as np
import pytest

from recochat.benchmarks.metrics import exposure
from recochat.retrieval.catalog import CatalogItem
from recochat.retrieval.neighbours import NeighbourIndex, NeighbourWeights
from recochat.retrieval.people import PeopleIndex
from recochat.retrieval.recommender import RankRequest, Recommender
from recochat.retrieval.scoring import ScoringWeights
from recochat.retrieval.store import StoredCatalog, catalog_columns


def film(item_id: str, genres: list[str], **meta: object) -> CatalogItem:
    return CatalogItem(item_id, item_id.replace("-", " ").title(), "x", {"genres": genres, **meta})


ANCHOR = film("pulp", ["crime", "thriller"], director="Quentin Tarantino", stars=["Uma Thurman"], tags=["hitmen"])
FILMS = [
    ANCHOR,
    film("dogs", ["crime", "thriller"], director="Quentin Tarantino", tags=["heist"]),
    film("jackie", ["romance"], director="Quentin Tarantino"),  # same director, another kind of film
    film("bruges", ["comedy", "crime"], tags=["hitmen"], stars=["Colin Farrell"]),
    film("kill-bill", ["action"], stars=["Uma Thurman"]),
    film("hitch", ["comedy"]),  # shares nothing
    *(film(f"comedy-{n}", ["comedy"]) for n in range(8)),  # comedy is common here
    *(film(f"thriller-{n}", ["thriller", "comedy"]) for n in range(3)),
]


@pytest.fixture(scope="module")
def index() -> NeighbourIndex:
    columns = catalog_columns(FILMS)
    row_of = {item.id: row for row, item in enumerate(FILMS)}
    return NeighbourIndex(
        FILMS, columns.genre_matrix, {g: c for c, g in enumerate(columns.genres)}, PeopleIndex(FILMS), row_of
    )


def closeness(index: NeighbourIndex) -> dict[str, float]:
    rows = np.arange(len(FILMS))
    values = index.closeness(0, rows, np.zeros(len(FILMS), dtype=np.float32))  # no help from the vectors
    return {item.id: float(v) for item, v in zip(FILMS, values, strict=True)}


def test_the_same_director_and_kind_of_film_leads_and_a_common_genre_alone_is_near_nothing(index) -> None:
    near = closeness(index)
    assert near["dogs"] > near["bruges"] > near["jackie"] > near["hitch"]
    assert near["jackie"] > near["kill-bill"]  # a director counts (a third, for a romance) above one shared actor
    assert near["hitch"] == pytest.approx(
        -index.weights.foreign_kind
    )  # nothing shared, and a comedy: a kind pulp is not
    # "both comedy" over a catalog that is half comedy: a fraction of a rare shared genre
    comedy_only = index.closeness(3, np.array([5]), np.zeros(1, dtype=np.float32))[0]
    assert 0 < comedy_only < 0.15


def test_a_row_of_a_kind_the_anchor_is_not_is_pushed_back() -> None:
    """A crime comedy's neighbours: a romance that shares "comedy" and a place tag with it loses
    `foreign_kind`; a crime film, a comedy and an item without genres do not (The Nice Guys once gave Pretty
    Woman, "both los angeles"; `bench taste` measures the effect on whole lists)."""
    films = [
        film("nice-guys", ["comedy", "crime", "action"], tags=["los angeles", "private eye"]),
        film("pretty-woman", ["romance", "comedy"], tags=["los angeles"]),
        film("lebowski", ["crime", "comedy"]),
        film("mean-girls", ["comedy"]),
        film("no-genres", []),
        *(film(f"filler-{n}", [genre]) for n, genre in enumerate(["romance", "comedy", "crime", "drama"] * 3)),
    ]
    columns = catalog_columns(films)

    def closeness(weights: NeighbourWeights) -> np.ndarray:
        index = NeighbourIndex(
            films, columns.genre_matrix, {g: c for c, g in enumerate(columns.genres)}, PeopleIndex(films),
            {item.id: row for row, item in enumerate(films)}, weights=weights,
        )  # fmt: skip
        return index.closeness(0, np.arange(5), np.zeros(5, dtype=np.float32))

    lost = closeness(NeighbourWeights(foreign_kind=0.0)) - closeness(NeighbourWeights())
    assert lost.tolist() == pytest.approx([0.0, NeighbourWeights().foreign_kind, 0.0, 0.0, 0.0])


def test_the_why_names_the_strongest_real_link(index) -> None:
    by_id = {item.id: item for item in FILMS}
    assert index.link(by_id["dogs"], ANCHOR) == "also directed by Quentin Tarantino"
    assert index.link(by_id["kill-bill"], ANCHOR) == "also with Uma Thurman"
    assert index.link(by_id["bruges"], ANCHOR) == "both hitmen"
    assert index.link(by_id["hitch"], ANCHOR) is None
    assert index.link(by_id["thriller-0"], ANCHOR) is None  # thriller is common here: no "both thriller"


def test_a_tag_meets_its_plural() -> None:
    """Parasite's 'con artists' and Catch Me If You Can's 'con artist' shared no tag."""
    films = [film("parasite", ["drama"], tags=["Con Artists"]), film("catch", ["crime"], tags=["con artist"])]
    films += [film(f"other-{n}", ["comedy"], tags=["other"]) for n in range(4)]
    columns = catalog_columns(films)
    row_of = {item.id: row for row, item in enumerate(films)}
    index = NeighbourIndex(
        films, columns.genre_matrix, {g: c for c, g in enumerate(columns.genres)}, PeopleIndex(films), row_of
    )
    assert index.link(films[1], films[0]) == "both Con Artists"  # as the anchor writes it
    tagged = index.closeness(0, np.arange(len(films)), np.zeros(len(films), dtype=np.float32))
    untagged = NeighbourIndex(
        films,
        columns.genre_matrix,
        {g: c for c, g in enumerate(columns.genres)},
        PeopleIndex(films),
        row_of,
        NeighbourWeights(tags=0.0),
    ).closeness(0, np.arange(len(films)), np.zeros(len(films), dtype=np.float32))
    assert tagged[1] > untagged[1] and tagged[2] == untagged[2]


def test_an_anchors_closeness_to_every_row_is_kept_and_reads_as_closeness(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from recochat.retrieval import candidates, neighbours

    columns = catalog_columns(FILMS)
    index = NeighbourIndex(
        FILMS, columns.genre_matrix, {g: c for c, g in enumerate(columns.genres)}, PeopleIndex(FILMS),
        {item.id: row for row, item in enumerate(FILMS)},
    )  # fmt: skip
    rng = np.random.default_rng(1)
    matrix = rng.normal(size=(len(FILMS), 8)).astype(np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    some = np.array([1, 4, 6])
    expected = index.closeness(0, some, matrix[some] @ matrix[0])
    assert index.anchor_closeness(0, some, matrix[some], matrix) == pytest.approx(expected)
    kept = index.anchor_closeness(0, np.arange(len(FILMS)), matrix, matrix)
    assert index.anchor_closeness(0, np.arange(len(FILMS)), matrix, matrix) is kept  # computed once
    assert not kept.flags.writeable
    monkeypatch.setattr(neighbours, "KEPT_ANCHORS", 2)
    for anchor in (1, 2, 3):
        index.anchor_closeness(anchor, some, matrix[some], matrix)
    assert [a for a, _ in index._kept] == [2, 3]  # the latest anchors only
    monkeypatch.setattr(candidates, "EXACT_LIMIT", 5)  # a large catalog: only the rows asked, nothing kept
    assert index.anchor_closeness(4, some, matrix[some], matrix) == pytest.approx(
        index.closeness(4, some, matrix[some] @ matrix[4])
    )
    assert [a for a, _ in index._kept] == [2, 3]


def test_the_kind_two_close_items_share_is_what_a_close_one_with_no_link_says() -> None:
    """ "close to Die Hard, which you liked" went on with The Terminator's own tags ("time travel and killer robot")."""

    def film(genres: list[str], year: int) -> CatalogItem:
        return CatalogItem(f"f{year}", "F", "F", {"genres": genres, "year": year})

    die_hard = film(["action", "thriller"], 1988)
    assert NeighbourIndex.shared_kind(film(["science fiction", "action"], 1984), die_hard) == "both 1980s action"
    assert NeighbourIndex.shared_kind(film(["action", "adventure"], 2015), die_hard) == "both action"
    assert NeighbourIndex.shared_kind(film(["thriller", "action"], 1989), die_hard) == "both 1980s action and thriller"
    assert NeighbourIndex.shared_kind(film(["thriller"], 1995), die_hard) == "both thriller"  # its own first genre
    assert NeighbourIndex.shared_kind(film(["comedy", "thriller"], 1988), die_hard) is None  # a flavour of both


def test_a_shared_maker_is_named_in_the_fields_own_verb() -> None:
    def show(title: str, **meta: object) -> CatalogItem:
        return CatalogItem(title, title, title, {"genres": ["true crime"], **meta})

    index = NeighbourIndex([], np.zeros((0, 0)), {}, PeopleIndex([]), {})
    ledger, midnight = show("The Crime Ledger", host="Tom Blake"), show("Murder at Midnight", host="Tom Blake")
    assert index.link(midnight, ledger) == "also hosted by Tom Blake"  # was "also directed by"
    pandemic, forbidden = show("Pandemic", designer="Matt Leacock"), show("Forbidden Island", designer="Matt Leacock")
    assert index.link(forbidden, pandemic) == "also designed by Matt Leacock"
    hobbit, silmarillion = show("The Hobbit", author="J. R. R. Tolkien"), show("Silm", author="J. R. R. Tolkien")
    assert index.link(silmarillion, hobbit) == "also written by J. R. R. Tolkien"
    debut, second = show("Paper Boats", artist="Mara Quill"), show("Sunday Bread", artist="Mara Quill")
    assert index.link(second, debut) == "also by Mara Quill"


def test_exposure_by_hand() -> None:
    popularity = {"a": 4.0, "b": 3.0, "c": 2.0, "d": 1.0, "e": 0.0}  # head (top fifth): a
    measured = exposure([["a", "b"], ["a", "c"]], popularity)
    assert measured == {
        "coverage@5": 0.6,  # a, b, c of 5
        "coverage@10": 0.6,
        "long_tail@10": 0.5,  # b and c of the four slots
        "popularity_percentile@10": round((1 + 0.75 + 1 + 0.5) / 4, 4),
    }


def test_debias_trades_popular_items_for_the_long_tail() -> None:
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(40, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    items = [CatalogItem(f"i{n}", f"Item {n}", "x", {"popularity": 1000 if n < 8 else 1}) for n in range(40)]
    catalog = StoredCatalog("pop", items, vectors)
    interest = vectors[10] + vectors[20]
    interest /= np.linalg.norm(interest)

    def popular_share(debias: float) -> int:
        ranker = Recommender(catalog, ScoringWeights(popularity=0.3, debias=debias))
        picks = ranker.rank(RankRequest(interest=interest, aversion=None, k=10, explain=False, diversify=False)).items
        return sum(int(r.item.id[1:]) < 8 for r in picks)

    assert popular_share(0.0) > popular_share(0.5)


def test_a_reply_holds_at_most_one_wildcard_in_five_and_says_so() -> None:
    """Far, popular items with nothing tying them to the anchor outscore its neighbours here (popularity weighs 3.0):
    one may show, as "something different", the rest give way to the next linked neighbours."""
    rng = np.random.default_rng(5)
    anchor = rng.normal(size=16)
    near = [anchor + 0.6 * rng.normal(size=16) for _ in range(8)]
    far = [rng.normal(size=16) for _ in range(6)]
    vectors = np.array([anchor, *near, *far], dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    items = [CatalogItem("x", "The Anchor", "x", {"genres": ["western"], "popularity": 1})]
    items += [CatalogItem(f"n{n}", f"Near {n}", "x", {"genres": ["western"], "popularity": 1}) for n in range(8)]
    items += [CatalogItem(f"f{n}", f"Far {n}", "x", {"genres": ["horror"], "popularity": 10_000}) for n in range(6)]
    items += [CatalogItem(f"o{n}", f"Other {n}", "x", {"genres": ["drama"], "popularity": 1}) for n in range(30)]
    others = rng.normal(size=(30, 16)).astype(np.float32)
    vectors = np.vstack([vectors, others / np.linalg.norm(others, axis=1, keepdims=True)])
    recommender = Recommender(StoredCatalog("wild", items, vectors), ScoringWeights(popularity=3.0))
    request = RankRequest(interest=vectors[0], aversion=None, k=5, anchors=["x"], exclude={"x"})
    picks = recommender.rank(request).items
    wild = [r for r in picks if r.item.id.startswith("f")]
    assert len(picks) == 5 and len(wild) == 1 and wild[0].why.startswith("something different: ")
    assert all(r.why.startswith("close to The Anchor") for r in picks if r not in wild)
    plain = recommender.rank(RankRequest(interest=vectors[0], aversion=None, k=5, anchors=["x"], exclude={"x"},
                                         diversify=False, explain=False)).items  # fmt: skip
    assert sum(r.item.id.startswith("f") for r in plain) > 1  # what the cap holds back: the scores' own order
    averse = recommender.rank(
        RankRequest(interest=vectors[0], aversion=vectors[9], k=5, anchors=["x"], exclude={"x"})
    ).items
    assert not [r for r in averse if r.item.id == "f0"]  # near what the user rejects: never the wildcard


def test_a_tag_that_holds_the_asked_words_or_lies_within_them_leans_its_items() -> None:
    """The user's own phrase meets a tag that holds all its words, or whose words all lie within it: "a heist
    movie" meets 'heist' and 'heist gone wrong'; "time travel" neither 'space travel' nor 'air travel'."""
    films = [
        film("heat", ["crime"], tags=["heist", "los angeles"]),
        film("dogs", ["crime"], tags=["heist gone wrong"]),
        film("future", ["comedy"], tags=["time travel"]),
        film("interstellar", ["drama"], tags=["space travel"]),
        film("airplane", ["comedy"], tags=["air travel"]),
        film("plain", ["drama"]),
    ]
    columns = catalog_columns(films)
    index = NeighbourIndex(
        films, columns.genre_matrix, {g: c for c, g in enumerate(columns.genres)}, PeopleIndex(films),
        {item.id: row for row, item in enumerate(films)},
    )  # fmt: skip
    rows = np.arange(len(films))
    assert (index.tagged(rows, ["a heist movie"]) > 0).tolist() == [True, True, False, False, False, False]
    assert (index.tagged(rows, ["about time travel"]) > 0).tolist() == [False, False, True, False, False, False]
    assert (index.tagged(rows, ["a dark revenge film set in los angeles"]) > 0).tolist()[0]  # the tag lies within
    assert not index.tagged(rows, ["something"]).any() and not index.tagged(rows[:0], ["heist"]).size
    assert index.tagged(rows[[0, 2]], ["heist"]).tolist() == [pytest.approx(index.tagged(rows, ["heist"])[0]), 0.0]
    # a tag that only repeats a genre is no theme: the genre leans already ("a cozy mystery" led with Oldboy, tagged
    # 'mystery' among the mysteries)
    films[5].meta["tags"] = ["crime"]
    index = NeighbourIndex(
        films, columns.genre_matrix, {g: c for c, g in enumerate(columns.genres)}, PeopleIndex(films),
        {item.id: row for row, item in enumerate(films)},
    )  # fmt: skip
    assert not index.tagged(rows, ["a crime movie"]).any() and not index.has_tag_for("crime")


def test_a_catalog_whose_genre_lists_are_alphabetical_ranks_no_genre_first():
    """ReDial's IMDb genres are 92% alphabetical ('adventure, comedy, sci-fi' for Back to the Future): there the
    first genre says nothing of what an item is, so the soft-genre lean gives a flavour no discount."""
    from recochat.retrieval.neighbours import genres_ranked

    def items(lists):
        return [CatalogItem(f"i{n}", f"T{n}", "x", {"genres": g}) for n, g in enumerate(lists)]

    alphabetical = items([["adventure", "comedy", "sci-fi"], ["action", "crime"], ["comedy", "romance"], ["drama"]])
    ranked = items([["comedy", "adventure"], ["crime", "action", "drama"], ["romance", "comedy"], ["action", "drama"]])
    assert not genres_ranked(alphabetical) and genres_ranked(ranked)
    assert genres_ranked(items([["drama"], []]))  # nothing to tell by: as written
    # INSPIRED's lists follow one order of its own (drama, sci-fi, action, …): Bloodshot is "drama, sci-fi, action"
    one_order = items([["drama", "sci-fi", "action"], ["sci-fi", "action"], ["drama", "action"]] * 40)
    per_item = items([["drama", "sci-fi", "action"], ["action", "sci-fi"], ["action", "drama"]] * 40)
    assert not genres_ranked(one_order) and genres_ranked(per_item)
    assert genres_ranked(one_order[:30])  # too few pairs to tell: as written
