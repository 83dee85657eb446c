"""`recochat chat` on a terminal: a Textual app over the conversation API.

The only module that imports Textual. It holds no recommender logic: every turn, piece of
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
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from textual import events, on, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Input, ListItem, ListView, Markdown, Static

from recochat.retrieval.catalog import people_facts

from .commands import HELP as COMMANDS_HELP
from .commands import Command, UnknownCommand, parse_command

if TYPE_CHECKING:
    from ..conversation import Conversations, ProfileView, Reply, ReplyItem
    from ..runtime import Runtime

log = logging.getLogger("recochat.tui")

Feedback = Literal["like", "dislike"]

HELP = f"""\
Type what you're in the mood for and press Enter.
Cards: ↑ in the input reaches them; ↑/↓ or 1-9 picks one, + or l likes it, - or d dislikes it,
u takes that back, ? or w shows why and the description, Esc goes back to the input.
{COMMANDS_HELP}
Keys: ctrl+b shows or hides the profile panel, ctrl+q quits."""

WELCOME = "Hi! Tell me what you're in the mood for, or name something you loved. /help lists the commands."

_FAILED: Any = object()
"""What `RecochatApp._call` returns when the call raised (it was logged and notified)."""


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


# -- widgets --------------------------------------------------------------------------------


class UserMessage(Static):
    def __init__(self, text: str) -> None:
        super().__init__(Content.from_markup("[b]›[/b] $text", text=text))


class Note(Static):
    """A line from the app itself: welcome, help, profile, acknowledgements."""


class BotMessage(Markdown):
    """One reply's prose, streamed."""


class ItemCard(ListItem):
    """A recommended item: title, year, genres and the one-line why, plus the feedback given."""

    def __init__(self, item: ReplyItem) -> None:
        super().__init__()
        self.item = item
        self.state: Feedback | None = None

    def compose(self) -> ComposeResult:
        yield Static(self._title(), classes="title")
        yield Static(Content(self.item.why or "—"), classes="why")

    def _title(self) -> Content:
        # The mark comes first so a narrow terminal cuts the genres, never the feedback.
        mark = {"like": "[b $success]✓[/] ", "dislike": "[b $error]✗[/] "}.get(self.state or "", "")
        year = f" ({self.item.year})" if self.item.year else ""
        genres = f" · {', '.join(self.item.genres)}" if self.item.genres else ""
        return Content.from_markup(
            f"[b]$rank[/b] {mark}[b]$title[/b]$year[$text-muted]$genres[/]",
            rank=str(self.item.rank),
            title=self.item.title,
            year=year,
            genres=genres,
        )

    def set_state(self, state: Feedback | None) -> None:
        self.state = state
        self.set_class(state == "like", "-liked")
        self.set_class(state == "dislike", "-disliked")
        if self.is_mounted:
            self.query_one(".title", Static).update(self._title())


class CardList(ListView):
    """The cards under one reply; focused, it takes the feedback keys and tells the app."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("plus,l", "feedback('like')", "Like", key_display="+"),
        Binding("minus,d", "feedback('dislike')", "Dislike", key_display="-"),
        Binding("u", "undo", "Undo"),
        Binding("question_mark,w", "why", "Why", key_display="?"),
        Binding("escape", "app.focus_input", "Back"),
    ]

    class FeedbackGiven(Message):
        """A 👍/👎 on a card; value None takes the card's feedback back."""

        def __init__(self, card: ItemCard, value: Feedback | None) -> None:
            super().__init__()
            self.card = card
            self.value = value

    class WhyAsked(Message):
        def __init__(self, item: ReplyItem) -> None:
            super().__init__()
            self.item = item

    class TypedAway(Message):
        """A printable key that is no card command: the user is typing a message."""

        def __init__(self, character: str) -> None:
            super().__init__()
            self.character = character

    def __init__(self, items: list[ReplyItem]) -> None:
        super().__init__(*[ItemCard(item) for item in items], initial_index=None)
        self._kept_index = 0

    @property
    def cards(self) -> list[ItemCard]:
        return list(self.query_children(ItemCard))

    @property
    def current(self) -> ItemCard | None:
        child = self.highlighted_child
        return child if isinstance(child, ItemCard) else None

    def on_focus(self) -> None:
        if self.index is None and self.children:
            self.index = self._kept_index

    def on_blur(self) -> None:
        # Only the focused list shows a cursor; the position comes back with the focus.
        if self.index is not None:
            self._kept_index = self.index
        self.index = None

    def on_key(self, event: events.Key) -> None:
        character = event.character or ""
        if character.isdigit():
            event.stop()
            if 1 <= int(character) <= len(self.children):
                self.index = int(character) - 1
        elif event.is_printable and character and character not in "+-ldu?w":
            event.stop()
            self.post_message(self.TypedAway(character))

    def action_feedback(self, value: Feedback) -> None:
        if (card := self.current) is not None:
            self.post_message(self.FeedbackGiven(card, value))

    def action_undo(self) -> None:
        if (card := self.current) is not None and card.state is not None:
            self.post_message(self.FeedbackGiven(card, None))

    def action_why(self) -> None:
        if (card := self.current) is not None:
            self.post_message(self.WhyAsked(card.item))

    @on(ListView.Selected)
    def _selected(self, event: ListView.Selected) -> None:
        event.stop()
        self.action_why()


class ProfilePanel(VerticalScroll, can_focus=False):
    """The live profile: liked and disliked aspects, items, constraints."""

    def compose(self) -> ComposeResult:
        yield Static("Profile", id="profile-body")

    def show(self, view: ProfileView) -> None:
        markup: list[str] = []
        values: dict[str, object] = {}

        def value(text: str) -> str:  # user text goes in as a variable, never as markup
            name = f"v{len(values)}"
            values[name] = text
            return f"${name}"

        def section(title: str, entries: list[str], limit: int = 6) -> None:
            markup.append(f"[b $accent]{title}[/]")
            markup.extend(f"  {value(entry)}" for entry in entries[:limit])
            if not entries:
                markup.append("  [$text-muted]—[/]")
            elif len(entries) > limit:
                markup.append(f"  [$text-muted]+{len(entries) - limit} more[/]")

        turns = f"{view.turns} turn{'' if view.turns == 1 else 's'}"
        markup.append(f"[b]Profile[/b] · {value(view.user_id)}")
        markup.append(f"[$text-muted]{turns}, {view.shown} shown[/]")
        section("Likes", view.liked_aspects[::-1])
        section("Dislikes", view.disliked_aspects[::-1])
        section("Liked items", view.liked[::-1])
        section("Rejected items", view.disliked[::-1])
        section("Constraints", view.constraints)
        self.query_one("#profile-body", Static).update(Content.from_markup("\n".join(markup), **values))


class StatusLine(Horizontal):
    """Catalog and LLM on the left (cut if too long), the last turn's time split on the right."""

    def compose(self) -> ComposeResult:
        yield Static(id="status-where")
        yield Static(id="status-time")

    def show(self, where: str, time: str) -> None:
        self.query_one("#status-where", Static).update(Content(where))
        self.query_one("#status-time", Static).update(Content(time))

    @property
    def text(self) -> str:
        return " · ".join(str(s.render()) for s in self.query(Static))


class ChatInput(Input):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("up", "app.focus_cards", "Cards", key_display="↑")]


# -- modal screens --------------------------------------------------------------------------


class WhyScreen(ModalScreen[None]):
    """The full 'why' and the item's description."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,enter,q,question_mark,w", "dismiss", "Close", key_display="esc"),
    ]

    def __init__(self, item: ReplyItem, why: str) -> None:
        super().__init__()
        self.item = item
        self.why = why

    def compose(self) -> ComposeResult:
        item = self.item
        facts = ([", ".join(item.genres)] if item.genres else []) + people_facts(item.meta)
        with VerticalScroll(id="why-box") as box:
            box.border_title = item.label
            box.border_subtitle = "esc to close"
            if facts:
                yield Static(Content(" · ".join(facts)), classes="facts")
            yield Static(Content(self.why), classes="why")
            yield Static(Content(item.description or "No description in the catalog."), classes="description")


class ConfirmScreen(ModalScreen[bool]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-box"):
            yield Static(Content(self.question))
            with Horizontal(id="confirm-buttons"):
                yield Button("Yes, forget (y)", variant="error", id="yes")
                yield Button("No (n)", variant="primary", id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")


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
        items = await self._call(self.conversations.last_items(self.user), "Can't load your last picks")
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
        self.query_one(StatusLine).show(where, time)

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
            await self.command(command)
            return
        bot = BotMessage()
        thinking = Static("thinking…", classes="thinking")
        await self.chat_log.mount_all([UserMessage(text), bot, thinking])
        self._busy += 1
        self._update_status()
        self.run_turn(text, bot, thinking)

    async def command(self, command: Command) -> None:
        if command.rank is not None:
            card = self._card_at(command.rank)
            if card is not None:
                await self._card_command(command.name, card)
        elif command.name == "quit":
            self.exit()
        elif command.name == "help":
            await self.add_note(HELP)
        elif command.name == "profile":
            await self._show_profile()
        elif command.name == "reset":
            if await self._call(self.conversations.reset(self.user), "Can't reset") is not _FAILED:
                await self.add_note("Profile reset: starting fresh.")
            self.refresh_profile()
        elif command.name == "forget":
            self.push_screen(
                ConfirmScreen(
                    f"Forget everything recochat knows about {self.user!r}? "
                    "This deletes the profile and its whole event log."
                ),
                self._forget_answered,
            )

    async def _card_command(self, name: str, card: ItemCard) -> None:
        """like, dislike, undo, seen or why on one card of the last reply."""
        if name in ("like", "dislike"):
            self.give_feedback(card, "like" if name == "like" else "dislike")
        elif name == "undo":
            self.undo_feedback(card)
        elif name == "why":
            self.show_why(card.item)
        elif name == "seen":
            title = await self._call(self.conversations.mark_seen(self.user, card.item.id), "Can't mark it seen")
            if title is not _FAILED:
                await self.add_note(f"Noted: you've seen {title}; it won't come up again.")
            self.refresh_profile()

    async def _show_profile(self) -> None:
        view = await self._call(self.conversations.profile(self.user), "Can't read the profile")
        if view is not _FAILED:
            await self.add_note("\n".join(view.lines()))
            self.query_one(ProfilePanel).remove_class("-hidden")
            self.query_one(ProfilePanel).show(view)

    async def _forget_answered(self, answer: bool | None) -> None:
        if not answer:
            return
        gone = await self._call(self.conversations.forget(self.user), "Can't forget")
        if gone is not _FAILED:
            await self.add_note(f"Forgotten: profile and {gone} events deleted.")
        self.refresh_profile()

    def _card_at(self, rank: int) -> ItemCard | None:
        lists = list(self.query(CardList))
        cards = lists[-1].cards if lists else []
        if not 1 <= rank <= len(cards):
            self.notify(f"There is no item #{rank} in the last reply.", severity="warning")
            return None
        return cards[rank - 1]

    async def _call(self, awaitable: Any, what: str) -> Any:
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
            if reply.status == "replaced":
                self.notify(
                    f"{reply.note or 'The LLM failed'} ({self.runtime.writer_label}); showing the plain reply. "
                    f"Details in {self.runtime.settings.log_path}.",
                    title="LLM unavailable",
                    severity="warning",
                    timeout=8,
                )
        self._update_status()
        self.refresh_profile()

    @work(group="profile", exclusive=True, exit_on_error=False)
    async def refresh_profile(self) -> None:
        view = await self._call(self.conversations.profile(self.user), "Can't read the profile")
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
        if await self._call(call, "Feedback not saved") is _FAILED:
            card.set_state(previous)
        self.refresh_profile()

    @work(group="why", exit_on_error=False)
    async def show_why(self, item: ReplyItem) -> None:
        why = await self._call(self.conversations.why(self.user, item.id), "Can't explain")
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


def run_tui(runtime: Runtime, user: str) -> None:
    """Run the app until the user quits; logs go to the file under RECOCHAT_HOME."""
    from ..runtime import configure_logging

    configure_logging(runtime.settings)
    logging.captureWarnings(True)
    RecochatApp(runtime, user).run()
