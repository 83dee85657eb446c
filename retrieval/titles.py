"""Find catalog titles in free text: exact (with or without year), and small typos after a cue.

Single-word titles that are everyday words ("Up", "Heat", "Her") link only when written
with a capital or right after a cue ("loved heat"), so "I'm fed up" links nothing.
"""

from __future__ import annotations

import bisect
import functools
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rapidfuzz import fuzz, process

from .catalog import CatalogItem

_CUES = re.compile(
    r"\b(?:loved?|liked?|enjoyed|adored|hated?|disliked?|seen|saw|watched|similar to|like|than|about|as)\s+$"
)
_CLAUSE_GOES_ON = re.compile(
    r"\s*(?:$|[^\w\s]|(?:and|but|or|too|so|because|though|was|is|a lot|very|lol|also|again|yet|more|best)\b)", re.I
)
"""What may follow a title said without its article ("more like godfather, but…"): no further word of a name or a
kind ("bruce willis", "kid movies")."""
_SMALL = r"(?:of|the|and|in|a|an|on|to|at|for)"
"""The small words a typed title holds between its capitalized ones."""
_LISTED = re.compile(r"\s*(?:,|&|and|or)\s*(?:and\s+|or\s+)?", re.I)
"""Between a title found and a name after it, in one list: the name is said as the title is."""
_NAME = re.compile(rf"\b[A-Z][\w'’-]*(?:\s+(?:{_SMALL}\s+)*[A-Z0-9][\w'’-]*)*")
"""A name as people type a title: capitalized words, small words between them ("Lord of the Rings")."""
_SMALL_WORDS_AROUND = re.compile(rf"^(?:\s*\b{_SMALL}\b)*\s*|(?:\s+{_SMALL})*\s*$")
KIND_NOUN_AFTER = re.compile(
    r"\s+(?:movies?|films?|flicks?|ones?|stuff|shows?|style|type|kind|books?|games?|podcasts?|vibes?)\b", re.I
)
"""A kind after a name makes it a kind or a taste, not a title or a person ("Christmas movies", "Wes Anderson
vibes")."""
FUZZY_CUTOFF = 85
"""fuzz.ratio a typo must reach ("Incepshun" → "inception")."""
FUZZY_LIMIT = 20_000
"""Typo matching tries this many most popular titles (exact matches see them all): each
rapidfuzz scan costs ~4 ms per 50k titles, and a request can cue several."""
COMMON_WORDS = frozenset(
    """a an the it up us her him me my we you they big heat go run home up now here there this that what why how
    who one two three seven nine ten signs taken up fury cars elf rush drive her us nope saw split glass crash
    alien aliens rocky jaws speed twister heat ghost fargo gravity super cats""".split()
)
"""Famous titles that are plain words too. With the chat words (`CHAT_WORDS_PATH`) and the catalog's own plain
words (`plain_words`), such a title links only when capitalized inside a sentence, cued ("I loved Heat") or dated
("Heat (1995)")."""
CHAT_WORDS_PATH = Path(__file__).with_name("chat_words.txt")
"""Words people write in lower case in chats about films, from ReDial's train conversations (`recochat train
chat-words`); missing, the famous titles and the catalog's own plain words still apply."""
PLAIN_WORD_SHARE = 0.002
"""A title word the catalog's own texts use in lower case in at least this share of items (and in 3 or more) is a
plain word there: "good", "more", "action" and "little" in films' plots, "salt" in recipes."""
PLAIN_WORD_SAMPLE = 20_000
"""Items whose texts are counted (evenly spaced): enough for a 0.2% share, and ~0.3 s at any catalog size."""
LOWER_CASE_WORD = re.compile(r"\b[a-z]+\b")
"""A word written in lower case: what makes a title word a plain word, in a catalog's texts or in chat."""


_APOSTROPHES = re.compile(r"['’]")
_ALPHABET = np.full(256, 37, dtype=np.int64)
_ALPHABET[np.frombuffer(b"abcdefghijklmnopqrstuvwxyz0123456789 ", dtype=np.uint8)] = np.arange(37)
"""Byte → column of a character count: a normalized key's 37 characters, anything else in one more column."""


def _char_counts(keys: list[str]) -> np.ndarray:
    """(len(keys), 38) counts of each character of each key (int16), built in one pass over the joined keys."""
    data = "".join(keys).encode("utf-8", "replace")
    lengths = np.fromiter((len(k.encode("utf-8", "replace")) for k in keys), dtype=np.int64, count=len(keys))
    owner = np.repeat(np.arange(len(keys), dtype=np.int64), lengths)
    column = _ALPHABET[np.frombuffer(data, dtype=np.uint8)]
    counts = np.bincount(owner * 38 + column, minlength=len(keys) * 38)
    return counts.reshape(len(keys), 38).astype(np.int16)


_NOT_ALPHANUMERIC = re.compile(r"[^a-z0-9]+")
_NOT_ALPHANUMERIC_OR_NEWLINE = re.compile(r"[^a-z0-9\n]+")


def _words_of(text: str, separators: re.Pattern[str]) -> str:
    """Accents folded (only when the text is not ASCII), lower case, '&' as 'and', apostrophes dropped, and every
    run of `separators` one space."""
    if not text.isascii():
        text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return separators.sub(" ", _APOSTROPHES.sub("", text.lower().replace("&", " and ")))


def normalize(text: str) -> str:
    """Lower-case ASCII words: accents folded, '&' as 'and', apostrophes dropped ("Schindler's" and "Schindlers"
    are one token). Called once per title at start, a million times for a 1M catalog: patterns are compiled once
    and ASCII text skips the Unicode folding."""
    return _words_of(text, _NOT_ALPHANUMERIC).strip()


def normalize_all(texts: list[str]) -> list[str]:
    """`normalize` of each text, done on all of them joined by newlines (each step works a character at a time,
    and a newline is a boundary for Unicode folding too): a 1M catalog's titles in ~0.5 s instead of ~2 s. Texts
    with a newline of their own, or whose folding adds or drops one, are normalized one by one."""
    joined = "\n".join(texts)
    if not texts or joined.count("\n") != len(texts) - 1:
        return [normalize(text) for text in texts]
    parts = _words_of(joined, _NOT_ALPHANUMERIC_OR_NEWLINE).split("\n")
    if len(parts) != len(texts):
        return [normalize(text) for text in texts]
    return [part.strip() for part in parts]


@dataclass(frozen=True)
class TitleMatch:
    item_id: str
    start: int
    end: int
    """Character span in the original text."""
    exact: bool


def write_chat_words(words: list[str], path: Path, least: int) -> Path:
    header = (
        f"# Words at least {least} messages of ReDial's train/validation conversations write in lower case, outside\n"
        "# their @movie mentions (ReDial: Li et al. 2018, CC BY 4.0). Written by `recochat train chat-words`.\n"
    )
    path.write_text(header + "\n".join(words) + "\n", encoding="utf-8")
    return path


@functools.cache
def chat_words() -> frozenset[str]:
    if not CHAT_WORDS_PATH.is_file():
        return frozenset()
    lines = CHAT_WORDS_PATH.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip() for line in lines if line.strip() and not line.startswith("#"))


def _sample(items: list[CatalogItem]) -> list[CatalogItem]:
    return items[:: max(1, len(items) // PLAIN_WORD_SAMPLE)]


def _kind_words(items: list[CatalogItem]) -> frozenset[str]:
    """The catalog's one-word, lower-case list values: its genres, mechanics or categories ("action", "horror",
    "cooperative"), never people's names."""
    return frozenset(
        value
        for item in _sample(items)
        for values in item.meta.values()
        if isinstance(values, list)
        for value in values
        if isinstance(value, str) and value.isalpha() and value.islower()
    )


def plain_words(items: list[CatalogItem], title_keys: Iterable[str]) -> frozenset[str]:
    """The title words this catalog's own texts use as plain words (`PLAIN_WORD_SHARE`). Why: a hand list cannot
    know every catalog, and on INSPIRED's chats "good", "more" and "action" linked to films of those names 898 times
    against 337 right links."""
    words = {word for key in title_keys for word in key.split()}
    sample = _sample(items)
    counts: Counter[str] = Counter()
    for item in sample:
        counts.update(words.intersection(LOWER_CASE_WORD.findall(item.text)))
    least = max(3, math.ceil(PLAIN_WORD_SHARE * len(sample)))
    return frozenset(word for word, n in counts.items() if n >= least)


_ROMAN = {"ii": "2", "iii": "3", "iv": "4", "v": "5", "vi": "6", "vii": "7", "viii": "8", "ix": "9", "x": "10"}
_NUMBERED = re.compile(r"\b(part|episode|chapter|vol|volume) (ii|iii|iv|v|vi|vii|viii|ix|x)\b|\b(ii|iii|iv)$")
_ARTICLE = re.compile(r"^(?:the|a|an) (?=\w+)")


_LEADING_ACRONYM = re.compile(r"((?:[A-Z]\.){2,})\s+(?:the|a|an)\s+\w")
"""A title that starts with letters and dots, then a subtitle ("E.T. the Extra-Terrestrial"): the letters alone are
what people write (not for "L.A. Confidential", whose letters are a place)."""


def title_aliases(title: str, key: str | None = None) -> list[str]:
    """Other ways a person writes a title, normalized: without its article ("more like godfather"), with its sequel
    numeral in digits ("godfather part 2" for The Godfather Part II, which "the godfather part 2" linked to Part I),
    the franchise before a colon ("lord of the rings" for The Lord of the Rings: The Fellowship of the Ring, of three
    words or more past its article: "Kevin Hart" and "the last" are no franchises), the series' name before "and the"
    ("harry potter", of two words or more) and its leading acronym ("e t" for E.T. the Extra-Terrestrial).
    `TitleIndex` adds an alias only where no title has that key (the most popular of the titles that share one wins);
    a lone word links only right after a cue. Cheap tests first: at 1M titles each regex is a second of start-up."""
    key = normalize(title) if key is None else key  # `TitleIndex` passes the key it has, read once per title
    found = []
    if " i" in key or " v" in key or " x" in key:
        found.append(_NUMBERED.sub(_in_digits, key))
    if ":" in title:
        before_colon = _ARTICLE.sub("", normalize(title.split(":", 1)[0]))
        found.append(before_colon if len(before_colon.split()) >= 3 else "")
    if " and the " in key:  # "Harry Potter and the Philosopher's Stone": the series' name is what people write
        series = key.split(" and the ", 1)[0]
        found.append(series if len(series.split()) >= 2 else "")
    if "." in title[:3] and (acronym := _LEADING_ACRONYM.match(title)):
        letters = normalize(acronym.group(1))  # "E.T. the Extra-Terrestrial": "E.T.", "ET"
        found += [letters, letters.replace(" ", "")]
    found += [_ARTICLE.sub("", k) for k in (key, *found) if k.startswith(("the ", "a ", "an "))]
    return [a for a in dict.fromkeys(found) if a and a != key]


def _in_digits(numeral: re.Match[str]) -> str:
    return f"{numeral.group(1)} {_ROMAN[numeral.group(2)]}" if numeral.group(1) else _ROMAN[numeral.group(3)]


class TitleIndex:
    def __init__(self, items: list[CatalogItem], popularity: dict[str, float] | None = None) -> None:
        popularity = popularity or {}
        self._by_title: dict[str, list[CatalogItem]] = {}
        keys_of_titles = normalize_all([item.title for item in items])
        for item, key in zip(items, keys_of_titles, strict=True):
            if key:
                self._by_title.setdefault(key, []).append(item)
        self._common = COMMON_WORDS | chat_words() | plain_words(items, self._by_title)
        self._kinds = _kind_words(items)
        """"I like action" names the genre even after a cue: a one-word kind links as a title only capitalized
        inside a sentence."""
        aliases = self._add_aliases(items, keys_of_titles)

        def popular(item: CatalogItem) -> float:
            return float(popularity.get(item.id, item.meta.get("popularity", 0)) or 0)

        for group in self._by_title.values():
            if len(group) > 1:
                group.sort(key=lambda i: -popular(i))
        self._max_tokens = max((k.count(" ") + 1 for k in self._by_title), default=1)
        keys = [k for k in self._by_title if k not in aliases]  # typos are matched against titles as written
        if len(keys) > FUZZY_LIMIT:  # stable: catalog order among equals
            first = np.array([popular(self._by_title[key][0]) for key in keys], dtype=np.float64)
            keys = [keys[i] for i in np.argsort(-first, kind="stable")[:FUZZY_LIMIT].tolist()]
        by_words: dict[int, list[str]] = {}
        for key in keys:
            by_words.setdefault(len(key.split()), []).append(key)
        self._fuzzy_choices: dict[int, tuple[list[str], list[int]]] = {}
        """Typo candidates for an n-word phrase: titles of n or n + 1 words, by character length
        (stable, so popular first among equals), with those lengths for bisecting."""
        self._fuzzy_counts: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        """Each typo candidate's character counts (`_char_counts`) and length, aligned with `_fuzzy_choices`."""
        for n in range(1, self._max_tokens + 1):
            choices = sorted(by_words.get(n, []) + by_words.get(n + 1, []), key=len)
            self._fuzzy_choices[n] = (choices, [len(c) for c in choices])
            self._fuzzy_counts[n] = (_char_counts(choices), np.array([len(c) for c in choices], dtype=np.int64))

    def _add_aliases(self, items: list[CatalogItem], keys: list[str]) -> set[str]:
        """Index `title_aliases` where no title has the key; returns the keys added. A lone word that is a common
        word or one of the catalog's kinds is none: "I like Comedy" is no The Comedy."""
        aliases: dict[str, list[CatalogItem]] = {}
        for item, key in zip(items, keys, strict=True):
            for alias in title_aliases(item.title, key):
                if alias not in self._by_title:
                    aliases.setdefault(alias, []).append(item)
        self._one_word_aliases = frozenset(
            a for a in aliases if " " not in a and a not in self._common and a not in self._kinds
        )
        """"godfather" links only right after a cue ("more like godfather"): "a great godfather figure" and "Chris
        Rock" (The Rock) are no titles."""
        added = {a: group for a, group in aliases.items() if " " in a or a in self._one_word_aliases}
        self._by_title.update(added)
        return set(added)

    def lookup(self, title: str, year: int | None = None) -> CatalogItem | None:
        group = self._by_title.get(normalize(title))
        if not group:
            return None
        if year is not None:
            for item in group:
                if item.year is not None and abs(item.year - year) <= 1:
                    return item
        return group[0]

    def unknown_after_cues(self, text: str, found: list[TitleMatch]) -> list[str]:
        """Names written as titles after a taste cue that match no title here (`found`: this text's matches):
        "something like Amelie" in a catalog without it. Capitalized words, not all of them plain or kind words,
        and not followed by a kind noun ("Christmas movies", "Disney films"). Read as words to match, "amelie" led
        to Amadeus (a name alike) and Inglourious Basterds (France); a reply says it does not know the title."""
        names = []
        for name in _NAME.finditer(text):
            start, end = name.span()
            listed = any(_LISTED.fullmatch(text, m.end, start) for m in found)  # "like Heat, Amelie and Up"
            if not (_CUES.search(text[:start].lower()) or listed) or KIND_NOUN_AFTER.match(text, end):
                continue
            pieces, at = [], start  # the name less the titles found in it: "Amelie and Heat", "Heat and Amelie"
            for m in sorted((m for m in found if m.start < end and start < m.end), key=lambda m: m.start):
                pieces.append(text[at : m.start])
                at = max(at, m.end)
            pieces.append(text[at:end])
            for piece in pieces:
                said = _SMALL_WORDS_AROUND.sub("", piece)
                words = normalize(said).split()
                if words and not all(w in self._common or w in self._kinds for w in words):
                    names.append(said)
        return names

    def find(self, text: str) -> list[TitleMatch]:
        tokens = [(m.group(), m.start(), m.end()) for m in re.finditer(r"[^\W_]+(?:['’][^\W_]+)?|&", text)]
        normalized = [normalize(t[0]).replace(" ", "") for t in tokens]
        taken = [False] * len(tokens)
        matches: list[TitleMatch] = []
        for length in range(min(self._max_tokens, len(tokens)), 0, -1):
            for start in range(0, len(tokens) - length + 1):
                if any(taken[start : start + length]):
                    continue
                key = " ".join(normalized[start : start + length])
                group = self._by_title.get(key)
                if not group:
                    continue
                first_word = tokens[start][0]
                end = start + length
                year = None
                if end < len(tokens) and re.fullmatch(r"(19|20)\d\d", tokens[end][0]):
                    year = int(tokens[end][0])
                dated = year is not None  # "Heat (1995)" is a title wherever it stands
                before, after = text[: tokens[start][1]], text[tokens[start][2] :]
                if length == 1 and not dated and not self._single_word_ok(key, first_word, before, after):
                    continue
                if length > 1 and not dated and all(n in self._common for n in normalized[start:end]):
                    if not first_word[:1].isupper():
                        continue
                item = self.lookup(key, year)
                assert item is not None
                span_end = tokens[end][2] if year is not None else tokens[end - 1][2]
                matches.append(TitleMatch(item.id, tokens[start][1], span_end, exact=True))
                for i in range(start, min(end + (1 if year else 0), len(tokens))):
                    taken[i] = True
        matches.extend(self._fuzzy_after_cues(text, tokens, taken))
        return sorted(matches, key=lambda m: m.start)

    def _single_word_ok(self, key: str, word: str, before: str, after: str = "") -> bool:
        cued = bool(_CUES.search(before.lower()))
        at_sentence_start = not before.strip() or before.rstrip()[-1:] in ".!?"
        if len(key) < 3:  # "Up", "It": only written as a title
            return word[:1].isupper() and (cued or not at_sentence_start)
        if key in self._kinds:
            return word[:1].isupper() and not at_sentence_start
        if key in self._one_word_aliases:  # "I like kid movies", "I like bruce willis": no The Kid, no The Bruce
            return cued and bool(_CLAUSE_GOES_ON.match(after))
        if key in self._common:
            return cued or (word[:1].isupper() and not at_sentence_start)
        return True

    def _typo_candidates(self, phrase: str, words: int) -> list[str]:
        """Only titles whose length and letters allow fuzz.ratio ≥ cutoff, in their order (so the scan's best,
        ties included, is the same as over all titles). Length: 2·min(a, b) / (a + b) ≥ c bounds b to
        [a·c / (2 − c), a·(2 − c) / c]. Letters: fuzz.ratio is 100·(1 − d / (a + b)) with d the insertions and
        deletions turning one into the other, and each of them changes one character's count by one, so d is at
        least the summed difference of the two strings' character counts; d ≤ (1 − c)·(a + b) leaves a few
        dozen titles of thousands (a 1M catalog's typo scans: 4–11 ms a message, rapidfuzz over every title
        the length allows)."""
        choices, lengths = self._fuzzy_choices[words]
        c = FUZZY_CUTOFF / 100
        low = bisect.bisect_left(lengths, math.floor(len(phrase) * c / (2 - c)))
        high = bisect.bisect_right(lengths, math.ceil(len(phrase) * (2 - c) / c))
        if high - low < 64:
            return choices[low:high]
        counts, sizes = self._fuzzy_counts[words]
        differ = np.abs(counts[low:high] - _char_counts([phrase])[0]).sum(axis=1, dtype=np.int64)
        total = sizes[low:high] + len(phrase)
        # integers: 100·d ≤ (100 − cutoff)·(a + b) is the float bound without rounding (lengths are ASCII here)
        keep = np.flatnonzero(100 * differ <= (100 - FUZZY_CUTOFF) * total)
        return [choices[low + i] for i in keep.tolist()]

    def _fuzzy_after_cues(self, text: str, tokens: list[tuple[str, int, int]], taken: list[bool]) -> list[TitleMatch]:
        """Typos ("Incepshun") are only tried right after a cue word, to stay fast and precise."""
        found: list[TitleMatch] = []
        for index, (_, start, _) in enumerate(tokens):
            if taken[index] or not _CUES.search(text[:start].lower()):
                continue
            best: tuple[float, int, str] | None = None
            for length in range(1, min(self._max_tokens, len(tokens) - index, 6) + 1):
                if any(taken[index : index + length]):
                    break
                phrase = normalize(" ".join(t[0] for t in tokens[index : index + length]))
                if len(phrase) < 5 or phrase in self._kinds or phrase in self._common:  # a plain word is no typo
                    continue
                hit = process.extractOne(
                    phrase, self._typo_candidates(phrase, length), scorer=fuzz.ratio, score_cutoff=FUZZY_CUTOFF
                )
                if hit and (best is None or hit[1] > best[0]):
                    best = (hit[1], length, hit[0])
            if best is None:
                continue
            _, length, key = best
            if len(key) < 5:
                continue
            item = self._by_title[key][0]
            found.append(TitleMatch(item.id, start, tokens[index + length - 1][2], exact=False))
            for i in range(index, index + length):
                taken[i] = True
        return found
