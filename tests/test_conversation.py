"""The conversation API end to end on the tiny catalog (real Chroma, template writer).

Tests of what the ranking picks use the real encoder (`runtime`); tests of the API's bookkeeping
(feedback, undo, forget, constraints, streams, persistence) use the hashing encoder
(`fake_runtime`), since any vectors show the same plumbing.
"""

import asyncio

import numpy as np
import pytest

from recochat.bot.errors import NoSuchRank, UnknownItem
from recochat.bot.runtime import build
from recochat.bot.settings import Settings


def ids(reply):
    return [i.id for i in reply.items]


async def test_negation_keeps_horror_out(runtime):
    reply = await runtime.conversations.send("a", "something funny and clever, no horror")
    assert reply.items and all("horror" not in i.genres for i in reply.items)
    assert any("comedy" in i.genres for i in reply.items)


async def test_disliked_item_never_comes_back_and_shown_items_are_not_reoffered(fake_runtime):
    c = fake_runtime.conversations
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
    for user in ("a", "b"):  # b has the same turns without the like: the control
        await c.send(user, "hello there, I want a movie")
    await c.feedback("a", "m5", "like")  # The Haunting Hour
    reply, control = await c.send("a", "another one"), await c.send("b", "another one")
    assert "m5" in runtime.engine.profiles.load("a").liked
    # the other horror films, its neighbours, now lead for a because of the like; not for b
    neighbours = {"m4", "m13"}  # Night of Teeth, Scream Camp
    assert set(ids(reply)[:2]) == neighbours
    assert all(i.why.startswith("close to The Haunting Hour") for i in reply.items[:2])
    assert not neighbours & set(ids(control)[:2])


async def test_title_mentions_link_and_are_not_recommended_back(fake_runtime):
    reply = await fake_runtime.conversations.send("a", "I loved Village Cops, more like that")
    profile = fake_runtime.engine.profiles.load("a")
    assert profile.liked == ["m3"]
    assert "m3" not in ids(reply)
    assert reply.items[0].why


async def test_two_interleaved_users_stay_isolated(fake_runtime):
    c = fake_runtime.conversations
    a1, b1 = await asyncio.gather(c.send("alice", "no horror, something funny"), c.send("bob", "scary horror please"))
    await c.feedback("alice", "m13", "dislike")
    a2, b2 = await asyncio.gather(c.send("alice", "more"), c.send("bob", "more"))
    alice, bob = fake_runtime.engine.profiles.load("alice"), fake_runtime.engine.profiles.load("bob")
    # each of them gets a full reply every turn (an empty one would pass every check below)
    assert [(r.kind, len(r.items)) for r in (a1, b1, a2, b2)] == [("recommend", 5)] * 4
    assert alice.constraints.exclude_genres == ["horror"] and bob.constraints.exclude_genres == []
    assert "m13" in alice.disliked and "m13" not in bob.disliked
    # "scary horror" leans bob's replies to horror (three items here, so the rest are the closest others);
    # alice's "no horror" is hers alone
    assert all("horror" in i.genres for i in b1.items[:3]) and bob.constraints.preferred_genres == ["horror"]
    assert not any("horror" in i.genres for i in a1.items + a2.items)
    assert set(alice.shown) == set(ids(a1) + ids(a2)) and set(bob.shown) == set(ids(b1) + ids(b2))


async def test_cold_start_gives_diverse_seed_and_one_question(runtime):
    reply = await runtime.conversations.send("new", "recommend me something")
    assert reply.kind == "cold_start" and reply.question and reply.question.endswith("Or name a title you loved.")
    genres = {g for i in reply.items for g in i.genres}
    assert len(reply.items) == 5 and len(genres) >= 4


async def test_question_about_an_item_uses_catalog_and_recommends_nothing(fake_runtime):
    c = fake_runtime.conversations
    first = await c.send("a", "something with dreams and heists")
    answer = await c.send("a", "what is #1 about?")
    assert answer.items == [] and answer.kind == "about"
    assert first.items[0].title in answer.text and first.items[0].description in answer.text


async def test_constraints_persist_and_can_be_cleared(fake_runtime):
    def holds(reply, fits) -> bool:  # type: ignore[no-untyped-def]
        """The items in range lead; a reply the range leaves short is filled past it and says so."""
        within = [fits(i.year) for i in reply.items]
        return within[0] and within == sorted(within, reverse=True) and (all(within) or "other years" in reply.text)

    c = fake_runtime.conversations
    reply = await c.send("a", "something from the 2010s")
    assert holds(reply, lambda year: 2010 <= year <= 2019)
    reply = await c.send("a", "more please")
    assert holds(reply, lambda year: 2010 <= year <= 2019)
    reply = await c.send("a", "any year is fine, something from before 2000")
    assert holds(reply, lambda year: year < 2000)


async def test_profile_rebuilds_from_event_log(fake_runtime):
    c = fake_runtime.conversations
    await c.send("a", "funny but not stupid, I loved Village Cops")
    await c.feedback("a", 2, "dislike")
    await c.send("a", "a drama from the 2010s")
    await c.feedback("a", 1, "like")
    live = fake_runtime.engine.profiles.load("a")
    rebuilt = fake_runtime.engine.rebuild("a")
    assert rebuilt.liked == live.liked and rebuilt.disliked == live.disliked
    assert rebuilt.constraints == live.constraints and rebuilt.shown == live.shown
    assert np.allclose(rebuilt.interest, live.interest, atol=1e-5)
    assert np.allclose(rebuilt.aversion, live.aversion, atol=1e-5)


async def test_undo_feedback_restores_the_profile(fake_runtime):
    c = fake_runtime.conversations
    await c.send("a", "something clever")
    before = fake_runtime.engine.profiles.load("a")
    await c.feedback("a", 1, "like")
    await c.undo_feedback("a", before.last_shown[0])
    after = fake_runtime.engine.profiles.load("a")
    assert after.liked == [] and np.allclose(after.interest, before.interest, atol=1e-5)


async def test_forget_deletes_profile_and_events_only_for_that_user(fake_runtime):
    c = fake_runtime.conversations
    await c.send("a", "funny")
    await c.send("b", "scary")
    gone = await c.forget("a")
    assert gone >= 2
    assert list(fake_runtime.engine.profiles.events("a")) == []
    assert fake_runtime.engine.profiles.load("a").turns == 0
    assert fake_runtime.engine.profiles.load("b").turns == 1


async def test_profiles_persist_across_restarts(make_runtime, fake_encoder, isolated_home):
    first = make_runtime(encoder=fake_encoder)
    await first.conversations.send("a", "no horror please, I loved Village Cops")
    second = build(Settings(home=isolated_home, llm="template"), collection="tiny", encoder=fake_encoder)
    view = await second.conversations.profile("a")
    assert view.liked == ["Village Cops"] and "no horror" in view.constraints


async def test_stream_yields_chunks_that_make_the_reply(fake_runtime):
    stream = fake_runtime.conversations.stream("a", "a romantic drama")
    chunks = [chunk async for chunk in stream]
    assert "".join(chunks).strip() == stream.reply.prose
    assert stream.reply.text.startswith(stream.reply.prose + "\n1. ")
    assert {"understand", "encode", "retrieve", "score", "items_ms"} <= set(stream.reply.timings_ms)


async def test_feedback_on_unknown_item_or_rank_is_a_domain_error(fake_runtime):
    with pytest.raises(UnknownItem):
        await fake_runtime.conversations.feedback("a", "nope", "like")
    with pytest.raises(NoSuchRank):
        await fake_runtime.conversations.feedback("a", 3, "like")  # no reply yet


def engine_seeded_with(fake_runtime, tmp_path, pair):
    """An engine on the tiny catalog whose collaborative component saw two users like `pair` together."""
    from recochat.bot.engine import Engine
    from recochat.profiles.collaborative import CoOccurrence
    from recochat.profiles.store import ProfileStore

    seed = CoOccurrence()
    for user in ("x", "y"):
        for item_id in pair:
            seed.observe(user, item_id)
    catalog, encoder = fake_runtime.engine.catalog, fake_runtime.encoder
    return Engine(catalog, encoder, ProfileStore(tmp_path / "p.sqlite3"), collaborative=seed)


async def test_a_collaborative_component_passed_in_survives_start_up_and_forget(fake_runtime, tmp_path):
    engine = engine_seeded_with(fake_runtime, tmp_path, ("m1", "m2"))
    assert engine.collaborative.popularity("m1") == 2
    engine.feedback("u", "m3", "like")
    engine.forget("u")
    assert engine.collaborative.popularity("m1") == 2 and engine.collaborative.popularity("m3") == 0


async def test_a_title_seen_without_a_like_asks_the_collaborative_component_too(fake_runtime, tmp_path):
    """What people liked together is asked with every title the user named or saw, not the liked ones alone (ReDial:
    held-out R@10 .168 → .175); a disliked title asks nothing."""
    engine = engine_seeded_with(fake_runtime, tmp_path, ("m3", "m7"))
    engine.mark_seen("u", "m3")
    request = engine.ranking_request("u", 5)
    assert request.collaborative["m7"] > 0 and request.collaborative_because["m7"] == "m3"
    engine.feedback("u", "m3", "dislike")
    assert engine.ranking_request("u", 5).collaborative == {}


async def test_counts_and_asks_it_cannot_filter_on_reach_the_reply(fake_runtime):
    """The tiny catalog has no runtime: "not too long" is said, not searched for; counts size the reply."""
    c = fake_runtime.conversations
    one = await c.send("a", "just one comedy")
    assert len(one.items) == 1 and "Here is a pick for you." in one.text
    many = await c.send("a", "give me 50, not too long")
    assert len(many.items) == 10
    assert many.prose.startswith("I can't filter on length: this catalog has no runtime. I can show at most 10")
    profile = await c.profile("a")
    assert not any("long" in aspect for aspect in profile.liked_aspects + profile.disliked_aspects)
