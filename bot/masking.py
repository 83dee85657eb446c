"""A user's message with its titles masked out (`MaskedMessage`), cut into clauses, each with the sentences around it
(`Context`): what bot/understanding.py reads, clause by clause."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from recochat.retrieval.titles import TitleMatch

from .lexicon import SENTENCE_END_MARKS

CLAUSE_SPLIT = re.compile(
    r"[.!?;\n]+|,\s*(?=but\b|though\b|although\b|however\b)"
    r"|(?<!-)\b(?:but|though|although|however|whereas|and|also|plus)\b(?!-)|,"
    r"|(?=\bwithout\b)|(?=\bwith (?:no|less)\b)"
    r"|(?=\b(?:that|which)(?:'s|'re|\s+(?:is|are|was|has|have))?\s+(?:not|never|no|less)\b)"
    r"|(?=\b(?:that|which)\s+(?:isn'?t|aren'?t|wasn'?t|doesn'?t|don'?t|hasn'?t)\b)"
)
"""Where a message is cut into clauses: sentence marks, a comma, and the words that join or contrast two wishes.
Before "without" ("with no") and a negated "that/which" clause too, kept in the clause they start: "horror without
jump scares", "a sci-fi movie with no aliens", "a comedy that isn't stupid" and "a dessert that's not too sweet" say
no to the jump scares, the aliens, the stupidity and the sweetness, never to the genre ("with no aliens" once said no
to sci-fi, and to the 2010s asked with it; "a comedy that's less crude" to comedy). A joining word inside a hyphenated compound ("black-and-white") cuts
nothing."""

TITLE_STUB = "\x00"
"""First character of a blanked-out title. It is never searched for (titles are tracked by position, so a NUL the
user typed cannot be taken for one); it is there so the rest of the message reads as it did with the title in place:
not whitespace, so "Inception meh" is not a bare "meh", and not a word character, so it splits no word."""


INTENSIFIER = r"(?:a bit|a little|way|much|far|slightly|just)"
"""What may stand before "too" in a complaint ("way too long", "a bit too pricey")."""
_COMPLAINT = re.compile(rf"(?:{INTENSIFIER} )?too ", re.IGNORECASE)
"""How an ask that is a complaint starts ("too expensive", "a bit too long")."""
_INTENSIFIER_BEFORE = re.compile(rf"(?:\b{INTENSIFIER} )?$", re.IGNORECASE)
"""An intensifier before "too" when the ask's own match starts at "too" ("way" of "way too long")."""


@dataclass
class MaskedMessage:
    """The lowered message with every linked title blanked out, and where each title now starts.

    Titles are linked on the whole message first, then hidden so that "Pride and Prejudice" is not cut at "and" and
    its words are not read as genres or aspects; their positions tell which clause each one belongs to.
    """

    text: str
    titles: list[tuple[int, TitleMatch]]

    @classmethod
    def build(cls, text: str, matches: list[TitleMatch]) -> MaskedMessage:
        """Positions are measured after lowering, which can lengthen the text before a title ("İ" is two letters)."""
        masked = list(text)
        for m in matches:
            masked[m.start : m.end] = [TITLE_STUB] + [" "] * (m.end - m.start - 1)
        raw = "".join(masked)
        return cls(raw.lower(), [(len(raw[: m.start].lower()), m) for m in matches])

    def without(self, pattern: re.Pattern[str]) -> MaskedMessage:
        """Drops a phrase (one space in its place), moving later titles back so they stay in their clause."""
        return self.replaced(pattern, lambda match: " ")

    def replaced(self, pattern: re.Pattern[str], by: Callable[[re.Match[str]], str]) -> MaskedMessage:
        """Each match of `pattern` replaced by `by(match)`, later titles moved by the difference in length."""
        pieces: list[str] = []
        cursor = 0
        moves: list[tuple[int, int]] = []  # (end of a match, characters removed up to there; negative: added)
        for m in pattern.finditer(self.text):
            replacement = by(m)
            pieces += [self.text[cursor : m.start()], replacement]
            moves.append((m.end(), (moves[-1][1] if moves else 0) + len(m.group()) - len(replacement)))
            cursor = m.end()
        pieces.append(self.text[cursor:])

        def moved(start: int) -> int:
            return start - next((shift for end, shift in reversed(moves) if end <= start), 0)

        return MaskedMessage("".join(pieces), [(moved(start), m) for start, m in self.titles])

    def blanked(self, spans: list[tuple[int, int]]) -> MaskedMessage:
        """The message with these spans turned to spaces: same length, so every title stays where it was."""
        text = self.text
        for start, end in spans:
            text = text[:start] + " " * (end - start) + text[end:]
        return MaskedMessage(text, self.titles)

    def without_asks(self, spans: list[tuple[int, int]]) -> MaskedMessage:
        """`blanked`, but a complaint keeps its negation: "#1 is too expensive" with the price ask taken out read
        "#1 is", a like of #1; "too much" in its place (`_NEGATION` says it, and no aspect is left of it) keeps it
        the dislike it was."""
        text = self.text
        for start, end in spans:
            kept = _COMPLAINT.match(text, start, end)
            if kept and kept.end() + 4 <= end:  # "too expensive" → "too much"; "way too long" → "too much"
                before = _INTENSIFIER_BEFORE.search(text, 0, start)
                start = before.start() if before and kept.end() - kept.start() == 4 else start  # no "way" of its own
                filler = "too much".ljust(end - start)
            elif re.search(r"\btoo\s+$", text[:start]) and end - start >= 4:  # "way too pricey", the ask "pricey"
                filler = "much".ljust(end - start)
            else:
                filler = " " * (end - start)
            text = text[:start] + filler + text[end:]
        return MaskedMessage(text, self.titles)

    def clauses(
        self, wants_context: Callable[[str], bool] = lambda clause: False
    ) -> list[tuple[str, list[TitleMatch], Context]]:
        """Non-blank clauses, each with the titles that start inside it, in message order, and where it sits when
        it names a title or `wants_context(clause)` (NO_CONTEXT otherwise: most clauses need none)."""
        bounds = [0]
        for separator in CLAUSE_SPLIT.finditer(self.text):
            bounds += [separator.start(), separator.end()]
        bounds.append(len(self.text))
        found: list[tuple[str, list[TitleMatch], Context]] = []
        for start, end in zip(bounds[::2], bounds[1::2], strict=True):
            clause = self.text[start:end]
            if clause.strip():
                titles = [m for at, m in self.titles if start <= at < end]
                placed = titles or wants_context(clause)
                found.append((clause, titles, Context.around(self.text, start, end) if placed else NO_CONTEXT))
        return found


def as_it(text: str) -> str:
    """Titles read as "it", whitespace squeezed: the title's own words ("Scary Movie") say nothing of the taste."""
    return " ".join(text.replace(TITLE_STUB, " it ").split())


@dataclass(frozen=True)
class Context:
    """A clause's surroundings for the polarity cues: the rest of its sentence before it, and after it up to the
    end of the next sentence ("I watched X. But I didn't like it." puts the dislike after the clause)."""

    before: str
    after: str
    question: bool

    @classmethod
    def around(cls, text: str, start: int, end: int) -> Context:
        ends = [m.end() for m in SENTENCE_END_MARKS.finditer(text)]
        sentence_start = max((e for e in ends if e <= start), default=0)
        later = [e for e in ends if e > end] + [len(text), len(text)]
        return cls(text[sentence_start:start], text[end : later[1]], "?" in text[end : later[0]])


NO_CONTEXT = Context("", "", False)
