"""The Discord adapter over the real conversation API (tiny catalog, template writer), with the
hashing encoder: these tests are about messages, reactions and commands, not ranking quality.

Messages and reactions go through dpytest 0.7; slash commands through AsyncMock interactions,
since dpytest has no slash-command support. No network: dpytest replaces Discord's HTTP client.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator
from types import SimpleNamespace
from unittest.mock import AsyncMock, MagicMock

import pytest

discord = pytest.importorskip("discord")  # the `discord` extra
dpytest = pytest.importorskip("discord.ext.test")  # the `test` extra (dpytest)

from discord.ext.test import backend as dpy_backend
from discord.ext.test import callbacks as dpy_callbacks
from discord.ext.test import factories as dpy_factories
from discord.ext.test import state as dpy_state

from recochat.bot.conversation import Conversations
from recochat.bot.errors import SetupError
from recochat.bot.frontends.discord_bot import (
    MESSAGE_LIMIT,
    SORRY,
    LiveMessage,
    Pick,
    RateLimiter,
    RecoBot,
    RecoCommands,
    ShardedRecoBot,
    bot_intents,
    check_shards,
    check_token,
    make_bot,
    profile_id,
    run_discord,
)
from recochat.bot.runtime import Runtime
from recochat.bot.settings import Settings

FAKE_TOKEN = "MTAxMjM0NTY3ODkwMTIzNDU2Nw.GabcDE.abcdefghijklmnopqrstuvwxyz0123456789AB"


# -- a runtime per test over the tiny catalog (conftest.py) ---------------------------------------
@pytest.fixture
def runtime(fake_runtime: Runtime) -> Runtime:
    """Overrides conftest's `runtime` here: the hashing encoder, not the model."""
    return fake_runtime


# -- dpytest 0.7 on discord.py 2.7 ---------------------------------------------------------------
@pytest.fixture
def dc_dpytest_patches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fill the gaps of dpytest 0.7 on discord.py >= 2.4: reaction `type`, threads."""

    def with_reaction_type(parse):  # type: ignore[no-untyped-def]
        def patched(self, data):  # type: ignore[no-untyped-def]
            data.setdefault("type", 0)  # a normal (not super) reaction; discord.py >= 2.4 reads it
            return parse(self, data)

        return patched

    for name in ("parse_message_reaction_add", "parse_message_reaction_remove"):
        monkeypatch.setattr(dpy_state.FakeState, name, with_reaction_type(getattr(dpy_state.FakeState, name)))

    async def start_thread_with_message(self, channel_id, message_id, *, name, auto_archive_duration, **_):  # type: ignore[no-untyped-def]
        guild = next(g for g in self.state.guilds if g.get_channel(channel_id) is not None)
        data = {
            "id": message_id,
            "parent_id": channel_id,
            "owner_id": self.state.user.id,
            "guild_id": guild.id,
            "name": name,
            "type": discord.ChannelType.public_thread.value,
            "message_count": 0,
            "member_count": 1,
            "thread_metadata": {
                "archived": False,
                "auto_archive_duration": auto_archive_duration,
                "archive_timestamp": discord.utils.utcnow().isoformat(),
                "locked": False,
            },
        }
        self.state.parse_thread_create(data)
        return data

    monkeypatch.setattr(dpy_backend.FakeHttp, "start_thread_with_message", start_thread_with_message, raising=False)
    make_message_dict = dpy_factories.make_message_dict

    def message_dict(channel, author, *args, **kwargs):  # type: ignore[no-untyped-def]
        if isinstance(channel, discord.Thread):
            kwargs.setdefault("guild_id", channel.guild.id)  # dpytest only sets it for GuildChannel
        return make_message_dict(channel, author, *args, **kwargs)

    monkeypatch.setattr(dpy_factories, "make_message_dict", message_dict)


@pytest.fixture
async def dc_start(dc_dpytest_patches):  # type: ignore[no-untyped-def]
    """Start a RecoBot on dpytest's fake server with members alice, bob, carol."""

    async def start(conversations: Conversations, **options) -> RecoBot:  # type: ignore[no-untyped-def]
        intents = bot_intents()
        intents.members = True  # dpytest builds its fake server through the member cache
        options.setdefault("edit_interval_s", 0.0)
        bot = RecoBot(conversations, intents=intents, announce=lambda line: None, **options)
        dpytest.configure(bot, members=["alice", "bob", "carol"])
        await bot._async_setup_hook()  # after configure: gives dpytest's state the running loop
        bot.tree.sync = AsyncMock(return_value=[])  # type: ignore[method-assign]
        await bot.setup_hook()
        return bot

    yield start
    await dpytest.empty_queue()
    dpy_callbacks.remove_callback("send_typing")


@pytest.fixture
async def dc_bot(dc_start, runtime) -> RecoBot:  # type: ignore[no-untyped-def]
    return await dc_start(runtime.conversations)


def member(name: str) -> discord.Member:
    return next(m for m in dpytest.get_config().members if m.name == name)


def mention(bot: RecoBot, text: str) -> str:
    assert bot.user is not None
    return f"<@{bot.user.id}> {text}"


def drain() -> list[discord.Message]:
    """Messages the bot sent since the last drain, in order (their content as first sent)."""
    sent = []
    while not dpytest.runner.sent_queue.empty():
        sent.append(dpytest.runner.sent_queue.get_nowait())
    return sent


def cards(messages: list[discord.Message]) -> list[discord.Message]:
    return [m for m in messages if m.embeds]


async def turn(bot: RecoBot, name: str, text: str, channel=None) -> list[discord.Message]:  # type: ignore[no-untyped-def]
    """One message from `name` (a mention in the channel, or plain text in a given thread/DM)."""
    if channel is None:
        await dpytest.message(mention(bot, text), member=member(name))
    else:
        await dpytest.message(text, channel=channel, member=member(name))
    return drain()


async def pick(bot: RecoBot, message_id: int) -> Pick:
    """The card as the profile store keeps it (any process's bot reads the same)."""
    found = await bot.pick(message_id)
    assert found is not None, f"message {message_id} is not a stored card"
    return found


async def picked(bot: RecoBot, messages: list[discord.Message]) -> list[str]:
    return [(await pick(bot, m.id)).item_id for m in cards(messages)]


# -- messages --------------------------------------------------------------------------------
async def test_mention_opens_a_thread_and_replies_with_reactable_items(dc_bot: RecoBot) -> None:
    events: list[str] = []

    async def typing(channel):  # type: ignore[no-untyped-def]
        events.append("typing")

    dpy_callbacks.set_callback(typing, "send_typing")
    sent = await turn(dc_bot, "alice", "something funny and clever")
    items = cards(sent)
    prose = [m for m in sent if not m.embeds]
    assert events == ["typing"]
    thread = sent[0].channel
    assert isinstance(thread, discord.Thread) and thread.owner_id == dc_bot.user.id
    # the cards go out the moment ranking is done, then the prose, which carries no item lines
    assert sent[:5] == items and len(items) == 5 and len(prose) == 1 and sent[-1] is prose[0]
    assert prose[0].content and "1. " not in prose[0].content
    assert [m.embeds[0].title.split(".")[0] for m in items] == ["1", "2", "3", "4", "5"]
    assert all(m.channel.id == thread.id for m in sent)
    assert any("comedy" in (m.embeds[0].footer.text or "") for m in items)
    assert {(await pick(dc_bot, m.id)).owner_id for m in items} == {member("alice").id}
    assert {str(r.emoji) for r in items[0].reactions if r.me} == {"👍", "👎"}

    follow_up = await turn(dc_bot, "alice", "something scary instead", channel=thread)  # no mention needed
    assert follow_up and all(m.channel.id == thread.id for m in follow_up)
    assert await turn(dc_bot, "bob", "just chatting here", channel=dpytest.get_config().channels[0]) == []


async def test_an_llm_setup_problem_is_the_bots_status_and_replies_carry_on(dc_start, runtime) -> None:  # type: ignore[no-untyped-def]
    problem = "the LLM client cannot be built (TypeError: …) with openai 3.63.0, langchain-openai 1.8.1"
    shown = RecoBot(runtime.conversations, setup_problem=problem, announce=lambda line: None).activity
    assert isinstance(shown, discord.CustomActivity) and shown.name == f"LLM off: {problem}"[:128]
    bot = await dc_start(runtime.conversations, setup_problem=problem)  # dpytest's fake gateway keeps no presence
    assert cards(await turn(bot, "alice", "something funny"))


async def test_dm_is_answered_without_a_mention(dc_bot: RecoBot) -> None:
    alice = member("alice")
    dm = await alice.create_dm()
    sent = await turn(dc_bot, "alice", "something clever to watch", channel=dm)
    assert sent and len(cards(sent)) == 5
    assert {(await pick(dc_bot, m.id)).user_id for m in cards(sent)} == {profile_id(alice)}


@pytest.mark.parametrize("reactor, changes", [("alice", True), ("bob", False)])
async def test_thumbs_up_from_the_asker_changes_the_next_reply_and_from_others_nothing(
    dc_bot: RecoBot,
    runtime,
    reactor: str,
    changes: bool,  # type: ignore[no-untyped-def]
) -> None:
    conversations = runtime.conversations
    control_first = await turn(dc_bot, "carol", "a movie for tonight")  # same turns, no reaction
    control_next = await turn(dc_bot, "carol", "another one", channel=control_first[0].channel)

    first = await turn(dc_bot, "alice", "a movie for tonight")
    assert await picked(dc_bot, first) == await picked(dc_bot, control_first)
    horror = next(m for m in cards(first) if "horror" in m.embeds[0].footer.text)
    await dpytest.add_reaction(member(reactor), horror, "👍")
    alice = await conversations.profile(profile_id(member("alice")))
    bob = await conversations.profile(profile_id(member("bob")))
    assert (len(alice.liked) == 1) is changes
    assert bob.liked == [] and bob.turns == 0
    following = await turn(dc_bot, "alice", "another one", channel=first[0].channel)
    assert (await picked(dc_bot, following) != await picked(dc_bot, control_next)) is changes


async def test_two_users_interleaved_in_one_channel_stay_isolated(dc_bot: RecoBot, runtime) -> None:  # type: ignore[no-untyped-def]
    await asyncio.gather(
        dpytest.message(mention(dc_bot, "no horror, something funny"), member=member("alice")),
        dpytest.message(mention(dc_bot, "scary horror please"), member=member("bob")),
    )
    sent = drain()
    by_owner: dict[int, list[discord.Message]] = {}
    for m in cards(sent):
        by_owner.setdefault((await pick(dc_bot, m.id)).owner_id, []).append(m)
    alice_cards, bob_cards = by_owner[member("alice").id], by_owner[member("bob").id]
    assert all("horror" not in m.embeds[0].footer.text for m in alice_cards)
    assert any("horror" in m.embeds[0].footer.text for m in bob_cards)  # bob's "horror" leans his reply only
    assert {m.channel.id for m in alice_cards}.isdisjoint({m.channel.id for m in bob_cards})

    await dpytest.add_reaction(member("bob"), alice_cards[0], "👎")  # bob on alice's card: ignored
    await dpytest.add_reaction(member("alice"), alice_cards[0], "👍")
    alice = await runtime.conversations.profile(profile_id(member("alice")))
    bob = await runtime.conversations.profile(profile_id(member("bob")))
    assert len(alice.liked) == 1 and alice.disliked == [] and "horror" in alice.disliked_aspects
    assert bob.liked == [] and bob.disliked == [] and "horror" not in bob.disliked_aspects
    assert any("horror" in aspect for aspect in bob.liked_aspects)


async def test_removing_a_reaction_undoes_it(dc_bot: RecoBot, runtime) -> None:  # type: ignore[no-untyped-def]
    alice = member("alice")
    sent = await turn(dc_bot, "alice", "something funny")
    card = cards(sent)[0]
    profile = lambda: runtime.conversations.profile(profile_id(alice))  # noqa: E731
    await dpytest.add_reaction(alice, card, "👍")
    assert len((await profile()).liked) == 1
    await dpytest.remove_reaction(alice, card, "👍")
    assert (await profile()).liked == []

    await dpytest.add_reaction(alice, card, "👍🏽")  # any skin tone
    await dpytest.add_reaction(alice, card, "👎")
    await dpytest.remove_reaction(alice, card, "👍🏽")  # the 👎 still on the card stands
    now = await profile()
    assert now.liked == [] and len(now.disliked) == 1
    await dpytest.remove_reaction(member("bob"), card, "👎")  # not bob's to remove
    assert len((await profile()).disliked) == 1


async def test_quick_add_then_remove_leaves_no_like(dc_commands: RecoCommands, runtime) -> None:  # type: ignore[no-untyped-def]
    """A 👍 and its removal arrive as two tasks; the removal must wait for the like it takes back."""
    it = interaction(7, [])
    await dc_commands.recommend.callback(dc_commands, it, "something funny")
    bot = dc_commands.bot
    first = it.sent[0].id  # the first card
    profile = lambda: runtime.conversations.profile("discord:7")  # noqa: E731
    await asyncio.gather(
        bot.on_raw_reaction_add(reaction(7, first, "👍")), bot.on_raw_reaction_remove(reaction(7, first, "👍"))
    )
    assert (await profile()).liked == [] and (await pick(bot, first)).held == []
    await asyncio.gather(
        bot.on_raw_reaction_add(reaction(7, first, "👍")),
        bot.on_raw_reaction_remove(reaction(7, first, "👍")),
        bot.on_raw_reaction_add(reaction(7, first, "👎")),
        bot.on_raw_reaction_add(reaction(7, first, "👍")),
    )
    now = await profile()
    assert len(now.liked) == 1 and now.disliked == [] and (await pick(bot, first)).held == ["👎", "👍"]


def test_rate_limiter_forgets_users_whose_window_has_passed() -> None:
    now = [0.0]
    limiter = RateLimiter(turns=2, per_s=60, clock=lambda: now[0], max_users=100)
    for n in range(50):
        assert limiter.wait_s(f"user{n}") == 0.0
    assert limiter.tracked == 50
    now[0] = 61.0
    assert limiter.wait_s("late") == 0.0 and limiter.tracked == 1  # everyone else's window has passed
    for n in range(500):  # more users in one window than it keeps: the least recent go first
        limiter.wait_s(f"burst{n}")
    assert limiter.tracked == 100
    assert limiter.wait_s("burst499") == 0.0 and limiter.wait_s("burst499") > 0  # the recent ones still count
    assert limiter.should_warn("burst499", 30.0) and not limiter.should_warn("burst499", 30.0)
    now[0] = 200.0
    limiter.wait_s("someone")
    assert limiter.tracked == 1 and len(limiter._warned_until) == 0


async def test_long_reply_is_split_at_2000_characters(dc_start, make_runtime, fake_encoder) -> None:  # type: ignore[no-untyped-def]
    lines = [f"Line {n:03d}:" + " a fairly long sentence about films" * 3 for n in range(45)]
    text = "\n".join(lines)

    class LongWriter:
        name = "long"

        async def stream(self, result, outcome) -> AsyncIterator[str]:  # type: ignore[no-untyped-def]
            outcome.status = "ok"
            for n, line in enumerate(lines):
                yield ("\n" if n else "") + line

    bot = await dc_start(make_runtime(writer=LongWriter(), encoder=fake_encoder).conversations)
    sent = await turn(bot, "alice", "something funny")
    prose = [m for m in sent if not m.embeds]
    final = [(await m.channel.fetch_message(m.id)).content for m in prose]
    assert len(text) > 2 * MESSAGE_LIMIT and len(final) == 3
    assert all(0 < len(piece) <= MESSAGE_LIMIT for piece in final)
    assert "\n".join(final) == text.strip()
    assert len(cards(sent)) == 5


async def test_streamed_edits_are_throttled(monkeypatch: pytest.MonkeyPatch) -> None:
    """1.2 s of streaming at one edit per 0.2 s: the message is edited as the words come (several times, not
    once at the end), never twice within the interval, the last edit included. A fake clock, so no waiting."""
    now = [0.0]
    edits: list[float] = []
    sent: list[SimpleNamespace] = []
    real_sleep = asyncio.sleep

    async def sleep(seconds: float) -> None:  # LiveMessage.finish waits out the interval on this clock
        now[0] += seconds
        await real_sleep(0)

    async def send(content: str) -> SimpleNamespace:
        async def edit(*, content: str) -> None:
            edits.append(now[0])
            message.content = content

        message = SimpleNamespace(id=len(sent), content=content, edit=edit)
        sent.append(message)
        return message

    monkeypatch.setattr(asyncio, "sleep", sleep)
    live = LiveMessage(send, interval_s=0.2, clock=lambda: now[0])
    for n in range(40):
        await live.push(f"word{n} ")
        now[0] += 0.03
    await live.finish()
    assert len(sent) == 1 and sent[0].content.split() == [f"word{n}" for n in range(40)]
    assert 5 <= len(edits) <= 7  # 1.2 s / 0.2 s, and the last words at the end
    assert all(b - a >= 0.2 - 1e-9 for a, b in itertools.pairwise(edits))


async def test_per_user_rate_limit_answers_politely_once(dc_start, runtime) -> None:  # type: ignore[no-untyped-def]
    bot = await dc_start(runtime.conversations, rate_limit=RateLimiter(turns=2, per_s=60))
    for text in ("something funny", "something scary"):
        assert cards(await turn(bot, "alice", text))
    limited = await turn(bot, "alice", "more!")
    assert len(limited) == 1 and "going a little fast" in limited[0].content and not limited[0].embeds
    assert await turn(bot, "alice", "more!!") == []  # said once, not once per message
    assert cards(await turn(bot, "bob", "something funny"))  # others are not affected
    assert (await runtime.conversations.profile(profile_id(member("alice")))).turns == 2


async def test_turns_do_not_block_the_event_loop(dc_bot: RecoBot, runtime, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    turn_sync = runtime.engine.turn

    def slow_turn(*args):  # type: ignore[no-untyped-def]
        time.sleep(0.3)  # a slow encoder or model call
        return turn_sync(*args)

    monkeypatch.setattr(runtime.engine, "turn", slow_turn)
    ticks = 0

    async def heartbeat() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.02)
            ticks += 1

    beat = asyncio.create_task(heartbeat())
    await turn(dc_bot, "alice", "something funny")
    beat.cancel()
    assert ticks >= 8


async def test_a_failed_turn_says_sorry(dc_bot: RecoBot, runtime, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    def broken(*args):  # type: ignore[no-untyped-def]
        raise RuntimeError("boom")

    monkeypatch.setattr(runtime.engine, "turn", broken)
    sent = await turn(dc_bot, "alice", "something funny")
    assert [m.content for m in sent] == [SORRY]


# -- slash commands --------------------------------------------------------------------------
_ids = itertools.count(1)


def interaction(user_id: int, calls: list[tuple]) -> MagicMock:
    """An Interaction double that records defer/send calls in order."""

    sent: list[SimpleNamespace] = []

    async def followup_send(content=None, **kwargs):  # type: ignore[no-untyped-def]
        message = SimpleNamespace(id=next(_ids), content=content, **kwargs)
        message.edit = AsyncMock()
        message.add_reaction = AsyncMock()
        calls.append(("send", content, kwargs))
        sent.append(message)
        return message

    it = MagicMock()
    it.sent = sent  # the messages sent through the followup, in order
    it.user = SimpleNamespace(id=user_id, display_name=f"user{user_id}", bot=False)
    it.response.defer = AsyncMock(side_effect=lambda **kw: calls.append(("defer", kw)))
    it.response.send_message = AsyncMock(side_effect=lambda *a, **kw: calls.append(("respond", a, kw)))
    it.response.edit_message = AsyncMock(side_effect=lambda **kw: calls.append(("edit_message", kw)))
    it.edit_original_response = AsyncMock(side_effect=lambda **kw: calls.append(("edit_original", kw)))
    it.followup.send = AsyncMock(side_effect=followup_send)
    return it


def reaction(user_id: int, message_id: int, emoji: str) -> SimpleNamespace:
    return SimpleNamespace(user_id=user_id, message_id=message_id, emoji=discord.PartialEmoji(name=emoji))


@pytest.fixture
def dc_commands(runtime) -> RecoCommands:  # type: ignore[no-untyped-def]
    return RecoCommands(RecoBot(runtime.conversations, edit_interval_s=0.0, announce=lambda line: None))


async def test_slash_recommend_defers_first_then_streams_items(dc_commands: RecoCommands, runtime) -> None:  # type: ignore[no-untyped-def]
    calls: list[tuple] = []
    it = interaction(7, calls)
    stream = runtime.conversations.stream

    def recording_stream(*args):  # type: ignore[no-untyped-def]
        calls.append(("turn",))
        return stream(*args)

    runtime.conversations.stream = recording_stream
    await dc_commands.recommend.callback(dc_commands, it, "something scary")
    assert calls[0] == ("defer", {"thinking": True}) and calls[1] == ("turn",)
    sends = [c for c in calls if c[0] == "send"]
    assert all(c[2]["wait"] for c in sends)
    item_messages = [c for c in sends if "embed" in c[2]]
    assert sends[: len(item_messages)] == item_messages  # cards first, then the prose
    assert sends[-1][1] and "1. " not in sends[-1][1]
    # "scary" leans to horror: the tiny catalog's three horror films lead, the closest others fill the reply
    assert len(item_messages) >= 3 and all("horror" in c[2]["embed"].footer.text for c in item_messages[:3])

    bot = dc_commands.bot
    first = it.sent[0].id
    await bot.on_raw_reaction_add(reaction(8, first, "👍"))  # someone else
    assert (await runtime.conversations.profile("discord:7")).liked == []
    await bot.on_raw_reaction_add(reaction(7, first, "👍"))
    assert len((await runtime.conversations.profile("discord:7")).liked) == 1


async def test_slash_profile_why_reset_are_ephemeral(dc_commands: RecoCommands, runtime) -> None:  # type: ignore[no-untyped-def]
    first = (await runtime.conversations.send("discord:7", "something scary")).items[0]
    for command, args in (
        (dc_commands.profile, ()),
        (dc_commands.why, (1,)),
        (dc_commands.why, (9,)),
        (dc_commands.reset, ()),
    ):
        calls: list[tuple] = []
        await command.callback(dc_commands, interaction(7, calls), *args)
        assert calls[0] == ("defer", {"ephemeral": True, "thinking": True})
        assert calls[1][0] == "send" and calls[1][2] == {"ephemeral": True}
        text = calls[1][1]
        if command is dc_commands.profile:
            assert text.startswith("user: discord:7") and "horror" in text
        elif args == (1,):  # the reason #1 was shown, not the "wasn't recommended" fallback
            assert first.why and text == f"{first.label}: {first.why}."
        elif args == (9,):
            assert "no #9" in text
    assert (await runtime.conversations.profile("discord:7")).liked_aspects == []


async def test_slash_forget_asks_then_deletes(dc_commands: RecoCommands, runtime) -> None:  # type: ignore[no-untyped-def]
    await runtime.conversations.send("discord:7", "something scary")
    calls: list[tuple] = []
    await dc_commands.forget.callback(
        dc_commands,
        interaction(7, calls),
    )
    assert calls[0] == ("defer", {"ephemeral": True, "thinking": True})
    view = calls[1][2]["view"]
    await view.cancel.callback(interaction(7, calls))
    assert (await runtime.conversations.profile("discord:7")).turns == 1
    await view.confirm.callback(interaction(7, calls))
    assert "deleted" in calls[-1][1]["content"]
    assert (await runtime.conversations.profile("discord:7")).turns == 0


async def test_slash_recommend_is_rate_limited_politely(runtime) -> None:  # type: ignore[no-untyped-def]
    bot = RecoBot(runtime.conversations, rate_limit=RateLimiter(turns=1, per_s=60), announce=lambda line: None)
    commands = RecoCommands(bot)
    await commands.recommend.callback(commands, interaction(7, []), None)
    calls: list[tuple] = []
    await commands.recommend.callback(commands, interaction(7, calls), None)
    assert calls[0][0] == "respond" and "going a little fast" in calls[0][1][0] and calls[0][2] == {"ephemeral": True}
    assert len(calls) == 1


@pytest.mark.parametrize("guild_id", [None, 1234])
async def test_commands_sync_to_the_test_guild_when_set_else_globally(guild_id) -> None:  # type: ignore[no-untyped-def]
    bot = RecoBot(MagicMock(spec=Conversations), guild_id=guild_id, announce=lambda line: None)
    bot.tree.sync = AsyncMock(return_value=[])  # type: ignore[method-assign]
    await bot.setup_hook()
    names = {c.name for c in bot.tree.get_commands()}
    assert names == {"recommend", "profile", "why", "reset", "forget"}
    if guild_id is None:
        bot.tree.sync.assert_awaited_once_with()
    else:
        assert bot.tree.sync.await_args.kwargs["guild"].id == guild_id
        assert {c.name for c in bot.tree.get_commands(guild=discord.Object(guild_id))} == names


# -- configuration -----------------------------------------------------------------------------
def test_intents_are_only_what_is_needed() -> None:
    intents = bot_intents()
    assert intents.message_content and intents.guild_messages and intents.dm_messages and intents.guild_reactions
    assert not (intents.members or intents.presences or intents.typing or intents.voice_states)


def test_missing_or_malformed_token_is_a_clear_error() -> None:
    runtime = SimpleNamespace(conversations=MagicMock(spec=Conversations))
    for value in (None, "", "   "):
        with pytest.raises(SetupError, match="DISCORD_TOKEN"):
            check_token(value)
    with pytest.raises(SetupError, match="does not look like a bot token"):
        check_token("my-client-secret")
    with pytest.raises(SetupError, match="no Discord bot token"):
        run_discord(runtime, "", None)


def test_token_and_server_come_from_settings(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """One place reads the environment (Settings); RECOCHAT_DISCORD_TOKEN wins over DISCORD_TOKEN."""
    from click.testing import CliRunner

    from recochat.bot.frontends.cli import main

    result = CliRunner().invoke(main, ["discord"])
    assert result.exit_code == 2 and "DISCORD_TOKEN" in result.output and "RECOCHAT_DISCORD_TOKEN" in result.output
    monkeypatch.setenv("DISCORD_TOKEN", "x")
    monkeypatch.setenv("RECOCHAT_DISCORD_TOKEN", f"Bot {FAKE_TOKEN}")
    monkeypatch.setenv("RECOCHAT_DISCORD_GUILD", "42")
    settings = Settings()
    assert check_token(settings.discord_token.get_secret_value()) == FAKE_TOKEN
    assert settings.discord_guild == 42
    monkeypatch.setenv("RECOCHAT_DISCORD_GUILD", "my-server")
    result = CliRunner().invoke(main, ["discord"])
    assert result.exit_code == 2 and "discord_guild" in result.output and "Traceback" not in result.output


def test_rejected_token_is_a_clear_error(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    runtime = SimpleNamespace(conversations=MagicMock(spec=Conversations), setup_problem=None)

    async def login(self, token):  # type: ignore[no-untyped-def]
        raise discord.LoginFailure("Improper token has been passed.")

    monkeypatch.setattr(RecoBot, "login", login)
    with pytest.raises(SetupError, match="rejected the bot token"):
        run_discord(runtime, FAKE_TOKEN, None)


# -- several processes -------------------------------------------------------------------------
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_a_reaction_is_handled_by_a_process_that_did_not_post_the_card(
    dc_start, make_runtime, fake_encoder, request, backend: str
) -> None:  # type: ignore[no-untyped-def]
    """Bot A posts the cards; bot B (another runtime and profile store on the same database: what
    another process, or A after a restart, has) gets the reactions and acts on them."""
    options = {"database_url": request.getfixturevalue("postgres_url")} if backend == "postgres" else {}
    poster_runtime = make_runtime(encoder=fake_encoder, **options)
    other_runtime = make_runtime(encoder=fake_encoder, **options)
    assert poster_runtime.engine.profiles is not other_runtime.engine.profiles
    poster = await dc_start(poster_runtime.conversations)
    other = RecoBot(other_runtime.conversations, announce=lambda line: None)
    alice = member("alice")
    first, second = cards(await turn(poster, "alice", "something funny"))[:2]
    assert (await pick(other, first.id)).item_id == (await pick(poster, first.id)).item_id

    await other.on_raw_reaction_add(reaction(member("bob").id, first.id, "👍"))  # not bob's card
    await other.on_raw_reaction_add(reaction(alice.id, first.id, "👍"))
    await other.on_raw_reaction_add(reaction(alice.id, second.id, "👎"))
    liked = (await pick(poster, first.id)).item_id
    seen_by_poster = await poster_runtime.conversations.profile(profile_id(alice))
    assert seen_by_poster.liked == [poster_runtime.engine.item(liked).title]  # type: ignore[union-attr]
    assert len(seen_by_poster.disliked) == 1
    assert (await pick(poster, first.id)).held == ["👍"]

    await poster.on_raw_reaction_remove(reaction(alice.id, first.id, "👍"))  # taken back where it was posted
    now = await other_runtime.conversations.profile(profile_id(alice))
    assert now.liked == [] and len(now.disliked) == 1
    await other.on_raw_reaction_add(reaction(alice.id, 424242, "👍"))  # not a card at all: ignored
    poster_runtime.close()
    other_runtime.close()


async def test_forget_removes_the_users_cards_from_the_store(dc_commands: RecoCommands, runtime) -> None:  # type: ignore[no-untyped-def]
    it = interaction(7, [])
    await dc_commands.recommend.callback(dc_commands, it, "something funny")
    first = it.sent[0].id
    assert await dc_commands.bot.pick(first) is not None
    await runtime.conversations.forget("discord:7")
    assert await dc_commands.bot.pick(first) is None
    await dc_commands.bot.on_raw_reaction_add(reaction(7, first, "👍"))  # a card of a forgotten user: ignored
    assert (await runtime.conversations.profile("discord:7")).liked == []


@pytest.mark.parametrize(
    ("ids", "count", "says"),
    [
        ("0,1", None, "--shard-ids needs --shard-count"),
        (None, 4, "--shard-count needs --shard-ids"),
        ("", 4, "--shard-count needs --shard-ids"),
        ("0,4", 4, "shard id 4 is out of range for --shard-count 4: ids run from 0 to 3"),
        ("0,x", 4, "shard numbers separated by commas"),
        ("-1", 4, "shard numbers separated by commas"),
        ("1,1", 4, "lists a shard twice"),
        ("0", 0, "must be 1 or more"),
    ],
)
def test_bad_shard_flags_say_what_to_pass(ids: str | None, count: int | None, says: str) -> None:
    with pytest.raises(SetupError, match=says):
        check_shards(ids, count)


def test_good_shard_flags_make_a_bot_on_those_shards_and_none_make_the_whole_bot() -> None:
    assert check_shards(None, None) is None
    assert check_shards(" 3, 1 ", 4) == ([1, 3], 4) and check_shards([0], 1) == ([0], 1)
    conversations = MagicMock(spec=Conversations)
    whole = make_bot(conversations, announce=lambda line: None)
    assert type(whole) is RecoBot and whole.shard_label is None and whole.registers_commands
    sharded = make_bot(conversations, shard_ids=[2, 3], shard_count=4, announce=lambda line: None)
    assert isinstance(sharded, ShardedRecoBot) and isinstance(sharded, discord.AutoShardedClient)
    assert sharded.shard_ids == [2, 3] and sharded.shard_count == 4 and sharded.shard_label == "shards 2,3 of 4"
    assert not sharded.registers_commands
    assert make_bot(conversations, shard_ids=[0, 1], shard_count=4).registers_commands


async def test_only_the_process_with_shard_0_registers_the_slash_commands() -> None:
    for ids, registers in (([0, 1], True), ([2, 3], False)):
        bot = make_bot(MagicMock(spec=Conversations), shard_ids=ids, shard_count=4, announce=lambda line: None)
        bot.tree.sync = AsyncMock(return_value=[])  # type: ignore[method-assign]
        await bot.setup_hook()
        assert {c.name for c in bot.tree.get_commands()} == {"recommend", "profile", "why", "reset", "forget"}
        assert bot.tree.sync.await_count == (1 if registers else 0)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--shard-ids", "0,5", "--shard-count", "4"], "shard id 5 is out of range"),
        (["--shard-ids", "0,1"], "--shard-ids needs --shard-count"),
        (["--shard-count", "4"], "--shard-count needs --shard-ids"),
    ],
)
def test_the_discord_command_refuses_bad_shard_flags_before_anything_loads(args: list[str], says: str) -> None:
    from click.testing import CliRunner

    from recochat.bot.frontends.cli import main

    result = CliRunner().invoke(main, ["discord", *args])  # no token set: the shard check comes first
    assert result.exit_code == 2 and says in result.output and "Traceback" not in result.output


def test_the_discord_command_runs_the_given_shards(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from click.testing import CliRunner

    import recochat.bot.frontends.cli as cli
    import recochat.bot.frontends.discord_bot as discord_bot

    ran: dict = {}
    monkeypatch.setenv("DISCORD_TOKEN", FAKE_TOKEN)
    monkeypatch.setattr(cli, "_runtime", lambda collection, llm: MagicMock())
    monkeypatch.setattr(discord_bot, "run_discord", lambda runtime, token, guild, **shards: ran.update(shards))
    result = CliRunner().invoke(cli.main, ["discord", "--shard-ids", "1,0", "--shard-count", "2"])
    assert result.exit_code == 0, result.output
    assert ran == {"shard_ids": [0, 1], "shard_count": 2}
