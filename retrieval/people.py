"""People named in the catalog (cast, director, author) and found in free text.

"Something with Tom Hanks" is a precise request: embeddings match names poorly, so named
people become an explicit boost on the items they appear in.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Sequence

from .catalog import CatalogItem
from .schema import PEOPLE_FIELDS
from .titles import normalize


def people_of(item: CatalogItem, fields: Sequence[str] = PEOPLE_FIELDS) -> list[str]:
    """The names in the item's people fields (all of them, or the given roles), in field order."""
    names: list[str] = []
    for key in fields:
        value = item.meta.get(key)
        if isinstance(value, (str, list)) and value:  # a gadget's `stars` is a rating: a number, no one's name
            names += value if isinstance(value, list) else [value]
    return names


class PeopleIndex:
    def __init__(self, items: list[CatalogItem]) -> None:
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
        return found

    @functools.cached_property
    def name_words(self) -> frozenset[str]:
        """Every word of every known name ("ben", "stiller"): what tells "Stiller" or "Nicholas Cage", typed for a
        person, from a title the catalog lacks (`understanding._read_unknown_titles`)."""
        return frozenset(word for key in self._items for word in key.split())

    def items_with(self, name: str) -> set[str]:
        return self._items.get(normalize(name), set())
