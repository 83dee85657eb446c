"""Ingest: encode only new or changed items, upsert them, optionally prune vanished ones."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from .catalog import CatalogItem
from .encoder import TextEncoder
from .schema import CatalogSchema, ColumnMap
from .store import ChromaStore

log = logging.getLogger(__name__)

DEFAULT_NOUN = "item"
_NAME_NOUNS = {
    "movie": ("movie", "movies", "film", "films", "cinema", "imdb", "tmdb", "movielens"),
    "book": ("book", "books", "novel", "novels", "goodreads"),
    "recipe": ("recipe", "recipes", "food", "dishes", "cooking", "meals"),
    "show": ("show", "shows", "series", "tv"),
    "game": ("game", "games", "boardgames"),
    "podcast": ("podcast", "podcasts"),
    "album": ("album", "albums"),
    "product": ("product", "products"),
}
"""Words of a file or collection name that say what its items are."""
_COLUMN_NOUNS = {
    "book": ("author", "authors", "isbn", "publisher", "pages", "num_pages", "page_count"),
    "recipe": ("ingredients", "instructions", "cuisine", "servings", "cook_time", "prep_time"),
    "movie": ("director", "directors", "cast", "runtime", "imdb_id", "movieid", "movie_id"),
}
"""Columns only one kind of catalog has; checked after the name, which is more deliberate."""
_GENERIC_NOUNS = frozenset({"item", "row", "record", "entry", "line", "export", "result", "sample"})
"""Plurals of a file name that say nothing of what its items are: telling columns say more ('items.csv' of books)."""
_NOUN_SHAPE = re.compile(r"^[a-z][a-z -]{0,38}[a-z]$")


def check_noun(noun: str) -> str:
    """A noun for replies ("Tell me what kind of {noun} you're in the mood for"): lower-case words."""
    cleaned = " ".join(noun.lower().split())
    if not _NOUN_SHAPE.match(cleaned):
        raise ValueError(f"noun {noun!r} is not valid: use a singular noun of 2-40 letters, like 'book' or 'recipe'")
    return cleaned


def plural(noun: str) -> str:
    """'book' → 'books', 'dish' → 'dishes', 'story' → 'stories': enough for catalog nouns in replies."""
    if re.search(r"(s|x|z|ch|sh)$", noun):
        return noun + "es"
    if re.search(r"[^aeiou]y$", noun):
        return noun[:-1] + "ies"
    return noun + "s"


def infer_noun(name: str, columns: Iterable[str], plural_of: str = "") -> str:
    """What the items are called: from a file or collection name ('my_books'), else the plural that ends the file
    name `plural_of` in the singular ('wines.csv' → wine, 'restaurants' → restaurant), unless a generic one
    ('items'), else telling columns ('author'); "item" when none says."""
    words = set(re.split(r"[^a-z]+", name.lower()))
    for noun, hints in _NAME_NOUNS.items():
        if words & set(hints):
            return noun
    named = singular(plural_of)
    if named and named not in _GENERIC_NOUNS:  # 'restaurants.csv' with a cuisine column holds restaurants
        return named
    keys = {c.lower() for c in columns}
    for noun, hints in _COLUMN_NOUNS.items():
        if keys & set(hints):
            return noun
    return named or DEFAULT_NOUN


def singular(name: str) -> str | None:
    """The last word of a name as a singular noun when it is a plural: 'wines' → 'wine', 'my-lessons' →
    'lesson', 'dishes' → 'dish', 'stories' → 'story'; None for a name that is no plural ('data', 'glass')."""
    words = re.findall(r"[a-z]+", re.sub(r"([a-z])([A-Z])", r"\1 \2", name).lower())
    word = words[-1] if words else ""
    if len(word) < 4 or not word.endswith("s") or word.endswith(("ss", "us", "is")):
        return None
    if word.endswith("ies"):
        stem = word[:-3] + "y"
    elif re.search(r"(?:ch|sh|x|z|ss|us)es$", word):
        stem = word[:-2]
    else:
        stem = word[:-1]
    return stem if _NOUN_SHAPE.match(stem) else None


@dataclass
class IngestReport:
    collection: str
    total: int
    encoded: int
    unchanged: int
    removed: int
    seconds: float
    noun: str = DEFAULT_NOUN
    """What replies call one item of this collection."""
    reencoded_from: str | None = None
    """The encoder the collection was made with, when it was another one: every item was encoded again."""

    @property
    def items_per_s(self) -> float:
        return self.encoded / self.seconds if self.seconds > 0 else 0.0


def ingest(
    store: ChromaStore,
    encoder: TextEncoder,
    name: str,
    items: list[CatalogItem],
    prune: bool = False,
    chunk_size: int = 512,
    progress: Callable[[int], None] | None = None,
    noun: str | None = None,
    source: str = "",
    schema: CatalogSchema | None = None,
    columns: ColumnMap | None = None,
) -> IngestReport:
    """Upsert items whose content hash changed.

    Each chunk is encoded then upserted, so a failure half way keeps every item already
    stored (old versions of the rest included); pruning happens only after all upserts.
    The noun replies use is `noun`, else the one stored by an earlier ingest (a re-ingest
    keeps a chosen noun), else inferred from `source` (the file name), `name` and the columns.
    The schema (`load_catalog` inferred it) and the user's corrections to it are stored with the collection, and
    so is the encoder's name. A collection another encoder made is built again from scratch (its vectors are not
    comparable with this encoder's, and may not even have its width), keeping its noun and corrections.
    """
    started = time.perf_counter()
    keys = {key for item in items[:200] for key in item.meta}
    noun = check_noun(noun) if noun else (store.noun(name) or infer_noun(f"{source} {name}", keys, plural_of=source))
    made_with = store.encoder(name)
    reencoded_from = made_with if made_with is not None and made_with != encoder.name else None
    if reencoded_from is not None:
        log.warning("collection %s was encoded with %s; encoding every item with %s", name, made_with, encoder.name)
        columns = columns if columns is not None else store.columns(name)
        store.drop(name)
    stored = store.hashes(name)
    changed = [item for item in items if stored.get(item.id) != item.content_hash()]
    for start in range(0, len(changed), chunk_size):
        chunk = changed[start : start + chunk_size]
        vectors = encoder.encode_texts([item.text for item in chunk])
        store.upsert(name, chunk, np.asarray(vectors), new={item.id for item in chunk if item.id not in stored})
        if progress:
            progress(len(chunk))
    removed = 0
    if prune:
        keep = {item.id for item in items}
        gone = [item_id for item_id in stored if item_id not in keep]
        store.delete_items(name, gone)
        removed = len(gone)
    store.mark_ingested(name, noun, schema, columns, encoder=encoder.name)
    return IngestReport(
        collection=name,
        total=len(items),
        encoded=len(changed),
        unchanged=len(items) - len(changed),
        removed=removed,
        seconds=time.perf_counter() - started,
        noun=noun,
        reencoded_from=reencoded_from,
    )
