"""Anchors, soft genres and loosening: 'more like #2' builds the next ranking around #2, a genre
said in passing leans the ranking without filtering, and a reply the filters leave short is filled
with the nearest items that break one constraint, in a fixed order, never an exclusion."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace

import numpy as np
import pytest

from recochat.bot.lexicon import MOODS, mood_avoids
from recochat.bot.understanding import understand
from recochat.profiles.model import Constraints, Profile, TurnSignal
from recochat.profiles.store import ProfileStore
from recochat.retrieval.catalog import CatalogItem
from recochat.retrieval.neighbours import rarity
from recochat.retrieval.recommender import RankRequest, Recommender
from recochat.retrieval.store import StoredCatalog
from recochat.retrieval.titles import TitleIndex

GENRES = {"comedy", "horror", "animation", "thriller", "crime"}


def read(text: str):  # type: ignore[no-untyped-def]
    return understand(text, TitleIndex([]), GENRES, 2024)


# -- understanding ---------------------------------------------------------------------------------
def test_a_genre_in_passing_is_soft_and_an_insisted_one_is_hard() -> None:
    assert (read("something funny").include_genres, read("something funny").insisted_genres) == (["comedy"], [])
    for insisted in ("only comedies", "it has to be animated", "just horror", "nothing but thrillers"):
        u = read(insisted)
        assert u.insisted_genres == u.include_genres and u.insisted_genres, insisted
        assert not u.exclude_genres and u.new_topic, insisted
    assert read("just something funny").insisted_genres == []


def test_anything_but_excludes_and_more_of_the_same_is_no_new_topic() -> None:
    u = read("anything but horror")
    assert (u.exclude_genres, u.include_genres) == (["horror"], [])
    for same in ("something else along those lines", "what else have you got?", "more like that", "more"):
        u = read(same)
        assert (u.positive, u.new_topic) == ([], False), same
    u = read("more like #2 but older, from the 80s")
    assert (u.positive, u.new_topic, u.year_min) == ([], False, 1980)
    assert read("a heist movie with a twist").new_topic


# -- constraints ------------------------------------------------------------------------------------
def apply(c: Constraints, **signal: object) -> list[str]:
    from recochat.bot.profile_update import apply_constraints

    return apply_constraints(c, TurnSignal(**signal))  # type: ignore[arg-type]


def test_a_new_request_replaces_soft_genres_and_years_and_keeps_hard_ones() -> None:
    c = Constraints()
    assert apply(c, include_genres=["comedy"], exclude_genres=["horror"], new_topic=True) == ["no horror from now on"]
    assert (c.preferred_genres, c.required_genres) == (["comedy"], [])
    assert apply(c, year_min=1980, year_max=1989, anchored=True) == ["years 1980–1989"]  # "more like #2, 80s"
    # a liked pick refines the request: the soft genre still leans ("animated, for the kids", then "the first one")
    assert (c.preferred_genres, c.year_min) == (["comedy"], 1980)
    notes = apply(c, include_genres=["animation"], insisted_genres=["animation"], new_topic=True)
    assert (c.required_genres, c.year_min) == (["animation"], None)
    assert "any year again, not just 1980–1989" in notes  # dropping a range is said, not left to be guessed
    apply(c, positive=["heist twist"], new_topic=True)
    assert (c.required_genres, c.preferred_genres, c.exclude_genres) == (["animation"], [], ["horror"])
    apply(c, positive=["more"])  # not a new request: nothing changes
    assert c.describe() == ["only animation", "no horror"]
    apply(c, clear_genres=True, include_genres=["thriller"], new_topic=True)
    assert c.describe() == ["no horror", "leaning thriller (soft)"]


def test_an_exclusion_read_from_another_word_says_that_word_too() -> None:
    """'not violent' also rules out horror; "Noted: no horror" alone was read as a claim the user never made."""
    c = Constraints()
    assert apply(c, negative=["long", "violent"], exclude_genres=["horror"]) == [
        "nothing violent and no horror from now on"
    ]
    assert apply(c, negative=["westerns"], exclude_genres=["western"]) == ["no westerns from now on"]
    # the user's own words for a kind, and one note for several kinds ruled out at once
    assert apply(c, negative=["word games"], exclude_genres=["word"]) == ["no word games from now on"]
    both = apply(c, negative=["dice or bluffing"], exclude_genres=["bluffing", "dice", "mystery"])
    assert both == ["no bluffing, dice or mystery from now on"]


def test_old_stored_genres_load_as_soft_preferences(tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = ProfileStore(tmp_path / "p.sqlite3")
    store.save(Profile("old"))
    with sqlite3.connect(tmp_path / "p.sqlite3") as db:
        (data,) = db.execute("SELECT data FROM profiles WHERE user_id = 'old'").fetchone()
        old = json.loads(data)
        old["constraints"] = {
            "year_min": 1990,
            "year_max": None,
            "include_genres": ["comedy"],
            "exclude_genres": ["horror"],
        }
        db.execute("UPDATE profiles SET data = ? WHERE user_id = 'old'", (json.dumps(old),))
    loaded = store.load("old").constraints
    assert (loaded.preferred_genres, loaded.required_genres, loaded.exclude_genres) == (["comedy"], [], ["horror"])
    assert loaded.describe() == ["years 1990 or later", "no horror", "leaning comedy (soft)"]
    assert Constraints.from_dict({"genres": ["crime"]}).preferred_genres == ["crime"]


def test_anchors_start_anew_after_a_ranking_and_go_with_a_dislike() -> None:
    p = Profile("a")
    p.anchor("x")
    p.anchor("y")  # liked together: both anchor
    p.record_shown(["s1"])
    assert p.anchors == ["x", "y"]
    p.anchor("z")  # after a reply: a new anchor replaces them
    p.dislike("z")
    assert p.anchors == []


# -- ranking ----------------------------------------------------------------------------------------
@pytest.fixture
def ranker() -> Recommender:
    """Eight items on a circle: close numbers are close vectors. Comedy is rare and far from the query."""
    angles = np.linspace(0, np.pi, 8)
    vectors = np.stack([np.cos(angles), np.sin(angles), np.zeros(8)], axis=1).astype(np.float32)
    genres = [
        ["crime"],
        ["crime"],
        ["thriller"],
        ["thriller", "comedy"],
        ["thriller"],
        ["horror"],
        ["comedy"],
        ["animation"],
    ]
    years = [1985, 1995, 1986, 1999, 1987, 1988, 2001, 1989]
    items = [
        CatalogItem(f"i{n}", f"Item {n}", f"Item {n}", {"genres": g, "year": y, "description": f"Story {n}."})
        for n, (g, y) in enumerate(zip(genres, years, strict=True))
    ]
    return Recommender(StoredCatalog("circle", items, vectors))


def ids(results) -> list[str]:  # type: ignore[no-untyped-def]
    return [r.item.id for r in results]


def test_a_soft_genre_leans_without_filtering(ranker) -> None:  # type: ignore[no-untyped-def]
    query = ranker.catalog.embeddings[1]
    plain = ranker.rank(RankRequest(interest=query, aversion=None, k=3, diversify=False)).items
    soft = ranker.rank(
        RankRequest(interest=query, aversion=None, k=3, preferred_genres=["thriller"], diversify=False)
    ).items
    assert ids(plain)[0] == "i1"
    assert ids(soft) == ["i2", "i1", "i0"]  # the thriller leads, the closest non-thrillers still qualify
    assert all(r.loosened == () for r in soft)  # three thrillers are enough: nothing was loosened


def test_a_mood_leans_to_the_items_whose_text_says_it_and_a_tag_counts_once(ranker) -> None:  # type: ignore[no-untyped-def]
    """ "A sad movie": the encoder reads the word alone badly, the catalog's writers say "heartbreaking"."""
    ranker.catalog.items[4].meta["description"] = "A heartbreaking story."
    ranker.catalog.items[3].meta["tags"] = ["tearjerker"]
    query = ranker.catalog.embeddings[2]
    plain = RankRequest(interest=query, aversion=None, k=3, diversify=False, explain=False)
    assert ids(ranker.rank(plain).items)[0] == "i2"
    sad = replace(plain, mood_words=["heartbreaking", "tearjerker"])
    assert ids(ranker.rank(sad).items)[0] == "i3"  # its neighbour, tagged so, leads; i4 is too far to lead
    rows = np.arange(len(ranker.catalog))
    said = ranker.scorer.leaning(rows, ranker.catalog.embeddings, sad)
    assert said[3] == said[4] == pytest.approx(ranker.weights.mood) and not said[[0, 1, 2, 5, 6, 7]].any()
    # a tag the asked-for phrase meets itself and the mood's words say too: the larger lean, not both
    both = replace(sad, aspects=[("tearjerker", query)])
    tagged = ranker.scorer.leaning(rows, ranker.catalog.embeddings, both)
    assert tagged[3] == pytest.approx(ranker.weights.tagged * ranker.neighbours.tagged(rows[3:4], ["tearjerker"])[0])
    assert tagged[4] == pytest.approx(ranker.weights.mood)
    # the mood as the whole ask ("a tearjerker"): it weighs more, and the user's own word as a tag leads its kin
    alone = ranker.scorer.leaning(rows, ranker.catalog.embeddings, replace(both, mood_alone=True))
    assert alone[4] == pytest.approx(ranker.weights.mood_alone) and alone[3] == pytest.approx(tagged[3] + alone[4])


def test_a_mood_leans_away_from_the_genres_and_words_it_avoids(ranker) -> None:  # type: ignore[no-untyped-def]
    """ "Something cozy": horror loses what a soft genre gains, a text that says "bleak" what a mood word gains."""
    ranker.catalog.items[5].meta["description"] = "A bleak story."
    rows = np.arange(len(ranker.catalog))
    plain = RankRequest(interest=ranker.catalog.embeddings[2], aversion=None, k=3, diversify=False, explain=False)
    base = ranker.scorer.leaning(rows, ranker.catalog.embeddings, plain)
    genre = ranker.catalog.items[0].genres[0]
    cozy = replace(plain, avoid_genres=[genre], avoid_words=["bleak", "grim"])
    lean = ranker.scorer.leaning(rows, ranker.catalog.embeddings, cozy) - base
    has_genre = np.array([genre in item.genres for item in ranker.catalog.items])
    expected = -ranker.weights.genre * has_genre - ranker.weights.mood * (rows == 5)
    assert has_genre.any() and not has_genre.all() and lean == pytest.approx(expected)


def test_a_rare_word_of_the_ask_that_an_items_text_says_leans_to_it(ranker) -> None:  # type: ignore[no-untyped-def]
    """ "A wine to go with steak": the Cabernet whose text says "pair it with a thick steak", by the word's rarity; a
    word people chat with, or one for an item, leans to nothing."""
    ranker.catalog.items[4].meta["description"] = "A novel to pair with a thick steak, if you need one."
    ranker.catalog.items[6].meta["description"] = "Also good with steak."
    rows = np.arange(len(ranker.catalog))
    query = ranker.catalog.embeddings[2]
    steak = RankRequest(interest=query, aversion=None, k=3, diversify=False, explain=False, aspects=[("steak", query)])
    said = ranker.scorer.said(rows, steak)
    expected = ranker.weights.tagged * rarity(2, len(rows))
    assert said[4] == said[6] == pytest.approx(expected) and not said[[0, 1, 2, 3, 5, 7]].any()
    for words in ("a novel I need", "need novel"):
        assert not ranker.scorer.said(rows, replace(steak, aspects=[(words, query)])).any()
    # a phrase that says a mood leans by the mood, not by its other words
    romantic = replace(steak, aspects=[("romantic steak", query)], mood_words=["romantic"])
    assert not ranker.scorer.said(rows, romantic).any()


def test_moods_name_what_they_avoid() -> None:
    assert mood_avoids(["something cozy"]) == (["horror", "war"], list(MOODS["dark"]))
    assert mood_avoids(["uplifting"])[0] == ["horror"] and mood_avoids(["a heist movie"]) == ([], [])
    # said no to: its own words, and what the mood it leans to instead avoids ("not so depressing": uplifting)
    genres, words = mood_avoids([], ["depressing"])
    assert genres == ["horror"] and set(MOODS["sad"]) | set(MOODS["dark"]) == set(words)


def test_an_exhausted_genre_fills_in_order_soft_then_years_then_hard(ranker) -> None:  # type: ignore[no-untyped-def]
    query = ranker.catalog.embeddings[0]
    soft = ranker.rank(
        RankRequest(interest=query, aversion=None, k=4, preferred_genres=["comedy"], diversify=False)
    ).items
    assert ids(soft)[:2] == ["i3", "i6"] and [r.loosened for r in soft[2:]] == [("soft genres",)] * 2

    hard = RankRequest(
        interest=query,
        aversion=None,
        k=5,
        include_genres=["crime"],
        year_min=1980,
        year_max=1989,
        exclude_genres=["horror"],
        exclude={"i2"},
        diversify=False,
    )
    got = ranker.rank(hard).items
    assert [(r.item.id, r.loosened) for r in got] == [
        ("i0", ()),
        ("i1", ("years",)),
        ("i4", ("genres",)),
        ("i7", ("genres",)),
        ("i3", ("years", "genres")),
    ]
    assert "i5" not in ids(got) and "i2" not in ids(got)  # an exclusion and an excluded id are never loosened
    assert ids(ranker.rank(replace(hard, loosen=False)).items) == ["i0"]


def test_a_held_genre_is_never_loosened_and_the_reply_says_so(ranker) -> None:  # type: ignore[no-untyped-def]
    """A children's audience: the closest adult books filled a 12-year-old's list before (Bridget Jones's Diary,
    Neuromancer); now the reply is short, and says how to lift it."""
    from recochat.bot.phrasing import loosened

    query = ranker.catalog.embeddings[0]
    held = RankRequest(
        interest=query, aversion=None, k=4, include_genres=["crime"], held_genres=["crime"], diversify=False
    )
    got = ranker.rank(held).items
    assert [(r.item.id, r.loosened) for r in got] == [("i0", ()), ("i1", ())]
    assert (
        loosened(held, got, "book")
        == "That's every crime book I have left for you; say 'any genre' to see other books."
    )
    assert loosened(held, [], "book") == (
        "I have no crime books left that you haven't seen or turned down: say 'any genre' to see other books."
    )
    # the same genre not held fills as before
    assert len(ranker.rank(replace(held, held_genres=[])).items) == 4


def test_nothing_left_names_the_exclusions_that_block(ranker) -> None:  # type: ignore[no-untyped-def]
    everything_else = {f"i{n}" for n in range(8)} - {"i5"}
    request = RankRequest(interest=None, aversion=None, exclude_genres=["horror", "comedy"], exclude=everything_else)
    assert ranker.rank(request).items == [] and ranker.blocking_genres(request) == ["horror"]
    assert ranker.blocking_genres(replace(request, exclude=request.exclude | {"i5"})) == []


def test_an_anchor_leads_the_ranking_and_its_whys_name_it(ranker) -> None:  # type: ignore[no-untyped-def]
    query = ranker.catalog.embeddings[2]
    plain = ranker.rank(RankRequest(interest=query, aversion=None, k=3, exclude={"i6"}, diversify=False)).items
    anchored = ranker.rank(
        RankRequest(interest=query, aversion=None, k=3, exclude={"i6"}, liked=["i6"], anchors=["i6"], diversify=False)
    ).items
    assert ids(plain)[0] == "i2"
    assert ids(anchored)[:2] == ["i3", "i4"]  # the ranking moves toward the anchor's neighbours
    assert anchored[1].why.startswith("close to Item 6, which you liked")


# -- the engine -------------------------------------------------------------------------------------
def test_more_like_n_anchors_the_reply_and_a_rebuild_agrees(fake_runtime) -> None:  # type: ignore[no-untyped-def]
    engine = fake_runtime.engine
    first = engine.turn("a", "something funny")
    second = engine.turn("a", "more like #2")
    anchor = first.items[1].item
    profile = engine.profiles.load("a")
    assert profile.anchors == [anchor.id] and f"more like {anchor.title}" in second.notes
    assert engine.rebuild("a").anchors == profile.anchors
    engine.turn("a", "a heist in a city")  # a new request lets the anchor go
    assert engine.profiles.load("a").anchors == []


def test_a_year_range_said_earlier_gives_way_to_close_items_from_other_years(ranker) -> None:  # type: ignore[no-untyped-def]
    """'Something recent' three turns ago must not fill a reply with unrelated recent titles once the close ones are
    shown (the read-through's Nomadland and Barbie for a crime-thriller profile)."""
    request = RankRequest(interest=ranker.catalog.embeddings[0], aversion=None, k=3, year_min=1995, diversify=False)
    assert ids(ranker.rank(request).items) == ["i1", "i3", "i6"]  # said this turn: the range holds, close or not
    got = ranker.rank(replace(request, years_in_passing=True)).items
    assert [(r.item.id, r.loosened, r.for_fit) for r in got] == [
        ("i1", (), False),
        ("i0", ("years",), True),
        ("i2", ("years",), True),
    ]
    assert all(r.fit >= 0.3 for r in got)


def test_an_excluded_word_rules_out_items_whose_text_says_it(ranker) -> None:  # type: ignore[no-untyped-def]
    """'No musicals' rules out a film its own text calls a musical, whatever its genres (The Lion King)."""
    items = list(ranker.catalog.items)
    items[1] = CatalogItem("i1", "Item 1", "Item 1", {"genres": ["crime"], "year": 1995, "description": "A musical."})
    ranker = Recommender(StoredCatalog("circle", items, ranker.catalog.embeddings))
    request = RankRequest(interest=ranker.catalog.embeddings[1], aversion=None, k=2, diversify=False)
    assert ids(ranker.rank(request).items) == ["i1", "i0"]
    request = replace(request, exclude_words=["musical"])
    assert ids(ranker.rank(request).items) == ["i0", "i2"]
    # ANN candidates of a large catalog: only those rows' texts are read, the same rule holds
    assert ranker.index.allowed(np.array([0, 1, 2]), request).tolist() == [True, False, True]


def test_whole_catalog_masks_are_kept_for_the_latest_words_only(ranker) -> None:  # type: ignore[no-untyped-def]
    from recochat.retrieval.candidates import SAID_WORDS

    for n in range(SAID_WORDS + 5):
        ranker.index.saying(f"word{n}")
    said = ranker.index.said_words()
    assert len(said) == SAID_WORDS and f"word{SAID_WORDS + 4}" in said and "word0" not in said


def _small(rows: list[tuple[str, list[str], int, list[float], str]]) -> Recommender:
    """A catalog of (id, genres, year, vector, description) rows."""
    items = [
        CatalogItem(i, f"Item {i}", f"Item {i}", {"genres": g, "year": y, "description": d}) for i, g, y, _, d in rows
    ]
    vectors = np.array([v for *_, v, _ in rows], dtype=np.float32)
    return Recommender(StoredCatalog("small", items, vectors / np.linalg.norm(vectors, axis=1, keepdims=True)))


def test_a_close_item_from_other_years_must_share_something_with_what_was_liked() -> None:
    """The read-through's WALL-E, the one "closer" pick from other years for a crime fan: close to the interest
    vector, but sharing nothing with any liked film. The crime film from other years takes its place."""
    ranker = _small(
        [
            ("liked", ["crime"], 2020, [1, 0, 0], "A heist."),
            ("robot", ["animation"], 2008, [0, 1, 0], "A robot."),
            ("crime", ["crime"], 2000, [0.9, 0.1, 0.42], "A robbery."),
            ("weak", ["drama"], 2021, [0, 0, 1], "A farm."),
        ]
    )
    query = np.array([0.6, 0.8, 0], dtype=np.float32)
    request = RankRequest(
        interest=query, aversion=None, k=1, liked=["liked"], exclude={"liked"}, year_min=2018, diversify=False
    )
    assert ids(ranker.rank(request).items) == ["weak"]  # said this turn: the range holds
    request = replace(request, years_in_passing=True)
    got = ranker.rank(request).items
    assert [(r.item.id, r.for_fit) for r in got] == [("crime", True)]
    request = replace(request, liked=[])  # nothing liked: closeness to the request is enough
    assert ids(ranker.rank(request).items) == ["robot"]


def test_a_loosened_year_range_still_leads_with_the_soft_genre() -> None:
    """'Animated, for the kids', then 'after 2010': when the range runs out, animated family films from other
    years come before live-action ones, which are marked as giving up the soft genre too."""
    ranker = _small(
        [
            ("live-2015", ["family"], 2015, [1, 0.1, 0], "A dog."),
            ("animated-1995", ["animation", "family"], 1995, [0.5, 1, 0], "A toy."),
            ("live-1990", ["family"], 1990, [1, 0.2, 0], "A kid."),
        ]
    )
    request = RankRequest(
        interest=np.array([1, 0.15, 0], dtype=np.float32),
        aversion=None,
        k=3,
        include_genres=["family"],
        preferred_genres=["animation"],
        year_min=2011,
        diversify=False,
    )
    assert [(r.item.id, r.loosened) for r in ranker.rank(request).items] == [
        ("live-2015", ("soft genres",)),
        ("animated-1995", ("years",)),
        ("live-1990", ("years", "soft genres")),
    ]


def test_a_loosening_sentence_names_only_what_its_items_are() -> None:
    from recochat.bot.phrasing import closest
    from recochat.retrieval.recommender import Recommendation

    def rec(*genres: str) -> Recommendation:
        return Recommendation(CatalogItem("x", "X", "X", {"genres": list(genres)}), 0.0, "", 1)

    family, asked = ["family"], ["family", "animation"]
    assert closest(("years",), [rec("family", "animation")], asked, family, "movie", soft_given_up=True) == (
        "family movies with animation from other years"
    )
    assert closest(("years", "soft genres"), [rec("family")], asked, family, "movie") == (
        "family movies without animation from other years"
    )
    fillers = [rec("action", "adventure"), rec("comedy", "fantasy"), rec("drama")]  # no genre covers all three
    assert closest(("soft genres",), fillers, ["science fiction"], [], "movie") == "other movies"
    assert closest(("soft genres",), fillers[:2], ["science fiction"], [], "movie") == "action and comedy movies"


def test_not_violent_and_nothing_scary_rule_out_texts_that_say_so_in_other_words(ranker) -> None:  # type: ignore[no-untyped-def]
    from recochat.bot.phrasing import exclusion_words

    items = list(ranker.catalog.items)
    items[1] = CatalogItem("i1", "Item 1", "Item 1", {"genres": ["crime"], "description": "Sent back to kill."})
    items[2] = CatalogItem("i2", "Item 2", "Item 2", {"genres": ["crime"], "description": "A frightening witch."})
    ranker = Recommender(StoredCatalog("circle", items, ranker.catalog.embeddings))
    request = RankRequest(interest=ranker.catalog.embeddings[1], aversion=None, k=3, diversify=False)
    assert ids(ranker.rank(request).items) == ["i1", "i0", "i2"]
    request = replace(request, exclude_words=exclusion_words(["horror"], ["violent"]))
    assert "kill" in request.exclude_words and ids(ranker.rank(request).items)[:2] == ["i0", "i2"]
    request = replace(request, exclude_words=exclusion_words(["horror"], ["scary"]))
    assert "i2" not in ids(ranker.rank(request).items) and "i1" in ids(ranker.rank(request).items)


def test_a_range_that_gives_way_says_whether_all_picks_or_some_are_from_other_years(fake_runtime) -> None:  # type: ignore[no-untyped-def]
    from recochat.bot.phrasing import loosened
    from recochat.retrieval.recommender import Recommendation

    item = fake_runtime.engine.catalog.items[0]
    picks = [Recommendation(item, 0.0, "", n, loosened=("years",), for_fit=True) for n in (1, 2)]
    request = RankRequest(interest=None, aversion=None, year_min=2018)
    said = "Little else from 2018 or later is close to what you like, so {} from other years."
    assert loosened(request, picks, "movie") == said.format("these are")
    picks[1].for_fit, picks[1].loosened = False, ()
    assert loosened(request, picks, "movie") == said.format("some of these are")


def test_notes_that_say_the_same_of_several_titles_are_said_once():
    """ "I've seen all of those" gave five "you've seen …" in a row."""
    from recochat.bot import phrasing

    notes = ["you've seen Inception", "you've seen Memento", "you liked Heat", "you've seen Dunkirk", "no horror"]
    assert phrasing.joined_notes(notes) == [
        "you've seen Inception, Memento and Dunkirk",
        "you liked Heat",
        "no horror",
    ]


def test_a_genre_asked_for_is_never_an_exclusion_word():
    """ "A horror movie that isn't too scary" ruled out every film whose own text says "horror"."""
    from recochat.bot.phrasing import exclusion_words

    assert "horror" in exclusion_words([], ["scary"])
    assert "horror" not in exclusion_words([], ["scary"], {"horror"})
    assert "creepy" in exclusion_words([], ["scary"], {"horror"})


def test_several_anchors_take_turns_in_a_reply() -> None:
    """ "I like Knives Out and Gone Girl" gave five of Gone Girl's neighbours: the anchor nearer the taste (and with
    stronger links) took every place. Each anchor now gives its closest picks in turn."""
    near = [(1.0, 0.05 * n, 0.0) for n in range(5)]  # a0 and its neighbours, near the taste
    far = [(0.05 * n, 1.0, 0.0) for n in range(5)]  # b0 and its neighbours
    vectors = np.array(near + far, dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = [f"a{n}" for n in range(5)] + [f"b{n}" for n in range(5)]
    items = [CatalogItem(i, i.upper(), i, {"genres": ["drama"], "description": f"{i}."}) for i in ids]
    recommender = Recommender(StoredCatalog("two", items, vectors))
    query = np.array([1.0, 0.3, 0.0], dtype=np.float32)
    query /= np.linalg.norm(query)
    request = RankRequest(interest=query, aversion=None, k=4, exclude={"a0", "b0"}, liked=["a0", "b0"])
    alone = [r.item.id[0] for r in recommender.rank(replace(request, anchors=["a0"])).items]
    both = [r.item.id[0] for r in recommender.rank(replace(request, anchors=["a0", "b0"])).items]
    assert alone.count("b") == 0
    assert both.count("a") == both.count("b") == 2 and both[0] == "a"
