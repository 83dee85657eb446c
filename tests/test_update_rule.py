"""The profile update rule and the scoring math, against hand-computed values."""

import numpy as np
import pytest

from recochat.profiles.collaborative import CoOccurrence
from recochat.profiles.model import Profile, normalize, update_vector
from recochat.retrieval.scoring import ScoringWeights, base_scores, mmr, popularity_prior


def test_update_vector_decays_then_adds_then_normalizes():
    u = np.array([1.0, 0.0], dtype=np.float32)
    e = np.array([0.0, 1.0], dtype=np.float32)
    # 0.8·[1,0] + 1.0·[0,1] = [0.8, 1.0]; norm = sqrt(1.64)
    result = update_vector(u, 0.8, [(1.0, e)])
    assert result == pytest.approx([0.8 / np.sqrt(1.64), 1.0 / np.sqrt(1.64)], abs=1e-6)


def test_update_vector_without_signal_keeps_vector_and_starts_from_first_signal():
    u = np.array([0.6, 0.8], dtype=np.float32)
    assert update_vector(u, 0.8, []) is u
    first = update_vector(None, 0.8, [(1.5, np.array([3.0, 4.0], dtype=np.float32))])
    assert first == pytest.approx([0.6, 0.8])


def test_item_weight_beats_text_weight():
    u = update_vector(None, 0.8, [(1.0, np.array([1.0, 0.0])), (1.5, np.array([0.0, 1.0]))])
    assert u[1] > u[0]
    assert np.linalg.norm(u) == pytest.approx(1.0)


def test_profile_like_then_dislike_moves_item():
    p = Profile("a")
    p.like("x")
    p.dislike("x")
    assert p.disliked == ["x"] and p.liked == []


def test_base_scores_hand_computed():
    c = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    u = np.array([1.0, 0.0], dtype=np.float32)
    n = np.array([0.0, 1.0], dtype=np.float32)
    prior = np.array([0.0, 1.0], dtype=np.float32)
    collab = np.array([0.5, 0.0], dtype=np.float32)
    w = ScoringWeights(negative=0.5, popularity=0.1, collaborative=0.3)
    score, sim, neg = base_scores(c, u, n, prior, collab, w)
    # item 0: 1 − 0 + 0 + 0.3·0.5 = 1.15 ; item 1: 0 − 0.5·1 + 0.1·1 + 0 = −0.4
    assert score == pytest.approx([1.15, -0.4])
    assert sim == pytest.approx([1.0, 0.0]) and neg == pytest.approx([0.0, 1.0])


def test_negative_vector_only_pushes_down_never_up():
    c = np.array([[1.0, 0.0]], dtype=np.float32)
    n = np.array([-1.0, 0.0], dtype=np.float32)
    score, _, neg = base_scores(c, None, n, np.zeros(1), np.zeros(1), ScoringWeights())
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
    u = np.array([0.8, 0.6], dtype=np.float32)  # cos: a 0.8, b 1.0
    plain = recommender.rank(RankRequest(u=u, n=None, k=2))
    boosted = recommender.rank(RankRequest(u=u, n=None, k=2, liked_people=["Meg Ryan", "Tom Hanks", "Tom Hanks"]))
    assert [r.item.id for r in plain] == ["b", "a"]
    assert [r.item.id for r in boosted] == ["a", "b"]
    assert [r.score for r in boosted] == pytest.approx([0.8 + 2 * 0.3, 1.0 + 0.3])
    assert boosted[0].why.startswith("with Tom Hanks")


def test_rank_timings_are_per_thread():
    import threading

    from recochat.retrieval.catalog import CatalogItem
    from recochat.retrieval.recommender import RankRequest, Recommender
    from recochat.retrieval.store import StoredCatalog

    recommender = Recommender(StoredCatalog("t", [CatalogItem("a", "A", "x")], np.array([[1.0, 0.0]], dtype=np.float32)))
    recommender.rank(RankRequest(u=None, n=None, k=1))
    seen = []
    worker = threading.Thread(target=lambda: seen.append(dict(recommender.timings_ms)))
    worker.start()
    worker.join()
    assert seen == [{}] and set(recommender.timings_ms) == {"retrieve", "score"}
