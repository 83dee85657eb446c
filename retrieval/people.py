"""People named in the catalog (cast, director, author) and found in free text.

"Something with Tom Hanks" is a precise request: embeddings match names poorly, so named
people become an explicit boost on the items they appear in.
"""

from __future__ import annotations

import functools
import re
from collections import defaultdict
from collections.abc import Sequence

from .catalog import CatalogItem
from .schema import PEOPLE_FIELDS
from .titles import COMMON_WORDS, chat_words, normalize

_LOWER_WORDS = re.compile(r"(?<![\w'’])[a-z]+(?![\w'’])")


def people_of(item: CatalogItem, fields: Sequence[str] = PEOPLE_FIELDS) -> list[str]:
    """The names in the item's people fields (all of them, or the given roles), in field order."""
    names: list[str] = []
    for key in fields:
        value = item.meta.get(key)
        if isinstance(value, (str, list)) and value:  # a gadget's `stars` is a rating: a number, no one's name
            names += value if isinstance(value, list) else [value]
    return names


SURNAME_SAMPLE = 20_000
"""Items whose texts tell a surname from a word ('stone', 'king'): a word shows up in lower case among this many."""


_BEFORE_NAME = frozenset("by from directed written made more like other than with starring".split())
_AFTER_NAME = frozenset(
    "movie movies film films flick flicks book books novel novels show shows series podcast podcasts game games "
    "stuff classic classics brothers".split()
)


def _cued(tokens: list[str], at: int) -> bool:
    """A surname alone names its person only where a person is meant: "by Kubrick", "more Nolan", "with DiCaprio",
    "a Spielberg movie": never "a movie about a whale" (James Whale) or "something wise" (Robert Wise)."""
    before = tokens[at - 1] if at else ""
    after = tokens[at + 1] if at + 1 < len(tokens) else ""
    return before in _BEFORE_NAME or after in _AFTER_NAME


class PeopleIndex:
    def __init__(self, items: list[CatalogItem]) -> None:
        self._source = items
        self._items: defaultdict[str, set[str]] = defaultdict(set)
        self._display: dict[str, str] = {}
        fields = frozenset(PEOPLE_FIELDS)
        for item in items:
            if fields.isdisjoint(item.meta):  # most items of most catalogs: one set operation, not nine lookups
                continue
            for name in people_of(item):
                key = normalize(name)
                if len(key.split()) >= 2:  # full names only: "Ford" alone is too ambiguous
                    self._items[key].add(item.id)
                    self._display.setdefault(key, name)
        self._max_tokens = max((len(k.split()) for k in self._items), default=0)

    def __bool__(self) -> bool:
        return bool(self._items)

    def find(self, text: str) -> list[str]:
        """Display names of the people mentioned, longest match first, each span once."""
        tokens = normalize(text).split()
        taken = [False] * len(tokens)
        found: list[str] = []
        for length in range(min(self._max_tokens, len(tokens)), 1, -1):
            for start in range(len(tokens) - length + 1):
                if any(taken[start : start + length]):
                    continue
                key = " ".join(tokens[start : start + length])
                if key in self._items:
                    found.append(self._display[key])
                    taken[start : start + length] = [True] * length
        surnames = self._surnames if self._items else {}
        lowered = text.lower().replace("’", "'")
        for at, token in enumerate(tokens):
            person = surnames.get(token) or (surnames.get(token[:-1]) if token.endswith("s") else None)
            if person is None or taken[at]:
                continue
            possessive = token not in surnames and f"{token[:-1]}'s" in lowered
            nickname = at > 0 and len(tokens[at - 1]) >= 3 and person.split()[0].startswith(tokens[at - 1])  # "Leo"
            if possessive or nickname or _cued(tokens, at):
                found.append(self._display[person])
        return list(dict.fromkeys(found))

    @functools.cached_property
    def _surnames(self) -> dict[str, str]:
        """A surname → the full name's key of the one person it names ("spielberg", "dicaprio"): the surname of one
        person only (or of the one with twice the items of the next), of 4+ letters, and never a word the catalog's
        own texts write in lower case ("stone", "king") or a chat word. Built on first use."""
        by_surname: defaultdict[str, dict[str, int]] = defaultdict(dict)
        for key, ids in self._items.items():
            if len(last := key.split()[-1]) >= 4:
                by_surname[last][key] = len(ids)
        words = COMMON_WORDS | chat_words()
        for item in self._source[:SURNAME_SAMPLE]:
            words |= set(_LOWER_WORDS.findall(item.text))
        chosen = {}
        for surname, keys in by_surname.items():
            counts = sorted(keys.values(), reverse=True)
            if surname not in words and (len(counts) == 1 or counts[0] >= 2 * counts[1]):
                chosen[surname] = max(keys, key=lambda k: (keys[k], k))
        return chosen

    @functools.cached_property
    def name_words(self) -> frozenset[str]:
        """Every word of every known name ("ben", "stiller"): what tells "Stiller" or "Nicholas Cage", typed for a
        person, from a title the catalog lacks (`understanding._read_unknown_titles`)."""
        return frozenset(word for key in self._items for word in key.split())

    def items_with(self, name: str) -> set[str]:
        return self._items.get(normalize(name), set())
