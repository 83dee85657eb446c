"""Expectations of one turn, checked against its `Reply`.

Pure functions over replies and the catalog: no I/O, no engine calls. Each returns the
problems it found as `Failure`s (empty when the expectation holds).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from recochat.retrieval.catalog import CatalogItem, title_label
from recochat.retrieval.titles import normalize

from ..conversation import Reply, ReplyItem
from .script import Expect

_TITLE_WITH_YEAR = re.compile(r"^(?P<title>.*?)\s*\((?P<year>\d{4})\)\s*$")
_COMPARISON = re.compile(r"^\s*(?P<op><=|>=|<|>|==|=)?\s*(?P<number>-?\d+(?:\.\d+)?)\s*$")
_OPERATORS = {
    "<": float.__lt__,
    "<=": float.__le__,
    ">": float.__gt__,
    ">=": float.__ge__,
    "=": float.__eq__,
    "==": float.__eq__,
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
                hit = match is not None and _OPERATORS[match.group("op") or "="](
                    float(value), float(match.group("number"))
                )
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


@dataclass(frozen=True)
class TurnSeen:
    """What a turn's checks look at besides their own expectation value."""

    reply: Reply
    expect: Expect
    """The whole expectation, for keys that modify another (`within` limits `include`)."""
    resolved: dict[str, set[str]]
    """Each include/exclude reference mapped to the catalog ids it names."""
    shown_before: dict[str, int]
    """Ids shown in earlier turns, mapped to the turn that first showed them."""


ExpectCheck = Callable[[Any, TurnSeen], list[Failure]]
"""Checks one expectation key, given its (set) value; returns its failures, empty if it holds."""


def _check_kind(kind: str, turn: TurnSeen) -> list[Failure]:
    """The reply's kind tells whether the bot understood what sort of turn this was."""
    if turn.reply.kind == kind:
        return []
    return [Failure(f"kind: {kind}", f"the reply is of kind {turn.reply.kind}")]


def _check_items_min(minimum: int, turn: TurnSeen) -> list[Failure]:
    """Too few items means the request was over-filtered or not understood."""
    count = len(turn.reply.items)
    return [Failure(f"items_min: {minimum}", f"{count} item(s) shown")] if count < minimum else []


def _check_items_max(maximum: int, turn: TurnSeen) -> list[Failure]:
    """Too many items means a constraint (or "nothing fits") was ignored."""
    count = len(turn.reply.items)
    return [Failure(f"items_max: {maximum}", f"{count} item(s) shown")] if count > maximum else []


def _check_any_have(wanted: dict[str, list[str]], turn: TurnSeen) -> list[Failure]:
    """One shown item must match every listed field: the request was heard at least once."""
    if any(all(matching(i, f, v) is not None for f, v in wanted.items()) for i in turn.reply.items):
        return []
    missing = " and ".join(f"{f} in {show(v)}" for f, v in wanted.items())
    return [Failure(f"any_have: {_fields(wanted)}", f"no shown item has {missing}")]


def _check_none_have(banned: dict[str, list[str]], turn: TurnSeen) -> list[Failure]:
    """A shown item with a banned value breaks an exclusion; each offender is named once."""
    offending = []
    for item in turn.reply.items:
        for field, values in banned.items():
            if (found := matching(item, field, values)) is not None:
                offending.append(f"{_item(item)} has {field} {found}")
                break
    return [Failure(f"none_have: {_fields(banned)}", "; ".join(offending))] if offending else []


def _check_all_have(wanted: dict[str, list[str]], turn: TurnSeen) -> list[Failure]:
    """Every shown item must honour every listed field; each miss is named."""
    offending = [
        f"{_item(item)} has no {field} in {show(values)}"
        for item in turn.reply.items
        for field, values in wanted.items()
        if matching(item, field, values) is None
    ]
    return [Failure(f"all_have: {_fields(wanted)}", "; ".join(offending))] if offending else []


def _check_exclude(refs: list[str], turn: TurnSeen) -> list[Failure]:
    """Named items that must not be shown (e.g. after a dislike or "not that one")."""
    banned = set().union(*(turn.resolved[ref] for ref in refs))
    shown = [_item(i) for i in turn.reply.items if i.id in banned]
    return [Failure(f"exclude: {show(refs)}", "shown: " + "; ".join(shown))] if shown else []


def _check_include(refs: list[str], turn: TurnSeen) -> list[Failure]:
    """One of the named items must be shown, within the top `within` when that is given."""
    items = turn.reply.items
    within = turn.expect.within
    wanted = set().union(*(turn.resolved[ref] for ref in refs))
    limit = within or len(items)
    hits = [i for i in items if i.id in wanted]
    if any(i.rank <= limit for i in hits):
        return []
    written = f"include: {show(refs)}" + (f", within: {within}" if within else "")
    actual = "only lower: " + "; ".join(_item(i) for i in hits) if hits else "none of them is shown"
    return [Failure(written, actual)]


def _check_not_repeated(_: bool, turn: TurnSeen) -> list[Failure]:
    """Nothing shown in an earlier turn may come back: the conversation must move on."""
    repeated = [
        f"{_item(i)} (first shown at turn {turn.shown_before[i.id]})"
        for i in turn.reply.items
        if i.id in turn.shown_before
    ]
    return [Failure("not_repeated: true", "shown again: " + "; ".join(repeated))] if repeated else []


def _check_whys_distinct(_: bool, turn: TurnSeen) -> list[Failure]:
    """A why shared by two items explains neither; each repeat is named with the item it repeats."""
    first: dict[str, ReplyItem] = {}
    repeated = []
    for item in turn.reply.items:
        key = " ".join(item.why.casefold().split())
        if key in first:
            repeated.append(f"{_item(item)} has the why of {_item(first[key])}: {item.why!r}")
        else:
            first[key] = item
    return [Failure("whys_distinct: true", "; ".join(repeated))] if repeated else []


def _check_text_contains(needles: list[str], turn: TurnSeen) -> list[Failure]:
    """Each needle must appear in the reply text (case-insensitive); one failure per missing one."""
    text = turn.reply.text.casefold()
    return [
        Failure(f"text_contains: {needle!r}", "the reply text does not contain it")
        for needle in needles
        if needle.casefold() not in text
    ]


def _check_text_not_contains(needles: list[str], turn: TurnSeen) -> list[Failure]:
    """No needle may appear in the reply text (case-insensitive); one failure per present one."""
    text = turn.reply.text.casefold()
    return [
        Failure(f"text_not_contains: {needle!r}", "the reply text contains it")
        for needle in needles
        if needle.casefold() in text
    ]


EXPECT_CHECKS: dict[str, ExpectCheck] = {
    "kind": _check_kind,
    "items_min": _check_items_min,
    "items_max": _check_items_max,
    "any_have": _check_any_have,
    "none_have": _check_none_have,
    "all_have": _check_all_have,
    "exclude": _check_exclude,
    "include": _check_include,
    "not_repeated": _check_not_repeated,
    "whys_distinct": _check_whys_distinct,
    "text_contains": _check_text_contains,
    "text_not_contains": _check_text_not_contains,
}
"""One check per `Expect` key, in the order failures are reported. `within` has none of its own:
it only modifies `include`."""


def check_expect(
    expect: Expect,
    reply: Reply,
    resolved: dict[str, set[str]],
    shown_before: dict[str, int],
) -> list[Failure]:
    """Every failed expectation of one turn; `resolved` maps each include/exclude ref to ids,
    `shown_before` maps ids shown in earlier turns to the turn that first showed them.

    A key is checked when it is set: not None, and not False (`not_repeated` and `whys_distinct` default to False).
    """
    turn = TurnSeen(reply, expect, resolved, shown_before)
    failures: list[Failure] = []
    for key, check in EXPECT_CHECKS.items():
        value = getattr(expect, key)
        if value is not None and value is not False:
            failures += check(value, turn)
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
    return [
        Failure(
            "grounding (every catalog title in the reply is shown in it)",
            "the reply names " + "; ".join(stray) + ", not shown in this reply",
        )
    ]
