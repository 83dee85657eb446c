"""The engine (bot/engine.py): what a turn logs and the steps it times, the rebuild that replays the log, and the
item-level signals outside a turn. On the hashing encoder and the tiny catalog: no model, a few seconds.

The update rule itself is tested on its own in tests/test_update_rule.py; the store under the engine in
tests/test_store.py (which shares this file's helpers)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fakes import HashingEncoder

import recochat.bot.reading as reading_module
from recochat.benchmarks.stress import profile_differences
from recochat.bot.engine import Engine
from recochat.bot.errors import NothingToUndo, RecochatError, UnknownItem
from recochat.bot.reading import TurnReader
from recochat.bot.understanding import RECENT_SPAN, RankFeedback, TitleMention, Understanding
from recochat.profiles.model import Profile, TurnSignal
from recochat.profiles.store import ProfileStore, without_undone


class CountingEncoder(HashingEncoder):
    """The hashing encoder, counting every query encoding."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def encode_queries(self, texts: list[str]) -> list[np.ndarray]:
        self.calls += 1
        return super().encode_queries(texts)


def engine_over(fake_runtime, path: Path, encoder=None, **kw) -> Engine:  # type: ignore[no-untyped-def]
    """A new Engine (as after a restart) over the tiny catalog and the store at `path`."""
    return Engine(fake_runtime.engine.catalog, encoder or fake_runtime.encoder, ProfileStore(path), **kw)


def converse(engine: Engine, user: str = "a") -> None:
    """A conversation that touches every kind of event."""
    engine.turn(user, "something funny but clever, no horror, I loved Village Cops")
    engine.turn(user, "the second one looks great")
    engine.feedback(user, engine.profiles.load(user).last_shown[0], "dislike")
    engine.turn(user, "tell me about #1")
    engine.turn(user, "hi")
    engine.turn(user, "a drama from the 2010s, not with robots", recommend=False)
    engine.turn(user, "meh")
    engine.mark_seen(user, "m9")
    engine.feedback(user, "m6", "like")
    engine.undo_feedback(user, "m6")
    engine.feedback(user, "m7", "like")


def assert_same(a, b) -> None:  # type: ignore[no-untyped-def]
    assert profile_differences(a, b) == []


def item_events(engine: Engine, user: str) -> list[tuple[str, str | None, float | None]]:
    return [(e.kind, e.item_id, e.value) for e in engine.profiles.events(user) if e.item_id]


# -- what a turn logs: the signal, built once from what was understood ----------------------------
def test_turn_events_store_the_understood_signal(fake_runtime):
    engine = fake_runtime.engine
    engine.turn("a", "something funny, no horror, from the 2010s, I loved Village Cops")
    turn = next(e for e in engine.profiles.events("a") if e.kind == "turn")
    signal = turn.signal
    assert signal is not None and signal.intent == "recommend"
    assert signal.positive == ["funny"] and signal.negative == ["horror"]
    assert signal.titles == [("m3", "like")] and signal.year_min == 2010
    assert signal.positive_vector is not None and signal.positive_vector.dtype == np.float32
    assert np.allclose(signal.positive_vector, fake_runtime.encoder.encode_query("funny"))


def test_the_signal_keeps_every_field_the_understanding_has_and_derives_the_rest(fake_runtime):
    reader = TurnReader(fake_runtime.engine.catalog, fake_runtime.encoder, fake_runtime.engine.reader.people)
    understood = Understanding(
        "text",
        positive=["funny"],
        negative=["gory"],
        titles=[TitleMention("m3", "like"), TitleMention("m1", "seen")],
        rank_feedback=[RankFeedback(2, "like", strong=True)],
        include_genres=["comedy", "drama"],
        exclude_genres=["horror"],
        liked_people=["Ann"],
        disliked_people=["Bob"],
        year_min=1980,
        year_max=1989,
        clear_years=True,
        clear_genres=True,
        insisted_genres=["drama"],
        new_topic=True,
    )
    signal = reader.signal(understood)
    assert signal == TurnSignal(
        intent="recommend",
        positive=["funny"],
        negative=["gory"],
        titles=[("m3", "like"), ("m1", "seen")],
        include_genres=["comedy", "drama"],
        exclude_genres=["horror"],
        liked_people=["Ann"],
        disliked_people=["Bob"],
        year_min=1980,
        year_max=1989,
        clear_years=True,
        clear_genres=True,
        insisted_genres=["drama"],
        new_topic=True,
        anchored=True,
        positive_vector=fake_runtime.encoder.encode_query("funny"),
        negative_vector=fake_runtime.encoder.encode_query("gory"),
    )
    assert signal.include_genres is not understood.include_genres  # the log's copy, not the understanding's list
    assert reader.signal(Understanding("hi", intent="smalltalk")) == TurnSignal(intent="smalltalk")


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
    kinds = [e.kind for e in engine.profiles.events("a")]
    assert kinds == ["turn", "turn", "turn", "shown"]


# -- the rebuild replays the log ------------------------------------------------------------------
def test_rebuild_makes_no_encoder_call_and_equals_the_live_profile(fake_runtime, tmp_path):
    encoder = CountingEncoder()
    engine = engine_over(fake_runtime, tmp_path / "p.sqlite3", encoder)
    converse(engine)
    encoder.calls = 0
    rebuilt = engine.rebuild("a")
    engine.undo_feedback("a", "m7")
    assert encoder.calls == 0
    engine.feedback("a", "m7", "like")
    assert_same(rebuilt, engine.profiles.load("a"))


def test_rebuild_does_not_change_when_understanding_does(fake_runtime, tmp_path, monkeypatch):
    engine = engine_over(fake_runtime, tmp_path / "p.sqlite3")
    converse(engine)
    live = engine.profiles.load("a")
    monkeypatch.setattr(reading_module, "understand", lambda text, *a, **k: Understanding(text, intent="smalltalk"))
    assert_same(engine.rebuild("a"), live)
    undone = engine.undo_feedback("a", "m7")  # undo replays too
    assert_same(undone, engine.rebuild("a"))
    assert "m7" not in undone.liked and undone.liked_aspects == live.liked_aspects


def test_replaying_event_by_event_makes_the_rebuild(fake_runtime, tmp_path):
    """`replay_event` (what ranker training steps through) and `rebuild` are one rule."""
    engine = engine_over(fake_runtime, tmp_path / "p.sqlite3")
    converse(engine)
    engine.reset("a")
    converse(engine)
    profile = Profile("a")
    for event in without_undone(list(engine.profiles.events("a"))):
        profile = engine.replay_event(profile, event)
    assert_same(profile, engine.rebuild("a"))
    assert_same(profile, engine.profiles.load("a"))


# -- item-level signals outside a turn --------------------------------------------------------------
def test_mark_seen_records_what_an_ive_seen_mention_records(fake_runtime):
    engine = fake_runtime.engine
    assert engine.mark_seen("a", "m3").title == "Village Cops"
    engine.turn("b", "I've seen Village Cops", recommend=False)
    assert item_events(engine, "a") == item_events(engine, "b") == [("seen", "m3", 0.0)]
    assert engine.profiles.load("a").seen == engine.rebuild("a").seen == ["m3"]
    assert "m3" not in {r.item.id for r in engine.turn("a", "a comedy").items}


def test_unknown_items_are_domain_errors_that_name_the_id(fake_runtime):
    engine = fake_runtime.engine
    for call in (lambda: engine.feedback("a", "nope", "like"), lambda: engine.mark_seen("a", "nope")):
        with pytest.raises(UnknownItem, match="'nope'") as caught:
            call()
        assert isinstance(caught.value, RecochatError) and not isinstance(caught.value, KeyError)
    assert list(engine.profiles.events("a")) == []


def test_undo_with_no_live_feedback_on_the_item_raises_and_logs_nothing(fake_runtime, tmp_path):
    engine = engine_over(fake_runtime, tmp_path / "p.sqlite3")
    engine.turn("u", "I loved Village Cops")  # a liked mention is no 👍 to take back
    engine.feedback("u", "m2", "like")
    engine.undo_feedback("u", "m2")
    count = len(list(engine.profiles.events("u")))
    for item_id in ("m3", "m2"):  # never rated; rated but already taken back
        with pytest.raises(NothingToUndo, match="no 👍/👎 on"):
            engine.undo_feedback("u", item_id)
    engine.feedback("u", "m1", "dislike")
    engine.reset("u")
    with pytest.raises(NothingToUndo):  # a reset already cleared it
        engine.undo_feedback("u", "m1")
    with pytest.raises(NothingToUndo, match="Village Cops"):
        engine.undo_feedback("u", "m3")
    assert len(list(engine.profiles.events("u"))) == count + 2  # the dislike and the reset, no undo


def test_newer_with_nothing_to_compare_is_recent_and_older_is_before_the_picks_on_screen(fake_runtime, tmp_path):
    """'Something newer' on a first turn has no anchor and no picks to be newer than: it means recent, as it did
    before it could be relative. After picks, 'something older' is before their middle year."""
    engine = engine_over(fake_runtime, tmp_path / "p.sqlite3")
    first = engine.turn("u", "something newer")
    assert f"years {engine.reader.newest_year - RECENT_SPAN} or later" in first.notes
    shown = sorted(r.item.year for r in engine.turn("v", "a comedy").items)
    older = engine.turn("v", "something older")
    assert f"years {shown[len(shown) // 2] - 1} or earlier" in older.notes
    assert older.items


def test_a_name_no_one_goes_by_is_called_unknown_only_where_the_catalog_is_small_enough_to_scan(
    fake_runtime, tmp_path, monkeypatch
):
    """Whether a name is said in the catalog's texts takes a scan of every text: on a catalog too large to score
    whole that is about a second a word at 1M items, so there every name counts as said."""
    from recochat.retrieval import candidates

    small = engine_over(fake_runtime, tmp_path / "small.db")
    assert small.reader.understand("a movie with Denzel Washington").unknown_people == ["Denzel Washington"]
    monkeypatch.setattr(candidates, "EXACT_LIMIT", 1)
    large = engine_over(fake_runtime, tmp_path / "large.db")
    assert large.reader.understand("a movie with Denzel Washington").unknown_people == []
