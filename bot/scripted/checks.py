"""Expectations of one turn, checked against its `Reply`.

Pure functions over replies and the catalog: no I/O, no engine calls. Each returns the
problems it found as `Failure`s (empty when the expectation holds).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable

from recochat.retrieval.catalog import CatalogItem, title_label
from recochat.retrieval.titles import normalize

from ..conversation import Reply, ReplyItem
from .script import Expect

_TITLE_WITH_YEAR = re.compile(r"^(?P<title>.*?)\s*\((?P<year>\d{4})\)\s*$")
_COMPARISON = re.compile(r"^\s*(?P<op><=|>=|<|>|==|=)?\s*(?P<number>-?\d+(?:\.\d+)?)\s*$")
_OPERATORS = {
    "<": float.__lt__, "<=": float.__le__, ">": float.__gt__, ">=": float.__ge__, "=": float.__eq__, "==": float.__eq__,
}


@dataclass(frozen=True)
class Failure:
    expectation: str
    """The expectation as written, e.g. "exclude: [m42]"."""
    actual: str
    """What happened instead."""


def label(item: ReplyItem | CatalogItem) -> str:
    return title_label(item.title, item.year)


def show(values: Iterable[Any]) -> str:
    return "[" + ", ".join(str(v) for v in values) + "]"


# -- references to catalog items ------------------------------------------------------------------


class Catalog:
    """Resolves script references (ids, titles, "Title (year)") and knows the metadata fields."""

    def __init__(self, name: str, items: list[CatalogItem]) -> None:
        self.name = name
        self.by_id = {item.id: item for item in items}
        self.by_title: dict[str, list[CatalogItem]] = {}
        for item in items:
            self.by_title.setdefault(normalize(item.title), []).append(item)
        self.fields = sorted({"id", "title"} | {key for item in items for key in item.meta})

    def resolve(self, ref: str) -> set[str] | None:
        """Ids the reference names: an id, a title (every item with it), or "Title (year)"."""
        if ref in self.by_id:
            return {ref}
        group = self.by_title.get(normalize(ref))
        if group:
            return {item.id for item in group}
        if match := _TITLE_WITH_YEAR.match(ref):
            year = int(match.group("year"))
            found = {i.id for i in self.by_title.get(normalize(match.group("title")), []) if i.year == year}
            return found or None
        return None


# -- metadata matching --------------------------------------------------------------------------------


def field_values(item: ReplyItem, field: str) -> list[Any]:
    if field == "id":
        return [item.id]
    if field == "title":
        return [item.title]
    value = item.meta.get(field)
    if value is None and field == "year":
        value = item.year
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def matching(item: ReplyItem, field: str, wanted: list[str]) -> str | None:
    """The first value of `field` that matches one of `wanted` (case-insensitive), else None.

    List fields (genres, tags) and ids match whole values; numbers match numerically, and
    may be compared (">=2010", "<1950"); other text fields (author, title, summary) match a
    substring.
    """
    exact = field == "id" or isinstance(item.meta.get(field), (list, tuple))
    for value in field_values(item, field):
        for w in wanted:
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                match = _COMPARISON.match(w)
                hit = bool(match) and _OPERATORS[match.group("op") or "="](float(value), float(match.group("number")))
            elif exact:
                hit = str(value).casefold() == w.casefold()
            else:
                hit = w.casefold() in str(value).casefold()
            if hit:
                return str(value)
    return None


def _fields(values: dict[str, list[str]]) -> str:
    return "{" + ", ".join(f"{field}: {show(v)}" for field, v in values.items()) + "}"


def _item(item: ReplyItem) -> str:
    return f"#{item.rank} {label(item)} [{item.id}]"


# -- the expectations -------------------------------------------------------------------------------


def check_expect(
    expect: Expect,
    reply: Reply,
    resolved: dict[str, set[str]],
    shown_before: dict[str, int],
) -> list[Failure]:
    """Every failed expectation of one turn; `resolved` maps each include/exclude ref to ids,
    `shown_before` maps ids shown in earlier turns to the turn that first showed them."""
    failures: list[Failure] = []
    items = reply.items
    if expect.kind is not None and reply.kind != expect.kind:
        failures.append(Failure(f"kind: {expect.kind}", f"the reply is of kind {reply.kind}"))
    if expect.items_min is not None and len(items) < expect.items_min:
        failures.append(Failure(f"items_min: {expect.items_min}", f"{len(items)} item(s) shown"))
    if expect.items_max is not None and len(items) > expect.items_max:
        failures.append(Failure(f"items_max: {expect.items_max}", f"{len(items)} item(s) shown"))
    if expect.any_have:
        if not any(all(matching(i, f, v) is not None for f, v in expect.any_have.items()) for i in items):
            failures.append(Failure(f"any_have: {_fields(expect.any_have)}",
                                    "no shown item has " + " and ".join(f"{f} in {show(v)}" for f, v in expect.any_have.items())))
    if expect.none_have:
        offending = []
        for item in items:
            for field, values in expect.none_have.items():
                if (found := matching(item, field, values)) is not None:
                    offending.append(f"{_item(item)} has {field} {found}")
                    break
        if offending:
            failures.append(Failure(f"none_have: {_fields(expect.none_have)}", "; ".join(offending)))
    if expect.all_have:
        offending = [
            f"{_item(item)} has no {field} in {show(values)}"
            for item in items
            for field, values in expect.all_have.items()
            if matching(item, field, values) is None
        ]
        if offending:
            failures.append(Failure(f"all_have: {_fields(expect.all_have)}", "; ".join(offending)))
    if expect.exclude:
        banned = set().union(*(resolved[ref] for ref in expect.exclude))
        shown = [_item(i) for i in items if i.id in banned]
        if shown:
            failures.append(Failure(f"exclude: {show(expect.exclude)}", "shown: " + "; ".join(shown)))
    if expect.include:
        wanted = set().union(*(resolved[ref] for ref in expect.include))
        limit = expect.within or len(items)
        hits = [i for i in items if i.id in wanted]
        if not any(i.rank <= limit for i in hits):
            written = f"include: {show(expect.include)}" + (f", within: {expect.within}" if expect.within else "")
            if hits:
                actual = "only lower: " + "; ".join(_item(i) for i in hits)
            else:
                actual = "none of them is shown"
            failures.append(Failure(written, actual))
    if expect.not_repeated:
        repeated = [f"{_item(i)} (first shown at turn {shown_before[i.id]})" for i in items if i.id in shown_before]
        if repeated:
            failures.append(Failure("not_repeated: true", "shown again: " + "; ".join(repeated)))
    text = reply.text.casefold()
    for needle in expect.text_contains or []:
        if needle.casefold() not in text:
            failures.append(Failure(f"text_contains: {needle!r}", "the reply text does not contain it"))
    for needle in expect.text_not_contains or []:
        if needle.casefold() in text:
            failures.append(Failure(f"text_not_contains: {needle!r}", "the reply text contains it"))
    return failures


def check_grounding(named: list[CatalogItem], allowed: Iterable[CatalogItem]) -> list[Failure]:
    """Each catalog title named in the reply text must belong to an allowed item.

    Titles are compared, not ids: a title shared by two items ("Dune" the 1984 and 2021
    films) is grounded when either of them is allowed.
    """
    allowed_titles = {normalize(item.title) for item in allowed}
    stray = list(dict.fromkeys(f"{label(i)} [{i.id}]" for i in named if normalize(i.title) not in allowed_titles))
    if not stray:
        return []
    return [Failure("grounding (every catalog title in the reply is shown in it)",
                    "the reply names " + "; ".join(stray) + ", not shown in this reply")]
