"""Asks about a catalog's numbers, read by the role of the column that answers them, whatever it is called:
"for 4 players" (a range pair), "under an hour" and "quick" (duration), "cheap" and "under $20" (price), "highly
rated" (rating), "light" and "nothing too heavy" (complexity).

The words of every role live here, and only the roles the catalog has are read: "light" is a weight on a board
game catalog and a mood on a film catalog. Each reader blanks what it read, so it is neither embedded as an aspect
nor read as a count ("4 players" is no "4 more").
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from recochat.profiles.model import AttributeAsk
from recochat.retrieval.candidates import Keeps
from recochat.retrieval.request import Bound
from recochat.retrieval.schema import CatalogSchema, Role

from .masking import INTENSIFIER, MaskedMessage

RANGE = "range"
"""The role of an ask about a range pair's quantity ("for 4 players"): the item's min ≤ n ≤ its max."""
LOW, NOT_HIGH, HIGH = "low", "not high", "high"
"""The parts of a column's own values a relative ask means: its lower third ("cheap", "quick", "light"), all but
its upper third ("nothing too heavy", "not too long"), its upper third ("highly rated", "a long one")."""

_NUMBER_WORDS = {
    **{w: n for n, w in enumerate("one two three four five six seven eight nine ten eleven twelve".split(), 1)},
    "a": 1,
    "an": 1,
    "half an": 0.5,
    "half a": 0.5,
    "a couple of": 2,
    "a couple": 2,
}
_NUM = (
    r"(?P<n>\d+(?:\.\d+)?|half an?|an?|a couple(?: of)?|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)"
)
_UNDER = (
    r"(?:under|less than|shorter than|below|no (?:longer|more) than|at most|max(?:imum)?|within|up to|tops|in under)"
)
_OVER = r"(?:over|more than|longer than|above|at least|upwards of)"
_COUNT = r"(?P<n>\d+|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)"
"""How many people: digits or words, never "a" ("we're a big group")."""
_MONEY = r"(?:[$£€] ?(?P<m>\d+(?:\.\d\d)?)|(?P<m2>\d+(?:\.\d\d)?) ?(?:dollars|bucks|euros|pounds|usd|eur|gbp))"


def _number(text: str) -> float:
    return float(text) if text[0].isdigit() else float(_NUMBER_WORDS[text])


_Read = Callable[[re.Match[str]], tuple[float | None, float | None, str | None]]


@dataclass(frozen=True)
class _Phrase:
    """Words that ask one thing of one role; `read` turns a match into (low, high, part)."""

    role: str
    pattern: re.Pattern[str]
    read: _Read
    say: Callable[[re.Match[str]], str] | None = None
    """How the reply names the ask, where the user's own words would read badly ("i only have an hour")."""


def _phrase(role: str, words: str, read: _Read, say: Callable[[re.Match[str]], str] | None = None) -> _Phrase:
    return _Phrase(role, re.compile(rf"(?<![\w$£€])(?:{words})(?![\w])"), read, say)


def _part(part: str) -> Callable[[re.Match[str]], tuple[None, None, str]]:
    return lambda m: (None, None, part)


def _minutes(m: re.Match[str]) -> float:
    hours = m.group("u").startswith("h")
    return _number(m.group("n")) * (60 if hours else 1)


def _up_to_minutes(m: re.Match[str]) -> tuple[None, float, None]:
    """An ask for at most the minutes `m` says ("under an hour", "in 30 minutes")."""
    return None, _minutes(m), None


def _money(m: re.Match[str]) -> float:
    return float(m.group("m") or m.group("m2"))


_MINUTES = r"(?P<u>hours?|hrs?|h|minutes?|mins?)"


def _within(m: re.Match[str]) -> str:
    """'in an hour', 'in 30 minutes': a time budget as the reply names it."""
    hours = m.group("u").startswith("h")
    amount = m.group("n")
    unit = ("hour" if hours else "minute") + ("" if _number(amount) == 1 else "s")
    return f"in {amount} {unit}"


_TOO = rf"(?<!not )(?<!nothing )(?:{INTENSIFIER} )?too"
"""A complaint about what was shown ("#1 is too expensive"): it asks for less of it, as "cheaper" does."""
_DURATION = (
    _phrase(Role.DURATION, rf"{_UNDER} {_NUM} ?{_MINUTES}(?: long)?", _up_to_minutes),
    _phrase(Role.DURATION, rf"{_NUM} ?{_MINUTES} (?:or less|or under|max|tops|at most)", _up_to_minutes),
    _phrase(Role.DURATION, rf"{_OVER} {_NUM} ?{_MINUTES}", lambda m: (_minutes(m), None, None)),
    # the time there is: "dinner in 30 minutes", "I've only got an hour", "a 20-minute game", "chicken, 30 minutes"
    # (never "the first 10 minutes were slow"): "in 30 minutes" was read as nothing, and a recipe catalog led with a
    # slow-cooked curry
    _phrase(
        Role.DURATION,
        rf"(?:(?:ready |done |made |cooked |finished )?in|takes?|taking|(?:i |we )?(?:only |just )?(?:have|'ve got|"
        rf"got)) {_NUM} ?{_MINUTES}(?! ago)",
        _up_to_minutes,
        _within,
    ),
    _phrase(
        Role.DURATION,
        rf"{_NUM}[- ]{_MINUTES} (?:meals?|dinners?|lunch(?:es)?|breakfasts?|recipes?|dish(?:es)?|games?|reads?|"
        r"episodes?|movies?|films?|shows?|podcasts?|sessions?|commutes?|drives?|rides?|flights?|walks?|runs?|workouts?)",
        _up_to_minutes,
        _within,
    ),
    _phrase(
        Role.DURATION,
        rf"(?:^|(?<=, )){_NUM} ?{_MINUTES}(?: (?:max|tops|or so))?(?=\s*(?:[,.!?]|$))",
        _up_to_minutes,
        _within,
    ),
    _phrase(Role.DURATION, rf"{_TOO} long(?! ago)", _part(LOW), lambda m: "shorter"),
    _phrase(
        Role.DURATION,
        r"(?:not (?:too|very|that|so|overly)|nothing (?:too|very|that|overly)) long(?! ago)|(?:on the )?shorter side",
        _part(NOT_HIGH),
    ),
    _phrase(Role.DURATION, r"quick(?:er|ie)?|short(?:er)?|fast(?![- ]paced)|brief|in a hurry", _part(LOW)),
    _phrase(
        Role.DURATION,
        r"(?:a )?long(?:er)? ones?|(?:something|anything) long(?:er)?|lengthy|epic|all[- ](?:day|night|evening)"
        r"|long(?:er)? (?:games?|movies?|films?|books?|reads?|sessions?|evenings?)",
        _part(HIGH),
    ),
)
_PRICE = (
    _phrase(Role.PRICE, rf"{_TOO} (?:expensive|pricey|costly|pricy)", _part(LOW), lambda m: "cheaper"),
    _phrase(Role.PRICE, rf"(?:{_UNDER}|cheaper than) {_MONEY}", lambda m: (None, _money(m), None)),
    _phrase(Role.PRICE, rf"{_MONEY} (?:or less|or under|max|tops)", lambda m: (None, _money(m), None)),
    _phrase(Role.PRICE, rf"{_OVER} {_MONEY}", lambda m: (_money(m), None, None)),
    _phrase(
        Role.PRICE,
        r"not (?:too |very |that |so )?(?:expensive|pricey|costly)|nothing (?:too )?(?:expensive|pricey)"
        r"|reasonabl[ey](?: priced)?|mid[- ]priced|moderately priced",
        _part(NOT_HIGH),
    ),
    _phrase(
        Role.PRICE,
        r"cheap(?:er|est)?|inexpensive|affordable|budget(?:[- ]friendly)?|on a budget|low[- ](?:cost|priced)|bargain",
        _part(LOW),
    ),
    _phrase(
        Role.PRICE,
        # "somewhere fancier" after "cheap" dropped the cheap bound and offered a taqueria and a barbecue shack
        r"(?:more )?expensive|pricier|pricey|premium|high[- ]end|luxury|splurge|top[- ]shelf|fanc(?:y|ier|iest)"
        r"|upscale|posh|classy|fine[- ]dining|special occasion|(?:something |more |a bit more )special",
        _part(HIGH),
    ),
)
_BARE_PRICE = (
    _phrase(
        Role.PRICE,
        rf"{_UNDER} (?P<b>\d+(?:\.\d\d)?)(?!\.?\d|\s*(?:%|min|hours?|hrs?|h\b|years?|yrs?|stars?|points?|people|players?))",
        lambda m: (None, float(m.group("b")), None),
    ),
)
"""'A red under 20': a bare number is a price where the catalog has prices and no durations (else "under 20" may
be minutes). Without it the wine catalog read "under 20" as nothing and offered a powerful Napa Cabernet."""
_RATING = (
    _phrase(
        Role.RATING,
        r"(?:rated |a rating of |scores? of )?(?:above|over|at least|higher than|more than) (?P<n>\d+(?:\.\d)?)"
        r"(?: ?stars?| ?/ ?(?:5|10|100)| out of (?:5|10|100)| points)"
        r"|(?P<k>\d(?:\.\d)?)\+? ?stars?(?: (?:and|or) (?:up|above|more|better))?",
        lambda m: (float(m.group("n") or m.group("k")), None, None),
    ),
    _phrase(
        Role.RATING,
        r"(?:highly|well|top|best|critically|high(?:ly)?)[- ]rated|top[- ]rated|good (?:ratings?|reviews?|scores?)"
        r"|well[- ]reviewed|great reviews|acclaimed|best[- ]reviewed",
        _part(HIGH),
    ),
)
_COMPLEXITY = (
    _phrase(
        Role.COMPLEXITY,
        rf"{_TOO} (?:heavy|complex|complicated|hard|difficult|crunchy)",
        _part(LOW),
        lambda m: "lighter",
    ),
    _phrase(
        Role.COMPLEXITY,
        r"not (?:too|very|that|so|overly) (?:heavy|complex|complicated|hard|difficult|deep|crunchy)"
        r"|nothing (?:too|very|that|overly) (?:heavy|complex|complicated|hard|difficult|crunchy)"
        r"|medium[- ](?:weight|complexity)|mid[- ]weight"
        # "too many rules" is a complaint however it is said: Brass and Power Grid led "nothing with too many rules"
        r"|(?:not |nothing (?:with )?|no |without )?(?:too many|lots of|a lot of|tons of) rules",
        _part(NOT_HIGH),
    ),
    _phrase(
        Role.COMPLEXITY,
        r"(?:few|simple|easy|light) rules|rules[- ]light"
        r"|light(?:weight|er)?(?![- ]?hearted)|simple|easy(?: to (?:learn|teach))?|casual|beginner[- ]friendly"
        r"|for beginners|gateway|approachable",
        _part(LOW),
    ),
    _phrase(
        Role.COMPLEXITY,
        r"heav(?:y|ier|yweight)|complex|complicated|crunchy|brain[- ]burn(?:er|ing)|thinky|meaty|challenging"
        # "something harder" after Pandemic led with Can't Stop and Telestrations
        r"|harder|hardest|tougher|more (?:difficult|demanding)|deeper",
        _part(HIGH),
    ),
)
_GROUP_WORDS = r"(?:a )?(?:big|large|huge) (?:group|party|crowd|family)|lots of (?:people|players)|(?:a )?crowd"
_SOLO = r"solo|single[- ]player|by myself|on my own|just me"


@functools.cache
def _range_phrases(noun: str) -> tuple[_Phrase, ...]:
    """'for 4 players', 'four-player', 'with 4 people', 'we are 4', 'for two', 'for me and my partner', 'solo', 'a
    big group' for a range of `noun`; people words stand in for any range of players."""
    singular = noun[:-1] if noun.endswith("s") else noun
    nouns = rf"(?:{re.escape(noun)}|{re.escape(singular)}s?|people|persons?|of us)" if "player" in noun else (
        rf"(?:{re.escape(noun)}|{re.escape(singular)}s?)"
    )  # fmt: skip
    exact = lambda m: (_number(m.group("n")), _number(m.group("n")), None)  # noqa: E731
    phrases = [
        _phrase(RANGE, rf"(?:for|with) {_COUNT} {nouns}", exact),
        _phrase(RANGE, rf"{_COUNT}[- ]{re.escape(singular)}s?", exact),
        _phrase(RANGE, rf"(?:we are|we're) {_COUNT}", exact),
    ]
    if "player" in noun:  # "my family of 4": who plays, as "we are 4" says (read as no count at all before)
        phrases.append(_phrase(RANGE, rf"(?:family|group|party|team) of {_COUNT}", exact))
    if "player" in noun:
        # "a game for two, not too long", "for the four of us": a bare head-count, never "for two hours"
        bare = rf"for (?:the )?{_COUNT}(?: of us)?(?=\s*(?:[,.!?;]|$|and\b|but\b|please\b|tonight\b))"
        phrases.append(_phrase(RANGE, bare, exact))
        couple = r"for (?:a|my|the) (?:couple|partner|two of us)|for me and my \w+"
        phrases.append(_phrase(RANGE, couple, lambda m: (2, 2, None)))
        phrases.append(_phrase(RANGE, _SOLO, lambda m: (1, 1, None)))
        phrases.append(_phrase(RANGE, rf"(?:for )?{_GROUP_WORDS}", _part(HIGH)))
    return tuple(phrases)


def read_attribute_asks(
    message: MaskedMessage, schema: CatalogSchema, kinds: Collection[str] = ()
) -> tuple[MaskedMessage, list[AttributeAsk]]:
    """The message with the asks about the catalog's numbers blanked, and those asks, in message order (one per
    role: the last said wins). A word that is one of the catalog's own `kinds` (a recipe catalog's "quick") is
    left to be read as that: the catalog's label is more precise than a third of its minutes."""
    roles = schema.roles()
    phrases: list[_Phrase] = []
    if schema.ranges:
        phrases += _range_phrases(schema.ranges[0].noun)
    for role, vocabulary in ((Role.DURATION, _DURATION), (Role.PRICE, _PRICE), (Role.RATING, _RATING),
                             (Role.COMPLEXITY, _COMPLEXITY)):  # fmt: skip
        if role in roles:
            phrases += vocabulary
    if Role.PRICE in roles and Role.DURATION not in roles:
        phrases += _BARE_PRICE
    found: dict[str, tuple[int, AttributeAsk]] = {}
    for phrase in phrases:
        for match in phrase.pattern.finditer(message.text):
            said = phrase.say(match) if phrase.say else " ".join(match.group().split())
            if said in kinds:
                continue
            low, high, part = phrase.read(match)
            if phrase.role not in found or match.start() > found[phrase.role][0]:
                found[phrase.role] = (match.start(), AttributeAsk(str(phrase.role), said, low, high, part))
            message = message.without_asks([match.span()])
    return message, [ask for _, ask in sorted(found.values(), key=lambda pair: pair[0])]


Cut = Callable[[str, float, bool, Keeps | None], float | None]
"""(column, fraction, by spread) → the value that far up the column's known values (`CandidateIndex.cut`)."""


def bounds_of(asks: Sequence[AttributeAsk], schema: CatalogSchema, cut: Cut) -> tuple[Bound, ...]:
    """The filters these asks put on this catalog's columns: a relative ask ("cheap") becomes a bound at a third of
    the column's own values (`cut`); an ask whose role the catalog lacks (held over from another catalog) bounds
    nothing."""
    bounds: list[Bound] = []
    for ask in asks:
        if ask.role == RANGE:
            bounds += _range_bounds(ask, schema, cut)
            continue
        column = schema.column_for(Role(ask.role)) if ask.role in {r.value for r in Role} else None
        if column is None or (ask.part is None and ask.role == Role.DURATION and "page" in column):
            continue  # "under an hour" says nothing of pages
        if ask.part is None:
            bounds.append(Bound(column, ask.low, ask.high, ask.said))
            continue
        low, high = _part_bounds(ask.part, column, cut, spread=ask.role in (Role.RATING, Role.COMPLEXITY))
        bounds.append(Bound(column, low, high, ask.said, relative=True))
    return tuple(bounds)


def _range_bounds(ask: AttributeAsk, schema: CatalogSchema, cut: Cut) -> list[Bound]:
    if not schema.ranges:
        return []
    low_column, high_column = schema.ranges[0].low.lower(), schema.ranges[0].high.lower()
    if ask.part is not None:  # "a big group": the items whose maximum is in the upper third of maximums
        return [Bound(high_column, _part_bounds(ask.part, high_column, cut)[0], None, ask.said, relative=True)]
    return [  # the range must hold the ask; the ranges closest to it lead ("two-player": games made for two)
        Bound(low_column, None, ask.low, ask.said, prefer=ask.low),
        Bound(high_column, ask.high, None, ask.said, prefer=ask.high),
    ]


def _part_bounds(part: str, column: str, cut: Cut, spread: bool = False) -> tuple[float | None, float | None]:
    """(low, high) of a part of a column's known values: its lower third, all but its upper third, its upper third.

    Of their spread for ratings and weights: "heavy" is the top of the scale the catalog uses, not whatever its
    heaviest third is (a catalog of light games has few heavy ones); of their quantiles otherwise (minutes,
    prices: a long tail would make "cheap" mean most of the catalog)."""
    keeps: Keeps | None = "below" if part == LOW else "above" if part == HIGH else None
    at = cut(column, 1 / 3 if part == LOW else 2 / 3, spread, keeps)
    return (at, None) if part == HIGH else (None, at)


def supported_topics(schema: CatalogSchema) -> set[str]:
    """The roles as the words `asks.read_unsupported` knows a catalog's fields by: with a duration column, "under
    2 hours" is read here, never called something the catalog cannot filter on."""
    return {role.value for role in schema.roles()}
