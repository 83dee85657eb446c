"""Rule-based understanding of one user message.

Order matters: titles are linked first on the whole message and masked, so "Pride and
Prejudice" is not split at "and"; then the message is cut into clauses, each clause gets a
polarity from explicit negation cues ("no horror" is embedded into the *negative* vector,
since the embedding of "no horror" sits close to horror), and constraints are read off.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from recochat.retrieval.people import PeopleIndex
from recochat.retrieval.titles import TitleIndex

Polarity = Literal["like", "dislike", "seen"]

_NEGATION = re.compile(
    r"\b(no|not|don'?t|do not|never|without|hate[sd]?|dislike[sd]?|avoid|except|nothing|none|isn'?t|aren'?t|"
    r"didn'?t|did not|can'?t stand|cannot stand|tired of|sick of|anything but|rather not|boring|awful|terrible|"
    r"meh|nah|skip|wasn'?t|bad)\b"
)
_SEEN = re.compile(r"\b(seen|saw|watched|already)\b")
_POSITIVE_WORDS = re.compile(
    r"\b(love[sd]?|like[sd]?|enjoy(ed)?|adore[sd]?|great|good|perfect|awesome|amazing|favou?rite|yes|sounds|"
    r"interesting|fun|nice|cool|watch|try|want|best)\b"
)
_UNSEEN = re.compile(r"\b(?:that |which )?i (?:haven'?t|have not|havent|never) (?:seen|watched)(?: yet)?\b|\bnot seen\b|\bunseen\b")
_CLAUSE_SPLIT = re.compile(r"[.!?;\n]+|,\s*(?=but\b|though\b|although\b|however\b)|\b(?:but|though|although|however|whereas|and|also|plus)\b|,")
_FILLER = re.compile(
    r"\b(i'?m|i am|i'?d|i would|i want|i wanna|want|wants|would|could|can you|can i|please|recommend(ation)?s?|suggest(ion)?s?|"
    r"give me|show me|find me|looking for|look for|in the mood for|mood for|something|anything|some|a|an|the|"
    r"movie|movies|film|films|book|books|one|ones|to watch|to read|watch|read|me|for|tonight|today|maybe|"
    r"really|very|kind of|kinda|sort of|type|that'?s|that is|is|are|be|with|of|it|its|i|like|love|loved|liked|enjoyed|"
    r"what else|else|more|another|other|thanks|thank you|hi|hello|hey|ok|okay|so|too|just|any|ever|some more|from|in|between|after|before|since|made|released|era)\b"
)
_ORDINALS = {
    "first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3, "fourth": 4, "4th": 4,
    "fifth": 5, "5th": 5, "sixth": 6, "6th": 6, "last": -1,
}
_RANK_REF = re.compile(
    r"(?:#\s?(\d+)|\bnumber\s+(\d+)\b|\bno\.\s?(\d+)\b|\b(first|1st|second|2nd|third|3rd|fourth|4th|fifth|5th|sixth|6th|last)\b(?:\s+one)?"
    r"|\b(that one|this one)\b)"
)
_ABOUT = re.compile(
    r"\b(what(?:'s| is| was)?\b.*\babout|tell me (?:more )?about|who (?:directed|stars?|is in|plays|made|wrote)|"
    r"what year|when (?:was|did)|describe|plot of|more info|more about)\b"
)
_REQUEST = re.compile(r"\b(something|anything|recommend|suggest|similar)\b")
"""'what about something funny like X' asks for recommendations, not about X."""
_WHY = re.compile(r"^\s*why\b")
_SMALLTALK = re.compile(
    r"^\s*(hi|hello|hey|hiya|yo|good (morning|evening|afternoon)|thanks?( you)?( so much)?|thx|cheers|bye|goodbye|"
    r"see you|how are you|who are you|what can you do|ok(ay)?|cool|great)\b[\s!.,?]*(there|bot|again)?[\s!.,?]*$"
)
_ALL_REJECT = re.compile(r"^\s*(meh|nah|nope|none of (these|those|them)|not (these|those)|neither|no thanks)\b")
_MORE_LIKE = re.compile(r"\bmore (?:like|of)\b|\bsimilar to\b")
_REPEAT = re.compile(r"\b(show (me )?(them|those|it) again|again please|repeat|show again)\b")

GENRE_SYNONYMS: dict[str, tuple[str, ...]] = {
    "sci fi": ("science fiction",), "scifi": ("science fiction",), "sci-fi": ("science fiction",), "science fiction": ("science fiction",),
    "funny": ("comedy", "humour", "humor"), "comedies": ("comedy",), "comedy": ("comedy", "humour", "humor"), "hilarious": ("comedy", "humour", "humor"), "romcom": ("romance",),
    "romantic": ("romance",), "love story": ("romance",), "scary": ("horror",), "horror": ("horror",), "creepy": ("horror",),
    "animated": ("animation",), "cartoon": ("animation",), "cartoons": ("animation",), "anime": ("animation",),
    "kids": ("family",), "children": ("family",), "documentaries": ("documentary",), "doc": ("documentary",),
    "thrillers": ("thriller",), "westerns": ("western",), "musicals": ("musical",), "superhero": ("action",),
    "dramas": ("drama",), "mysteries": ("mystery",), "war movies": ("war",), "action": ("action",),
}
_DECADE = re.compile(r"\b(?:(19|20)?(\d)0)'?s\b")
_AFTER = re.compile(r"\b(after|since|newer than|post|from after)\s+((?:19|20)\d\d)\b")
_BEFORE = re.compile(r"\b(?:before|older than|pre|prior to)\s+((?:19|20)\d\d)\b")
_BETWEEN = re.compile(r"\bbetween\s+((?:19|20)\d\d)\s+and\s+((?:19|20)\d\d)\b")
_FROM_YEAR = re.compile(r"\b(?:from|in)\s+((?:19|20)\d\d)\b")
_RECENT = re.compile(r"\b(recent|new|newer|latest|modern)\b")
_ANY_YEAR = re.compile(r"\bany (year|decade|era|time)\b")
_ANY_GENRE = re.compile(r"\bany (genre|kind|type|category)\b")


@dataclass
class TitleMention:
    item_id: str
    polarity: Polarity
    exact: bool = True


@dataclass
class RankFeedback:
    rank: int
    """1-based position in the last reply; -1 = the last one."""
    value: Literal["like", "dislike"]
    strong: bool = False
    """'more like #2' pulls harder than 'that one looks good'."""


@dataclass
class Understanding:
    text: str
    intent: Literal["recommend", "about", "why", "smalltalk"] = "recommend"
    positive: list[str] = field(default_factory=list)
    negative: list[str] = field(default_factory=list)
    titles: list[TitleMention] = field(default_factory=list)
    rank_feedback: list[RankFeedback] = field(default_factory=list)
    reject_all_shown: bool = False
    about_rank: int | None = None
    about_item: str | None = None
    include_genres: list[str] = field(default_factory=list)
    exclude_genres: list[str] = field(default_factory=list)
    liked_people: list[str] = field(default_factory=list)
    disliked_people: list[str] = field(default_factory=list)
    year_min: int | None = None
    year_max: int | None = None
    clear_years: bool = False
    clear_genres: bool = False
    unseen_only: bool = False
    allow_repeats: bool = False

    @property
    def has_signal(self) -> bool:
        return bool(self.positive or self.negative or self.titles or self.rank_feedback or self.reject_all_shown
                     or self.include_genres or self.exclude_genres or self.year_min or self.year_max
                     or self.liked_people or self.disliked_people)


def _genres_in(clause: str, vocabulary: set[str]) -> list[str]:
    """Genre words in a clause, longest first, each span used once ("science fiction" is not also "science")."""
    found = []
    candidates = [(word, genres) for word, genres in GENRE_SYNONYMS.items()]
    candidates += [(genre, (genre,)) for genre in vocabulary]
    for word, genres in sorted(candidates, key=lambda c: -len(c[0])):
        genre = next((g for g in genres if g in vocabulary), None)
        pattern = rf"\b{re.escape(word)}s?\b"
        if genre and re.search(pattern, clause):
            found.append(genre)
            clause = re.sub(pattern, " ", clause)
    return list(dict.fromkeys(found))


def _rank_of(match: re.Match[str]) -> int:
    number = match.group(1) or match.group(2) or match.group(3)
    if number:
        return int(number)
    if match.group(4):
        return _ORDINALS[match.group(4)]
    return 1  # "that one" / "this one": the top pick of the last reply


def _years(clause: str, negative: bool, newest_year: int) -> tuple[int | None, int | None]:
    if m := _BETWEEN.search(clause):
        a, b = sorted((int(m.group(1)), int(m.group(2))))
        return a, b
    if m := _DECADE.search(clause):
        century = m.group(1) or ("20" if m.group(2) in "012" else "19")
        start = int(f"{century}{m.group(2)}0")
        return (None, None) if negative else (start, start + 9)
    if m := _AFTER.search(clause):  # "after 2010" excludes 2010, "since 2010" includes it
        year = int(m.group(2))
        if m.group(1) != "since":
            year += 1
        return (None, year - 1) if negative else (year, None)
    if m := _BEFORE.search(clause):  # "before 1950" excludes 1950; "nothing before 1950" starts there
        year = int(m.group(1))
        return (year, None) if negative else (None, year - 1)
    if (m := _FROM_YEAR.search(clause)) and not negative:
        year = int(m.group(1))
        return year, year
    if _RECENT.search(clause) and not negative:
        return newest_year - 5, None
    return None, None


def _aspect(clause: str) -> str:
    text = _NEGATION.sub(" ", clause)
    text = _SEEN.sub(" ", text)
    text = _FILLER.sub(" ", text)
    text = re.sub(r"\b(?:19|20)\d\d\b", " ", text)
    text = re.sub(r"\s+", " ", re.sub(r"[^\w\s'-]", " ", text)).strip(" -'")
    return text if len(text) >= 3 else ""


def understand(
    text: str, titles: TitleIndex, genres: set[str], newest_year: int, people: PeopleIndex | None = None
) -> Understanding:
    result = Understanding(text=text)
    lowered = text.lower().strip()
    if not lowered:
        result.intent = "smalltalk"
        return result
    if _SMALLTALK.match(lowered):
        result.intent = "smalltalk"
        return result

    # 1. titles, linked on the whole message, then masked so clauses don't split them
    matches = titles.find(text)
    masked = list(text)
    for m in matches:
        masked[m.start : m.end] = [" "] * (m.end - m.start)
        masked[m.start] = "\x00"  # a marker to find which clause holds the title
    masked_text = "".join(masked).lower()

    if _UNSEEN.search(masked_text):
        result.unseen_only = True
        masked_text = _UNSEEN.sub(" ", masked_text)
    result.allow_repeats = bool(_REPEAT.search(masked_text))
    if _ANY_YEAR.search(masked_text):
        result.clear_years = True
    if _ANY_GENRE.search(masked_text):
        result.clear_genres = True

    # 2. questions about an item and explanations
    rank_match = _RANK_REF.search(masked_text)
    if _WHY.match(masked_text) and (rank_match or matches):
        result.intent = "why"
        result.about_rank = _rank_of(rank_match) if rank_match else None
        result.about_item = matches[0].item_id if matches and not rank_match else None
        return result
    if _ABOUT.search(masked_text) and (rank_match or matches) and not _REQUEST.search(masked_text):
        result.intent = "about"
        result.about_rank = _rank_of(rank_match) if rank_match else None
        result.about_item = matches[0].item_id if matches and not rank_match else None
        return result

    if _ALL_REJECT.match(masked_text):
        result.reject_all_shown = True

    # 3. clauses: polarity, aspects, titles, rank feedback, genres, years
    title_queue = list(matches)
    for clause in _CLAUSE_SPLIT.split(masked_text):
        if clause is None or not clause.strip():
            continue
        negative = bool(_NEGATION.search(clause))
        seen_only = bool(_SEEN.search(clause)) and not _POSITIVE_WORDS.search(clause) and not negative
        for _ in range(clause.count("\x00")):
            m = title_queue.pop(0)
            polarity: Polarity = "dislike" if negative else "seen" if seen_only else "like"
            result.titles.append(TitleMention(m.item_id, polarity, m.exact))
        if (rank := _RANK_REF.search(clause)) and not result.reject_all_shown:
            strong = bool(_MORE_LIKE.search(clause))
            result.rank_feedback.append(RankFeedback(_rank_of(rank), "dislike" if negative else "like", strong))
            continue
        if people:
            named = people.find(clause)
            (result.disliked_people if negative else result.liked_people).extend(named)
        found_genres = _genres_in(clause, genres)
        if negative:
            result.exclude_genres.extend(g for g in found_genres if g not in result.exclude_genres)
        else:
            result.include_genres.extend(g for g in found_genres if g not in result.include_genres)
        lo, hi = _years(clause, negative, newest_year)
        result.year_min = lo if lo is not None else result.year_min
        result.year_max = hi if hi is not None else result.year_max
        aspect = _aspect(_DECADE.sub(" ", _BETWEEN.sub(" ", clause)).replace("\x00", " "))
        if aspect and not re.fullmatch(r"[\d\s]+", aspect):
            (result.negative if negative else result.positive).append(aspect)
    return result
