"""Chroma persistence for catalogs: upsert by content hash, load into memory, ANN queries.

We always pass embeddings ourselves: Chroma's default embedding function downloads a model.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .catalog import CatalogItem
from .schema import SAMPLE, CatalogSchema, ColumnMap, infer_schema

log = logging.getLogger("recochat.store")

HNSW: dict[str, Any] = {"space": "cosine", "max_neighbors": 32, "ef_construction": 100, "ef_search": 100}
"""The HNSW settings a new collection is created with, chosen from a measured curve (`recochat bench scale-hnsw`,
benchmarks/results/scale_hnsw.md, 2026-12-05, 2 shared cores): on the scale bench's 100k catalog (synthetic items
fitted to ReDial's neighbour structure), the 400-id ANN query the app sends (recorded from real turns) holds 0.971
of the exact top 50 (95% interval from 0.964) at a p50 of 5.2 ms, against 0.935 at 4.5 ms with Chroma's defaults
(max_neighbors 16, ef_construction 100); the lowest-latency setting whose recall@50 stays ≥ 0.95. A larger
ef_search or ef_construction 200 buys more recall for more time per query or per build; this one took 167 s to
build 100k vectors there, the defaults 117 s.

ef_search is Chroma's 100 up to 100k items: hnswlib searches with max(ef_search, k), so for the app's 400 ids 100
and 400 are the same search (measured both). Larger collections need more (`EF_SEARCH_BY_SIZE`). Only ef_search can
change on an existing collection (`_check_hnsw` sets it when the store first opens one); a collection keeps the
max_neighbors and ef_construction it was created with."""

EF_SEARCH_BY_SIZE: tuple[tuple[int, int], tuple[int, int]] = ((100_000, 100), (1_000_000, 2_500))
"""ef_search by catalog size, between two measured points (2026-12-05, 2 cores, the app's recorded 400-id queries,
max_neighbors 32 and ef_construction 100): at 100k items 100 holds 0.971 of the exact top 50; at 1M it holds
0.776, 800 0.844, 1,500 0.893 and 2,500 0.921 (95% low 0.904) at a query p50 of 21 ms against 7 ms
(benchmarks/README.md). Sizes between take the geometric interpolation, which was not measured."""


def ef_search_for(count: int) -> int:
    """The ef_search a collection of `count` items is searched with (`EF_SEARCH_BY_SIZE`)."""
    (small, small_ef), (large, large_ef) = EF_SEARCH_BY_SIZE
    if count <= small:
        return small_ef
    if count >= large:
        return large_ef
    share = math.log(count / small) / math.log(large / small)
    return int(round(small_ef * (large_ef / small_ef) ** share, -1))


_HASH_KEY = "_hash"
_LISTS_KEY = "_lists"
_INGESTED_AT = "recochat_ingested_at"
_NOUN = "recochat_noun"
"""What one item of the collection is called in replies ("book", "recipe"), set at ingest."""
_SCHEMA = "recochat_schema"
"""The catalog schema inferred at ingest (`schema.CatalogSchema`, as JSON)."""
_COLUMNS = "recochat_columns"
"""The user's corrections to it (`--facet`, `--numeric`, …, a `schema.ColumnMap` as JSON): a re-ingest keeps them."""
_VERSION = "recochat_catalog_version"
"""A counter bumped by every ingest once all its writes are in: with the ingest time it makes the
catalog version that processes sharing one Chroma server poll to know when to reload."""
_ENCODER = "recochat_encoder"
"""Which encoder made the collection's vectors (`TextEncoder.name`): another one's vectors are not comparable."""
_PAGE = 5000
YEAR_ORDER_MIN = 50_000
"""A catalog read from the store with more items than this is held in year order (unknown years first, then as
stored): a year range is then one contiguous block of the matrix, which a large catalog's filtered second pass
multiplies through in place instead of gathering its rows (at 1M items, ~40 ms per 100k rows). Smaller catalogs
keep the store's order, which ties in their rankings and title lookups fall back on."""


def _flatten(item: CatalogItem) -> dict[str, Any]:
    """Chroma metadata holds scalars only: lists are joined with '|' and named in `_lists`."""
    meta: dict[str, Any] = {"title": item.title, _HASH_KEY: item.content_hash()}
    lists = []
    for key, value in item.meta.items():
        if isinstance(value, list):
            meta[key] = "|".join(value)
            lists.append(key)
        else:
            meta[key] = value
    meta[_LISTS_KEY] = "|".join(lists)
    return meta


def _unflatten(item_id: str, document: str, meta: dict[str, Any]) -> CatalogItem:
    meta = dict(meta)
    title = str(meta.pop("title"))
    meta.pop(_HASH_KEY, None)
    lists = [k for k in str(meta.pop(_LISTS_KEY, "")).split("|") if k]
    for key in lists:
        meta[key] = [v for v in str(meta.get(key, "")).split("|") if v]
    return CatalogItem(id=item_id, title=title, text=document, meta=meta)


def _nearest(collection: Any, vector: np.ndarray, n: int) -> list[str]:
    result = collection.query(query_embeddings=[vector.tolist()], n_results=n, include=[])
    return list(result["ids"][0])


def _check_hnsw(name: str, collection: Any) -> int:
    """Give a collection the ef_search its size calls for (`ef_search_for`; made before `HNSW`, by another client,
    or grown since), which Chroma reads when it next loads the index (in this process, if no query has loaded it
    yet); say once how to rebuild one whose max_neighbors or ef_construction, fixed at creation, are below
    `HNSW`'s. Returns the item count it read (`ChromaStore.head` uses it: 1.7 s at 1M items)."""
    hnsw = dict((getattr(collection, "configuration", None) or {}).get("hnsw") or {})
    count = collection.count()
    wanted = ef_search_for(count)
    if hnsw.get("ef_search") != wanted:
        try:
            collection.modify(configuration={"hnsw": {"ef_search": wanted}})
            log.info("collection %s: HNSW ef_search %s -> %s", name, hnsw.get("ef_search"), wanted)
        except Exception as error:  # noqa: BLE001  # a server that refuses: the old setting still answers
            log.warning("collection %s: could not set HNSW ef_search to %s: %s", name, wanted, error)
    built = {key: int(hnsw.get(key) or 0) for key in ("max_neighbors", "ef_construction")}
    from .candidates import EXACT_LIMIT  # here: candidates imports this module

    if count > EXACT_LIMIT and any(built[key] < HNSW[key] for key in built):  # smaller ones never search the index
        log.warning(
            "collection %s was built with HNSW max_neighbors %s, ef_construction %s; new collections get %s, %s, "
            "which hold more of the true nearest items when a catalog has over %s items and its candidates come "
            "from the index (benchmarks/results/scale_hnsw.md). To rebuild it, ingest the catalog again into a new "
            "collection: recochat ingest FILE --collection NEW-NAME",
            name,
            built["max_neighbors"],
            built["ef_construction"],
            HNSW["max_neighbors"],
            HNSW["ef_construction"],
            f"{EXACT_LIMIT:,}",
        )
    return count


def _schema_of(meta: dict[str, Any]) -> CatalogSchema | None:
    text = meta.get(_SCHEMA)
    return CatalogSchema.from_json(str(text)) if text else None


def _version_of(meta: dict[str, Any]) -> str:
    """'COUNTER@INGESTED_AT' from a collection's metadata ('0@0.0' for one stored before versions)."""
    return f"{int(meta.get(_VERSION, 0))}@{float(meta.get(_INGESTED_AT, 0.0))!r}"


@dataclass(frozen=True)
class CatalogHead:
    """What a collection says about itself without reading its items: enough to tell whether a
    copy made earlier (a snapshot) is still the catalog."""

    version: str
    count: int
    noun: str | None
    schema: CatalogSchema | None = None


@dataclass
class StoredCatalog:
    """A whole collection in memory: items and their normalized embedding matrix."""

    name: str
    items: list[CatalogItem]
    embeddings: np.ndarray
    noun: str | None = None
    """What one item is called in replies; None when the collection was stored without one."""
    version: str | None = None
    """The catalog version these items were read at (`ChromaStore.version`); None: not from a store."""
    schema: CatalogSchema | None = None
    """What each column is, as stored at ingest; None: stored before schemas were (`catalog_schema` infers it)."""

    columns: CatalogColumns | None = field(default=None, repr=False, compare=False)
    """Per-row arrays the recommender and the title index start from; derived from the items on first use
    (`catalog_columns`), or read back with a snapshot."""

    def __post_init__(self) -> None:
        self.row_of = dict(zip([item.id for item in self.items], range(len(self.items)), strict=True))

    def __len__(self) -> int:
        return len(self.items)

    def catalog_schema(self) -> CatalogSchema:
        """The stored schema, or the one the items' values imply (a collection stored before schemas were, or a
        catalog built in memory)."""
        if self.schema is None:
            rows = [{"id": item.id, "title": item.title, **item.meta} for item in self.items[:SAMPLE]]
            self.schema = infer_schema(rows) if rows else CatalogSchema(id="id", title="title", text=())
        return self.schema

    def column_arrays(self) -> CatalogColumns:
        if self.columns is None:
            self.columns = catalog_columns(self.items)
        return self.columns


@dataclass
class CatalogColumns:
    """What start-up derives from every item, as arrays aligned with the catalog's rows, so a 1M-item start
    reads them with the snapshot instead of walking a million items again (~2 s)."""

    years: np.ndarray
    """int32, 0 where unknown."""
    popularity: np.ndarray
    """float64: meta `popularity` (0 where absent), what the title index orders equal titles by."""
    prior_popularity: np.ndarray
    """float32: meta `popularity`, else `nbmentions`, else 0: the recommender's popularity prior."""
    genres: list[str]
    """The sorted genre vocabulary."""
    genre_matrix: np.ndarray
    """bool (rows × genres)."""
    fields: list[str]
    """Every meta key of the catalog, sorted."""

    def check(self, rows: int) -> None:
        """Raise ValueError unless every array has one entry per row (a snapshot's columns are checked so)."""
        sizes = {len(self.years), len(self.popularity), len(self.prior_popularity), len(self.genre_matrix)}
        if sizes != {rows} or self.genre_matrix.shape[1:] != (len(self.genres),):
            raise ValueError(f"catalog columns of sizes {sorted(sizes)} for {rows} rows")


def catalog_columns(items: Sequence[CatalogItem]) -> CatalogColumns:
    metas = [item.meta for item in items]
    years = np.array([meta.get("year") or 0 for meta in metas], dtype=np.int32)
    popularity = np.array([float(meta.get("popularity", 0) or 0) for meta in metas], dtype=np.float64)
    prior = np.array(
        [float(meta.get("popularity", meta.get("nbmentions", 0)) or 0) for meta in metas], dtype=np.float32
    )
    lists = [meta.get("genres") or [] for meta in metas]
    vocabulary = sorted({g for genres in lists for g in genres})
    column = {g: c for c, g in enumerate(vocabulary)}
    matrix = np.zeros((len(metas), len(vocabulary)), dtype=bool)
    counts = np.fromiter((len(genres) for genres in lists), dtype=np.int64, count=len(lists))
    if counts.sum():
        flat = [column[g] for genres in lists for g in genres]
        matrix[np.repeat(np.arange(len(lists)), counts), flat] = True
    return CatalogColumns(years, popularity, prior, vocabulary, matrix, sorted({key for meta in metas for key in meta}))


def year_ordered(items: list[CatalogItem], embeddings: np.ndarray) -> tuple[list[CatalogItem], np.ndarray]:
    """Items and matrix in year order (unknown years first, then as given) when there are more than
    `YEAR_ORDER_MIN` items; fewer, as given."""
    if len(items) <= YEAR_ORDER_MIN:
        return items, embeddings
    years = np.array([item.meta.get("year") or 0 for item in items], dtype=np.int64)
    order = np.argsort(years, kind="stable")
    if np.array_equal(order, np.arange(len(items))):
        return items, embeddings
    return [items[row] for row in order.tolist()], embeddings[order]


class ChromaStore:
    """Catalog collections in Chroma.

    Setup: `pip install chromadb` (a server: `chroma run --path DIR`).
    Construct: exactly one of `ChromaStore.persistent(path)`, `ChromaStore.http(host, port)`,
    or `ChromaStore(client)` with a client you built.
    Search: `load(name)` for the in-memory matrix, `query(name, vector, n)` for ANN candidates.
    """

    def __init__(self, client: Any) -> None:
        self.client = client
        self._handles: dict[str, Any] = {}
        """Collections by name for `query`: fetching the handle costs ~1 ms of a turn's ~20."""
        self._checked: set[str] = set()
        """Collections whose HNSW settings this store has checked (`_check_hnsw`), once each."""
        self._start_counts: dict[str, int] = {}
        """The count each check read, for the first `head`: a start would otherwise count twice, 1.7 s each at 1M
        items. A count a few seconds old is safe there: one that no longer matches only means a full read."""

    @classmethod
    def persistent(cls, path: Path) -> ChromaStore:
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        path.mkdir(parents=True, exist_ok=True)
        return cls(chromadb.PersistentClient(path=str(path), settings=ChromaSettings(anonymized_telemetry=False)))

    @classmethod
    def http(cls, host: str, port: int) -> ChromaStore:
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        return cls(chromadb.HttpClient(host=host, port=port, settings=ChromaSettings(anonymized_telemetry=False)))

    def _collection(self, name: str, create: bool = False) -> Any:
        if create:  # an existing collection keeps its own configuration: Chroma ignores this one then
            collection = self.client.get_or_create_collection(
                name, embedding_function=None, configuration={"hnsw": dict(HNSW)}
            )
        else:
            collection = self.client.get_collection(name, embedding_function=None)
        if name not in self._checked:
            self._checked.add(name)
            self._start_counts[name] = _check_hnsw(name, collection)
        return collection

    def names(self) -> list[str]:
        return sorted(c if isinstance(c, str) else c.name for c in self.client.list_collections())

    def exists(self, name: str) -> bool:
        return name in self.names()

    def most_recent(self) -> str | None:
        """The collection ingested last, read from the store so every client agrees."""
        stamped = []
        for name in self.names():
            meta = self._collection(name).metadata or {}
            stamped.append((float(meta.get(_INGESTED_AT, 0.0)), name))
        return max(stamped)[1] if stamped else None

    def hashes(self, name: str) -> dict[str, str]:
        if not self.exists(name):
            return {}
        collection = self._collection(name)
        out: dict[str, str] = {}
        for page in self._pages(collection, include=["metadatas"]):
            for item_id, meta in zip(page["ids"], page["metadatas"], strict=True):
                out[item_id] = str((meta or {}).get(_HASH_KEY, ""))
        return out

    def upsert(
        self, name: str, items: Sequence[CatalogItem], embeddings: np.ndarray, new: Collection[str] = ()
    ) -> None:
        """Write the items whole: Chroma's upsert merges metadata into a stored item's, so a field the new version
        lacks (a column taken out of the file, a price removed) would have stayed; such keys are written as None,
        which Chroma deletes. `new`: ids the caller knows are not stored (ingest's hash check), whose metadata is
        not read back (a first ingest reads nothing)."""
        collection = self._collection(name, create=True)
        batch = min(self.client.get_max_batch_size(), _PAGE)
        for start in range(0, len(items), batch):
            chunk = items[start : start + batch]
            ids = [i.id for i in chunk]
            metadatas: list[dict[str, Any]] = [_flatten(i) for i in chunk]
            before: dict[str, Any] = {}
            if stored_ids := [i for i in ids if i not in new]:
                found = collection.get(ids=stored_ids, include=["metadatas"])
                before = dict(zip(found["ids"], found["metadatas"] or [], strict=True))
            for item_id, meta in zip(ids, metadatas, strict=True):
                meta.update(dict.fromkeys(set(before.get(item_id) or {}) - set(meta)))
            collection.upsert(
                ids=ids,
                embeddings=embeddings[start : start + batch],
                metadatas=metadatas,
                documents=[i.text for i in chunk],
            )

    def mark_ingested(
        self,
        name: str,
        noun: str | None = None,
        schema: CatalogSchema | None = None,
        columns: ColumnMap | None = None,
        encoder: str | None = None,
    ) -> None:
        """Stamp the time (for `most_recent`), bump the catalog version (for readers in other
        processes) and, when given, set the noun, the schema, the user's corrections to it and the encoder that made
        the vectors; Chroma's modify replaces the whole metadata, so what is already there is kept. Called after an
        ingest's last write, so a reader that sees the new version finds every item of that ingest."""
        collection = self._collection(name, create=True)
        meta = dict(collection.metadata or {})
        meta[_INGESTED_AT] = time.time()
        meta[_VERSION] = int(meta.get(_VERSION, 0)) + 1
        if noun:
            meta[_NOUN] = noun
        if schema is not None:
            meta[_SCHEMA] = schema.to_json()
        if columns is not None:
            meta[_COLUMNS] = columns.to_json()
        if encoder:
            meta[_ENCODER] = encoder
        collection.modify(metadata=meta)

    def encoder(self, name: str) -> str | None:
        """The encoder that made this collection's vectors (`mark_ingested`); None for one made before it was
        recorded, or with no such collection."""
        if not self.exists(name):
            return None
        value = (self._collection(name).metadata or {}).get(_ENCODER)
        return str(value) if value else None

    def version(self, name: str) -> str | None:
        """The catalog version, changed by every ingest; None when there is no such collection.

        One metadata read (under a millisecond on a loopback server), cheap enough to poll every
        second or so. The ingest time is part of it, so two ingests that raced to the same
        counter still give two versions."""
        from chromadb.errors import NotFoundError

        try:
            meta = self._collection(name).metadata or {}
        except (NotFoundError, ValueError):
            return None
        return _version_of(meta)

    def head(self, name: str) -> CatalogHead:
        """Version, item count and noun: one metadata read and one count, never the items, so a
        start can check a snapshot against the collection for seconds, not minutes (the count is
        most of it: 3 s at 1M items)."""
        collection = self._collection(name)
        meta = collection.metadata or {}
        noun = meta.get(_NOUN)
        return CatalogHead(
            version=_version_of(meta),
            count=self._start_counts.pop(name, 0) or collection.count(),
            noun=str(noun) if noun else None,
            schema=_schema_of(meta),
        )

    def noun(self, name: str) -> str | None:
        """The noun stored at ingest, or None (not set, or no such collection)."""
        if not self.exists(name):
            return None
        value = (self._collection(name).metadata or {}).get(_NOUN)
        return str(value) if value else None

    def columns(self, name: str) -> ColumnMap:
        """The corrections stored with the collection at its last ingest (none: no such collection)."""
        if not self.exists(name):
            return ColumnMap()
        return ColumnMap.from_json((self._collection(name).metadata or {}).get(_COLUMNS))

    def delete_items(self, name: str, ids: Sequence[str]) -> None:
        if ids:
            self._collection(name).delete(ids=list(ids))

    def drop(self, name: str) -> None:
        self._handles.pop(name, None)
        self.client.delete_collection(name)

    def count(self, name: str) -> int:
        return self._collection(name).count()

    def load(self, name: str) -> StoredCatalog:
        """The whole collection in memory, with the version read before the items: an ingest that
        lands while they are read leaves an older version here, so the next check reloads. A large
        one comes in year order (`YEAR_ORDER_MIN`)."""
        collection = self._collection(name)
        version = _version_of(collection.metadata or {})
        items: list[CatalogItem] = []
        vectors: list[np.ndarray] = []
        for page in self._pages(collection, include=["embeddings", "metadatas", "documents"]):
            for item_id, doc, meta in zip(page["ids"], page["documents"], page["metadatas"], strict=True):
                items.append(_unflatten(item_id, doc or "", meta or {}))
            vectors.append(np.asarray(page["embeddings"], dtype=np.float32))
        matrix = np.concatenate(vectors) if vectors else np.zeros((0, 0), dtype=np.float32)
        items, matrix = year_ordered(items, matrix)
        meta = collection.metadata or {}
        noun = meta.get(_NOUN)
        return StoredCatalog(
            name=name,
            items=items,
            embeddings=matrix,
            noun=str(noun) if noun else None,
            version=version,
            schema=_schema_of(meta),
        )

    def query(self, name: str, vector: np.ndarray, n: int) -> list[str]:
        """Nearest ids by cosine; never with a `where` filter (10-100× slower at scale). The collection's
        handle is kept; one that fails (dropped and created again elsewhere) is fetched again once."""
        cached = self._handles.get(name)
        if cached is not None:
            try:
                return _nearest(cached, vector, n)
            except Exception:  # noqa: BLE001  # a stale handle: fetched again below, and that one may raise
                self._handles.pop(name, None)
        collection = self._handles[name] = self._collection(name)
        return _nearest(collection, vector, n)

    @staticmethod
    def _pages(collection: Any, include: list[str]) -> Iterator[dict[str, Any]]:
        offset = 0
        while True:
            page = collection.get(include=include, limit=_PAGE, offset=offset)
            if not page["ids"]:
                return
            yield page
            offset += len(page["ids"])
