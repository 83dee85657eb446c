"""Grounding: the rules a model's sentence must pass before a person reads it, each named, each saying why.

`GroundingValidator(brief, titles, liked=…, excluded=…)` checks one sentence at a time against `RULES`, in order;
the first rule that fires drops the sentence and gives a `Drop(rule, reason)`, so a test, a log line or a
benchmark can tell why ("wrong_year: gives 2013, not a year of a title it names"). A kept sentence is remembered,
so a later one that repeats it is dropped.

A rule is a `Rule(name, check)`: `check(sentence, validator)` returns why the sentence breaks the rule, or None.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from recochat.retrieval.catalog import INSTRUCTION, CatalogItem
from recochat.retrieval.explain import content_words
from recochat.retrieval.titles import TitleIndex, TitleMatch, normalize

from .lexicon import DECADE_IN_PROSE, GENRE_TERMS, kind_words

if TYPE_CHECKING:
    from langchain_core.messages import BaseMessage

    from .writer import Brief


@dataclass(frozen=True)
class Drop:
    """Why a sentence was dropped: the rule that fired (`Rule.name`) and what it found."""

    rule: str
    reason: str


class Sentence:
    """One model sentence as the rules read it; each reading is made once, when a rule first asks for it."""

    def __init__(self, text: str, titles: TitleIndex, words_of: Callable[[str], set[str]]) -> None:
        self.text = text
        self._titles = titles
        self._words_of = words_of

    @cached_property
    def key(self) -> str:
        return normalize(self.text)

    @cached_property
    def words(self) -> set[str]:
        return content_words(self.text)

    @cached_property
    def matches(self) -> list[TitleMatch]:
        return self._titles.find(self.text)

    @cached_property
    def untitled_text(self) -> str:
        """Its text with the titles it names cut out: the "1917" of "starting with 1917, a war drama" is no year."""
        return without_titles(self._titles, self.text)

    @cached_property
    def untitled(self) -> set[str]:
        """Its words with the titles it names cut out, as the facts are read."""
        return self._words_of(self.untitled_text)


Check = Callable[[Sentence, "GroundingValidator"], "str | None"]


@dataclass(frozen=True)
class Rule:
    """One reason to drop a sentence. `check` returns why the sentence breaks it, or None when it does not."""

    name: str
    check: Check


class GroundingValidator:
    """Keeps only sentences a person can trust; everything else counts as a repair.

    A sentence is dropped when it names a title that is not shown, quotes an unknown title,
    repeats or nearly repeats an earlier one, echoes instructions, claims the user liked or saw
    something the profile does not hold, promises future behaviour, points at picks "above",
    or (when the brief's `questions` is False) asks the user something: the reply's own question, if any,
    is added by the engine. With facts, at least `share` of a sentence's content words (other than
    generic ones: 'here', 'picks', 'enjoy') must be found in them: the tiny model otherwise retells its
    few-shot example or makes up plots. `liked`: what the profile holds as liked; `excluded`: the genres the
    user ruled out.
    """

    def __init__(
        self,
        brief: Brief,
        titles: TitleIndex,
        liked: list[CatalogItem] | None = None,
        excluded: list[str] | None = None,
        rules: tuple[Rule, ...] | None = None,
    ) -> None:
        facts, tell, allowed = brief.facts, brief.tell, brief.allowed
        self.rules = RULES if rules is None else rules
        self.titles = titles
        self.picks = brief.picks
        self.plot = brief.plot
        self.thanked = bool(_THANKS.search(facts or ""))
        self.words_of = _plot_words if tell else content_words
        """A plot is checked word for word: "a young woman" for a ten-year-old girl is false, though "young"
        and "woman" are too common to count as shared themes."""
        self.excluded = content_words(kind_words(excluded or []))
        self.facts = _with_other_endings(self.words_of(facts)) if facts else None
        self.fact_names = frozenset(_NAME_WORD.findall(facts.lower())) if facts else None
        self.share = brief.share
        self.free_words = _GENERIC if brief.generic else frozenset()
        self.tell = content_words(tell) - content_words(" ".join(i.title for i in allowed)) if tell else None
        self.min_words = brief.min_words
        self.allowed = allowed
        self.must_name = brief.must_name
        self.allowed_ids = {i.id for i in allowed}
        self.allowed_names = {normalize(i.title) for i in allowed}
        self.liked = liked or []
        self.liked_ids = {i.id for i in self.liked}
        self.questions = brief.questions
        self.seen: set[str] = set()
        self.kept_words: list[set[str]] = []
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

    def check(self, sentence: str) -> Drop | None:
        """The first rule the sentence breaks, or None: then it is kept, and later sentences may not repeat it."""
        read = Sentence(sentence.strip(), self.titles, self.words_of)
        for rule in self.rules:
            reason = rule.check(read, self)
            if reason is not None:
                return Drop(rule.name, reason)
        self.seen.add(read.key)
        self.kept_words.append(read.words)
        return None

    def retitled(self, sentence: str) -> str | None:
        """The sentence with the pick's title where it started the picks with another title ("…, starting with
        Heat" for Reservoir Dogs), or None when it did not. The tiny model copies the title the user named, or the
        anchor: in one `bench llm` run 149 of 540 dropped sentences missed the pick, most of them this way. The
        result is checked by every rule like any sentence (a kind it gives must still be the pick's)."""
        must, text = self.must_name, sentence.strip()
        starting = _STARTING_WITH.search(text)
        if must is None or starting is None:
            return None
        matches = Sentence(text, self.titles, self.words_of).matches
        other = next((m for m in matches if m.item_id != must.id and 0 <= m.start - starting.end() <= 4), None)
        if other is None or any(m.item_id == must.id for m in matches):
            return None
        return text[: other.start] + must.title + text[other.end :]

    def accept(self, sentence: str) -> bool:
        """True when the sentence breaks no rule (and is kept)."""
        return self.check(sentence) is None


def without_titles(titles: TitleIndex, text: str) -> str:
    """The text with the titles it names cut out: a title's words are no facts about anything ("a movie about good
    guys" passed on the words of The Nice Guys; the user's "I loved Hot Fuzz" makes no film "fuzz")."""
    for match in sorted(titles.find(text), key=lambda m: m.start, reverse=True):
        text = text[: match.start] + " " + text[match.end :]
    return text


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


# -- patterns ----------------------------------------------------------------------------------------------------

_QUOTED = re.compile(
    r"[\"“”‘’']([A-Z][^\"“”‘’']{2,60})[\"“”‘’']|\*\*([^*]{3,60})\*\*|\b([A-Z][\w'’:&-]*(?:\s+[A-Z0-9][\w'’:&-]*)*)\s*\((?:19|20)\d\d\)"
)
_LINK = re.compile(r"https?://|\bwww\.|\b[\w.+-]+@[\w-]+\.[a-z]{2,}\b|\b[\w-]+\.(?:com|net|org|io|example)\b", re.I)
"""A link or address: the catalog facts give none, so one in the prose was made up or injected."""
_PROMISE = re.compile(
    r"\b(I[’']ll|I will|I[’']m going to|I am going to|I can[’']t wait|next time|in the future|stay tuned|"
    r"keep (them|it|that) in mind)\b",
    re.I,
)
"""A writer cannot keep promises about later replies: the ranker decides them."""
_ASKED = re.compile(r"\b(?:did|do|does|would|will|have|had|can|could)\s+$", re.I)
"""What a claim of `_USER_CLAIM` follows when it is a question ("which one did you love?", "have you seen it?")."""
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
_YEAR = re.compile(r"\b(1[89]\d\d|20\d\d)\b")
_STUTTER = re.compile(r"\b((?:\w+ ){1,5}\w+) \1\b")
_SAID_TWICE = re.compile(r"\b((?=\w*\w{5}\b|\w+ \w{5})\w+ \w+)\b.*\b\1\b")
"""Two words, one of five letters or more, said twice in one sentence: a model that lost its way."""
_CAPITALIZED = re.compile(r"\b[A-Z][A-Za-z'’-]+")
_NAME_WORD = re.compile(r"[a-z0-9][a-z0-9'’-]*")


# -- the rules, in the order they are checked ----------------------------------------------------------------------


def _found(pattern: re.Pattern[str], what: str) -> Check:
    """A rule that fires where `pattern` matches: `what` it is, and the words that matched."""

    def check(s: Sentence, _: GroundingValidator) -> str | None:
        match = pattern.search(s.text)
        return f"{what}: {match.group()!r}" if match else None

    return check


def _no_words(s: Sentence, _: GroundingValidator) -> str | None:
    """Not a sentence a person should read: no word of two letters."""
    return None if re.search(r"[A-Za-z]{2,}", s.text) else "no word in it"


def _starts_midway(s: Sentence, _: GroundingValidator) -> str | None:
    """The tail of a sentence cut at an abbreviation ("the Extra-Terrestrial, …" after "E.T.")."""
    return "starts in lower case: the tail of a cut sentence" if s.text[:1].islower() else None


def _unended(s: Sentence, _: GroundingValidator) -> str | None:
    """A line that never ends ("Here's a new favorite, Home Alone: A Movie" and a line break)."""
    return None if re.search(r"[.!?…][\"”’')]*$", s.text) else "never ends"


def _fragment(s: Sentence, v: GroundingValidator) -> str | None:
    count = len(s.text.split())
    return f"{count} words, fewer than {v.min_words}" if count < v.min_words else None


def _obeys_injection(s: Sentence, v: GroundingValidator) -> str | None:
    """Obeying an injection shows as its words (`GroundingValidator.guard`)."""
    used = v.tainted & set(s.key.split())
    return f"uses words of an instruction kept from the prompt: {sorted(used)}" if used else None


def _leaks_prompt(s: Sentence, v: GroundingValidator) -> str | None:
    words = s.key.split()
    run = next(
        (" ".join(words[i : i + 5]) for i in range(len(words) - 4) if " ".join(words[i : i + 5]) in v.echo), None
    )
    return f"repeats the system prompt: {run!r}" if run is not None else None


def _question(s: Sentence, v: GroundingValidator) -> str | None:
    """The reply's own question, if any, is added by the engine."""
    return "asks the user a question" if not v.questions and s.text.endswith("?") else None


def _repeat(s: Sentence, v: GroundingValidator) -> str | None:
    return "said already" if s.key in v.seen else None


def _loop(s: Sentence, v: GroundingValidator) -> str | None:
    """Round the same words, or words said twice in a row that no title says twice ("starting with 2001: A Space
    Odyssey: A Space Odyssey", kept in a `bench llm` run; "New York, New York" is a title)."""
    words = s.key.split()
    trigrams = [" ".join(words[i : i + 3]) for i in range(len(words) - 2)]
    looping = len(trigrams) >= 6 and len(set(trigrams)) < len(trigrams) * 0.6
    stutter = _STUTTER.search(s.key)
    if stutter and not any(stutter.group() in name for name in v.allowed_names):
        looping = True
    twice = _SAID_TWICE.search(s.key)  # "…, starting with Annie Hall, starting with the show's title."
    if twice and not any(twice.group(1) in name for name in v.allowed_names):
        looping = True
    return "goes round the same words" if looping else None


def _near_repeat(s: Sentence, v: GroundingValidator) -> str | None:
    """Most of its words were already said by a kept sentence."""
    words = s.words
    repeats = bool(words) and any(len(words & kept) / len(words | kept) >= 0.6 for kept in v.kept_words)
    return "mostly the words of a sentence already kept" if repeats else None


def _unthanked_welcome(s: Sentence, v: GroundingValidator) -> str | None:
    """Thanks nobody gave ("You're welcome!" to "recommend me something")."""
    match = _WELCOME.search(s.text)
    return f"answers thanks nobody gave: {match.group()!r}" if match and not v.thanked else None


def _miscount(s: Sentence, v: GroundingValidator) -> str | None:
    """Calls five picks "a pick", or one pick "a few more options" (both in the read-through)."""
    if v.picks is None:
        return None
    match = (_MANY_PICKS if v.picks == 1 else _ONE_PICK).search(s.text)
    return f"says {match.group()!r} of {v.picks} picks" if match else None


def _plot_claim(s: Sentence, v: GroundingValidator) -> str | None:
    """A plot the intro was not given ("Kung Fu Hustle, a comedy about hot action movies")."""
    match = None if v.plot else _PLOT.search(s.text)
    return f"tells a plot it was not given: {match.group()!r}" if match else None


def _ruled_out(s: Sentence, v: GroundingValidator) -> str | None:
    """A kind the user ruled out ("You're looking for a classic Western" after "no westerns")."""
    said = s.words & v.excluded
    return f"offers what the user ruled out: {sorted(said)}" if said else None


def _unshown_title(s: Sentence, v: GroundingValidator) -> str | None:
    shown = next((m for m in s.matches if m.item_id not in v.allowed_ids), None)
    return f"names {s.text[shown.start : shown.end]!r}, which is not shown" if shown else None


def _unknown_title(s: Sentence, v: GroundingValidator) -> str | None:
    for groups in _QUOTED.findall(s.text):
        name = normalize(next(g for g in groups if g))
        if name and name not in v.allowed_names and not any(name in a or a in name for a in v.allowed_names):
            return f"quotes {name!r}, no title it may name"
    return None


def _user_claim(s: Sentence, v: GroundingValidator) -> str | None:
    """'You loved X' only when the profile holds X as liked; never 'you enjoyed' in general. Each claim's
    clause (up to the next comma) is what it is about: "Since you liked X, here is Y" claims nothing of Y, and
    "You loved X, and now you love Y" claims Y too."""
    text = s.text
    for claim in _USER_CLAIM.finditer(text):
        if _ASKED.search(text[: claim.start()]):
            continue  # "which one did you love?" asks; it claims nothing
        end = text.find(",", claim.end())
        clause = text[claim.start() : end if end >= 0 else len(text)]
        named = {match.item_id for match in v.titles.find(clause)}
        if not named or not named <= v.liked_ids:
            return f"claims of the user what the profile does not hold: {clause!r}"
    return None


def _unknown_name(s: Sentence, v: GroundingValidator) -> str | None:
    """A name the facts do not give, whatever the share: "Shrek is a Disney animated film" (a studio, a place, a
    person made up). A name is a capitalized word past the sentence's first, outside the titles it names."""
    if v.fact_names is None:
        return None
    names = _CAPITALIZED.findall(s.untitled_text)
    if names and s.untitled_text.lstrip().startswith(names[0]):
        names = names[1:]
    unknown = sorted({n for n in names if n.lower() not in v.fact_names and not n.startswith(("I'", "I’"))})
    return f"names what the facts do not: {unknown}" if unknown else None


def _with_other_endings(words: set[str]) -> set[str]:
    """The facts' words and their verbs' other forms: the draft's "name one you loved" allows "which one did you
    love?" (dropped as off the facts, every greeting fell back to the template)."""
    stems = {w[: -len(end)] + add for w in words for end, adds in _ENDINGS if w.endswith(end) for add in adds}
    return words | {w for w in stems if len(w) >= 3}


_ENDINGS = (("ied", ("y",)), ("ed", ("", "e")), ("ing", ("", "e")))


def _wrong_kind(s: Sentence, v: GroundingValidator) -> str | None:
    """A kind it is not, whatever the share: "Airplane is an animated comedy". A reply about no item (small talk)
    calls nothing anything: "which one did you love?" is no romance."""
    if v.facts is None or not v.allowed:
        return None
    wrong = ((s.untitled - v.free_words) & GENRE_TERMS) - v.facts
    return f"calls it what the facts do not: {sorted(wrong)}" if wrong else None


def _says_nothing(s: Sentence, v: GroundingValidator) -> str | None:
    """A paraphrase says something of its draft ("Just go here." does not)."""
    if v.facts is None or s.untitled - v.free_words or v.free_words:
        return None
    return "no word of the facts or the draft"


def _off_facts(s: Sentence, v: GroundingValidator) -> str | None:
    telling = s.untitled - v.free_words
    if v.facts is None or not telling:
        return None
    found = len(telling & v.facts) / len(telling)
    missing = sorted(telling - v.facts)
    return f"{found:.0%} of its words are in the facts, under {v.share:.0%}: {missing}" if found < v.share else None


def _names_the_pick(s: Sentence, v: GroundingValidator) -> str | None:
    """It names `must_name` when set (a sentence about the picks that names none of them says nothing), and any
    other title only as what the user liked."""
    if v.must_name is None:
        return None
    named = {m.item_id for m in s.matches}
    if v.must_name.id not in named:
        return f"does not name the pick, {v.must_name.title}"
    if len(named) > 1 and not _USER_CLAIM.search(s.text):
        return "names another title, not as what the user liked"
    return None


def _picks_for_the_pick(s: Sentence, v: GroundingValidator) -> str | None:
    """ "here are a few more picks for The 40-Year-Old Virgin": the pick is no anchor."""
    must = v.must_name
    if must is not None and any(m.item_id == must.id and _PICKS_FOR.search(s.text[: m.start]) for m in s.matches):
        return f"offers picks for the pick, {must.title}"
    return None


def _starting_with(s: Sentence, v: GroundingValidator) -> str | None:
    """ "starting with The 80s": what it starts with must be the pick ("the " may precede the title)."""
    must, starting = v.must_name, _STARTING_WITH.search(s.text)
    if must is None or starting is None:
        return None
    if any(m.item_id == must.id and 0 <= m.start - starting.end() <= 4 for m in s.matches):
        return None
    return f"starts with something other than the pick, {must.title}"


def _wrong_year(s: Sentence, v: GroundingValidator) -> str | None:
    """Each year or decade it gives belongs to a title it names: the model wrote "Love Actually, … from 2013"."""
    years = {int(y) for y in _YEAR.findall(s.untitled_text)}
    decades = {int(d) for d in DECADE_IN_PROSE.findall(s.untitled_text)}
    if not (years or decades):
        return None
    named = {m.item_id for m in s.matches}
    known = {i.year for i in [*v.allowed, *v.liked] if i.id in named and i.year}
    if named and years <= known and decades <= {y // 10 % 10 for y in known}:
        return None
    given = sorted(years) + [f"the {d}0s" for d in sorted(decades)]
    return f"gives {given}, not a year of a title it names ({sorted(known)})"


def _no_story(s: Sentence, v: GroundingValidator) -> str | None:
    """ "what is #1 about?" answered with the director and the cast, no story: the first sentence must retell it."""
    if v.tell is None or v.kept_words or len(s.words & v.tell) >= 2:
        return None
    return f"retells none of the story: shares {sorted(s.words & v.tell)} with it"


RULES: tuple[Rule, ...] = (
    Rule("no_words", _no_words),
    Rule("markup", _found(_MARKUP, "prompt markup, a list number or a cut")),
    Rule("starts_midway", _starts_midway),
    Rule("unended", _unended),
    Rule("instruction", _found(INSTRUCTION, "reads as an instruction")),
    Rule("promise", _found(_PROMISE, "promises what later replies do")),
    Rule("picks_elsewhere", _found(_PICKS_ELSEWHERE, "points at picks not in this reply")),
    Rule("meta", _found(_META, "talks about its own text or taste")),
    Rule("fragment", _fragment),
    Rule("link", _found(_LINK, "a link or address")),
    Rule("obeys_injection", _obeys_injection),
    Rule("leaks_prompt", _leaks_prompt),
    Rule("question", _question),
    Rule("repeat", _repeat),
    Rule("loop", _loop),
    Rule("near_repeat", _near_repeat),
    Rule("unthanked_welcome", _unthanked_welcome),
    Rule("miscount", _miscount),
    Rule("plot_claim", _plot_claim),
    Rule("ruled_out", _ruled_out),
    Rule("unshown_title", _unshown_title),
    Rule("unknown_title", _unknown_title),
    Rule("user_claim", _user_claim),
    Rule("names_the_pick", _names_the_pick),
    Rule("picks_for_the_pick", _picks_for_the_pick),
    Rule("starting_with", _starting_with),
    Rule("wrong_year", _wrong_year),
    Rule("wrong_kind", _wrong_kind),
    Rule("unknown_name", _unknown_name),
    Rule("no_story", _no_story),
    Rule("says_nothing", _says_nothing),
    Rule("off_facts", _off_facts),
)
"""Every rule a sentence must pass, in the order they are checked. A sentence is kept only when none fires, so the
order decides only which reason a drop gives: the cheap and certain first, the share of words found in the facts
last ("from 2013" is a wrong year before it is a word missing from the facts)."""
RULE_NAMES = tuple(rule.name for rule in RULES)
RETITLED_RULES = frozenset({"unshown_title", "names_the_pick", "starting_with"})
"""The rules a sentence that started the picks with another title breaks: `retitled` may mend it."""
