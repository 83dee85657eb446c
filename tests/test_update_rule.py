"""The profile update rule (bot/profile_update.py, on its own: no engine, no store) and the scoring math, against
hand-computed values."""

import copy
from dataclasses import replace

import numpy as np
import pytest

from recochat.benchmarks.stress import profile_differences
from recochat.bot.profile_update import after_event, after_item, after_shown, after_turn, replay
from recochat.profiles.collaborative import CoOccurrence
from recochat.profiles.model import Constraints, Profile, TurnSignal, UpdateWeights, normalize, update_vector
from recochat.profiles.store import Event
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


def test_liked_or_seen_keeps_every_title_but_the_disliked_ones_liked_last():
    p = Profile("a")
    for item in ("seen-1", "liked-1", "disliked-1", "seen-2"):
        p.mark_seen(item)  # every title named is marked seen, liked or not
    p.like("liked-1")
    p.like("thumbs-up")  # a 👍 on a shown pick: liked, never named
    p.dislike("disliked-1")
    assert p.liked_or_seen() == ["seen-1", "seen-2", "liked-1", "thumbs-up"]
    assert p.liked_or_seen(limit=2) == ["liked-1", "thumbs-up"]


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


def test_a_person_the_request_asks_for_leads_it_until_a_request_of_its_own():
    """'something with Tom Hanks': his items get `asked_person` on top of `person`, for this request only; the
    why says how the person is in the item (an author wrote it, an actor is in it)."""
    from recochat.bot.profile_update import apply_constraints
    from recochat.profiles.model import Constraints, TurnSignal
    from recochat.retrieval.catalog import CatalogItem
    from recochat.retrieval.recommender import RankRequest, Recommender
    from recochat.retrieval.store import StoredCatalog

    items = [
        CatalogItem("a", "A", "x", {"stars": ["Tom Hanks"]}),
        CatalogItem("b", "B", "x", {"author": ["Agatha Christie"]}),
        CatalogItem("c", "C", "x", {}),
    ]
    embeddings = np.array([[1.0, 0.0], [0.6, 0.8], [0.8, 0.6]], dtype=np.float32)
    weights = ScoringWeights(person=0.3, asked_person=0.6, mmr_lambda=1.0)
    recommender = Recommender(StoredCatalog("t", items, embeddings), weights)
    interest = np.array([0.8, 0.6], dtype=np.float32)  # cos: a 0.8, b 0.96, c 1.0
    asked = recommender.people_items(["Agatha Christie"])
    ranked = recommender.rank(
        RankRequest(interest=interest, aversion=None, k=3, liked_people=["Agatha Christie"], people_items=asked)
    ).items
    assert [r.item.id for r in ranked] == ["b", "c", "a"]
    assert [r.score for r in ranked][:1] == pytest.approx([0.96 + 0.3 + 0.6])
    assert ranked[0].why.startswith("by Agatha Christie")

    c = Constraints()
    apply_constraints(c, TurnSignal(liked_people=["Tom Hanks"], new_topic=True))
    assert c.preferred_people == ["Tom Hanks"]
    apply_constraints(c, TurnSignal(include_genres=["comedy"]))  # a refinement keeps him
    assert c.preferred_people == ["Tom Hanks"]
    apply_constraints(c, TurnSignal(positive=["heist"], new_topic=True))  # a request of its own drops him
    assert c.preferred_people == []


def test_a_contrast_genre_holds_for_its_request_only():
    """ "something like The Matrix but funnier" held every later request to comedies: "a western" then said "That's
    every comedy movie with western I have left"."""
    from recochat.bot.profile_update import apply_constraints
    from recochat.profiles.model import Constraints, TurnSignal

    c = Constraints()
    but_funny = TurnSignal(include_genres=["comedy"], insisted_genres=["comedy"], contrast_genres=["comedy"])
    assert apply_constraints(c, replace(but_funny, new_topic=True)) == ["only comedy for this request"]
    apply_constraints(c, TurnSignal(anchored=True))  # "more like #2" is the same request
    assert c.required_genres == ["comedy"]
    apply_constraints(c, TurnSignal(include_genres=["western"], new_topic=True))
    assert (c.required_genres, c.preferred_genres) == ([], ["western"])
    assert apply_constraints(c, TurnSignal(insisted_genres=["comedy"])) == ["only comedy from now on"]
    apply_constraints(c, TurnSignal(include_genres=["western"], new_topic=True))
    assert c.required_genres == ["comedy"]  # "only comedies" holds until lifted


def test_a_swap_keeps_the_years_and_the_people():
    """ "a comedy instead" after "a scary movie from the 80s with Tom Hanks" is still from the 80s, with him."""
    from recochat.bot.profile_update import apply_constraints
    from recochat.profiles.model import Constraints, TurnSignal

    c = Constraints()
    apply_constraints(c, TurnSignal(year_min=1980, year_max=1989, liked_people=["Tom Hanks"], new_topic=True))
    apply_constraints(c, TurnSignal(include_genres=["comedy"], new_topic=True, instead=True))
    assert (c.year_min, c.year_max, c.preferred_people, c.preferred_genres) == (1980, 1989, ["Tom Hanks"], ["comedy"])
    apply_constraints(c, TurnSignal(include_genres=["western"], new_topic=True))
    assert (c.year_min, c.preferred_people) == (None, [])


def test_others_like_a_person_lean_to_their_works_and_leave_them_out():
    """ "any other director like him?" after "I like Christopher Nolan": his films' neighbours, none of his."""
    from recochat.bot.profile_update import apply_constraints
    from recochat.profiles.model import Constraints, TurnSignal

    c = Constraints()
    apply_constraints(c, TurnSignal(liked_people=["Christopher Nolan"], new_topic=True))
    assert not c.others_than_people
    notes = apply_constraints(c, TurnSignal(others_like_people=True))  # "him": the person asked for before
    assert (c.preferred_people, c.others_than_people) == (["Christopher Nolan"], True)
    assert notes == ["like Christopher Nolan's work, by others"]
    apply_constraints(c, TurnSignal(liked_people=["Tom Hanks"], new_topic=True))  # his own films again
    assert (c.preferred_people, c.others_than_people) == (["Tom Hanks"], False)
    apply_constraints(c, TurnSignal(positive=["heist"], new_topic=True))
    assert not apply_constraints(c, TurnSignal(others_like_people=True))  # nobody asked for: nothing to lean to
    assert not c.others_than_people


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


# -- the profile update rule: pure functions of (profile, signal) --------------------------------
X = np.array([1.0, 0.0], dtype=np.float32)
Y = np.array([0.0, 1.0], dtype=np.float32)
VECTORS = {"x": X, "y": Y}


def unchanged(update, profile: Profile):  # type: ignore[no-untyped-def]
    """Run `update(profile)`, checking it leaves `profile` as it was; returns what it returned."""
    before = copy.deepcopy(profile)
    result = update(profile)
    assert profile_differences(profile, before) == []
    return result


def test_a_turn_moves_interest_and_aversion_by_its_phrase_vectors_and_keeps_its_words():
    profile = Profile("a", interest=X, constraints=Constraints(exclude_genres=["horror"]))
    signal = TurnSignal(
        positive=["funny"],
        negative=["gory"],
        include_genres=["comedy"],
        exclude_genres=["drama"],
        liked_people=["Ann"],
        year_min=2010,
        year_max=2019,
        positive_vector=Y,
        negative_vector=X,
    )
    after, notes = unchanged(lambda p: after_turn(p, "funny, not gory", signal, UpdateWeights()), profile)
    # interest: 0.8·[1,0] + 1.0·[0,1], normalized; aversion starts at the negative phrase's vector
    assert after.interest == pytest.approx([0.8 / np.sqrt(1.64), 1.0 / np.sqrt(1.64)], abs=1e-6)
    assert after.aversion == pytest.approx(X)
    assert (after.turns, after.recent_turns) == (1, ["funny, not gory"])
    assert (after.liked_aspects, after.disliked_aspects, after.liked_people) == (["funny"], ["gory"], ["Ann"])
    c = after.constraints
    assert (c.preferred_genres, c.exclude_genres, c.year_min, c.year_max) == (
        ["comedy"],
        ["horror", "drama"],
        2010,
        2019,
    )
    assert notes == ["years 2010–2019", "no drama from now on", "nothing gory from now on"]


def test_a_new_topic_decays_harder_and_drops_the_anchors():
    profile = Profile("a", interest=X, anchors=["x"])
    signal = TurnSignal(positive=["heist"], new_topic=True, positive_vector=Y)
    after, _ = after_turn(profile, "a heist movie", signal, UpdateWeights(topic_decay=0.4))
    assert after.interest == pytest.approx(normalize(np.array([0.4, 1.0], dtype=np.float32)), abs=1e-6)
    assert after.anchors == [] and profile.anchors == ["x"]


def test_a_turn_that_does_not_teach_only_counts():
    profile = Profile("a", interest=X)
    after, notes = unchanged(lambda p: after_turn(p, "hi", TurnSignal(intent="smalltalk", positive_vector=Y)), profile)
    assert (after.turns, notes, after.interest is X) == (1, [], True)


def test_ruling_out_a_genre_in_other_words_says_both():
    signal = TurnSignal(negative=["violent"], exclude_genres=["horror"])
    assert after_turn(Profile("a"), "nothing violent", signal).notes == ["nothing violent and no horror from now on"]


def test_a_word_that_rules_out_picks_is_said_once():
    """ "too violent" rules out every pick whose text says it; with horror already out the reply said nothing."""
    horror_out = Profile("a")
    horror_out.constraints.exclude_genres = ["horror"]
    signal = TurnSignal(negative=["violent"], exclude_genres=["horror"])
    after, notes = after_turn(horror_out, "too violent", signal)
    assert notes == ["nothing violent from now on"]
    assert after_turn(after, "not violent", signal).notes == []  # said already
    assert after_turn(Profile("a"), "no gore", TurnSignal(negative=["gore"])).notes == ["no gore from now on"]
    assert after_turn(Profile("a"), "too slow", TurnSignal(negative=["slow"])).notes == []  # no word we know


def test_item_signals_like_dislike_and_seen():
    w = UpdateWeights(item=1.5)
    liked = unchanged(lambda p: after_item(p, "feedback", "y", 1.0, Y, w), Profile("a", interest=X))
    # 0.8·[1,0] + 1.5·[0,1], normalized
    assert liked.interest == pytest.approx(normalize(np.array([0.8, 1.5], dtype=np.float32)), abs=1e-6)
    assert (liked.liked, liked.anchors, liked.seen) == (["y"], ["y"], [])
    disliked = unchanged(lambda p: after_item(p, "mention", "y", -1.0, Y, w), liked)
    assert (disliked.liked, disliked.disliked, disliked.anchors, disliked.seen) == ([], ["y"], [], ["y"])
    assert disliked.aversion == pytest.approx(Y) and disliked.interest is liked.interest
    seen = after_item(Profile("a"), "seen", "x", 0.0, X, w)
    assert (seen.seen, seen.liked, seen.interest) == (["x"], [], None)
    gone = after_item(Profile("a"), "mention", "z", 1.0, None, w)  # an item no longer in the catalog
    assert (gone.seen, gone.liked, gone.interest) == (["z"], [], None)


def test_shown_items_are_what_a_rank_refers_to():
    shown = unchanged(lambda p: after_shown(p, ["x", "y"]), Profile("a", anchors=["x"]))
    assert (shown.last_shown, shown.shown, shown.anchors_shown) == (["x", "y"], ["x", "y"], True)


def test_a_replay_folds_the_log_event_by_event_and_a_reset_starts_anew():
    def read(text: str) -> TurnSignal:
        raise AssertionError(f"a logged signal is replayed, never read again: {text!r}")

    events = [
        Event("a", "turn", text="funny", signal=TurnSignal(positive=["funny"], positive_vector=Y)),
        Event("a", "mention", item_id="x", value=1.0),
        Event("a", "shown", text='["y"]'),
        Event("a", "feedback", item_id="y", value=1.0),
        Event("a", "undo", item_id="y"),
    ]
    profile = Profile("a")
    for event in events[:3]:
        profile = after_event(profile, event, VECTORS.get, read).profile
    assert (
        profile_differences(replay("a", events, VECTORS.get, read), profile) == []
    )  # the undone 👍 counts for nothing
    assert (profile.liked, profile.seen, profile.last_shown, profile.turns) == (["x"], ["x"], ["y"], 1)
    reset = replay("a", [*events, Event("a", "reset"), Event("a", "seen", item_id="y", value=0.0)], VECTORS.get, read)
    assert (reset.liked, reset.seen, reset.turns, reset.interest) == ([], ["y"], 0, None)

    def read_now(text: str) -> TurnSignal:
        return TurnSignal(positive=[text], positive_vector=X)

    old_turn = after_event(
        Profile("a"), Event("a", "turn", text="dark"), VECTORS.get, read_now
    )  # logged before schema 1
    assert (old_turn.profile.liked_aspects, old_turn.profile.interest) == (["dark"], pytest.approx(X))
