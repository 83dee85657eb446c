"""Find catalog titles in free text: exact (with or without year), and small typos after a cue.

Single-word titles that are everyday words ("Up", "Heat", "Her") link only when written
with a capital or right after a cue ("loved heat"), so "I'm fed up" links nothing.
"""

from __future__ import annotations

import bisect
import math
import re
import unicodedata
from dataclasses import dataclass

import numpy as np
from rapidfuzz import fuzz, process

from .catalog import CatalogItem

_CUES = re.compile(
    r"\b(?:loved?|liked?|enjoyed|adored|hated?|disliked?|seen|saw|watched|similar to|like|than|about|as)\s+$"
)
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


class TitleIndex:
    def __init__(self, items: list[CatalogItem], popularity: dict[str, float] | None = None) -> None:
        popularity = popularity or {}
        self._by_title: dict[str, list[CatalogItem]] = {}
        for item, key in zip(items, normalize_all([item.title for item in items]), strict=True):
            if key:
                self._by_title.setdefault(key, []).append(item)

        def popular(item: CatalogItem) -> float:
            return float(popularity.get(item.id, item.meta.get("popularity", 0)) or 0)

        for group in self._by_title.values():
            if len(group) > 1:
                group.sort(key=lambda i: -popular(i))
        self._max_tokens = max((k.count(" ") + 1 for k in self._by_title), default=1)
        keys = list(self._by_title)
        if len(keys) > FUZZY_LIMIT:  # stable: catalog order among equals
            first = np.array([popular(group[0]) for group in self._by_title.values()], dtype=np.float64)
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

    def lookup(self, title: str, year: int | None = None) -> CatalogItem | None:
        group = self._by_title.get(normalize(title))
        if not group:
            return None
        if year is not None:
            for item in group:
                if item.year is not None and abs(item.year - year) <= 1:
                    return item
        return group[0]

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
                if length == 1 and not self._single_word_ok(key, first_word, text[: tokens[start][1]]):
                    continue
                if length > 1 and all(n in COMMON_WORDS for n in normalized[start : start + length]):
                    if not first_word[:1].isupper():
                        continue
                end = start + length
                year = None
                if end < len(tokens) and re.fullmatch(r"(19|20)\d\d", tokens[end][0]):
                    year = int(tokens[end][0])
                item = self.lookup(key, year)
                assert item is not None
                span_end = tokens[end][2] if year is not None else tokens[end - 1][2]
                matches.append(TitleMatch(item.id, tokens[start][1], span_end, exact=True))
                for i in range(start, min(end + (1 if year else 0), len(tokens))):
                    taken[i] = True
        matches.extend(self._fuzzy_after_cues(text, tokens, taken))
        return sorted(matches, key=lambda m: m.start)

    @staticmethod
    def _single_word_ok(key: str, word: str, before: str) -> bool:
        cued = bool(_CUES.search(before.lower()))
        at_sentence_start = not before.strip() or before.rstrip()[-1:] in ".!?"
        if len(key) < 3:  # "Up", "It": only written as a title
            return word[:1].isupper() and (cued or not at_sentence_start)
        if key in COMMON_WORDS:
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
                if len(phrase) < 5:
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
