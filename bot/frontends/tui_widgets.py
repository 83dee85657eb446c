"""What the terminal chat shows (`tui.py` is the app that puts them together): the messages of the chat log, the
item cards and their list, the profile panel, the status line, the input, and the two modal screens (why,
confirm). Textual widgets only: they post messages to the app and never call the conversation API."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Literal

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Input, ListItem, ListView, Markdown, Static

from recochat.retrieval.catalog import people_facts

if TYPE_CHECKING:
    from ..conversation import ProfileView, ReplyItem

Feedback = Literal["like", "dislike"]


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
        if view.liked_kinds or view.disliked_kinds:  # the catalog's own facets, once feedback says something
            section("Kinds", [*view.liked_kinds, *(f"not {kind}" for kind in view.disliked_kinds)])
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
