"""The conversation API end to end on the tiny catalog (real encoder, real Chroma, template writer)."""

import asyncio

import numpy as np
import pytest

from recochat.bot.app import build
from recochat.bot.settings import Settings


def ids(reply):
    return [i.id for i in reply.items]


async def test_negation_keeps_horror_out(runtime):
    reply = await runtime.conversations.send("a", "something funny and clever, no horror")
    assert reply.items and all("horror" not in i.genres for i in reply.items)
    assert any("comedy" in i.genres for i in reply.items)


async def test_disliked_item_never_comes_back_and_shown_items_are_not_reoffered(runtime):
    c = runtime.conversations
    first = await c.send("a", "science fiction please")
    rejected = first.items[0].id
    await c.feedback("a", 1, "dislike")
    seen = set(ids(first))
    for _ in range(2):
        reply = await c.send("a", "what else?")
        assert rejected not in ids(reply)
        assert not seen & set(ids(reply))
        seen |= set(ids(reply))
    again = await c.send("a", "show them again")
    assert rejected not in ids(again)


async def test_liked_item_pulls_similar_items_up(runtime):
    c = runtime.conversations
    await c.send("a", "hello there, I want a movie")
    baseline = await c.send("b", "a movie")
    await c.feedback("a", "m5", "like")  # The Haunting Hour
    reply = await c.send("a", "another one")
    profile = runtime.engine.profiles.load("a")
    assert "m5" in profile.liked
    # horror items now lead for a, not for b
    assert any("horror" in g for g in reply.items[0].genres)
    assert reply.items[0].id != baseline.items[0].id or "horror" in baseline.items[0].genres


async def test_title_mentions_link_and_are_not_recommended_back(runtime):
    reply = await runtime.conversations.send("a", "I loved Village Cops, more like that")
    profile = runtime.engine.profiles.load("a")
    assert profile.liked == ["m3"]
    assert "m3" not in ids(reply)
    assert reply.items[0].why


async def test_two_interleaved_users_stay_isolated(runtime):
    c = runtime.conversations
    a1, b1 = await asyncio.gather(c.send("alice", "no horror, something funny"), c.send("bob", "scary horror please"))
    await c.feedback("alice", "m13", "dislike")
    a2, b2 = await asyncio.gather(c.send("alice", "more"), c.send("bob", "more"))
    alice, bob = runtime.engine.profiles.load("alice"), runtime.engine.profiles.load("bob")
    assert alice.constraints.exclude_genres == ["horror"] and bob.constraints.exclude_genres == []
    assert "m13" in alice.disliked and "m13" not in bob.disliked
    assert all("horror" in i.genres for i in b1.items + b2.items)
    assert set(alice.shown) == set(ids(a1) + ids(a2)) and set(bob.shown) == set(ids(b1) + ids(b2))


async def test_cold_start_gives_diverse_seed_and_one_question(runtime):
    reply = await runtime.conversations.send("new", "recommend me something")
    assert reply.kind == "cold_start" and reply.question and reply.question.endswith("Or name a title you loved.")
    genres = {g for i in reply.items for g in i.genres}
    assert len(reply.items) == 5 and len(genres) >= 4


async def test_question_about_an_item_uses_catalog_and_recommends_nothing(runtime):
    c = runtime.conversations
    first = await c.send("a", "something with dreams and heists")
    answer = await c.send("a", "what is #1 about?")
    assert answer.items == [] and answer.kind == "about"
    assert first.items[0].title in answer.text and first.items[0].description in answer.text


async def test_constraints_persist_and_can_be_cleared(runtime):
    c = runtime.conversations
    reply = await c.send("a", "something from the 2010s")
    assert all(2010 <= i.year <= 2019 for i in reply.items)
    reply = await c.send("a", "more please")
    assert all(2010 <= i.year <= 2019 for i in reply.items)
    reply = await c.send("a", "any year is fine, something from before 2000")
    assert all(i.year < 2000 for i in reply.items)


async def test_profile_rebuilds_from_event_log(runtime):
    c = runtime.conversations
    await c.send("a", "funny but not stupid, I loved Village Cops")
    await c.feedback("a", 2, "dislike")
    await c.send("a", "a drama from the 2010s")
    await c.feedback("a", 1, "like")
    live = runtime.engine.profiles.load("a")
    rebuilt = runtime.engine.rebuild("a")
    assert rebuilt.liked == live.liked and rebuilt.disliked == live.disliked
    assert rebuilt.constraints == live.constraints and rebuilt.shown == live.shown
    assert np.allclose(rebuilt.u, live.u, atol=1e-5) and np.allclose(rebuilt.n, live.n, atol=1e-5)


async def test_undo_feedback_restores_the_profile(runtime):
    c = runtime.conversations
    await c.send("a", "something clever")
    before = runtime.engine.profiles.load("a")
    await c.feedback("a", 1, "like")
    await c.undo_feedback("a", before.last_shown[0])
    after = runtime.engine.profiles.load("a")
    assert after.liked == [] and np.allclose(after.u, before.u, atol=1e-5)


async def test_forget_deletes_profile_and_events_only_for_that_user(runtime):
    c = runtime.conversations
    await c.send("a", "funny")
    await c.send("b", "scary")
    gone = await c.forget("a")
    assert gone >= 2
    assert list(runtime.engine.profiles.events("a")) == []
    assert runtime.engine.profiles.load("a").turns == 0
    assert runtime.engine.profiles.load("b").turns == 1


async def test_profiles_persist_across_restarts(make_runtime, encoder, isolated_home):
    first = make_runtime()
    await first.conversations.send("a", "no horror please, I loved Village Cops")
    second = build(Settings(home=isolated_home, llm="template"), collection="tiny", encoder=encoder)
    view = await second.conversations.profile("a")
    assert view.liked == ["Village Cops"] and "no horror" in view.constraints


async def test_stream_yields_chunks_that_make_the_reply(runtime):
    stream = runtime.conversations.stream("a", "a romantic drama")
    chunks = [chunk async for chunk in stream]
    assert "".join(chunks).strip() == stream.reply.prose
    assert stream.reply.text.startswith(stream.reply.prose + "\n1. ")
    assert {"understand", "encode", "retrieve", "score", "items_ms"} <= set(stream.reply.timings_ms)


async def test_feedback_on_unknown_item_is_a_key_error(runtime):
    with pytest.raises(KeyError):
        await runtime.conversations.feedback("a", "nope", "like")
    with pytest.raises(KeyError):
        await runtime.conversations.feedback("a", 3, "like")  # no reply yet


async def test_a_collaborative_component_passed_in_survives_start_up_and_forget(runtime, tmp_path):
    from recochat.bot.engine import Engine
    from recochat.profiles.collaborative import CoOccurrence
    from recochat.profiles.store import ProfileStore

    seed = CoOccurrence()
    for user in ("x", "y"):
        seed.observe(user, "m1")
        seed.observe(user, "m2")
    engine = Engine(runtime.engine.catalog, runtime.encoder, ProfileStore(tmp_path / "p.sqlite3"), collaborative=seed)
    assert engine.collaborative.popularity("m1") == 2
    engine.feedback("u", "m3", "like")
    engine.forget("u")
    assert engine.collaborative.popularity("m1") == 2 and engine.collaborative.popularity("m3") == 0
