"""The profile update rule and the scoring math, against hand-computed values."""

import numpy as np
import pytest

from recochat.profiles.collaborative import CoOccurrence
from recochat.profiles.model import Profile, normalize, update_vector
from recochat.retrieval.scoring import ScoringWeights, base_scores, mmr, popularity_prior


def test_update_vector_decays_then_adds_then_normalizes():
    interest = np.array([1.0, 0.0], dtype=np.float32)
    e = np.array([0.0, 1.0], dtype=np.float32)
    # 0.8·[1,0] + 1.0·[0,1] = [0.8, 1.0]; norm = sqrt(1.64)
    result = update_vector(interest, 0.8, [(1.0, e)])
    assert result == pytest.approx([0.8 / np.sqrt(1.64), 1.0 / np.sqrt(1.64)], abs=1e-6)


def test_update_vector_without_signal_keeps_vector_and_starts_from_first_signal():
    interest = np.array([0.6, 0.8], dtype=np.float32)
    assert update_vector(interest, 0.8, []) is interest
    first = update_vector(None, 0.8, [(1.5, np.array([3.0, 4.0], dtype=np.float32))])
    assert first == pytest.approx([0.6, 0.8])


def test_item_weight_beats_text_weight():
    interest = update_vector(None, 0.8, [(1.0, np.array([1.0, 0.0])), (1.5, np.array([0.0, 1.0]))])
    assert interest[1] > interest[0]
    assert np.linalg.norm(interest) == pytest.approx(1.0)


def test_profile_like_then_dislike_moves_item():
    p = Profile("a")
    p.like("x")
    p.dislike("x")
    assert p.disliked == ["x"] and p.liked == []


def test_base_scores_hand_computed():
    c = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    interest = np.array([1.0, 0.0], dtype=np.float32)
    aversion = np.array([0.0, 1.0], dtype=np.float32)
    prior = np.array([0.0, 1.0], dtype=np.float32)
    collab = np.array([0.5, 0.0], dtype=np.float32)
    w = ScoringWeights(negative=0.5, popularity=0.1, collaborative=0.3)
    score, sim, neg = base_scores(c, interest, aversion, prior, collab, w)
    # item 0: 1 − 0 + 0 + 0.3·0.5 = 1.15 ; item 1: 0 − 0.5·1 + 0.1·1 + 0 = −0.4
    assert score == pytest.approx([1.15, -0.4])
    assert sim == pytest.approx([1.0, 0.0]) and neg == pytest.approx([0.0, 1.0])


def test_negative_vector_only_pushes_down_never_up():
    c = np.array([[1.0, 0.0]], dtype=np.float32)
    aversion = np.array([-1.0, 0.0], dtype=np.float32)
    score, _, neg = base_scores(c, None, aversion, np.zeros(1), np.zeros(1), ScoringWeights())
    assert neg[0] == 0.0 and score[0] == 0.0


def test_mmr_prefers_a_diverse_second_pick():
    e = np.array([normalize(np.array(v, dtype=np.float32)) for v in ([1, 0], [0.99, 0.1], [0, 1])])
    scores = np.array([1.0, 0.95, 0.7])
    assert mmr(e, scores, 2, lam=0.5) == [0, 2]
    assert mmr(e, scores, 2, lam=1.0) == [0, 1]


def test_popularity_prior_is_log_scaled():
    prior = popularity_prior(np.array([0.0, 9.0, 99.0]))
    assert prior == pytest.approx([0.0, np.log(10) / np.log(100), 1.0])


def test_cooccurrence_scores_are_cosine_normalized():
    co = CoOccurrence()
    for user, items in {"u1": ["a", "b"], "u2": ["a", "b"], "u3": ["a", "c"]}.items():
        for item in items:
            co.observe(user, item)
    # cooc(a,b)=2, count(a)=3, count(b)=2 → 2/sqrt(6); cooc(a,c)=1 → 1/sqrt(3)
    scores = co.scores(["a"])
    assert scores["b"] == pytest.approx(2 / np.sqrt(6))
    assert scores["c"] == pytest.approx(1 / np.sqrt(3))


def test_liked_person_boosts_their_items_by_the_person_weight():
    from recochat.retrieval.catalog import CatalogItem
    from recochat.retrieval.recommender import RankRequest, Recommender
    from recochat.retrieval.store import StoredCatalog

    items = [CatalogItem("a", "A", "x", {"stars": ["Tom Hanks"]}), CatalogItem("b", "B", "x", {"stars": ["Meg Ryan"]})]
    embeddings = np.array([[1.0, 0.0], [0.8, 0.6]], dtype=np.float32)
    recommender = Recommender(StoredCatalog("t", items, embeddings), ScoringWeights(person=0.3, mmr_lambda=1.0))
    interest = np.array([0.8, 0.6], dtype=np.float32)  # cos: a 0.8, b 1.0
    plain = recommender.rank(RankRequest(interest=interest, aversion=None, k=2)).items
    people = ["Meg Ryan", "Tom Hanks", "Tom Hanks"]
    boosted = recommender.rank(RankRequest(interest=interest, aversion=None, k=2, liked_people=people)).items
    assert [r.item.id for r in plain] == ["b", "a"]
    assert [r.item.id for r in boosted] == ["a", "b"]
    assert [r.score for r in boosted] == pytest.approx([0.8 + 2 * 0.3, 1.0 + 0.3])
    assert boosted[0].why.startswith("with Tom Hanks")


def test_rank_timings_travel_with_the_ranking():
    """Turns of different users rank in parallel threads: each ranking carries its own times, nothing is left on
    the recommender for another thread to read."""
    from recochat.retrieval.catalog import CatalogItem
    from recochat.retrieval.recommender import RankRequest, Recommender
    from recochat.retrieval.store import StoredCatalog

    catalog = StoredCatalog("t", [CatalogItem("a", "A", "x")], np.array([[1.0, 0.0]], dtype=np.float32))
    recommender = Recommender(catalog)
    ranking = recommender.rank(RankRequest(interest=None, aversion=None, k=1))
    assert [r.item.id for r in ranking.items] == ["a"]
    assert set(ranking.timings_ms) == {"retrieve", "score"} and all(t >= 0 for t in ranking.timings_ms.values())
    assert not hasattr(recommender, "timings_ms")


def item_events(engine, user):
    return [(e.kind, e.item_id, e.value) for e in engine.profiles.events(user) if e.item_id]


def test_mark_seen_records_what_an_ive_seen_mention_records(fake_runtime):
    engine = fake_runtime.engine
    assert engine.mark_seen("a", "m3").title == "Village Cops"
    engine.turn("b", "I've seen Village Cops", recommend=False)
    assert item_events(engine, "a") == item_events(engine, "b") == [("seen", "m3", 0.0)]
    assert engine.profiles.load("a").seen == engine.rebuild("a").seen == ["m3"]
    assert "m3" not in {r.item.id for r in engine.turn("a", "a comedy").items}


def test_unknown_items_are_domain_errors_that_name_the_id(fake_runtime):
    from recochat.bot.errors import RecochatError, UnknownItem

    engine = fake_runtime.engine
    for call in (lambda: engine.feedback("a", "nope", "like"), lambda: engine.mark_seen("a", "nope")):
        with pytest.raises(UnknownItem, match="'nope'") as caught:
            call()
        assert isinstance(caught.value, RecochatError) and not isinstance(caught.value, KeyError)
    assert list(engine.profiles.events("a")) == []


def test_turn_timings_name_the_steps_that_ran_and_every_turn_is_saved(fake_runtime):
    engine = fake_runtime.engine
    smalltalk = engine.turn("a", "hi")
    noted = engine.turn("a", "no horror", recommend=False)
    ranked = engine.turn("a", "a comedy")
    assert (smalltalk.kind, noted.kind, ranked.kind) == ("smalltalk", "noted", "recommend")
    assert set(smalltalk.timings_ms) == {"understand"}
    assert set(noted.timings_ms) == {"understand", "encode", "profile_update"}
    assert set(ranked.timings_ms) == {"understand", "encode", "profile_update", "retrieve", "score", "total"}
    profile = engine.profiles.load("a")
    assert profile.turns == 3 and profile.constraints.exclude_genres == ["horror"]
    assert profile.last_shown == [r.item.id for r in ranked.items]


def test_cooccurrence_replace_user_takes_out_exactly_that_users_share():
    import copy

    likes = {"u1": ["a", "b", None, "c", "a"], "u2": ["a", "c"], "u3": ["b", "c", "d"]}
    everyone, without_u1 = CoOccurrence(), CoOccurrence()
    for user, signals in likes.items():
        for signal in signals:
            for model in (everyone, without_u1) if user != "u1" else (everyone,):
                model.end_session(user) if signal is None else model.observe(user, signal)
    assert everyone.snapshot() != without_u1.snapshot()
    copied = copy.deepcopy(everyone)  # the lock is not copied: each copy has its own
    copied.replace_user("u1", likes["u1"], [])
    assert copied.snapshot() == without_u1.snapshot()
    copied.replace_user("u1", [], likes["u1"])
    assert copied.snapshot() == everyone.snapshot()
    copied.observe("u1", "d")  # u1's window after the replay is [c, a]: d co-occurs with both
    assert copied.pairs["d"]["c"] == everyone.pairs["d"]["c"] + 1 and copied.pairs["d"]["b"] == 1


def test_cooccurrence_holds_a_bounded_number_of_user_windows():
    co = CoOccurrence(max_users=3)
    for n in range(10):
        co.observe(f"u{n}", "a")
    assert co.tracked_users() == 3 and co.popularity("a") == 10
    co.observe("u0", "b", history=lambda: ["a"])  # u0's window was dropped: rebuilt from history
    assert co.pairs["b"]["a"] == 1
