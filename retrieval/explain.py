"""Why an item fits: its strongest reason that is specific to that item.

A person reads the why next to each card, so it must explain *this* item: the liked item it
is closest to and what the two really share in the catalog (people, tags, words of their
descriptions, genres), the words of the request that its own text contains, a person the user
liked. Constraints the whole reply meets ("no horror", "from the 80s") are said once for the
reply by the caller, never as every item's why. `distinct()` makes the whys of one reply differ.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence

from .catalog import INSTRUCTION, CatalogItem
from .people import people_of
from .titles import normalize

_STOP = frozenset(
    """about after again against along also among another around away back because been before being
    between both came come could does doing down during each even every from have having here into
    just like made make many more most much must never only other over same should some something
    still such than that their them then there these they this those through under until very want
    were what when where which while will with within without would your yours film films movie
    movies story stories book books tale life lives world years year time times night first last
    little good great best well find finds finding take takes young women woman mans make makes
    funny smart please really kind sort type lots bit maybe recommend anything thing things watch
    read show shows look looking feel mood tonight today someone something""".split()
)
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_WORD = re.compile(r"[\w'’-]+")


ITEM_NOUNS = frozenset(
    "novel dish recipe meal food podcast episode game wine bottle restaurant place spot gadget device title "
    "series".split()
)
"""Words for an item of some catalog, which say nothing of what it is about ("a novel set in a prison": In Cold
Blood "reads with the pacing of a novel"; "comfort food" named Fish Tacos' tag 'street food' as its link)."""
_ITEM_WORDS = ITEM_NOUNS | {f"{w}s" for w in ITEM_NOUNS} | {f"{w}es" for w in ITEM_NOUNS}


def content_words(text: str) -> set[str]:
    """Words that carry meaning (4+ letters, not stop words nor `ITEM_NOUNS`), lightly stemmed so 'heists' meets
    'heist'."""
    return {fold_word(w) for w in normalize(text).split() if len(w) >= 4 and w not in _STOP and w not in _ITEM_WORDS}


_DEMONYMS = {
    "japanese": "japan",
    "korean": "korea",
    "chinese": "china",
    "french": "france",
    "italian": "italy",
    "german": "germany",
    "spanish": "spain",
    "mexican": "mexico",
    "british": "britain",
    "english": "england",
    "irish": "ireland",
    "scottish": "scotland",
    "american": "america",
    "indian": "india",
    "russian": "russia",
    "swedish": "sweden",
    "danish": "denmark",
    "norwegian": "norway",
    "australian": "australia",
    "brazilian": "brazil",
    "greek": "greece",
    "thai": "thailand",
    "vietnamese": "vietnam",
    "iranian": "iran",
    "egyptian": "egypt",
    "polish": "poland",
    "dutch": "netherlands",
    "canadian": "canada",
    "african": "africa",
    "european": "europe",
    "asian": "asia",
}
"""A people's word → its country's: "a Japanese film" meets the tag 'feudal japan' and a description's "South Korea"
meets "korean". Only whole words (a catalog's "Turkey" is as often the bird, so it is not here)."""


def fold_word(word: str) -> str:
    """A word as matching compares it: plurals folded ('heists' meets 'heist'), a people's word to its country's."""
    if word in _DEMONYMS:
        return _DEMONYMS[word]
    for suffix in ("ies", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)] + ("y" if suffix == "ies" else "")
    return word


def tags_of(item: CatalogItem) -> list[str]:
    """The item's tags as written (a single value is a one-tag list)."""
    tags = item.meta.get("tags") or []
    return [str(t) for t in tags] if isinstance(tags, list) else [str(tags)]


def listing(values: list[str], limit: int = 2) -> str:
    """'A', 'A and B', 'A, B and C' of the first `limit` values."""
    shown = values[:limit]
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " and " + shown[-1]


def shared_attribute(item: CatalogItem, other: CatalogItem) -> str | None:
    """What two items really share in the catalog, most specific first: people, tags, words of their stories.
    A rare genre they share is named by `NeighbourIndex.link`; a common one is no link at all."""
    theirs = {normalize(p): p for p in people_of(other)}
    people = [p for p in people_of(item) if normalize(p) in theirs]
    if people:
        return f"both with {listing(people)}"
    their_tags = {normalize(t) for t in tags_of(other)}
    tags = [t for t in tags_of(item) if normalize(t) in their_tags]
    if tags:
        return f"both {listing(tags)}"
    genre_words = content_words(" ".join(item.genres + other.genres))  # 'science' and 'fiction' are no theme
    words = sorted((_common_words(item) & _common_words(other)) - genre_words)
    if len(words) >= 2:
        return "both about " + listing([f"‘{w}’" for w in words], 2)
    return None  # a shared genre alone is no link: "both thriller" made Blade Runner a neighbour of Pulp Fiction


def anchor_reason(item: CatalogItem, anchor: CatalogItem, close: bool) -> str | None:
    """'close to Hot Fuzz, which you liked: both with Simon Pegg'. With nothing shared, only a `close` item
    (by embedding) may say it is close: the read-through found Seven "close to Home Alone" on no grounds."""
    shared = shared_attribute(item, anchor)
    lead = f"close to {anchor.title}, which you liked"
    if shared:
        return f"{lead}: {shared}"
    return lead if close else None


def request_reason(item: CatalogItem, request_texts: Iterable[str], asked_tags: Sequence[str] = ()) -> str | None:
    """The request's own words that this item's text contains, quoted from where they occur. `asked_tags`: its tags
    the ranking leaned to for these words (`NeighbourIndex.asked_tags`), named even when no content word is shared."""
    texts = list(request_texts)
    wanted = set().union(*(content_words(t) for t in texts)) if texts else set()
    tags = [t for t in tags_of(item) if t in asked_tags or wanted & content_words(t)]
    if tags:
        return "tagged " + listing([f"‘{t}’" for t in tags])
    for sentence in _sentences(item):
        hits = {w for w in wanted & content_words(sentence) if said_plainly(sentence.lower(), w)}
        if hits:
            at = next((m.start() for m in _WORD.finditer(sentence) if content_words(m.group()) & hits), 0)
            return f"“{_clip_around(sentence, at)}”"
    return None


def stem(word: str) -> str:
    """The pattern of a word and its other endings: a long word's last letter may change (violent, violence)."""
    return re.escape(word[:-1]) + r"\w*" if len(word) >= 6 else re.escape(word) + "s?"


def saying_pattern(words: Iterable[str]) -> re.Pattern[str]:
    """One pattern for any of `words` and their other endings (`stem`), in a lowered text: what "not violent" rules
    out and what a mood asked for leans to (`CandidateIndex.says`)."""
    return _saying_pattern(tuple(words))


@functools.lru_cache(maxsize=256)
def _saying_pattern(words: tuple[str, ...]) -> re.Pattern[str]:
    """Kept per word list: a reply's five whys ask for the same mood's pattern."""
    return re.compile(r"\b(?:" + "|".join(stem(word.lower()) for word in words) + r")\b")


_NEGATED_BEFORE = re.compile(
    r"\b(?:no|not|non|without|never|lacks?|lacking|isn'?t|doesn'?t|don'?t|zero)\b(?:[\s-]+[\w'-]+){0,2}[\s-]*$"
)


def said_plainly(text: str, word: str) -> bool:
    """Whether a lower-cased `text` says `word` (or another ending of it) at least once, not within two words after a
    negation: "No noise cancelling, but fine for the gym" says no noise cancelling. Asked for "noise cancelling
    headphones", that text led the reply and was quoted as its why."""
    return any(
        not _NEGATED_BEFORE.search(text, max(0, m.start() - 40), m.start())
        for m in saying_pattern([word]).finditer(text)
    )


def denies(text: str, words: Iterable[str]) -> bool:
    """Whether a lower-cased `text` says one of `words` only after a negation (`said_plainly`): what an item's own
    text denies, which the encoder reads as a match."""
    return any(saying_pattern([w]).search(text) and not said_plainly(text, w) for w in words)


def mood_reason(item: CatalogItem, words: Sequence[str]) -> str | None:
    """ "tagged ‘tearjerker’", or the sentence of its description that says the mood asked for ("a heartbreaking…"):
    the words `RankRequest.mood_words` leaned the ranking by, found as they were."""
    if not words:
        return None
    pattern = saying_pattern(words)
    tags = [t for t in tags_of(item) if pattern.search(t.lower())]
    if tags:
        return "tagged " + listing([f"‘{t}’" for t in tags])
    for sentence in _sentences(item):
        hit = pattern.search(sentence.lower())
        if hit:
            return f"“{_clip_around(sentence, hit.start())}”"
    return None


def _clip_around(sentence: str, at: int, limit: int = 70) -> str:
    """`_clip`, started a few words before `at` when the word there would be clipped off ("…to a full, joyous
    ensemble" rather than a concert film's first 70 characters, without "joyous")."""
    if at + 15 <= limit:
        return _clip(sentence, limit)
    start = sentence.rfind(" ", 0, max(at - 25, 0)) + 1
    return "…" + _clip(sentence[start:], limit)


_CAPITALIZED = re.compile(r"(?<=[\w,;:’'] )[A-Z][\w’'-]*")
"""A capitalized word inside a sentence: part of a name ("Los Angeles"), whose stem ('angel') is no theme."""


_COMPOUND = re.compile(r"\w+(?:-\w+)+")
"""'bone-dry', 'rain-soaked': a compound's parts are no theme of their own ('bone' met 'Shakespearean bones')."""


def _common_words(item: CatalogItem) -> set[str]:
    """The description's theme words: content words that are not parts of names or of compounds."""
    return content_words(" ".join(_COMPOUND.sub(" ", _CAPITALIZED.sub(" ", s)) for s in _sentences(item)))


def _sentences(item: CatalogItem) -> list[str]:
    """The description's sentences that may be quoted: never one that reads like an instruction."""
    return [s for s in _SENTENCE.split(item.description) if s.strip() and not INSTRUCTION.search(s)]


def _clip(sentence: str, limit: int = 70) -> str:
    text = sentence.strip().rstrip(".")
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0].rstrip(",;:") + "…"


def specific_detail(item: CatalogItem, said: str = "") -> str:
    """Something only this item has, for a why that would otherwise repeat: its tags, else its story.
    Tags the why already names (`said`) are not said twice."""
    already = content_words(said)
    tags = [t for t in tags_of(item) if not content_words(t) <= already]
    if tags:
        return listing(tags)
    quotable = _sentences(item)
    if quotable:
        return f"“{_clip(quotable[0], 60)}”"
    genres = "/".join(item.genres[:2])
    return f"{genres} from {item.year}" if item.year and genres else (genres or item.title)


LIKED_TOGETHER_CLAUSE = re.compile(r"people who liked .+ often liked it too")
"""The why's clause for what the crowd liked together (`whys.Whys`)."""
SAME_CLAUSE_AT_MOST = 2


def distinct(whys: list[str], items: list[CatalogItem]) -> list[str]:
    """Whys of one reply that read the same get each item's own detail added. A liked-together clause is said on
    the first `SAME_CLAUSE_AT_MOST` items that have it (ReDial's prior ties most action films to Die Hard: said on
    all five, it tells nothing about any one of them), unless it is all an item's why says."""
    whys = _liked_together_at_most(whys)
    counts: dict[str, int] = {}
    for why in whys:
        counts[why] = counts.get(why, 0) + 1
    return [
        f"{why}; {specific_detail(item, why)}" if counts[why] > 1 else why
        for why, item in zip(whys, items, strict=True)
    ]


def _liked_together_at_most(whys: list[str]) -> list[str]:
    said: dict[str, int] = {}
    kept_whys = []
    for why in whys:
        parts = why.split("; ")
        kept = []
        for part in parts:
            if LIKED_TOGETHER_CLAUSE.fullmatch(part):
                said[part] = said.get(part, 0) + 1
                if said[part] > SAME_CLAUSE_AT_MOST and len(parts) > 1:
                    continue
            kept.append(part)
        kept_whys.append("; ".join(kept))
    return kept_whys
