"""Asks in a user's message that are no taste: how many items ("just one", "3 more"), how well known ("the best
movies of all time", "a hidden gem"), and what the catalog has no field for ("under 2 hours", "cheap"). Each reader
blanks what it read, so it is not embedded as an aspect."""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal

from .masking import MaskedMessage

MAX_ITEMS = 10
"""The most items one reply shows, however many are asked for: a longer list is no longer a recommendation."""
_NUMBER_WORDS = {word: n for n, word in enumerate("one two three four five six seven eight nine ten".split(), 1)}
_NUMBER_WORDS |= {"eleven": 11, "twelve": 12, "fifteen": 15, "twenty": 20, "a couple": 2, "a pair": 2}
_NUMBER = r"(?P<n>\d{1,3}|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty)"
_NOT_A_COUNT = r"(?!['’]?s\b|\s*(?:%|:|\.\d|stars?\b|hours?\b|hrs?\b|h\b|minutes?\b|mins?\b|pages?\b|years?\b))"
"""What follows a number that is no count: "the 90's", "2 hours", "3 stars", "4.5"."""
_ITEM_WORDS = (
    r"(?P<noun>more|others?|picks?|suggestions?|recommendations?|options?|ideas?|titles?|items?|things?|ones|"
    r"movies?|films?|books?|novels?|recipes?|dishes|shows?|please)"
)
_COUNTS = (
    re.compile(rf"(?<!the )\b(?:just|only|exactly|give me|show me|list|top)\s+{_NUMBER}\b{_NOT_A_COUNT}"),
    re.compile(rf"(?<![#\w.,$£€])(?<!number )(?<!no\. ){_NUMBER}\s+{_ITEM_WORDS}\b"),
    re.compile(r"(?<!for )(?<!about )(?<!with )\b(?P<n>a couple|a pair)\b(?!['’]s| of (?:hours|minutes|days|years))"),
)
"""'just one', 'give me ten', '3 more', 'five movies', 'a couple': a number with a cue that makes it a count, so
'#3', 'number 2', 'the 90s', '2010' and 'under 2 hours' are not counts."""
_FEW = re.compile(r"\ba (?:few|handful)(?: of)?\b")
"""'a few' asks for the usual number: dropped, so 'few' is no aspect."""


def count_of(word: str) -> int:
    """A count said in digits or words ("3", "three", "a couple")."""
    return int(word) if word.isdigit() else _NUMBER_WORDS[word]


def read_count(message: MaskedMessage) -> tuple[MaskedMessage, int | None]:
    """The message with its counts blanked ("3 more like #2" keeps "more like"), and the last count in it (None:
    none)."""
    text = message.text
    asked = None
    spans: list[tuple[int, int]] = [m.span() for m in _FEW.finditer(text)]
    found = sorted((m for pattern in _COUNTS for m in pattern.finditer(text)), key=lambda m: m.start())
    for m in found:
        count = count_of(m.group("n"))
        if count < 1:
            continue
        asked = count
        noun = m.groupdict().get("noun")
        spans.append(m.span("n") if noun in ("more", "please") else m.span())
    return message.blanked(spans), asked


Standing = Literal["popular", "obscure"]
_KINDS = r"(?:movies?|films?|books?|novels?|games?|shows?|series|podcasts?|albums?|songs?|restaurants?|wines?|recipes?)"
_OBSCURE = re.compile(
    r"\b(?:hidden gems?|(?:underrated|under[- ]rated|under[- ]the[- ]radar|lesser[- ]known|little[- ]known|obscure|"
    r"overlooked)(?: (?:little )?gems?)?|deep cuts?|off the beaten (?:path|track)|(?:never|not) heard of|"
    r"not (?:very |that |so |too )?(?:well[- ]known|popular|mainstream|famous))\b"
)
_POPULAR = re.compile(
    r"\b(?:the )?(?:best|greatest)(?: \w+)? (?:ever|of all time)\b|\b(?:all[- ]time|of all time)\b"
    rf"|\b(?:the )?(?:best|greatest|most popular|top)(?= (?:\w+ )?{_KINDS}\b)"
    r"|\bthe (?:best|greatest|most popular)(?= (?!friends\b|parts\b|bits\b|moments\b|scenes\b)\w+s\b)"
    r"|\bmost (?:popular|famous|loved|acclaimed|watched|read|played)\b|\b(?:critically )?acclaimed\b"
    r"|\b(?:popular|famous|well[- ]known|iconic|must[- ](?:see|watch|read|play)|crowd[- ]pleasers?|blockbusters?)\b"
)
"""How well known the picks should be: "a hidden gem", "something underrated", "an underrated gem" (obscure: "gem"
alone was left as the taste, which nothing said, so the reply said nothing fit); "the best movies of all
time", "the best comedies", "something popular", "a must-see" (popular); the kind after "the best" is left to read.
Read before the aspects: as words, "hidden gem" found Crouching Tiger, Hidden Dragon and Hidden Figures, and "the
best movies of all time" asked for something "all time"."""


def read_standing(message: MaskedMessage) -> tuple[MaskedMessage, Standing | None]:
    """The message with its words of standing blanked, and the standing asked for (None: none)."""
    for pattern, standing in ((_OBSCURE, "obscure"), (_POPULAR, "popular")):
        found = [m.span() for m in pattern.finditer(message.text)]
        if found:
            return message.blanked(found), standing  # type: ignore[return-value]
    return message, None


@dataclass(frozen=True)
class _Filter:
    """An ask that needs a catalog field: its words, and the meta keys that could answer it."""

    topic: str
    pattern: re.Pattern[str]
    fields: frozenset[str]

    @classmethod
    def of(cls, topic: str, words: str, fields: str) -> _Filter:
        """`words`: alternatives (regex) matched as whole words; `fields`: space-separated meta keys."""
        return cls(topic, re.compile(rf"(?<![\w$£€])(?:{words})(?!\w)"), frozenset(fields.split()))


_LANGUAGES = (
    r"english|french|spanish|german|italian|japanese|korean|chinese|mandarin|cantonese|hindi|portuguese|russian|"
    r"swedish|danish|norwegian|dutch|arabic|turkish|polish|greek|hebrew|thai|persian|farsi"
)
_FILTERS: tuple[_Filter, ...] = (
    _Filter.of(
        "age rating",
        r"rated (?:pg-?13|nc-?17|pg|g|r|18)|pg-?13|nc-?17|age rating|certificat(?:e|ion)|mpaa",
        "age_rating certification certificate mpaa mpaa_rating content_rating rated maturity_rating parental_rating",
    ),
    _Filter.of(
        "rating",
        r"(?:highly|well|top|best|high|low|poorly)[- ]rated|rated (?:above|over|at least|higher than) \d"
        r"|(?:at least |over |above )?\d(?:\.\d)?\+? ?(?:stars|/ ?10|out of (?:5|10))"
        r"|good (?:ratings?|reviews?|scores?)|ratings?|imdb|rotten tomatoes|metacritic",
        "rating ratings score avg_rating average_rating imdb_rating vote_average user_rating metascore review_score",
    ),
    _Filter.of(
        "length",
        r"(?:not (?:too|very|that|so|overly)|too|very|really|super) long(?! ago)|(?:something|anything) (?:short(?:er)?|quick)"
        r"|(?:short(?:er)?|quick)"
        r"(?= (?:[a-z]+ )?(?:ones?|watch(?:es)?|reads?|movies?|films?|books?|novels?|recipes?|games?)\b)"
        r"|long(?:er)? ones?"  # "a short classic novel": "classic" stays
        r"|(?:but |a bit |a little |much |bit )?(?:shorter|quicker)(?! than)"  # "like Dune but shorter"
        r"|(?:under|less than|shorter than|no (?:longer|more) than|at most|max(?:imum)?|within|over|more than|longer than"
        r"|(?<!it )(?<!them )in|(?:only |just )?(?:have|'ve got|got))"  # the time there is: "I only have an hour"
        r" (?:an? |\d+(?:\.\d+)? ?|one |two |three |half an? )?(?:hours?|hrs?|h|minutes?|mins?|pages?)"
        r"|\d+(?:\.\d+)? ?(?:hours?|hrs?|minutes?|mins?|pages?)(?: long| or less| max| tops)?"
        r"|run ?time|running time|length|duration|page count",
        "runtime run_time running_time runtime_minutes duration length minutes mins total_time cook_time prep_time "
        "time pages page_count num_pages",
    ),
    _Filter.of(
        "price",
        r"cheap(?:er|est)?|inexpensive|affordable|(?:not |less )?(?:too |very )?expensive|pricey|budget[- ]friendly"
        r"|on a budget|low[- ]cost|(?:under|less than|below|at most|max(?:imum)?) [$£€] ?\d+(?:\.\d\d)?"
        r"|[$£€] ?\d+(?:\.\d\d)?|\d+(?:\.\d\d)? ?(?:dollars|euros|pounds|bucks|usd|eur|gbp)|prices?|costs?|costing",
        "price prices cost msrp list_price price_usd price_eur amount",
    ),
    _Filter.of(
        "awards",
        r"(?:oscars?|academy awards?|emmys?|golden globes?|baftas?|award)(?:[- ](?:winn(?:ing|ers?)|nominated|nominees?))?"
        r"|won (?:an? |any )?(?:oscars?|awards?)|palme d'or|booker prize|pulitzer(?: prize)?|hugo awards?"
        r"|nebula awards?|awards?",
        "awards award oscars oscar_wins wins accolades",
    ),
    _Filter.of(
        "language",
        rf"(?:spoken |written )?in (?:{_LANGUAGES}|another language|a foreign language|a different language"
        rf"|the original language)|(?:{_LANGUAGES}|foreign)[- ]language|original language|subtitle[sd]?|dubbed",
        "language languages lang original_language spoken_languages audio_languages",
    ),
    _Filter.of(
        "streaming service",
        r"(?:on |from )?(?:netflix|hulu|disney ?\+|disney plus|hbo(?: max)?|prime video|amazon prime|apple tv ?\+?"
        r"|peacock|paramount ?\+|paramount plus|crunchyroll|mubi|tubi|kindle unlimited|audible)"
        r"|(?:available|streaming|to stream) on \w+|streaming(?: services?| platforms?)?|streamable",
        "platform platforms streaming service services provider providers available_on network where_to_watch "
        "watch_providers",
    ),
)


def read_unsupported(message: MaskedMessage, fields: Collection[str]) -> tuple[MaskedMessage, list[str]]:
    """Asks no field of this catalog can answer ("not too long" with no runtime) are blanked, not embedded: searched
    for as words they would pull toward items that merely mention length or price. An ask the catalog has a field
    for is left to the aspects. Returns the message and the topics of the asks blanked ("length", "price")."""
    keys = {f.lower() for f in fields}
    topics: list[str] = []
    for ask in _FILTERS:
        if ask.fields & keys:
            continue
        found = [m.span() for m in ask.pattern.finditer(message.text)]
        if found:
            topics.append(ask.topic)
            message = message.without_asks(found)
    return message, topics
