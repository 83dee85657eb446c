"""A catalog's schema: which column is the id, the title, the text, the facets and the numbers (each with a role).

Inferred at ingest from the values, with a column's name only as a hint the values must agree with (a `rating`
column of free text is text), corrected by the user's `--facet`, `--numeric COL:ROLE` and `--text`, and stored
with the collection. Understanding reads a catalog's own facet values like genres and its numbers by role
("for 4 players", "under an hour", "cheap"), whatever the columns are called.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

MADE_BY: dict[str, str] = {
    **dict.fromkeys(("director", "directors"), "directed by"),
    **dict.fromkeys(("author", "authors", "writer", "writers"), "written by"),
    **dict.fromkeys(("creator", "creators"), "created by"),
    **dict.fromkeys(("host", "hosts"), "hosted by"),
    **dict.fromkeys(("designer", "designers"), "designed by"),
    **dict.fromkeys(("artist", "artists", "band"), "by"),
}
"""Columns of who made an item, with the words a why says it in ("also hosted by Tom Blake", "also by Mara Quill")."""
PEOPLE_FIELDS = ("stars", "star", "cast", "actors", *MADE_BY)
"""Columns of names: read by the people index (`people.py`), never a facet."""


class SchemaError(ValueError):
    """A schema correction that does not fit the file: names the flag and the column."""


class Role(StrEnum):
    """What a numeric column means, so a request can be read against it."""

    MIN = "min"
    """The low end of a range pair (`min_players`): "for 4 players" needs min ≤ 4 ≤ max."""
    MAX = "max"
    DURATION = "duration"
    """Minutes (or pages): "under an hour", "quick", "a long one"."""
    PRICE = "price"
    """"cheap", "under $20"."""
    RATING = "rating"
    """"highly rated", "4+ stars"."""
    COMPLEXITY = "complexity"
    """Size or weight: "light", "nothing too heavy", "something meaty"."""
    YEAR = "year"
    """A year or date: read as the catalog's year ("from the 90s")."""
    POPULARITY = "popularity"
    """Votes or mentions: the popularity prior."""
    NUMBER = "number"
    """A number with no role the conversation reads: kept and shown."""


_ROLE_HINTS: dict[Role, frozenset[str]] = {
    Role.DURATION: frozenset(
        "minutes mins min runtime duration length time playtime playing running pages page cook prep total".split()
    ),
    Role.PRICE: frozenset("price prices cost msrp usd eur gbp amount fee".split()),
    Role.RATING: frozenset("rating ratings score stars rated metascore points vote average".split()),
    Role.COMPLEXITY: frozenset("weight complexity difficulty heaviness level size depth".split()),
    Role.YEAR: frozenset("year vintage released release published date pub".split()),
    Role.POPULARITY: frozenset("popularity votes nbmentions mentions count reviews".split()),
}
"""Words of a column's name that suggest a role; checked in this order, the values must agree (`_role_of`)."""
_NAMED_ID = ("id", "item_id", "movie_id", "movieid", "book_id", "recipe_id", "sku")
_NAMED_TITLE = ("title", "name", "moviename", "item_name")
_NAMED_TEXT = ("description", "plot", "summary", "overview", "synopsis", "blurb", "text")
GENRE_COLUMNS = ("genres", "genre")
_NAMED_KINDS = ("topics", "topic", "subjects", "subject", "themes", "theme", "cuisine", "cuisines")
_NAMED_PLACES = ("neighborhood", "neighbourhood", "city", "region", "country", "area", "district", "location")
_NAMED_FACETS = (*GENRE_COLUMNS, *_NAMED_KINDS, *_NAMED_PLACES)
"""Columns of short values that are facets however few rows repeat them: in a small catalog every podcast's
topics, every restaurant's cuisine and most neighbourhoods are their own."""
_KIND_COLUMNS = (*GENRE_COLUMNS, *_NAMED_KINDS, "category", "categories", "type", "kind", "style", "class", "format")
"""Facet columns that say what an item is: their values come first among its kinds, where "more like X" weighs an
item's first kind most (a headphone's category over its brand)."""
_TEXT_EXTRAS = (*GENRE_COLUMNS, "tags", "keywords")
"""Columns embedded with the main text when present, facets or not (they describe the item in words)."""
_RANGE_ENDS = re.compile(
    r"^(?:(?P<pre>min|max|minimum|maximum)(?:[_ ]|(?=[a-z]{3,}$)(?!ute|s$))(?P<a>.+)|(?P<b>.+?)[_ ](?P<post>min|max|minimum|maximum))$"
)
"""'min_players', 'maxplayers', 'age_max'; not 'minutes' or 'mins'."""
_PRICE_LEVEL = re.compile(r"^(?:\${1,5}|£{1,5}|€{1,5}|¥{1,5})$")
_NUMBER_TEXT = re.compile(r"^[$£€]?\s*-?\d[\d,]*(?:\.\d+)?\s*$")
_DATE = re.compile(r"\s*(?:\d{4}[-/.]\d{1,2}(?:[-/.]\d{1,2})?|\d{1,2}[-/.]\d{1,2}[-/.]\d{4})(?:[T ][\d:.]+Z?)?\s*$")
"""A date as catalogs write one: 1997-05-21, 1997/05, 21.05.1997, 1997-05-21T10:00:00Z."""
_YEAR_IN = re.compile(r"(?<!\d)(1[0-9]{3}|20[0-9]{2}|2100)(?!\d)")
_CODE = re.compile(r"^[\w\-./:#]{1,40}$")
LIST_SEPARATORS = ("|", ";")
FACET_MAX_VALUES = 200
"""More distinct values than this is a vocabulary no one asks for by name: text, not a facet."""
SAMPLE = 5000
"""Rows looked at to infer a schema: enough to see every column's shape, cheap at 1M rows."""


@dataclass(frozen=True)
class Numeric:
    column: str
    role: Role


@dataclass(frozen=True)
class RangePair:
    """Two numeric columns that bound one quantity per item (`min_players`, `max_players` → "players")."""

    low: str
    high: str
    noun: str


@dataclass(frozen=True)
class ColumnMap:
    """The user's corrections (`--id`, `--title`, `--text`, `--meta`, `--facet`, `--numeric COL:ROLE`); stored with
    the collection so a re-ingest keeps them, like `--noun`."""

    id: str | None = None
    title: str | None = None
    text: tuple[str, ...] = ()
    meta: tuple[str, ...] | None = None
    """The columns kept with each item; None keeps every column that is not the id or the title."""
    facets: tuple[str, ...] = ()
    numeric: tuple[tuple[str, Role], ...] = ()

    def merged_over(self, earlier: ColumnMap) -> ColumnMap:
        """These corrections, with an earlier ingest's for what these leave unsaid."""
        return ColumnMap(
            id=self.id or earlier.id,
            title=self.title or earlier.title,
            text=self.text or earlier.text,
            meta=self.meta if self.meta is not None else earlier.meta,
            facets=tuple(dict.fromkeys([*earlier.facets, *self.facets])),
            numeric=tuple((dict(earlier.numeric) | dict(self.numeric)).items()),
        )

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str | None) -> ColumnMap:
        if not text:
            return cls()
        data = json.loads(text)
        meta = data.get("meta")
        return cls(
            id=data.get("id"),
            title=data.get("title"),
            text=tuple(data.get("text") or ()),
            meta=tuple(meta) if meta is not None else None,
            facets=tuple(data.get("facets") or ()),
            numeric=tuple((str(c), Role(r)) for c, r in data.get("numeric") or ()),
        )


def parse_numeric(spec: str) -> tuple[str, Role]:
    """'min_players:min' → ('min_players', Role.MIN); a SchemaError naming the roles otherwise."""
    column, _, role = spec.rpartition(":")
    roles = ", ".join(r.value for r in Role)
    if not column or role.strip().lower() not in {r.value for r in Role}:
        raise SchemaError(f"--numeric {spec!r}: use COLUMN:ROLE, ROLE one of {roles}")
    return column.strip(), Role(role.strip().lower())


@dataclass(frozen=True)
class CatalogSchema:
    """What each column of a catalog is; `describe()` is what ingest and `recochat catalog show` print."""

    id: str
    title: str
    text: tuple[str, ...]
    facets: tuple[str, ...] = ()
    """Columns whose values are a small vocabulary (mechanics, cuisine, grape): matched like genres."""
    numerics: tuple[Numeric, ...] = ()
    other: tuple[str, ...] = ()
    """The other columns kept with each item: text, people, and what nothing reads (links, codes)."""
    levels: tuple[tuple[str, str], ...] = ()
    """(column, symbol) of the numbers written as levels ("$$"): said back as written, never "price 2"."""

    @property
    def ranges(self) -> tuple[RangePair, ...]:
        """The range pairs: a MIN column and a MAX column of the same stem."""
        lows = {_range_stem(n.column): n.column for n in self.numerics if n.role is Role.MIN}
        highs = {_range_stem(n.column): n.column for n in self.numerics if n.role is Role.MAX}
        return tuple(RangePair(lows[s], highs[s], _noun_of_stem(s)) for s in lows if s in highs)

    def column_for(self, role: Role) -> str | None:
        """The first column with this role, as items' meta keys it (lower case)."""
        return next((n.column.lower() for n in self.numerics if n.role is role), None)

    def roles(self) -> set[Role]:
        """The roles a request can be read against: a range counts once both ends are there."""
        roles = {n.role for n in self.numerics if n.role not in (Role.MIN, Role.MAX)}
        return roles | ({Role.MIN} if self.ranges else set())

    def describe(self) -> list[str]:
        """One line per kind of column, for people: 'facets: mechanics', 'numbers: minutes (duration), …'."""
        pairs = {c for r in self.ranges for c in (r.low, r.high)}
        numbers = [f"{n.column} ({n.role.value})" for n in self.numerics if n.column not in pairs]
        numbers += [f"{r.low}–{r.high} (range of {r.noun})" for r in self.ranges]
        lines = [f"id: {self.id}", f"title: {self.title}", f"text: {', '.join(self.text) or '—'}"]
        lines.append(f"facets: {', '.join(self.facets) or '—'}")
        lines.append(f"numbers: {', '.join(numbers) or '—'}")
        people = [c for c in self.other if c.lower() in PEOPLE_FIELDS]
        if people:
            lines.append(f"people: {', '.join(people)}")
        if rest := [c for c in self.other if c not in people and c not in self.text]:
            lines.append(f"kept, not read: {', '.join(rest)}")
        return lines

    def to_json(self) -> str:
        data = asdict(self)
        data["numerics"] = [[n.column, n.role.value] for n in self.numerics]
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> CatalogSchema:
        data = json.loads(text)
        return cls(
            id=data["id"],
            title=data["title"],
            text=tuple(data.get("text") or ()),
            facets=tuple(data.get("facets") or ()),
            numerics=tuple(Numeric(c, Role(r)) for c, r in data.get("numerics") or ()),
            other=tuple(data.get("other") or ()),
            levels=tuple((str(c), str(symbol)) for c, symbol in data.get("levels") or ()),
        )


def _range_stem(column: str) -> str:
    match = _RANGE_ENDS.match(column.lower())
    return (match.group("a") or match.group("b") or "").strip("_ ") if match else column.lower()


def _noun_of_stem(stem: str) -> str:
    return stem.replace("_", " ").strip() or "value"


def _words(column: str) -> set[str]:
    """'avg_rating' → {'avg', 'rating'}; 'playingTime' → {'playing', 'time'}."""
    return set(_name_words(column))


def _name_words(column: str) -> list[str]:
    """A column name's words in order: 'vegetarian_friendly' → ['vegetarian', 'friendly'], 'isVegan' → ['is',
    'vegan']."""
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", column)
    return [w for w in re.split(r"[^a-z]+", spaced.lower()) if w]


def as_number(value: Any) -> float | None:
    """A cell as a number: 12, '12.5', '$1,299.00'; None for anything else (text, lists, booleans)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip()
    if _PRICE_LEVEL.match(text):
        return float(len(text))  # "$$": the second of a restaurant guide's price levels
    if not _NUMBER_TEXT.match(text):
        return None
    return float(re.sub(r"[$£€,\s]", "", text))


def as_list(value: Any) -> list[str]:
    """A cell as its values: a JSON list, or text split on '|' or ';' (one value when neither is in it)."""
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    text = str(value if value is not None else "")
    for sep in LIST_SEPARATORS:
        if sep in text:
            return [part.strip() for part in text.split(sep) if part.strip()]
    return [text.strip()] if text.strip() else []


FLAG_YES = frozenset({"yes", "true", "y"})
FLAG_NO = frozenset({"no", "false", "n"})
_FLAG_FILLER = frozenset({"is", "has", "friendly", "ok", "okay", "option", "options", "available", "suitable", "for"})


def flag_kind(column: str) -> str:
    """The kind a yes in a yes/no column gives its item: 'vegetarian_friendly' → 'vegetarian', 'is_vegan' → 'vegan',
    'outdoor_seating' → 'outdoor seating' (a "yes" and a "no" were kinds of their own)."""
    words = _name_words(column)
    return " ".join(w for w in words if w not in _FLAG_FILLER) or " ".join(words)


def year_of(value: Any) -> int | None:
    """The year in a cell: 1999, '1999', '1999-05-01'; None when it holds none."""
    number = as_number(value)
    if number is not None:
        return int(number) if number.is_integer() and 1000 <= number <= 2100 else None
    match = _YEAR_IN.search(str(value or ""))
    return int(match.group()) if match else None


@dataclass
class _Column:
    """What the sampled values of one column look like."""

    name: str
    values: list[Any] = field(default_factory=list)

    @property
    def filled(self) -> list[Any]:
        return [v for v in self.values if v is not None and v != "" and v != []]

    def share(self, test: Any) -> float:
        filled = self.filled
        return sum(1 for v in filled if test(v)) / len(filled) if filled else 0.0

    def numeric(self) -> bool:
        return bool(self.filled) and self.share(lambda v: as_number(v) is not None) >= 0.95

    def listed(self) -> bool:
        return self.share(lambda v: isinstance(v, list) or any(s in str(v) for s in LIST_SEPARATORS)) >= 0.3

    def prose(self) -> bool:
        """Words, not a code or a link: long enough, with spaces in most cells."""
        return self.mean_length() >= 20 and self.share(lambda v: " " in str(v).strip()) >= 0.5

    def mean_length(self) -> float:
        filled = self.filled
        return sum(len(str(v)) for v in filled) / len(filled) if filled else 0.0

    def unique(self) -> bool:
        filled = self.filled
        return len(filled) == len(self.values) and len({str(v) for v in filled}) == len(filled)


def infer_schema(rows: Sequence[Mapping[str, Any]], overrides: ColumnMap | None = None) -> CatalogSchema:
    """The schema of these rows (a CSV's dicts of text, JSONL's of values), with `overrides` applied.

    Raises SchemaError for an override naming a column the rows do not have, or no id or title to be found."""
    overrides = overrides or ColumnMap()
    sample = rows[:SAMPLE]
    header = list(dict.fromkeys(k for row in sample for k in row))
    columns = {name: _Column(name, [row.get(name) for row in sample]) for name in header}
    _check_named(header, overrides)
    id_col = overrides.id or _id_named(header) or _id_by_values(columns)
    title_col = overrides.title or _named(header, _NAMED_TITLE) or _title_by_values(columns, id_col)
    if id_col is None and title_col is not None and columns[title_col].unique():
        id_col = title_col  # no ids, and every title is its own: the titles are the ids
    if id_col is None:
        raise SchemaError(
            f"no id column found (looked for {', '.join(_NAMED_ID)}, then a column of unique short codes, then "
            "unique titles); pass --id COLUMN"
        )
    if title_col is None:
        raise SchemaError(
            f"no title column found (looked for {', '.join(_NAMED_TITLE)}, then a column of short unique text); "
            "pass --title COLUMN"
        )
    rest = [c for c in header if c not in (id_col, title_col)]
    kept = [c for c in rest if overrides.meta is None or c in overrides.meta]
    forced = dict(overrides.numeric)
    numbers = [c for c in kept if c in forced or _is_number(columns[c], overrides)]
    ranges = _ranges([c for c in numbers if c not in forced])
    numerics = [Numeric(c, forced.get(c) or ranges.get(c) or _role_of(columns[c])) for c in numbers]
    if not any(n.role is Role.YEAR for n in numerics):  # "released": "1997-05-21" is the year its item came out
        dated = next((c for c in kept if c not in numbers and _dated(columns[c])), None)
        if dated is not None:
            numbers.append(dated)
            numerics.append(Numeric(dated, Role.YEAR))
    numeric_names = set(numbers)
    facets = [c for c in kept if c not in numeric_names and (c in overrides.facets or _is_facet(columns[c], overrides))]
    facets.sort(key=lambda c: c.lower() not in _KIND_COLUMNS)  # stable: the others keep the file's order
    text = overrides.text or _text_columns(columns, rest, facets, numeric_names)
    read = {*numeric_names, *facets}
    return CatalogSchema(
        id=id_col,
        title=title_col,
        text=tuple(text),
        facets=tuple(facets),
        numerics=tuple(numerics),
        other=tuple(c for c in kept if c not in read),
        levels=tuple((c, symbol) for c in numbers if (symbol := _level_symbol(columns[c]))),
    )


def _level_symbol(column: _Column) -> str | None:
    """'$' for a column whose every value is written as a price level ("$", "$$$"), else None."""
    filled = [str(v).strip() for v in column.filled]
    if not filled or not all(_PRICE_LEVEL.match(v) for v in filled):
        return None
    return filled[0][0]


def _check_named(header: list[str], overrides: ColumnMap) -> None:
    flags = [("--id", overrides.id), ("--title", overrides.title)]
    flags += [("--text", c) for c in overrides.text] + [("--facet", c) for c in overrides.facets]
    flags += [("--numeric", c) for c, _ in overrides.numeric] + [("--meta", c) for c in overrides.meta or ()]
    for flag, column in flags:
        if column is not None and column not in header:
            raise SchemaError(f"{flag} {column!r}: no such column; the file has: {', '.join(header)}")


def _named(header: Iterable[str], names: Sequence[str]) -> str | None:
    lowered = {h.lower(): h for h in header}
    return next((lowered[n] for n in names if n in lowered), None)


def _id_named(header: Sequence[str]) -> str | None:
    """A column named like an id ('id', 'sku', or any name ending in 'id': 'game_id', 'movieId')."""
    return _named(header, _NAMED_ID) or next((h for h in header if h.lower().endswith("id")), None)


def _id_by_values(columns: Mapping[str, _Column]) -> str | None:
    """The first column of unique short codes (no spaces, digits in most): 'isbn', 'sku_code', 'wine_no'. A column
    of numbers is codes only when they are digits all as long, zero-padded or of five digits or more ('007', an
    ISBN), under a name that is no measure: counts (a podcast's 120, 300 and 80 episodes), lengths (an album's 48
    minutes) or ratings are no ids, however unique a small catalog's are."""
    return next((c.name for c in columns.values() if c.unique() and _codes(c)), None)


def _codes(column: _Column) -> bool:
    values = [str(v).strip() for v in column.filled]
    if not all(_CODE.match(v) for v in values) or _dated(column):  # release dates are unique too
        return False
    if sum(any(ch.isdigit() for ch in v) for v in values) < len(values) / 2:
        return False  # words: a small catalog's cuisines (mexican, chinese, …) are each its own, and no codes
    if not column.numeric():
        return True
    digits = all(v.isdigit() for v in values) and len({len(v) for v in values}) == 1
    return digits and _role_of(column) is Role.NUMBER and (len(values[0]) >= 5 or any(v[0] == "0" for v in values))


def _dated(column: _Column) -> bool:
    """Dates under a name that says when ('released': '1997-05-21', 'published': '05/21/1997')."""
    return (
        bool(_words(column.name) & _ROLE_HINTS[Role.YEAR]) and column.share(lambda v: bool(_DATE.match(str(v)))) >= 0.95
    )


def _title_by_values(columns: Mapping[str, _Column], id_col: str | None) -> str | None:
    """The first column of short text that is mostly unique and has letters: a name, not a code or a blurb."""
    for column in columns.values():
        filled = column.filled
        if column.name == id_col or not filled or column.numeric() or column.listed():
            continue
        distinct = len({str(v) for v in filled}) / len(filled)
        if (
            column.mean_length() <= 80
            and distinct >= 0.9
            and column.share(lambda v: bool(re.search("[A-Za-z]", str(v)))) == 1.0
        ):
            return column.name
    return None


def _is_number(column: _Column, overrides: ColumnMap) -> bool:
    return column.name not in overrides.facets and column.name not in overrides.text and column.numeric()


def _role_of(column: _Column) -> Role:
    """The role its name suggests, when its values agree (ratings within 0–100, years within 1000–2100)."""
    words = _words(column.name)
    numbers = [n for n in (as_number(v) for v in column.filled) if n is not None]
    for role, hints in _ROLE_HINTS.items():
        if words & hints and _values_fit(role, numbers):
            return role
    return Role.NUMBER


def _range_end(column: str) -> tuple[Role, str] | None:
    """'min_players' → (MIN, 'players'), 'age_max' → (MAX, 'age'); None for other names ('minutes')."""
    match = _RANGE_ENDS.match(column.lower())
    if match is None:
        return None
    end = (match.group("pre") or match.group("post"))[:3]
    return (Role.MIN if end == "min" else Role.MAX), (match.group("a") or match.group("b")).strip("_ ")


def _ranges(columns: list[str]) -> dict[str, Role]:
    """The numeric columns that are ends of a range pair: both a min and a max of the same stem are there."""
    ends = {c: end for c in columns if (end := _range_end(c))}
    stems = Counter((role, stem) for role, stem in ends.values())
    return {
        c: role for c, (role, stem) in ends.items() if stems[(Role.MIN, stem)] == 1 and stems[(Role.MAX, stem)] == 1
    }


def _values_fit(role: Role, numbers: list[float]) -> bool:
    if role is Role.YEAR:
        return all(n.is_integer() and 1000 <= n <= 2100 for n in numbers)
    if role is Role.RATING:
        return all(0 <= n <= 100 for n in numbers)
    return all(n >= 0 for n in numbers)


def _is_facet(column: _Column, overrides: ColumnMap) -> bool:
    """A small vocabulary: list-valued or categorical, short values that repeat; never people, text or numbers."""
    if column.name.lower() in PEOPLE_FIELDS or column.numeric():
        return False
    values = [v.lower() for cell in column.filled for v in as_list(cell)]
    if not values or len(set(values)) > FACET_MAX_VALUES or sum(len(v) for v in values) / len(values) > 30:
        return False
    if column.name.lower() in _NAMED_FACETS:
        return True  # short values under a genre's, topic's or place's name: facets, however few rows repeat them
    counts = Counter(values)
    repeated = sum(n for n in counts.values() if n > 1) / len(values)
    if column.listed():
        return repeated >= 0.6
    return len(counts) <= max(2, len(column.filled) // 2) and repeated >= 0.6


def _text_columns(columns: Mapping[str, _Column], rest: list[str], facets: list[str], numbers: set[str]) -> list[str]:
    """The main text (named, else the longest prose column), then the named extras and any other prose (a `rating`
    column of free text is text). Other facets are matched as values, not embedded: a recipe's "thai" in its text
    pulled a dessert toward "a fresh salad for lunch"."""
    main = _named(rest, _NAMED_TEXT)
    if main is None:
        prose = [c for c in rest if c not in numbers and c not in facets and columns[c].mean_length() >= 40]
        main = max(prose, key=lambda c: columns[c].mean_length(), default=None)
    extras = [
        c
        for c in rest
        if c.lower() in _TEXT_EXTRAS
        or (c not in numbers and c not in facets and c.lower() not in PEOPLE_FIELDS and columns[c].prose())
    ]
    return list(dict.fromkeys(c for c in (main, *extras) if c))


MEASURES = frozenset({Role.MIN, Role.MAX, Role.DURATION, Role.PRICE, Role.RATING, Role.COMPLEXITY})
"""The roles that say how an item is to have (how many players, how long, how dear, how good, how heavy): what
"more like X" compares and a why names. Years and popularity are read elsewhere."""


def measured_columns(schema: CatalogSchema) -> list[str]:
    """The meta keys of the columns with a `MEASURES` role."""
    return [n.column.lower() for n in schema.numerics if n.role in MEASURES]


def number_facts(meta: Mapping[str, Any], schema: CatalogSchema, columns: Iterable[str] | None = None) -> list[str]:
    """The item's numbers as a person says them: '2–5 players', '20 min', '$12.99', 'rated 4.6', 'weight 2.0';
    only those of `columns` (meta keys) when given, a range pair when either end is among them."""
    wanted = None if columns is None else set(columns)
    facts: list[str] = []
    paired = set()
    for pair in schema.ranges:
        low, high = meta.get(pair.low.lower()), meta.get(pair.high.lower())
        paired |= {pair.low.lower(), pair.high.lower()}
        if wanted is not None and not wanted & {pair.low.lower(), pair.high.lower()}:
            continue
        if isinstance(low, (int, float)) and isinstance(high, (int, float)):
            facts.append(f"{_said(low)} {pair.noun}" if low == high else f"{_said(low)}–{_said(high)} {pair.noun}")
    for numeric in schema.numerics:
        key = numeric.column.lower()
        value = meta.get(key)
        if key in paired or (wanted is not None and key not in wanted) or not isinstance(value, (int, float)):
            continue
        symbol = next((symbol for column, symbol in schema.levels if column.lower() == key), None)
        if symbol and value == int(value):
            facts.append(symbol * int(value))
        elif fact := _fact(numeric.role, key, value):
            facts.append(fact)
    return facts


def length_fact(meta: Mapping[str, object]) -> str | None:
    """An item's length as the catalog gives it ('169 min', '412 pages'), from the first number in a column named
    like a duration (runtime, minutes, cook_time, pages …); None when it has none."""
    for key, value in meta.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool) and _words(key) & _ROLE_HINTS[Role.DURATION]:
            return _fact(Role.DURATION, key, value)
    return None


def _fact(role: Role, column: str, value: float) -> str | None:
    words = _words(column)
    if role is Role.DURATION:
        return f"{_said(value)} pages" if words & {"page", "pages"} else f"{_said(value)} min"
    if role is Role.PRICE:
        symbol = "$" if words & {"usd", "dollars"} else "€" if "eur" in words else "£" if "gbp" in words else None
        amount = f"{value:.2f}" if isinstance(value, float) else str(value)  # $14.50, never $14.5
        return f"{symbol}{amount}" if symbol else f"{column.replace('_', ' ')} {amount}"
    if role is Role.RATING:
        return f"rated {_said(value)}"
    if role is Role.COMPLEXITY:
        return f"{column.replace('_', ' ')} {_said(value)}"
    return None


def _said(value: float) -> str:
    """A number as the catalog wrote it: 4 (an int), 2.0, 24.99."""
    if isinstance(value, int):
        return str(value)
    text = f"{value:.2f}".rstrip("0")
    return text + "0" if text.endswith(".") else text
