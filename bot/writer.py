"""Reply writing: a deterministic template writer and an LLM writer that is validated.

The items of a reply always come from the ranked candidates; front ends show them before
any prose, and the reply text lists them after it (`item_lines`). Writers stream prose
only. The LLM's prose is checked sentence by sentence while it streams: a sentence naming a catalog title that is not shown, quoting an
unknown title, repeating itself or echoing instructions is dropped ("repaired"); when no
sentence survives, or the model errs or runs past its time budget, the template text is
used instead ("replaced"). Only the expected failures of an LLM call fall back quietly;
any other exception is logged with its traceback and still falls back.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from recochat.retrieval.catalog import INSTRUCTION, CatalogItem, people_facts
from recochat.retrieval.explain import content_words
from recochat.retrieval.ingest import plural
from recochat.retrieval.titles import TitleIndex, normalize

from .engine import TurnResult
from .llm_server import LocalModelServer
from .prompts import load_prompt

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import BaseMessage

log = logging.getLogger("recochat.writer")

Status = Literal["template", "ok", "repaired", "replaced"]
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
_QUOTED = re.compile(
    r"[\"“”‘’']([A-Z][^\"“”‘’']{2,60})[\"“”‘’']|\*\*([^*]{3,60})\*\*|\b([A-Z][\w'’:&-]*(?:\s+[A-Z0-9][\w'’:&-]*)*)\s*\((?:19|20)\d\d\)"
)
_LINK = re.compile(r"https?://|\bwww\.|\b[\w.+-]+@[\w-]+\.[a-z]{2,}\b|\b[\w-]+\.(?:com|net|org|io|example)\b", re.I)
"""A link or address: the catalog facts give none, so one in the prose was made up or injected."""
_SMALLTALK_REPLIES = (
    (re.compile(r"\b(thanks?|thx|cheers)\b"), "You're welcome! Tell me whenever you want more ideas."),
    (re.compile(r"\b(bye|goodbye|see you)\b"), "Bye for now! Your tastes are saved for next time."),
    (
        re.compile(r"\b(who are you|what can you do)\b"),
        "I recommend {things} from the catalog and learn from what you tell me: say what you like or don't, name favourites, or react to picks.",
    ),
)


@dataclass
class WriteOutcome:
    status: Status = "template"
    first_sentence_ms: float | None = None
    dropped: int = 0
    note: str | None = None
    """Why the model's prose is missing, for the status line: 'LLM restarting', 'LLM unavailable'…"""


def item_line(rank: int, label: str, why: str) -> str:
    """ "2. Heat (1995) — why": the line a reply text and line mode show for one item."""
    return f"{rank}. {label} — {why}"


def item_facts(item: CatalogItem) -> str:
    """Catalog facts as quoted data for prompts and answers."""
    parts = [item.label()]
    if item.genres:
        parts.append(", ".join(item.genres))
    parts += people_facts(item.meta)
    if item.description:
        parts.append(safe_text(item.description))
    return " | ".join(parts)


def safe_text(text: str) -> str:
    """Catalog text is data: sentences that read like instructions to a model are left out."""
    return " ".join(s for s in _SENTENCE_END.split(text) if s.strip() and not INSTRUCTION.search(s))


class TemplateWriter:
    """Deterministic prose from catalog data: the fallback and the scripted-test default."""

    name = "template"

    def __init__(self, domain: str = "movie") -> None:
        self.domain = domain

    async def stream(self, result: TurnResult, outcome: WriteOutcome) -> AsyncIterator[str]:
        outcome.status = "template"
        outcome.first_sentence_ms = 0.0
        yield self.prose(result)

    def intro(self, result: TurnResult) -> str:
        loosened = f" {result.loosened}" if result.loosened else ""  # once for the reply, never per item
        if result.kind == "cold_start":
            return "Here are a few popular, varied picks to get started." + loosened
        return (
            f"{self.noted(result)}Here {'is a pick' if len(result.items) == 1 else 'are some picks'} for you.{loosened}"
        )

    @staticmethod
    def noted(result: TurnResult) -> str:
        """'Noted: you liked Heat; no horror from now on. ': what was understood, before any writer's prose."""
        return f"Noted: {'; '.join(result.notes)}. " if result.notes else ""

    def prose(self, result: TurnResult) -> str:
        """What this writer says around the items (the items themselves are listed by `item_lines`)."""
        if result.kind in ("recommend", "cold_start"):
            return self.intro(result)
        if result.kind == "empty":
            return "I couldn't find anything new that fits all of that. " + (
                result.loosened or "Try loosening a constraint (say 'any year') or asking for something else."
            )
        if result.kind in ("about", "why"):
            return self.answer(result)
        return self.smalltalk(result.message)

    def answer(self, result: TurnResult) -> str:
        item = result.subject
        if item is None:
            return "Which one do you mean? Say for example 'what is #2 about?' after I've suggested something."
        if result.kind == "why":
            if result.subject_why:
                return f"I suggested {item.label()}: {result.subject_why}."
            return f"I haven't recommended {item.label()} to you yet; here is what I know: {item_facts(item)}"
        return field_answer(item, result.message) or item_facts(item)

    def smalltalk(self, message: str) -> str:
        lowered = message.lower()
        for pattern, reply in _SMALLTALK_REPLIES:
            if pattern.search(lowered):
                return reply.replace("{things}", plural(self.domain))
        return f"Hi! Tell me what kind of {self.domain} you're in the mood for, or name one you loved."


_FIELD_QUESTIONS = (
    ("director", re.compile(r"\bwho (?:directed|made)\b|\bdirector\b|\bdirected by\b", re.I)),
    ("author", re.compile(r"\bwho (?:wrote|authored)\b|\bauthor\b|\bwritten by\b", re.I)),
    ("stars", re.compile(r"\bwho(?:'s| is| are)? (?:in|starring|stars)\b|\bcast\b|\bactors?\b|\bstarring\b", re.I)),
    ("year", re.compile(r"\bwhat year\b|\bwhen (?:was|did)\b|\bhow old\b", re.I)),
)
"""Questions about one field of an item: answered from that field, not with the whole card (or a plot retold by
the model, as the read-through found for "who directed #2?")."""


def field_answer(item: CatalogItem, question: str) -> str | None:
    """'Mad Max (1979) was directed by George Miller.'; None when the question asks for no single field."""
    asked = next((name for name, pattern in _FIELD_QUESTIONS if pattern.search(question)), None)
    if asked is None:
        return None
    if asked == "year":
        return f"{item.title} is from {item.year}." if item.year else f"The catalog has no year for {item.title}."
    value = item.meta.get(asked)
    names = ", ".join(value) if isinstance(value, list) else str(value or "")
    if not names:
        return f"The catalog doesn't say who {'wrote' if asked == 'author' else 'made' if asked == 'director' else 'is in'} {item.label()}."
    verb = {"director": "was directed by", "author": "was written by", "stars": "stars"}[asked]
    return f"{item.label()} {verb} {names}."


def item_lines(result: TurnResult) -> str:
    """The grounded list every reply text carries: one line per ranked item."""
    return "\n".join(item_line(r.rank, r.item.label(), r.why) for r in result.items)


_GENERIC = content_words(
    """here pick picks start starting enjoy enjoyed since love loved liked fans option options idea ideas choice
    choices suggestion suggestions classic classics fresh perfect another else similar selection favorite favourite
    next exciting worth check wonderful delightful treat hope happy welcome anytime whenever ready help glad today
    lately tell know want wanted mood things title titles few couple some more list right away started getting
    begin youre youve youll youd thats heres theres lets whats theyre weve"""
)
"""Words that say nothing about an item or the user: a brief's sentence may use them freely."""


_TELLING_IN_A_PLOT = frozenset("young women woman good great best little first last life world night kind".split())


def _plot_words(text: str) -> set[str]:
    """`content_words`, with the common words that still say who or what a plot is about ("young", "woman")."""
    return content_words(text) | (set(normalize(text).split()) & _TELLING_IN_A_PLOT)


def _words(text: str) -> set[str]:
    return {w for w in normalize(text).split() if len(w) >= 3}


def _injected(result: TurnResult) -> list[str]:
    """Instruction-like sentences that `safe_text` keeps out of the prompt: the user's and the catalog's."""
    texts = [result.message, *(r.item.description for r in result.items), *(r.why for r in result.items)]
    if result.subject is not None:
        texts.append(result.subject.description)
    return [s for text in texts for s in _SENTENCE_END.split(text) if INSTRUCTION.search(s)]


def without_titles(titles: TitleIndex, text: str) -> str:
    """The text with the titles it names cut out: a title's words are no facts about anything ("a movie about good
    guys" passed on the words of The Nice Guys; the user's "I loved Hot Fuzz" makes no film "fuzz")."""
    for match in sorted(titles.find(text), key=lambda m: m.start, reverse=True):
        text = text[: match.start] + " " + text[match.end :]
    return text


class GroundingValidator:
    """Keeps only sentences a person can trust; everything else counts as a repair.

    A sentence is dropped when it names a title that is not shown, quotes an unknown title,
    repeats or nearly repeats an earlier one, echoes instructions, claims the user liked or saw
    something the profile does not hold, promises future behaviour, points at picks "above",
    or (when `questions` is False) asks the user something: the reply's own question, if any,
    is added by the engine. With `facts`, at least `share` of a sentence's content words (other than
    generic ones: 'here', 'picks', 'enjoy') must be found in them: the tiny model otherwise retells its
    few-shot example or makes up plots.
    """

    def __init__(
        self,
        titles: TitleIndex,
        allowed: list[CatalogItem],
        facts: str | None = None,
        liked: list[CatalogItem] | None = None,
        questions: bool = True,
        share: float = 0.5,
        min_words: int = 1,
        must_name: CatalogItem | None = None,
        generic: bool = True,
        tell: str | None = None,
        excluded: list[str] | None = None,
        picks: int | None = None,
        plot: bool = True,
    ) -> None:
        self.titles = titles
        self.picks = picks
        self.plot = plot
        self.thanked = bool(_THANKS.search(facts or ""))
        self.words_of = _plot_words if tell else content_words
        """A plot is checked word for word: "a young woman" for a ten-year-old girl is false, though "young"
        and "woman" are too common to count as shared themes."""
        self.excluded = content_words(_kind_words(excluded or []))
        self.facts = self.words_of(facts) if facts else None
        self.share = share
        self.free_words = _GENERIC if generic else frozenset()
        self.tell = content_words(tell) - content_words(" ".join(i.title for i in allowed)) if tell else None
        self.min_words = min_words
        self.allowed = allowed
        self.must_name = must_name
        self.allowed_ids = {i.id for i in allowed}
        self.allowed_names = {normalize(i.title) for i in allowed}
        self.liked = liked or []
        self.liked_ids = {i.id for i in self.liked}
        self.questions = questions
        self._seen: set[str] = set()
        self._kept_words: list[set[str]] = []
        self.tainted: set[str] = set()
        self.echo: set[str] = set()

    def guard(self, messages: list[BaseMessage], injected: list[str]) -> None:
        """Obeying an injection shows as its words, leaking the prompt as a run of its words. `tainted`:
        the words of the injected sentences kept out of the prompt that the prompt itself does not use;
        `echo`: the system message's 5-word runs."""
        prompt = " ".join(str(m.content) for m in messages)
        self.tainted = _words(" ".join(injected)) - _words(prompt)
        system = normalize(str(messages[0].content)).split() if messages else []
        self.echo = {" ".join(system[i : i + 5]) for i in range(len(system) - 4)}

    def _obeys_or_leaks(self, text: str) -> bool:
        words = normalize(text).split()
        if _LINK.search(text) or self.tainted & set(words):
            return True
        return any(" ".join(words[i : i + 5]) in self.echo for i in range(len(words) - 4))

    def accept(self, sentence: str) -> bool:
        text = sentence.strip()
        if _malformed(text) or any(p.search(text) for p in (INSTRUCTION, _PROMISE, _PICKS_ELSEWHERE, _META)):
            return False
        if len(text.split()) < self.min_words:
            return False
        if self._obeys_or_leaks(text):
            return False
        if not self.questions and text.endswith("?"):
            return False
        key = normalize(text)
        words = content_words(text)
        if key in self._seen or _looping(key) or self._repeats(words):
            return False
        if self._oversteps(text, words):
            return False
        untitled = self.words_of(without_titles(self.titles, text))
        if not (self._grounded(text) and self._true_of_user(text) and self._made_of_facts(untitled)):
            return False
        if not self._names_right(text):
            return False
        if self.tell is not None and not self._kept_words and len(words & self.tell) < 2:
            return False  # "what is #1 about?" answered with the director and the cast, no story
        self._seen.add(key)
        self._kept_words.append(words)
        return True

    def _oversteps(self, text: str, words: set[str]) -> bool:
        """It says what this turn gives it no ground for: thanks nobody gave ("You're welcome!" to "recommend me
        something"), a wrong count of picks, a plot the intro was not given ("Kung Fu Hustle, a comedy about hot
        action movies"), or a kind the user ruled out ("You're looking for a classic Western" after "no westerns")."""
        return bool(
            (_WELCOME.search(text) and not self.thanked)
            or (self.picks is not None and _miscounts(text, self.picks))
            or (not self.plot and _PLOT.search(text))
            or words & self.excluded
        )

    def _repeats(self, words: set[str]) -> bool:
        """Most of its words were already said by a kept sentence."""
        return bool(words) and any(len(words & kept) / len(words | kept) >= 0.6 for kept in self._kept_words)

    def _grounded(self, text: str) -> bool:
        if any(match.item_id not in self.allowed_ids for match in self.titles.find(text)):
            return False
        for groups in _QUOTED.findall(text):
            name = normalize(next(g for g in groups if g))
            if name and name not in self.allowed_names and not any(name in a or a in name for a in self.allowed_names):
                return False
        return True

    def _names_right(self, text: str) -> bool:
        """It names `must_name` when set (a sentence about the picks that names none of them says nothing), and
        each year it gives belongs to a title it names: the model wrote "Love Actually, … from 2013"."""
        matches = self.titles.find(text)
        named = {m.item_id for m in matches}
        if self.must_name is not None and (
            self.must_name.id not in named or (len(named) > 1 and not _USER_CLAIM.search(text))
        ):
            return False  # the first pick, and any other title only as what the user liked
        if self.must_name is not None and any(
            m.item_id == self.must_name.id and _PICKS_FOR.search(text[: m.start]) for m in matches
        ):
            return False  # "here are a few more picks for The 40-Year-Old Virgin"
        starting = _STARTING_WITH.search(text)
        if (
            self.must_name is not None
            and starting
            and not any(m.item_id == self.must_name.id and 0 <= m.start - starting.end() <= 4 for m in matches)
        ):
            return False  # "starting with The 80s" ("the " may precede the title)
        years = {int(y) for y in _YEAR.findall(text)}
        decades = {int(d) for d in _DECADE.findall(text)}
        if not (years or decades):
            return True
        known = {i.year for i in [*self.allowed, *self.liked] if i.id in named and i.year}
        return bool(named) and years <= known and decades <= {y // 10 % 10 for y in known}

    def _true_of_user(self, text: str) -> bool:
        """'You loved X' only when the profile holds X as liked; never 'you enjoyed' in general. Each claim's
        clause (up to the next comma) is what it is about: "Since you liked X, here is Y" claims nothing of Y, and
        "You loved X, and now you love Y" claims Y too."""
        for claim in _USER_CLAIM.finditer(text):
            end = text.find(",", claim.end())
            clause = text[claim.start() : end if end >= 0 else len(text)]
            named = {match.item_id for match in self.titles.find(clause)}
            if not named or not named <= self.liked_ids:
                return False
        return True

    def _made_of_facts(self, words: set[str]) -> bool:
        telling = words - self.free_words
        if self.facts is None:
            return True
        if (telling & _GENRE_TERMS) - self.facts:
            return False  # a kind it is not, whatever the share: "Airplane is an animated comedy"
        if not telling:
            return bool(self.free_words)  # a paraphrase says something of its draft ("Just go here." does not)
        return len(telling & self.facts) / len(telling) >= self.share


_PROMISE = re.compile(
    r"\b(I[’']ll|I will|I[’']m going to|I am going to|I can[’']t wait|next time|in the future|stay tuned|"
    r"keep (them|it|that) in mind)\b",
    re.I,
)
"""A writer cannot keep promises about later replies: the ranker decides them."""
_USER_CLAIM = re.compile(
    r"\byou(?:'ve| have)? (?:already )?(enjoyed|loved|liked|watched|seen|adored|love|like)\b|\bglad you\b"
    r"|\b(?:your|great|good|perfect|nice|excellent|wonderful|fantastic|delightful) (?:\w+ )?choice\b"
    r"|\byour (?:new )?favou?rite\b|\bnew favou?rite\b|\byou (?:haven'?t|have not|never) (?:seen|watched)\b"
    r"|\bfan of\b",
    re.I,
)
"""Claims about the user's past that must match the profile ("What a great choice, X!" says the user chose X)."""
_PLOT = re.compile(r"\babout\b|\bfollows\b|\bthe story of\b", re.I)
"""What starts a plot claim, which the one-sentence intro is told not to make (it is not given the plot)."""
_ONE_PICK = re.compile(r"\b(?:here'?s|here is|this is) (?:a|one|your)\b(?! few)|\ba (?:\w+ )?pick for you\b", re.I)
_MANY_PICKS = re.compile(r"\b(?:picks|options|choices|suggestions|ideas|a few|some more|these)\b", re.I)


def _miscounts(text: str, picks: int) -> bool:
    """Calls five picks "a pick", or one pick "a few more options" (both in the read-through)."""
    return bool(_MANY_PICKS.search(text)) if picks == 1 else bool(_ONE_PICK.search(text))


_THANKS = re.compile(r"\bthank|\bthx\b|\bcheers\b|\bappreciate", re.I)
_WELCOME = re.compile(r"\byou[’']?re (?:very |most )?welcome\b|\bmy pleasure\b|\bno problem\b", re.I)
"""An answer to thanks, which only a message that thanks may get."""
_PICKS_ELSEWHERE = re.compile(
    r"\b(previous|earlier|last|other) (picks?|suggestions?|recommendations?|list|ones?|ideas?)\b"
    r"|\b(above|below)\b",
    re.I,
)
"""The picks are the cards of this reply; prose about other lists is about items not shown, and
"above"/"below" is wrong on some screen (cards come after the prose in the TUI, before it on Discord)."""
_META = re.compile(
    r"\b(revised version|original text|the following|sentences?|paragraphs?|as requested|here'?s a list|"
    r"my favou?rite|for me\b|creative challenge)",
    re.I,
)
"""The small model talking about its own text or its own taste instead of the user's picks."""


_MARKUP = re.compile(
    r"[<>{}|#*`]|\b\d{1,2}\.$|^\d+\.|\(\s*[a-z]|\b(?:more like|first pick|user said|draft|looking for)\s*:|:$"
    r"|(?:\b[A-Z]\.){2,}$|:\s*[A-Za-z]{0,3}[.!?]?$",
    re.I,
)
"""Prompt markup echoed back (<catalog>, a | b, '(science fiction, …)', 'More like:'), list numbers, a
sentence cut at '1.' (a year may end one), after initials ("… starting with Batman: A.K.A.") or after a colon
("… starting with Home Alone: A.")."""


_STARTING_WITH = re.compile(r"\bstarting with\s+", re.I)
_PICKS_FOR = re.compile(r"\b(?:picks?|suggestions?|options?|ideas?) for\s+(?:the\s+)?$", re.I)
_DECADE = re.compile(r"\b(?:1[89]|20)?(\d)0['’]?s\b")
"""'the 90s', '1990s': a decade, which must be the named title's ("Dirty Harry, … from the 90s")."""
_YEAR = re.compile(r"\b(1[89]\d\d|20\d\d)\b")


def _malformed(text: str) -> bool:
    """Not a sentence a person should read: too short, the prompt's markup leaking through, the tail of a
    sentence cut at an abbreviation ("the Extra-Terrestrial, …" after "E.T."), or a line that never ends
    ("Here's a new favorite, Home Alone: A Movie" and a line break)."""
    unended = not re.search(r"[.!?…][\"”’')]*$", text)
    return not re.search(r"[A-Za-z]{2,}", text) or bool(_MARKUP.search(text)) or text[:1].islower() or unended


def _looping(key: str) -> bool:
    words = key.split()
    trigrams = [" ".join(words[i : i + 3]) for i in range(len(words) - 2)]
    return len(trigrams) >= 6 and len(set(trigrams)) < len(trigrams) * 0.6


_GENRE_WORDS = {
    "animation": "animated cartoon",
    "science fiction": "sci-fi scifi",
    "romance": "romantic love",
    "comedy": "comedic",
    "family": "kids children",
    "thriller": "thrilling suspenseful",
    "horror": "scary",
    "fantasy": "magical",
    "crime": "criminal gangster",
    "mystery": "mysterious",
    "biography": "biopic",
    "history": "historical",
    "drama": "dramatic",
    "adventure": "adventurous",
    "western": "cowboy",
    "sport": "sports",
}
"""How a sentence may call an item of a genre: 'a romantic comedy' is true of romance and comedy."""
_GENRE_TERMS = content_words(
    " ".join([*_GENRE_WORDS, *_GENRE_WORDS.values()]) + " action musical documentary war noir superhero"
)
"""Words that say what kind of item it is: each must be in the facts (the item's own genres and their words)."""


def _kind_words(genres: Iterable[str]) -> str:
    """The genres and the words a sentence may use for them ("animation animated cartoon")."""
    return " ".join(f"{g} {_GENRE_WORDS.get(g, '')}" for g in genres)


ABOUT_SHARE = 0.8
"""Share of an "about" answer's words that must come from the item's facts: at 0.67 the model's Spirited Away was
about "a young woman who must rescue her own family's magical bathhouse"."""


def _plot(item: CatalogItem) -> str:
    """What an "about" answer must retell: the description's first sentence without genre words ("A shaggy,
    hilarious cult comedy." is a verdict, and "cult comedy" let "a cult comedy film from 1998" pass)."""
    first = _SENTENCE_END.split(safe_text(item.description).strip(), maxsplit=1)[0]
    genres = content_words(_kind_words(item.genres))
    return " ".join(w for w in first.split() if not content_words(w) & genres)


RETRIES = 29
"""More attempts while the model writes sentences that are all dropped, within `RETRY_WITHIN` of the first-sentence
budget: a 135M model's sentence is often wrong, but a later sample is often right (each costs ~0.5 s). A model
that writes nothing, errs or runs out of time is not asked again."""
RETRY_WITHIN = 0.85
"""Share of the first-sentence budget after which no new attempt starts (the template then answers). At 0.6 every
reply that fell back had spent its 6 s on attempts, not on `RETRIES`."""
RETRY_TEMPERATURE = 0.8


@dataclass
class Brief:
    """One narrow task for the model: its prompt, the items it may name, the facts its words must come from."""

    purpose: str
    variables: dict[str, str]
    allowed: list[CatalogItem]
    facts: str
    share: float = 0.5
    questions: bool = False
    min_words: int = 1
    """Fewer words is a fragment ("Ex Machina.", "The Extra-Terrestrial.")."""
    must_name: CatalogItem | None = None
    generic: bool = True
    """Generic words ('here', 'enjoy') are free; False for a paraphrase of a draft, which has its own words."""
    tell: str | None = None
    """What the first sentence must retell (an item's plot, for "what is #2 about?"): two of its words at least."""
    one_sentence: bool = False
    """The task is one sentence: when it is dropped, what the model writes after it is off the task ("Now let's
    talk about the 90s."), so the attempt ends there and the next sample starts sooner."""
    picks: int | None = None
    """How many picks the reply shows, when the sentence introduces them: it must count them right."""
    plot: bool = True
    """False when the model is not given the plot: it must make no plot claim."""


@functools.cache
def expected_failures() -> tuple[type[BaseException], ...]:
    """What an LLM call may raise when the endpoint is down, refusing, crashing or erring (HTTP).

    Imported on the first LLM call, not with this module: the template writer lives here too,
    and it must work whatever the installed LLM client libraries are."""
    import httpx
    import openai

    return (openai.APIError, httpx.HTTPError, OSError)


class LLMWriter:
    """Prose from a chat model, validated and streamed a sentence at a time, within two budgets.

    `first_sentence_s`: past it with no accepted sentence, the template prose is used (a hung
    endpoint costs this much, not the HTTP timeout). `total_s`: sentences after it are cut.
    `server`, when this process owns the model server: a server that is restarting is not
    called at all, so its replies fall back at once and the note says why.
    """

    def __init__(
        self,
        model: BaseChatModel,
        titles: TitleIndex,
        label: str,
        first_sentence_s: float = 10.0,
        total_s: float = 15.0,
        domain: str = "movie",
        max_sentences: int = 2,
        server: LocalModelServer | None = None,
    ) -> None:
        self.model = model
        self.titles = titles
        self.name = label
        self.first_sentence_s = first_sentence_s
        self.total_s = total_s
        self.template = TemplateWriter(domain)
        self.domain = domain
        self.max_sentences = max_sentences
        self.server = server

    def _request(self, result: TurnResult) -> Brief | None:
        """What to ask the model for this turn; None = template only.

        Each task is narrow enough for a 135M model: one sentence introducing the picks by the first one's
        title and kind, in words of its genres, the user's message and the anchor (the whys describe the
        picks; given the request's genres, the model put them on picks that lack them), one sentence saying
        what the template's draft says (small talk), two sentences from one item's facts. Answers to one
        field ("who directed #2?") come from the field itself."""
        message = safe_text(result.message[:500])  # the user's text is data too: no instruction reaches the model
        if result.kind == "recommend" and result.items:
            first = result.items[0].item
            around = " and ".join(i.title for i in result.anchors) or "(nothing)"
            variables = {"message": message, "around": around, "domain": self.domain}
            variables["first"] = f"{first.title} | {', '.join(first.genres)}"  # with a year, it wrote wrong years
            kinds = _kind_words(first.genres)
            # its tags and people count as facts too: "Batman, a superhero movie", "Monsters, Inc., a Pixar film"
            tags = first.meta.get("tags") or []
            known = [*(map(str, tags) if isinstance(tags, list) else [str(tags)]), *people_facts(first.meta)]
            facts = " ".join([without_titles(self.titles, message), first.label(), variables["first"], kinds, *known])
            return Brief(
                "recommend",
                variables,
                [first, *result.anchors],
                facts,
                share=1.0,
                min_words=6,
                must_name=first,
                one_sentence=True,
                picks=len(result.items),
                plot=False,
            )
        if result.kind == "cold_start":
            items = "\n".join(f"{r.rank}. {r.item.label()} | {', '.join(r.item.genres)}" for r in result.items[:3])
            return Brief("clarify", {"message": message, "items": items}, [], f"{message} popular varied", share=0.75)
        if result.kind == "about" and result.subject is not None and not field_answer(result.subject, message):
            item = item_facts(result.subject)
            kinds = _kind_words(result.subject.genres)
            return Brief(
                "about_item",
                {"message": message, "item": item},
                [result.subject],
                f"{item} {kinds} {message}",
                ABOUT_SHARE,
                tell=_plot(result.subject),
            )
        if result.kind == "smalltalk":
            draft = self.template.smalltalk(message)
            variables = {"message": message, "draft": draft, "domain": self.domain}
            return Brief(
                "smalltalk", variables, [], f"{draft} {message}", share=0.75, questions=True, min_words=3, generic=False
            )
        return None

    async def stream(self, result: TurnResult, outcome: WriteOutcome) -> AsyncIterator[str]:
        request = self._request(result)
        if request is None:
            async for text in self.template.stream(result, outcome):
                yield text
            return
        started = time.perf_counter()
        validator = GroundingValidator(
            self.titles,
            request.allowed,
            request.facts,
            result.liked,
            request.questions,
            request.share,
            request.min_words,
            request.must_name,
            request.generic,
            request.tell,
            result.excluded,
            request.picks,
            request.plot,
        )
        kept = 0
        if await self._server_ready(outcome):
            messages = load_prompt(request.purpose).format_messages(**request.variables)
            validator.guard(messages, _injected(result))
            noted = self.template.noted(result) if request.purpose == "recommend" else ""
            for attempt in range(1 + RETRIES):
                dropped = outcome.dropped
                attempt_sentences = self._validated(
                    messages, validator, outcome, started, attempt, request.one_sentence
                )
                async for sentence in attempt_sentences:
                    if outcome.first_sentence_ms is None:
                        outcome.first_sentence_ms = (time.perf_counter() - started) * 1000
                    kept += 1
                    yield (noted if kept == 1 else " ") + sentence
                wrote_only_wrong = outcome.dropped > dropped and not outcome.note  # not silent, not failing
                if kept or not wrote_only_wrong or time.perf_counter() - started > RETRY_WITHIN * self.first_sentence_s:
                    break
        if kept:
            outcome.status = "repaired" if outcome.dropped else "ok"
            if result.loosened and result.kind in ("recommend", "cold_start"):
                yield " " + result.loosened  # what a filled reply gave up is said by us, not left to the model
            return
        outcome.status = "replaced"
        yield self.template.prose(result)
        if outcome.first_sentence_ms is None:
            outcome.first_sentence_ms = (time.perf_counter() - started) * 1000

    async def _server_ready(self, outcome: WriteOutcome) -> bool:
        """An owned server that is still starting gets the first-sentence budget; a restarting one none."""
        server = self.server
        if server is None or server.state == "ready":
            return True
        if server.state == "starting" and await asyncio.to_thread(server.wait_ready, self.first_sentence_s):
            return True
        outcome.note = f"LLM {server.state}"
        log.warning("LLM server %s: template prose for this reply", server.state)
        return False

    async def _validated(
        self,
        messages: list[BaseMessage],
        validator: GroundingValidator,
        outcome: WriteOutcome,
        started: float,
        attempt: int,
        one_sentence: bool = False,
    ) -> AsyncIterator[str]:
        """Accepted sentences, until `max_sentences`, the model's end, a budget or a failure. The budgets run
        from `started` (perf_counter), so a second attempt only has what the first left; it samples hotter."""
        model = self.model.bind(temperature=RETRY_TEMPERATURE) if attempt else self.model
        sentences = _sentences(model.astream(messages)).__aiter__()
        accepted = 0
        try:
            while accepted < self.max_sentences:
                budget = self.total_s if accepted else min(self.first_sentence_s, self.total_s)
                try:
                    sentence, finished = await asyncio.wait_for(
                        sentences.__anext__(), timeout=max(0.0, started + budget - time.perf_counter())
                    )
                except StopAsyncIteration:
                    break
                if finished and validator.accept(sentence):
                    accepted += 1
                    yield sentence.strip()
                elif sentence.strip():
                    outcome.dropped += 1  # unfinished or ungrounded: never shown
                    log.debug("dropped a model sentence: %r", sentence.strip())
                    if one_sentence and not accepted:
                        break
        except TimeoutError:
            which = "total" if accepted else "first-sentence"
            log.warning(
                "LLM writer ran past its %s budget (%.1fs)", which, self.total_s if accepted else self.first_sentence_s
            )
            outcome.dropped += 1
            outcome.note = outcome.note or f"LLM past its {which} budget"
        except expected_failures() as error:
            server = self.server
            restarting = server is not None and (server.state != "ready" or not server.alive())
            outcome.note = "LLM restarting" if restarting else "LLM unavailable"
            log.warning("LLM writer failed (%s): %s", outcome.note, error)
            outcome.dropped += 1
        except Exception:
            log.exception("LLM writer bug; template prose for this reply")
            outcome.note = "LLM writer error"
            outcome.dropped += 1
        finally:
            await _close(sentences)


async def _sentences(chunks: AsyncIterator[BaseMessage]) -> AsyncIterator[tuple[str, bool]]:
    """Split a chunk stream into (sentence, finished); the last piece is unfinished unless it ends a sentence."""
    buffer = ""
    async for chunk in chunks:
        buffer += str(chunk.content)
        *complete, buffer = _SENTENCE_END.split(buffer)
        for sentence in complete:
            yield sentence, True
    if buffer.strip():
        yield buffer, bool(re.search(r"[.!?]$", buffer.strip()))


async def _close(iterator: AsyncIterator[object]) -> None:
    close = getattr(iterator, "aclose", None)
    if close is None:
        return
    try:
        await close()
    except expected_failures() as error:
        log.debug("closing the LLM stream: %s", error)
