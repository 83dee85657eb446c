"""Catalog files (CSV or JSONL) → validated `CatalogItem`s.

Column names are auto-detected from common spellings; every problem is collected and
reported at once with row numbers, so a user can fix a file in one pass.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .schema import (
    FLAG_NO,
    FLAG_YES,
    GENRE_COLUMNS,
    CatalogSchema,
    ColumnMap,
    Role,
    SchemaError,
    as_list,
    as_number,
    flag_kind,
    infer_schema,
    year_of,
)

TEXT_COLUMNS = ("description", "plot", "summary", "overview", "synopsis", "blurb", "text")
_YEAR_IN_TITLE = re.compile(r"^(?P<title>.*?)\s*\((?P<year>\d{4})\)\s*$")


class CatalogError(Exception):
    """A catalog that cannot be ingested; the message names the file, columns and rows."""


INSTRUCTION = re.compile(
    r"ignore (all |any )?(previous|prior|above)|instruction|system prompt|as an ai|you are now|disregard|"
    r"(?:^|[\s\"“(<])(?:system|assistant)\s*:",
    re.I,
)
"""Catalog text that reads like an order to a model: it is data, never quoted to a model or a user."""


def title_label(title: str, year: int | None) -> str:
    """The one way to show an item: "Title (Year)", or the title alone when the year is unknown."""
    return f"{title} ({year})" if year else title


def split_title_year(text: str) -> tuple[str, int | None]:
    """The inverse of `title_label`: "Heat (1995)" → ("Heat", 1995); a title without a year → (title, None)."""
    match = _YEAR_IN_TITLE.match(text.strip())
    return (match.group("title"), int(match.group("year"))) if match else (text.strip(), None)


def people_facts(meta: dict[str, Any]) -> list[str]:
    """Who made it and who is in it, as prompts and the why dialog show them: "director: …", "with …"."""
    facts = []
    for key in ("director", "author"):
        if value := meta.get(key):
            facts.append(f"{key}: {', '.join(value) if isinstance(value, list) else value}")
    if stars := meta.get("stars"):
        facts.append("with " + (", ".join(stars[:3]) if isinstance(stars, list) else str(stars)))
    return facts


@dataclass(frozen=True)
class CatalogItem:
    id: str
    title: str
    text: str
    """What the encoder sees: title, year and the chosen text columns."""
    meta: dict[str, Any] = field(default_factory=dict)
    """Scalars or lists of strings; `year` is an int when known, `genres` a lowercase list."""

    @property
    def year(self) -> int | None:
        return self.meta.get("year")

    @property
    def genres(self) -> list[str]:
        return list(self.meta.get("genres", []))

    @property
    def description(self) -> str:
        """The text column by its usual names, else the longest text the item has (a gadget's `about`)."""
        for name in TEXT_COLUMNS:
            if self.meta.get(name):
                return str(self.meta[name])
        return max((v for v in self.meta.values() if isinstance(v, str)), key=len, default="")

    def content_hash(self) -> str:
        payload = json.dumps([self.title, self.text, self.meta], sort_keys=True, default=str)
        return hashlib.sha256(payload.encode()).hexdigest()[:20]

    def label(self) -> str:
        return title_label(self.title, self.year)


@dataclass
class LoadResult:
    items: list[CatalogItem]
    skipped: list[str]
    """One line per skipped row: row number and reason."""
    schema: CatalogSchema


def demo_catalog_path() -> Path:
    return Path(__file__).resolve().parent / "catalogs" / "demo_movies.jsonl"


def demo_prior_path() -> Path:
    """The demo catalog's crowd prior: what ReDial's seekers liked together, as counts over the demo's titles
    (ReDial is CC BY 4.0; `python -m recochat.bot.training.crowd_prior` rebuilds it)."""
    return Path(__file__).resolve().parent / "catalogs" / "demo_movies.crowd.json"


def load_catalog(path: Path, columns: ColumnMap | None = None, skip_bad: bool = False) -> LoadResult:
    """Read and validate a catalog against its inferred schema (`columns` corrects it); raise CatalogError unless
    every row is usable (or skip_bad)."""
    path = Path(path)
    if not path.is_file():
        raise CatalogError(f"{path}: no such catalog file")
    rows = _read_rows(path)
    if not rows:
        raise CatalogError(f"{path}: the catalog has no rows")
    try:
        schema = infer_schema(rows, columns or ColumnMap())
    except SchemaError as error:
        raise CatalogError(f"{path}: {error}") from None
    return _build_items(path, rows, schema, skip_bad)


def _read_rows(path: Path) -> list[dict[str, Any]]:
    suffix = path.suffix.lower()
    try:
        if suffix in (".jsonl", ".ndjson"):
            rows = []
            with path.open(encoding="utf-8") as f:
                for number, line in enumerate(f, start=1):
                    if not line.strip():
                        continue
                    try:
                        row = json.loads(line)
                    except json.JSONDecodeError as e:
                        raise CatalogError(f"{path}, line {number}: not valid JSON ({e.msg})") from None
                    if not isinstance(row, dict):
                        raise CatalogError(f"{path}, line {number}: expected a JSON object per line")
                    rows.append(row)
            return rows
        if suffix in (".csv", ".tsv"):
            with path.open(encoding="utf-8", newline="") as f:
                text = f.read()
            if "\x00" in text:  # csv reads NULs as data: a binary file, or UTF-16 text, would ingest as garbage
                raise CatalogError(f"{path}: has NUL bytes: not a text file, or not UTF-8 (UTF-16?); save it as UTF-8")
            delimiter = "\t" if suffix == ".tsv" else ","
            return list(csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter))
    except UnicodeDecodeError as e:
        raise CatalogError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    raise CatalogError(f"{path}: unsupported catalog format {suffix!r}; use .csv, .tsv or .jsonl")


def _normalize(value: Any, role: Role | None, facet: bool) -> Any:
    """A cell as the schema reads it: a facet → its lower-case values, a number → int or float, a year → int;
    other cells as they are (lists split on '|'), and None for an empty or unreadable one."""
    if value is None or value == "":
        return None
    if facet:
        return [v.lower() for v in as_list(value)]
    if role is Role.YEAR:
        return year_of(value)
    if role is not None:
        number = as_number(value)
        if number is None or role is Role.POPULARITY:  # the popularity prior is a float, as it always was
            return number
        return int(number) if number.is_integer() and "." not in str(value) else number  # "2.0" stays 2.0
    if isinstance(value, list) or (isinstance(value, str) and "|" in value):
        return as_list(value)
    if isinstance(value, (int, float, bool)):
        return value
    return str(value).strip()


def _text_of(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value or "").strip()


def _id_problem(number: int, item_id: str, title: str, cols: CatalogSchema, seen: dict[str, int]) -> str | None:
    """An empty or repeated id, or an empty title; a row with an id (even one without a title) claims that id."""
    if not item_id:
        return f"row {number}: empty id (column {cols.id!r})"
    if item_id in seen:
        return f"row {number}: duplicate id {item_id!r} (first at row {seen[item_id]})"
    seen[item_id] = number
    if not title:
        return f"row {number}: empty title (column {cols.title!r}) for id {item_id!r}"
    return None


def _row_meta(row: dict[str, Any], schema: CatalogSchema) -> dict[str, Any]:
    """The item's meta, keyed by lower-case column names: a year-role column is `year`, a genre column `genres`,
    and `genres` ends as every facet's values together, the catalog's kinds that requests are read against."""
    roles = {n.column: n.role for n in schema.numerics}
    meta: dict[str, Any] = {}
    for name in (*schema.facets, *(n.column for n in schema.numerics), *schema.other):
        value = _normalize(row.get(name), roles.get(name), name in schema.facets)
        if name in schema.facets and value and set(value) <= FLAG_YES | FLAG_NO:  # a yes/no column: a kind or none
            value = [flag_kind(name)] if set(value) & FLAG_YES else None
        if value is None:
            continue
        meta["year" if roles.get(name) is Role.YEAR else _meta_key(name)] = value
    if len(schema.facets) > 1 or (schema.facets and schema.facets[0].lower() not in GENRE_COLUMNS):
        kinds = [v for name in schema.facets for v in meta.get(_meta_key(name), [])]
        meta["genres"] = list(dict.fromkeys(kinds))
    return meta


def _meta_key(column: str) -> str:
    return "genres" if column.lower() in GENRE_COLUMNS else column.lower()


def _build_items(path: Path, rows: list[dict[str, Any]], cols: CatalogSchema, skip_bad: bool) -> LoadResult:
    problems: list[str] = []
    seen: dict[str, int] = {}
    items: list[CatalogItem] = []
    first_row = 2 if path.suffix.lower() in (".csv", ".tsv") else 1  # CSV row 1 is the header
    for index, row in enumerate(rows):
        number = index + first_row
        item_id = str(row.get(cols.id) or "").strip()
        title = str(row.get(cols.title) or "").strip()
        if problem := _id_problem(number, item_id, title, cols, seen):
            problems.append(problem)
            continue
        meta = _row_meta(row, cols)
        if "year" not in meta:
            title, year = split_title_year(title)
            if year is not None:
                meta["year"] = year
        body = ". ".join(t for t in (_text_of(row.get(c)) for c in cols.text) if t)
        if not body:
            problems.append(
                f"row {number}: empty text (column(s) {', '.join(cols.text) or 'none found'}) for id {item_id!r}"
            )
            continue
        heading = f"{title} ({meta['year']})" if meta.get("year") else title
        items.append(CatalogItem(id=item_id, title=title, text=f"{heading}. {body}", meta=meta))
    if problems and not skip_bad:
        shown = "\n  ".join(problems[:20])
        more = f"\n  … and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise CatalogError(
            f"{path}: {len(problems)} bad row(s); nothing was ingested (fix them, or pass --skip-bad):\n  {shown}{more}"
        )
    return LoadResult(items=items, skipped=problems, schema=cols)
