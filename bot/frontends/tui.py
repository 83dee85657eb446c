"""`recochat chat` on a terminal: a Textual app over the conversation API.

With `tui_widgets.py` (what it shows), the only module that imports Textual. It holds no recommender logic: every turn, piece of
feedback and profile read goes through `Conversations`, so the app behaves like the line
mode and the other front ends.

Setup: `pip install 'recochat[tui]'`.
Construct: `RecochatApp(runtime, user)` with a `Runtime` from `recochat.bot.runtime.build()`.
Run: `run_tui(runtime, user)` (blocking), or `RecochatApp.run_test()` in tests.

Replies stream into a Markdown widget through its stream helper (fast chunks are batched, so
typing stays responsive); the numbered item lines of a reply are shown as cards instead.
Errors become notifications and go to the log file under RECOCHAT_HOME, never a traceback.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, ClassVar

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.content import Content
from textual.widgets import Footer, Input, Markdown, Static

from .commands import HELP as COMMANDS_HELP
from .commands import Command, UnknownCommand, parse_command
from .tui_widgets import (
    BotMessage,
    CardList,
    ChatInput,
    ConfirmScreen,
    Feedback,
    ItemCard,
    Note,
    ProfilePanel,
    StatusLine,
    UserMessage,
    WhyScreen,
)

if TYPE_CHECKING:
    from ..conversation import Conversations, Reply, ReplyItem
    from ..runtime import Runtime

log = logging.getLogger("recochat.tui")

HELP = f"""\
Type what you're in the mood for and press Enter.
Cards: ↑ in the input reaches them; ↑/↓ or 1-9 picks one, + or l likes it, - or d dislikes it,
u takes that back, ? or w shows why and the description, Esc goes back to the input.
{COMMANDS_HELP}
Keys: ctrl+b shows or hides the profile panel, ctrl+q quits."""

WELCOME = "Hi! Tell me what you're in the mood for, or name something you loved. /help lists the commands."

_FAILED: Any = object()
"""What `RecochatApp.attempt` returns when the call raised (it was logged and notified)."""


def timing_text(reply: Reply) -> str:
    """The last turn's time split, short enough for the status line."""
    t = reply.timings_ms
    text = (
        f"items {t.get('items_ms', 0.0):.0f} ms, turn {t.get('turn_total', 0.0):.0f}: write {t.get('write', 0.0):.0f}"
    )
    if reply.first_sentence_ms is not None and reply.writer != "template":
        text += f", 1st {reply.first_sentence_ms:.0f}"
    if reply.note:
        text = f"{reply.note} · {text}"
    return text


# -- the app ----------------------------------------------------------------------------------


class RecochatApp(App[None]):
    """The chat app. `runtime` is what `recochat.bot.runtime.build()` returns."""

    TITLE = "recochat"
    CSS = """
    Screen { layout: vertical; }
    #main { height: 1fr; }
    #log { width: 1fr; height: 1fr; padding: 0 1; scrollbar-size-vertical: 1; }
    UserMessage { margin: 1 0 0 0; color: $accent; }
    Note { margin: 1 0 0 0; color: $text-muted; }
    BotMessage { margin: 0; padding: 0; background: transparent; }
    BotMessage MarkdownParagraph { margin: 0; }
    .thinking { color: $text-muted; text-style: italic; }
    CardList { height: auto; margin: 0 0 0 1; background: transparent; overflow-y: hidden; }
    CardList:focus { background-tint: $foreground 4%; }
    ItemCard { padding: 0 1; border-left: blank; }
    ItemCard .title, ItemCard .why { text-wrap: nowrap; text-overflow: ellipsis; width: 1fr; }
    ItemCard .why { color: $text-muted; padding-left: 2; }
    ItemCard.-liked { border-left: outer $success; }
    ItemCard.-disliked { border-left: outer $error; }
    ItemCard.-disliked .title { text-style: strike; }
    ProfilePanel { width: 30%; min-width: 24; max-width: 40; height: 1fr; padding: 0 1;
                   border-left: vkey $primary 50%; background: $panel; scrollbar-size-vertical: 1; }
    ProfilePanel.-hidden { display: none; }
    ChatInput { margin: 0; }
    StatusLine { height: 1; padding: 0 1; background: $panel; color: $text-muted; }
    #status-where { width: 1fr; text-wrap: nowrap; text-overflow: ellipsis; }
    #status-time { width: auto; padding-left: 2; }
    WhyScreen, ConfirmScreen { align: center middle; }
    #why-box { width: 72; max-width: 95%; height: auto; max-height: 80%; padding: 0 1;
               border: round $accent; background: $surface; }
    #why-box Static { margin: 0 0 1 0; }
    #why-box .facts { color: $text-muted; }
    #confirm-box { width: 60; max-width: 95%; height: auto; padding: 1 2; border: round $error;
                   background: $surface; }
    #confirm-buttons { height: auto; margin-top: 1; align-horizontal: right; }
    #confirm-buttons Button { margin-left: 2; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+b", "toggle_profile", "Profile"),
        Binding("ctrl+q", "quit", "Quit", priority=True),
        Binding("escape", "focus_input", "Input", show=False),
        Binding("pageup", "scroll_log(-1)", "Scroll up", show=False),
        Binding("pagedown", "scroll_log(1)", "Scroll down", show=False),
    ]

    def __init__(self, runtime: Runtime, user: str) -> None:
        super().__init__()
        self.runtime = runtime
        self.conversations: Conversations = runtime.conversations
        self.user = user
        self.last_reply: Reply | None = None
        self._busy = 0
        self._last_timing = ""
        self.chat_commands = ChatCommands(self)

    # -- layout ---------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        with Horizontal(id="main"):
            with VerticalScroll(id="log", can_focus=False):
                yield Note(WELCOME)
            yield ProfilePanel(id="profile")
        yield ChatInput(placeholder="What are you in the mood for? (/help)", id="input")
        yield StatusLine(id="status")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#log", VerticalScroll).anchor()
        self.query_one(ChatInput).focus()
        self._update_status()
        self.set_interval(1.0, self._update_status)  # the LLM server's state changes on its own
        self.refresh_profile()
        self.restore_last_reply()

    @work(group="restore", exit_on_error=False)
    async def restore_last_reply(self) -> None:
        """After a restart, the last reply's cards come back, so "#2" matches what is on screen."""
        items = await self.attempt(self.conversations.last_items(self.user), "Can't load your last picks")
        if items is not _FAILED and items and not self.query(CardList):
            await self.chat_log.mount_all([Note("Your last picks:"), CardList(items)])

    @property
    def chat_log(self) -> VerticalScroll:
        return self.query_one("#log", VerticalScroll)

    def _update_status(self) -> None:
        where = f"catalog {self.conversations.catalog_name or '?'} · LLM {self.runtime.writer_label}"
        if (llm_status := self.runtime.llm_status()) is not None:
            where = f"{llm_status} · {where}"
        if self.runtime.setup_problem:
            where = f"{where} · {self.runtime.setup_problem}"
        time = "thinking…" if self._busy else self._last_timing
        # The 1 s timer can tick while the app is shutting down, after the line is gone.
        for line in self.query(StatusLine):
            line.show(where, time)

    async def add_note(self, text: str) -> None:
        await self.chat_log.mount(Note(Content(text)))

    # -- input ----------------------------------------------------------------------------
    @on(Input.Submitted, "#input")
    async def _submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        event.input.clear()
        if not text:
            return
        try:
            command = parse_command(text)
        except UnknownCommand as error:
            self.notify(str(error), severity="warning")
            return
        if command is not None:
            await self.chat_commands.run(command)
            return
        bot = BotMessage()
        thinking = Static("thinking…", classes="thinking")
        await self.chat_log.mount_all([UserMessage(text), bot, thinking])
        self._busy += 1
        self._update_status()
        self.run_turn(text, bot, thinking)

    async def attempt(self, awaitable: Any, what: str) -> Any:
        """Await a conversation call; an error is logged and notified, and `_FAILED` returned."""
        try:
            return await awaitable
        except Exception as error:
            log.exception("%s", what)
            self.notify(f"{what}: {error}", severity="error", timeout=8)
            return _FAILED

    # -- turns ----------------------------------------------------------------------------
    @work(group="turns", exit_on_error=False)
    async def run_turn(self, text: str, bot: BotMessage, thinking: Static) -> None:
        """The cards the moment ranking is done, then the prose streams above them."""
        markdown = Markdown.get_stream(bot)
        reply: Reply | None = None
        try:
            stream = self.conversations.stream(self.user, text)
            items = await stream.items()
            if items:
                await self.chat_log.mount(CardList(items), after=bot)
            async for chunk in stream:
                await markdown.write(chunk)
            reply = stream.reply
        except Exception as error:
            log.exception("turn failed for %r", text)
            self.notify(f"Sorry, that turn failed: {error}", title="Error", severity="error", timeout=10)
        finally:
            await markdown.stop()
            await thinking.remove()
            self._busy -= 1
        if reply is not None:
            self.last_reply = reply
            self._last_timing = timing_text(reply)
            if reply.status == "replaced" and reply.note:
                self.notify(
                    f"{reply.note} ({self.runtime.writer_label}; details in {self.runtime.settings.log_path})",
                    title="Plain reply",
                    severity="warning",
                    timeout=8,
                )
        self._update_status()
        self.refresh_profile()

    @work(group="profile", exclusive=True, exit_on_error=False)
    async def refresh_profile(self) -> None:
        view = await self.attempt(self.conversations.profile(self.user), "Can't read the profile")
        if view is not _FAILED:
            self.query_one(ProfilePanel).show(view)

    # -- cards ----------------------------------------------------------------------------
    def give_feedback(self, card: ItemCard, value: Feedback | None) -> None:
        """Show the 👍/👎 (or its removal, value None) on the card at once; undone if the call fails."""
        if card.state == value:
            return
        previous = card.state
        card.set_state(value)
        self._send_feedback(card, value, previous)

    def undo_feedback(self, card: ItemCard) -> None:
        if card.state is None:
            self.notify(f"There is no 👍/👎 on {card.item.title} to take back.", severity="warning")
            return
        self.give_feedback(card, None)

    @work(group="feedback", exit_on_error=False)
    async def _send_feedback(self, card: ItemCard, value: Feedback | None, previous: Feedback | None) -> None:
        conversations, item_id = self.conversations, card.item.id
        call = (
            conversations.undo_feedback(self.user, item_id)
            if value is None
            else conversations.feedback(self.user, item_id, value)
        )
        if await self.attempt(call, "Feedback not saved") is _FAILED:
            card.set_state(previous)
        self.refresh_profile()

    @work(group="why", exit_on_error=False)
    async def show_why(self, item: ReplyItem) -> None:
        why = await self.attempt(self.conversations.why(self.user, item.id), "Can't explain")
        if why is not _FAILED:
            await self.push_screen(WhyScreen(item, why))

    @on(CardList.FeedbackGiven)
    def _card_feedback(self, event: CardList.FeedbackGiven) -> None:
        self.give_feedback(event.card, event.value)

    @on(CardList.WhyAsked)
    def _card_why(self, event: CardList.WhyAsked) -> None:
        self.show_why(event.item)

    @on(CardList.TypedAway)
    def _typed_away(self, event: CardList.TypedAway) -> None:
        self.action_focus_input(event.character)  # no keystroke is lost

    # -- actions --------------------------------------------------------------------------
    def action_toggle_profile(self) -> None:
        self.query_one(ProfilePanel).toggle_class("-hidden")

    def action_focus_input(self, text: str = "") -> None:
        field = self.query_one(ChatInput)
        field.focus()
        if text:
            field.insert_text_at_cursor(text)

    def action_focus_cards(self) -> None:
        lists = list(self.query(CardList))
        if lists:
            lists[-1].focus()

    def action_scroll_log(self, direction: int) -> None:
        if direction < 0:
            self.chat_log.scroll_page_up()
        else:
            self.chat_log.scroll_page_down()


class ChatCommands:
    """The chat commands (`/like 2`, `/profile`, `/forget` …, parsed in commands.py) acted on in the app."""

    def __init__(self, app: RecochatApp) -> None:
        self.app = app

    async def run(self, command: Command) -> None:
        if command.rank is not None:
            card = self.card_at(command.rank)
            if card is not None:
                await self._on_card(command.name, card)
        elif command.name == "quit":
            self.app.exit()
        elif command.name == "help":
            await self.app.add_note(HELP)
        elif command.name == "profile":
            await self._show_profile()
        elif command.name == "reset":
            if await self.app.attempt(self.app.conversations.reset(self.app.user), "Can't reset") is not _FAILED:
                await self.app.add_note("Profile reset: starting fresh.")
            self.app.refresh_profile()
        elif command.name == "forget":
            self.app.push_screen(
                ConfirmScreen(
                    f"Forget everything recochat knows about {self.app.user!r}? "
                    "This deletes the profile and its whole event log."
                ),
                self._forget_answered,
            )

    async def _on_card(self, name: str, card: ItemCard) -> None:
        """like, dislike, undo, seen or why on one card of the last reply."""
        if name in ("like", "dislike"):
            self.app.give_feedback(card, "like" if name == "like" else "dislike")
        elif name == "undo":
            self.app.undo_feedback(card)
        elif name == "why":
            self.app.show_why(card.item)
        elif name == "seen":
            title = await self.app.attempt(
                self.app.conversations.mark_seen(self.app.user, card.item.id), "Can't mark it seen"
            )
            if title is not _FAILED:
                await self.app.add_note(f"Noted: you've seen {title}; it won't come up again.")
            self.app.refresh_profile()

    async def _show_profile(self) -> None:
        view = await self.app.attempt(self.app.conversations.profile(self.app.user), "Can't read the profile")
        if view is not _FAILED:
            await self.app.add_note("\n".join(view.lines()))
            self.app.query_one(ProfilePanel).remove_class("-hidden")
            self.app.query_one(ProfilePanel).show(view)

    async def _forget_answered(self, answer: bool | None) -> None:
        if not answer:
            return
        gone = await self.app.attempt(self.app.conversations.forget(self.app.user), "Can't forget")
        if gone is not _FAILED:
            await self.app.add_note(f"Forgotten: profile and {gone} events deleted.")
        self.app.refresh_profile()

    def card_at(self, rank: int) -> ItemCard | None:
        lists = list(self.app.query(CardList))
        cards = lists[-1].cards if lists else []
        if not 1 <= rank <= len(cards):
            self.app.notify(f"There is no item #{rank} in the last reply.", severity="warning")
            return None
        return cards[rank - 1]


def run_tui(runtime: Runtime, user: str) -> None:
    """Run the app until the user quits; logs go to the file under RECOCHAT_HOME."""
    from ..runtime import configure_logging

    configure_logging(runtime.settings)
    logging.captureWarnings(True)
    RecochatApp(runtime, user).run()
