"""The Textual chat app, driven through Pilot over a real runtime on the tiny catalog.

Every test gets its own RECOCHAT_HOME, catalog and profiles (conftest.py). The app's behaviour
is tested over the hashing encoder (what the app does with items, not which items); the
snapshots, which show a ranking, use the real encoder. Snapshots use a fake LangChain chat
model and frozen timings, so they are deterministic.
"""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

pytest.importorskip("textual")

from fakes import QueueChatModel, Sleep, naming_first  # noqa: E402
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel  # noqa: E402
from textual.pilot import Pilot  # noqa: E402
from textual.widgets import Input  # noqa: E402

from recochat.bot.conversation import Conversations  # noqa: E402
from recochat.bot.frontends.tui import (  # noqa: E402
    BotMessage,
    CardList,
    ConfirmScreen,
    ItemCard,
    Note,
    ProfilePanel,
    RecochatApp,
    StatusLine,
    WhyScreen,
)
from recochat.bot.runtime import Runtime  # noqa: E402
from recochat.bot.writer import LLMWriter  # noqa: E402

slow = pytest.mark.slow  # the snapshots load the real encoder (once per session)

USER = "alice"
FAKE_PROSE = "Here are a few picks for tonight, starting with {first}."
"""What the fake chat model writes: a sentence the validator keeps (it names the first pick, in words it may use)."""


# -- fixtures (the runtimes over the tiny catalog and the encoders come from conftest.py) ------


@pytest.fixture
def tui_runtime(fake_runtime: Runtime) -> Runtime:
    return fake_runtime


@pytest.fixture
def tui_snapshot_runtime(make_runtime, encoder) -> Runtime:
    if encoder.device != "cpu":
        pytest.skip("the snapshots were taken with CPU vectors; another device may rank near-ties differently")
    return make_runtime()


def with_writer(runtime: Runtime, model, label: str, first_s: float = 5.0) -> Runtime:
    engine = runtime.engine
    writer = LLMWriter(model, engine.reader.titles, label=label, first_sentence_s=first_s, total_s=5.0)
    conversations = Conversations(engine, writer, catalog_name=runtime.conversations.catalog_name)
    return dataclasses.replace(runtime, conversations=conversations, writer_label=label)


def fake_model() -> QueueChatModel:
    return QueueChatModel().enqueue(*[naming_first(FAKE_PROSE)] * 50)


class DownChatModel(GenericFakeChatModel):
    """A chat model whose endpoint refuses connections (like ChatOpenAI with the server down)."""

    async def _astream(self, *args, **kwargs):
        raise ConnectionError("Connection refused: http://127.0.0.1:9/v1")
        yield  # pragma: no cover


class HeldChatModel(QueueChatModel):
    """Holds its first sentence until `release` is set, like a model still reading its prompt."""

    release: asyncio.Event

    async def _astream(self, *args, **kwargs):
        await self.release.wait()
        async for chunk in super()._astream(*args, **kwargs):
            yield chunk


class FrozenTimings:
    """The real conversations, with fixed turn timings so screenshots do not change."""

    def __init__(self, inner: Conversations) -> None:
        self._inner = inner

    def __getattr__(self, name: str):
        return getattr(self._inner, name)

    def stream(self, user: str, text: str) -> _FrozenStream:
        return _FrozenStream(self._inner.stream(user, text))


class _FrozenStream:
    def __init__(self, inner) -> None:
        self._inner = inner
        self.reply = None

    async def items(self):
        return await self._inner.items()

    def __aiter__(self):
        return self._run()

    async def _run(self):
        async for chunk in self._inner:
            yield chunk
        timings = {"items_ms": 12.0, "total": 12.0, "write": 30.0, "turn_total": 42.0}
        self.reply = dataclasses.replace(self._inner.reply, timings_ms=timings, first_sentence_ms=8.0)


class BrokenConversations(FrozenTimings):
    def stream(self, user: str, text: str):
        raise RuntimeError("the conversation service is down")


class FeedbackFails(FrozenTimings):
    async def feedback(self, user: str, item, value):
        raise KeyError(f"no item {item!r} in catalog 'tiny'")


# -- helpers ----------------------------------------------------------------------------------


async def settle(pilot: Pilot) -> None:
    """Wait for every worker, including those started by workers that just finished."""
    for _ in range(20):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        if not any(w.is_running for w in pilot.app.workers):
            return
    raise AssertionError("workers did not settle")


async def say(pilot: Pilot, text: str) -> None:
    pilot.app.query_one("#input", Input).value = text
    await pilot.press("enter")
    await settle(pilot)


def panel_text(app: RecochatApp) -> str:
    return str(app.query_one("#profile-body").render())


def last_cards(app: RecochatApp) -> list[ItemCard]:
    return list(app.query(CardList))[-1].cards


# -- a whole conversation ---------------------------------------------------------------------


async def test_conversation_with_feedback_updates_profile_and_next_reply(tui_runtime: Runtime) -> None:
    app = RecochatApp(tui_runtime, USER)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert app.focused is app.query_one("#input")
        before = panel_text(app)

        # type character by character, like a person would
        await pilot.press(*"something tense and exciting")
        await pilot.press("enter")
        await settle(pilot)
        reply = app.last_reply
        assert reply is not None and len(reply.items) >= 3
        cards = last_cards(app)
        assert [c.item.id for c in cards] == [i.id for i in reply.items]
        shown = app.query(BotMessage).last().source
        assert "—" not in shown and reply.items[0].title not in shown  # items are cards, not prose lines
        assert "items " in app.query_one(StatusLine).text and " ms, turn " in app.query_one(StatusLine).text

        # select cards from the keyboard and give feedback: the card shows it at once
        await pilot.press("up")
        assert isinstance(app.focused, CardList)
        await pilot.press("2", "plus")
        liked = cards[1]
        assert liked.state == "like" and liked.has_class("-liked")
        await pilot.press("down", "minus")
        disliked = cards[2]
        assert disliked.state == "dislike" and disliked.has_class("-disliked")
        await settle(pilot)

        # the side panel shows the new profile
        after = panel_text(app)
        assert after != before
        assert liked.item.title in after and disliked.item.title in after
        view = await tui_runtime.conversations.profile(USER)
        assert view.liked == [liked.item.title] and view.disliked == [disliked.item.title]

        # `?` shows the full why and the description; escape closes it
        await pilot.press("question_mark")
        await settle(pilot)
        assert isinstance(app.screen, WhyScreen)
        assert app.screen.item.id == disliked.item.id
        texts = " ".join(str(s.render()) for s in app.screen.query("Static"))
        assert disliked.item.description[:30] in texts
        await pilot.press("escape")
        assert not isinstance(app.screen, WhyScreen)
        assert isinstance(app.focused, CardList)

        # typing on a card goes back to the input; the next reply reflects the feedback
        await pilot.press("s")
        assert app.focused is app.query_one("#input")
        app.query_one("#input", Input).value = ""
        await say(pilot, "show me them again")
        again = [i.id for i in app.last_reply.items]
        assert again, "allow-repeats turn should show items again"
        assert disliked.item.id not in again
        assert liked.item.id not in again
        assert len(app.query(CardList)) == 2


async def test_commands_profile_reset_forget_help_quit(tui_runtime: Runtime) -> None:
    app = RecochatApp(tui_runtime, USER)
    async with app.run_test(size=(80, 24)) as pilot:
        await say(pilot, "something funny")
        await say(pilot, "+1")
        assert last_cards(app)[0].state == "like"
        assert last_cards(app)[0].item.title in panel_text(app)

        await say(pilot, "/help")
        assert "/forget" in str(app.query(Note).last().render())
        await say(pilot, "/profile")
        assert "likes:" in str(app.query(Note).last().render())

        await pilot.press("ctrl+b")
        assert not app.query_one(ProfilePanel).display
        await pilot.press("ctrl+b")
        assert app.query_one(ProfilePanel).display

        await say(pilot, "/forget")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        await settle(pilot)
        assert (await tui_runtime.conversations.profile(USER)).liked

        await say(pilot, "/reset")
        view = await tui_runtime.conversations.profile(USER)
        assert not view.liked and "Liked items\n  —" in panel_text(app)

        await say(pilot, "/forget")
        await pilot.press("y")
        await settle(pilot)
        assert "Forgotten" in str(app.query(Note).last().render())

        await say(pilot, "/nonsense")
        assert any("unknown command '/nonsense'" in n.message.lower() for n in app._notifications)
        await say(pilot, "/quit")
    assert app.return_code == 0


async def test_errors_are_notifications_and_logged(tui_runtime: Runtime, caplog: pytest.LogCaptureFixture) -> None:
    broken = dataclasses.replace(tui_runtime, conversations=BrokenConversations(tui_runtime.conversations))
    app = RecochatApp(broken, USER)
    async with app.run_test(size=(80, 24)) as pilot:
        await say(pilot, "anything")
        assert app.is_running
        assert any(n.severity == "error" and "service is down" in n.message for n in app._notifications)
        assert app.query_one("#input").has_focus
    # the traceback goes to the log (a file under RECOCHAT_HOME when run by the CLI), not the screen
    logged = [r for r in caplog.records if r.name == "recochat.tui" and r.exc_info]
    assert logged and "service is down" in str(logged[0].exc_info[1])


async def test_feedback_that_fails_is_undone_and_notified(tui_runtime: Runtime) -> None:
    failing = dataclasses.replace(tui_runtime, conversations=FeedbackFails(tui_runtime.conversations))
    app = RecochatApp(failing, USER)
    async with app.run_test(size=(80, 24)) as pilot:
        await say(pilot, "something funny")
        await pilot.press("up", "plus")
        await settle(pilot)
        assert last_cards(app)[0].state is None and not last_cards(app)[0].has_class("-liked")
        assert any(n.severity == "error" and "no item" in n.message for n in app._notifications)


async def test_the_status_timer_ticking_after_the_status_line_is_gone_raises_nothing(tui_runtime: Runtime) -> None:
    """CI once failed on this race: the 1 s timer ticked during shutdown, after the status line was removed."""
    app = RecochatApp(tui_runtime, USER)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.query_one(StatusLine).remove()
        app._update_status()  # what the timer calls
        await pilot.pause()
        assert not app.query(StatusLine)


async def test_llm_endpoint_down_falls_back_with_a_warning(tui_runtime: Runtime) -> None:
    runtime = with_writer(tui_runtime, DownChatModel(messages=iter([])), "m @ http://127.0.0.1:9/v1")
    app = RecochatApp(runtime, USER)
    async with app.run_test(size=(80, 24)) as pilot:
        await say(pilot, "something funny")
        assert app.last_reply is not None and app.last_reply.status == "replaced"
        assert app.last_reply.items and len(last_cards(app)) == len(app.last_reply.items)
        warned = [n for n in app._notifications if n.severity == "warning" and n.title == "Plain reply"]
        assert warned and warned[0].message.startswith(
            "The model is unavailable (could not connect); showing the plain reply. (m @ http://127.0.0.1:9/v1; details in"
        )
        assert "http://127.0.0.1:9/v1" in app.query_one(StatusLine).text


async def test_a_slow_model_is_called_slow_not_unavailable(tui_runtime: Runtime) -> None:
    runtime = with_writer(tui_runtime, QueueChatModel().enqueue(Sleep(30, "Far too late.")), "slow", first_s=0.3)
    app = RecochatApp(runtime, USER)
    async with app.run_test(size=(200, 24)) as pilot:
        await say(pilot, "something funny")
        assert app.last_reply is not None and app.last_reply.status == "replaced"
        warned = [n for n in app._notifications if n.severity == "warning"]
        assert [n.title for n in warned] == ["Plain reply"]
        assert warned[0].message.startswith("The model was too slow (no sentence within 0.3 s); showing the plain")
        assert "unavailable" not in warned[0].message + warned[0].title
        assert "The model was too slow" in app.query_one(StatusLine).text


async def test_an_llm_setup_problem_is_in_the_status_line_and_replies_carry_on(tui_runtime: Runtime) -> None:
    problem = "the LLM client cannot be built (TypeError: …) with openai 3.63.0, langchain-openai 1.8.1"
    runtime = dataclasses.replace(tui_runtime, writer_label="template (LLM setup failed)", setup_problem=problem)
    app = RecochatApp(runtime, USER)
    async with app.run_test(size=(200, 24)) as pilot:
        await say(pilot, "something funny")
        assert app.last_reply is not None and app.last_reply.status == "template" and last_cards(app)
        status = app.query_one(StatusLine).text
        assert "LLM template (LLM setup failed)" in status and problem in status


async def test_cards_show_while_the_prose_is_still_coming(tui_runtime: Runtime) -> None:
    model = HeldChatModel(release=asyncio.Event()).enqueue(*[naming_first(FAKE_PROSE)] * 5)
    app = RecochatApp(with_writer(tui_runtime, model, "held"), USER)
    async with app.run_test(size=(80, 24)) as pilot:
        app.query_one("#input", Input).value = "something funny"
        await pilot.press("enter")
        for _ in range(200):  # the engine's turn runs in a thread; wait for the cards, not the prose
            await pilot.pause(0.02)
            if app.query(CardList):
                break
        cards = last_cards(app)
        assert cards, "no cards while the model holds its first sentence"
        assert app.query(BotMessage).last().source == ""  # no prose yet: the model is still holding it
        assert app.last_reply is None
        model.release.set()
        await settle(pilot)
        assert app.query(BotMessage).last().source.startswith("Here are a few picks")
        assert [c.item.id for c in last_cards(app)] == [i.id for i in app.last_reply.items]


# -- snapshots ----------------------------------------------------------------------------------


async def test_a_restarted_app_shows_the_last_cards_so_ranks_match_the_screen(
    tui_runtime: Runtime, make_runtime, fake_encoder
) -> None:
    first = RecochatApp(tui_runtime, USER)
    async with first.run_test(size=(80, 24)) as pilot:
        await say(pilot, "something funny")
        shown = [(c.item.id, c.item.why) for c in last_cards(first)]
    restarted = make_runtime(encoder=fake_encoder)  # a new engine over the same home and database
    second = RecochatApp(restarted, USER)
    async with second.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert [(c.item.id, c.item.why) for c in last_cards(second)] == shown
        await say(pilot, "+2")
        assert last_cards(second)[1].state == "like"
        assert (await restarted.conversations.profile(USER)).liked == [last_cards(second)[1].item.title]


def snapshot_app(runtime: Runtime) -> RecochatApp:
    runtime = with_writer(runtime, fake_model(), "fake chat model")
    return RecochatApp(dataclasses.replace(runtime, conversations=FrozenTimings(runtime.conversations)), USER)


async def _turn_with_feedback(pilot: Pilot) -> None:
    pilot.app.query_one("#input", Input).cursor_blink = False  # a blinking cursor would make screenshots flaky
    await say(pilot, "something tense and exciting")
    await pilot.press("up", "1", "plus", "down", "down", "minus")
    await settle(pilot)


@slow
def test_snapshot_main_screen(tui_snapshot_runtime: Runtime, snap_compare) -> None:
    assert snap_compare(snapshot_app(tui_snapshot_runtime), terminal_size=(80, 24), run_before=_turn_with_feedback)


@slow
def test_snapshot_why_dialog(tui_snapshot_runtime: Runtime, snap_compare) -> None:
    async def run_before(pilot: Pilot) -> None:
        await _turn_with_feedback(pilot)
        await pilot.press("question_mark")
        await settle(pilot)

    assert snap_compare(snapshot_app(tui_snapshot_runtime), terminal_size=(80, 24), run_before=run_before)


@slow
def test_snapshot_light_theme_wide(tui_snapshot_runtime: Runtime, snap_compare) -> None:
    async def run_before(pilot: Pilot) -> None:
        pilot.app.theme = "textual-light"
        await _turn_with_feedback(pilot)
        await pilot.press("escape")

    assert snap_compare(snapshot_app(tui_snapshot_runtime), terminal_size=(110, 30), run_before=run_before)
