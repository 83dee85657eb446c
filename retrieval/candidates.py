"""The candidate index: which catalog rows a ranking may consider, fast at any catalog size.

Small catalogs offer every row; large ones take ANN candidates from Chroma (never with a `where` filter:
over-fetch, then filter in memory), and a second pass over the filtered catalog when the filters empty them.
The hard filters (years, genres, excluded ids and words) are vectorized here, with the caches that keep them
cheap turn after turn: the masks of excluded words and the latest filtered slices. No scoring policy lives here.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from .catalog import CatalogItem
from .explain import saying_pattern, stem
from .request import RankRequest
from .scoring import top_positions
from .store import StoredCatalog, ef_search_for

Keeps = Literal["above", "below"]
"""The side of a cut a relative bound keeps: "above" for an upper third ("pricey"), "below" for a lower one."""
EXACT_LIMIT = 50_000
"""Up to this many items a full matrix product beats an ANN round trip."""
SECOND_PASS = 2_000
"""When a large catalog's filters empty the ANN candidates, this many of the nearest allowed items are the
candidates instead (exact, within the filter): the same approximation as the ANN list, without scoring or text-
checking every allowed row (at 1M items, ~100k rows and a regex over their texts: seconds)."""
SLICE_BYTES = 512 * 2**20
"""Memory for the filtered slices of a large catalog: the latest constraint sets' allowed rows, with their
embeddings side by side when they fit in a quarter of this, so a second pass is one product, not a gather."""
GATHER_COST = 2
"""Gathering a row out of the matrix (`nearness`, a chunk at a time) costs about this many rows of an in-place
product (at 1M items, 2 cores: 22.6k rows of a 161k-row block in 5 ms against 20 ms for the block's product; 64k
rows in 13 ms against 21 ms): below that share of its year block, a second pass gathers."""
GATHER_CHUNK = 512
"""Rows gathered at a time by `nearness`, into a buffer each thread keeps: one gather of 22k rows (35 MB of new
pages) took 24 ms and of 64k rows 55 ms, in 512-row chunks 5 and 13 ms (bitwise the same products)."""
EXACT_PASS_ROWS = 200_000
"""Above this many rows multiplied, the exact second pass gives way to a deeper ANN query first (`_nearer`): one
product over the 1M matrix took 70-100 ms on 2 cores, so 200k rows is ~20 ms, what the deeper query adds."""
SAID_WORDS = 64
"""Excluded words whose whole-catalog masks are kept (a user's "not violent" is asked again every turn)."""


@dataclass
class Slice:
    """The rows that pass one set of constraints (sorted), and their embeddings side by side when kept."""

    rows: np.ndarray
    embeddings: np.ndarray | None
    span: tuple[int, int] | None = None
    """In a year-ordered catalog, the block of rows in the year range: `rows` all lie within it."""

    @property
    def nbytes(self) -> int:
        return self.rows.nbytes + (self.embeddings.nbytes if self.embeddings is not None else 0)


class CandidateIndex:
    """The rows a request allows, and the nearest of them when a large catalog's ANN list falls short.

    Setup: a catalog (its column arrays give years and genres) and, for large catalogs, `ann_query(vector, n)`
    returning the ids of about the n nearest items. Construct once per catalog; it is safe across threads (turns
    of different users rank in parallel). Search: `retrieve(request, pool)`."""

    def __init__(self, catalog: StoredCatalog, ann_query: Callable[[np.ndarray, int], list[str]] | None = None) -> None:
        self.catalog = catalog
        self.ann_query = ann_query
        columns = catalog.column_arrays()  # read with a snapshot, or derived from the items once
        self.years = columns.years
        self.genre_column = {g: c for c, g in enumerate(columns.genres)}
        self.genres = columns.genre_matrix
        self.year_ordered = bool(np.all(self.years[1:] >= self.years[:-1]))
        """Rows in year order (a large catalog from the store, see `store.YEAR_ORDER_MIN`): a year range is one
        block of the matrix, which a second pass multiplies through in place."""
        self._local = threading.local()  # each thread's gather buffer (`nearness`)
        self._said: dict[str, np.ndarray] = {}
        self._numbers: dict[str, np.ndarray] = {}
        self._cuts: dict[tuple[str, float, bool, Keeps | None], float | None] = {}
        self._said_lock = threading.Lock()
        self._texts = CatalogTexts(catalog.items)
        self._slices: OrderedDict[tuple, Slice] = OrderedDict()
        self._slices_lock = threading.Lock()

    def warm(self) -> None:
        """Build now what the first excluded word over the whole catalog would: at 1M items, ~2 s of one turn."""
        self._texts.joined()

    def exact(self, count: int) -> bool:
        """Whether `count` rows are few enough to score them all (`EXACT_LIMIT`) rather than take ANN candidates."""
        return count <= EXACT_LIMIT

    def said_words(self) -> list[str]:
        """The words whose whole-catalog masks are kept, least recently used first."""
        with self._said_lock:
            return list(self._said)

    def slices(self) -> list[Slice]:
        """The filtered slices kept for the next turns, least recently used first."""
        with self._slices_lock:
            return list(self._slices.values())

    def retrieve(self, request: RankRequest, pool: int) -> np.ndarray:
        """Sorted catalog rows that pass the hard filters: ANN candidates for large catalogs (enough for a `pool`
        of the best), all rows otherwise."""
        candidates = self.candidate_rows(request, pool)
        rows = candidates[self.allowed(candidates, request)]
        if len(candidates) == len(self.catalog):
            return rows
        if len(rows) < request.k:
            # The filters emptied the ANN candidates (a narrow year range, a rare genre): the nearest of the
            # items they allow, rather than an answer with nothing.
            return self._nearer(request, pool, soft=False)
        if request.preferred_genres and (self.genre_counts(rows, request.preferred_genres) > 0).sum() < request.k:
            # Few candidates have the soft genre: add the catalog's nearest, so it is not called exhausted when
            # it is not.
            return np.union1d(rows, self._nearer(request, pool, soft=True))
        return rows

    def candidate_rows(self, request: RankRequest, pool: int) -> np.ndarray:
        """Sorted rows before any filter: every row, or a large catalog's ANN candidates and co-occurring items."""
        total = len(self.catalog)
        if self.exact(total) or self.ann_query is None or request.interest is None:
            return np.arange(total)
        ids = set(self.ann_query(self.query(request, request.interest), self._fetch(pool)))
        ids.update(request.collaborative)
        ids.update(request.people_items)
        rows = [self.catalog.row_of[i] for i in ids if i in self.catalog.row_of]
        return np.array(sorted(rows), dtype=np.int64)

    def _fetch(self, pool: int) -> int:
        """How many ANN candidates a turn asks for: enough for a `pool` of the best after the filters."""
        return min(len(self.catalog), max(pool * 8, 400))

    def _nearer(self, request: RankRequest, pool: int, soft: bool) -> np.ndarray:
        """Sorted allowed rows near the request (with one of its soft genres, if `soft`), for when the turn's ANN
        candidates hold too few: the filters emptied them, or few have the soft genre.

        When the store's search visits more items than a turn fetches (its ef_search: 2,500 at 1M items), the
        nearest of those it visits are asked for first, and the filters read on them: at 1M that query took
        29 ms against 20 ms for the turn's 400, where the exact `second_pass` over the allowed rows took
        55-175 ms a turn (a user who had ruled out two genres leaves ~450k rows; one product over the whole
        matrix is 70-100 ms). Only when those hold too few, and on smaller catalogs, where one product over the
        matrix is cheaper (7 ms at 100k against 23 ms for 2,500 from the index), or the filter's own rows are few
        (a year range's block, a small slice), the exact pass."""
        deeper, fetch = ef_search_for(len(self.catalog)), self._fetch(pool)
        ann, interest = self.ann_query, request.interest
        if (
            ann
            and interest is not None
            and deeper > fetch
            and self._exact_rows(self.filtered(request)) > EXACT_PASS_ROWS
        ):
            row_of = self.catalog.row_of
            ids = ann(self.query(request, interest), deeper)
            nearest = np.array([row_of[i] for i in ids if i in row_of], dtype=np.int64)  # nearest first
            order = np.argsort(nearest, kind="stable")
            rows = nearest[order]  # sorted, as the filters take them
            keep = self.allowed(rows, replace(request, exclude_words=[]))
            if soft:
                keep &= self.genre_counts(rows, request.preferred_genres) > 0
            kept = nearest[np.sort(order[keep])][:fetch]  # the nearest that pass, as many as a turn fetches
            if request.exclude_words and len(kept):  # the texts of those only
                kept = kept[~self.saying_any(request.exclude_words, kept)]
            if len(kept) >= request.k:
                return np.sort(kept)
        return self.second_pass(request, soft)

    def on_rows(self, values: Mapping[str, float], rows: np.ndarray) -> np.ndarray:
        """A dict keyed by item id → an array aligned with `rows` (sorted catalog rows; absent = 0).
        Costs O(len(values) · log len(rows)), never O(catalog): a turn at 1M items touches only its candidates."""
        out = np.zeros(len(rows), dtype=np.float32)
        row_of = self.catalog.row_of
        known = [(row_of[i], v) for i, v in values.items() if i in row_of]
        if not known or not len(rows):
            return out
        item_rows = np.array([r for r, _ in known], dtype=np.int64)
        at = np.minimum(np.searchsorted(rows, item_rows), len(rows) - 1)
        hit = rows[at] == item_rows
        out[at[hit]] = np.array([v for _, v in known], dtype=np.float32)[hit]
        return out

    def query(self, request: RankRequest, interest: np.ndarray) -> np.ndarray:
        """The ANN query: the interest pulled toward the anchors, so their neighbours are among the candidates."""
        anchors = [self.catalog.row_of[i] for i in request.anchors if i in self.catalog.row_of]
        query = interest + self.catalog.embeddings[anchors].sum(axis=0) if anchors else interest
        return query / max(float(np.linalg.norm(query)), 1e-9)

    def genre_counts(self, rows: np.ndarray, genres: list[str]) -> np.ndarray:
        """How many of `genres` each row has (unknown genres count for none)."""
        columns = [self.genre_column[g] for g in genres if g in self.genre_column]
        if not columns:
            return np.zeros(len(rows), dtype=np.int32)
        everything = len(rows) == len(self.catalog)  # rows are sorted and unique: all of them means no gather
        present = self.genres[:, columns] if everything else self.genres[np.ix_(rows, np.asarray(columns))]
        return present.sum(axis=1, dtype=np.int32)

    def allowed(self, rows: np.ndarray, request: RankRequest) -> np.ndarray:
        """Hard filters, vectorized: years, insisted genres, excluded genres, numeric bounds, excluded ids. Soft genres
        are no filter."""
        everything = len(rows) == len(self.catalog)
        mask = np.ones(len(rows), dtype=bool)
        years = self.years if everything else self.years[rows]
        if request.year_min is not None:
            mask &= years >= request.year_min
        if request.year_max is not None:
            mask &= years <= request.year_max
        if request.include_genres:
            mask &= self.genre_counts(rows, request.include_genres) > 0
        if request.exclude_genres:
            mask &= self.genre_counts(rows, request.exclude_genres) == 0
        for bound in request.bounds:
            values = self.numbers(bound.column)[rows]
            with np.errstate(invalid="ignore"):  # an item without the value (NaN) fails every bound
                mask &= ~np.isnan(values)
                mask &= values >= (-np.inf if bound.low is None else bound.low)
                mask &= values <= (np.inf if bound.high is None else bound.high)
        if request.exclude:
            mask &= self.on_rows(dict.fromkeys(request.exclude, 1.0), rows) == 0
        if request.exclude_words:
            mask &= ~self.says(request.exclude_words, rows)
        return mask

    def says(self, words: list[str], rows: np.ndarray) -> np.ndarray:
        """Which of sorted `rows` have a description or tags that say any of `words`: in a catalog scored whole
        (`exact`), from the masks kept per word (`saying`), so a turn costs masks, not ten thousand texts; over a
        large catalog's candidates, each of their texts read once, for every word."""
        total = len(self.catalog)
        if not (len(rows) == total or self.exact(total)):
            return self.saying_any(words, rows)
        found = np.logical_or.reduce([self.saying(word) for word in words])
        return found if len(rows) == total else found[rows]

    def numbers(self, column: str) -> np.ndarray:
        """A numeric column's values by row (float64, NaN where an item has none), read from the items once."""
        found = self._numbers.get(column)  # a dict read is atomic; two threads may both build it once
        if found is None:
            found = np.array([_as_float(item.meta.get(column)) for item in self.catalog.items], dtype=np.float64)
            self._numbers[column] = found
        return found

    def cut(self, column: str, fraction: float, spread: bool, keeps: Keeps | None = None) -> float | None:
        """`cut_of` a numeric column, kept per column: a quantile of a 1M-row column takes ~10 ms, and a relative
        ask ("cheap") is bounded at the same one every turn."""
        key = (column, fraction, spread, keeps)
        if key not in self._cuts:
            self._cuts[key] = cut_of(self.numbers(column), fraction, spread, keeps)
        return self._cuts[key]

    def saying(self, word: str) -> np.ndarray:
        """Which rows of the whole catalog have a description or tags that say `word` (a long word's other endings
        too: violent, violence). The mask is kept per word, for the `SAID_WORDS` latest words, so a turn costs a
        mask, not a text scan; only `says` asks, and only of a catalog small enough to score whole: over a large
        one's ANN candidates only those few hundred texts are read, and nothing catalog-sized is kept."""
        with self._said_lock:  # turns of different users rank in parallel threads
            found = self._said.pop(word, None)
        if found is None:  # one scan of the joined texts, or (for a word the scan cannot bound) a pattern per text
            found = (
                self._texts.saying(word)
                if CatalogTexts.scans(word)
                else self.saying_any([word], np.arange(len(self.catalog)))
            )
        with self._said_lock:
            self._said[word] = found  # most recently used last
            while len(self._said) > SAID_WORDS:
                self._said.pop(next(iter(self._said)))
        return found

    def texts(self, rows: np.ndarray) -> list[str]:
        """The lower-cased texts (description and tags) of `rows`, as `says` reads them."""
        return self._texts.texts(rows)

    def saying_any(self, words: list[str], rows: np.ndarray) -> np.ndarray:
        """Which of `rows` say any of `words`, each read as `saying` reads it: one pattern and one text per row,
        not one per word ("not violent" is ten words: violent, kill, murder, …)."""
        pattern = saying_pattern(words)
        found = (bool(pattern.search(text)) for text in self._texts.texts(rows))
        return np.fromiter(found, dtype=bool, count=len(rows))

    def _exact_rows(self, kept: Slice) -> int:
        """About how many rows the exact pass over `kept` multiplies (`_slice_nearness`)."""
        if kept.embeddings is not None:
            return len(kept.rows)
        if kept.span is not None:
            return kept.span[1] - kept.span[0]
        return min(len(self.catalog), len(kept.rows) * GATHER_COST)

    def second_pass(self, request: RankRequest, soft: bool = False) -> np.ndarray:
        """The `SECOND_PASS` allowed rows nearest to the request (with a soft genre, if `soft`), exact within the
        filters, sorted; excluded words are checked on the nearest rows' texts only, a chunk at a time."""
        kept = self.filtered(request)
        mask = self.on_rows(dict.fromkeys(request.exclude, 1.0), kept.rows) == 0
        if soft:
            mask &= self.genre_counts(kept.rows, request.preferred_genres) > 0
        candidates = kept.rows[mask]
        if request.interest is None or not len(candidates):
            return candidates[:SECOND_PASS]
        nearness = self._slice_nearness(kept, mask, candidates, self.query(request, request.interest))
        found = candidates[top_positions(nearness, 4 * SECOND_PASS)]  # nearest first
        if request.exclude_words:  # checked a chunk at a time, nearest first, until enough pass
            keep, checked = np.ones(len(found), dtype=bool), 0
            while checked < len(found) and keep[:checked].sum() < SECOND_PASS:
                chunk = slice(checked, checked + SECOND_PASS)
                keep[chunk] &= ~self.saying_any(request.exclude_words, found[chunk])
                checked += SECOND_PASS
            found = found[:checked][keep[:checked]]
        return np.sort(found[:SECOND_PASS])

    def _slice_nearness(self, kept: Slice, mask: np.ndarray, candidates: np.ndarray, query: np.ndarray) -> np.ndarray:
        """`embeddings[candidates] @ query` (the candidates: `kept.rows[mask]`), the cheapest way the slice allows."""
        if kept.embeddings is not None:  # kept side by side: one product over the slice
            return (kept.embeddings @ query)[mask]
        if kept.span is not None and len(candidates) * GATHER_COST > kept.span[1] - kept.span[0]:
            start, end = kept.span  # one product over the year range's block, in place
            return (self.catalog.embeddings[start:end] @ query)[candidates - start]
        if len(candidates) * GATHER_COST > len(self.catalog):  # one product over the matrix beats the gather
            return (self.catalog.embeddings @ query)[candidates]
        return self.nearness(candidates, query)

    def nearness(self, rows: np.ndarray, query: np.ndarray) -> np.ndarray:
        """`embeddings[rows] @ query`, gathered `GATHER_CHUNK` rows at a time into this thread's buffer: a gather
        of tens of thousands of rows into a new array spends most of its time faulting in fresh pages."""
        matrix = self.catalog.embeddings
        buffer = getattr(self._local, "gather", None)
        if buffer is None or buffer.shape[1] != matrix.shape[1] or buffer.dtype != matrix.dtype:
            buffer = self._local.gather = np.empty((GATHER_CHUNK, matrix.shape[1]), dtype=matrix.dtype)
        out = np.empty(len(rows), dtype=np.result_type(matrix.dtype, query.dtype))
        for start in range(0, len(rows), GATHER_CHUNK):
            part = rows[start : start + GATHER_CHUNK]
            block = buffer[: len(part)]
            np.take(matrix, part, axis=0, out=block, mode="clip")  # rows are valid; "raise" would copy via a buffer
            np.dot(block, query, out=out[start : start + len(part)])
        return out

    def filtered(self, request: RankRequest) -> Slice:
        """The rows that pass the request's years and genres (not its excluded ids or words), with their
        embeddings side by side when small enough; the latest are kept, up to `SLICE_BYTES`, keyed by those."""
        key = (request.year_min, request.year_max, tuple(sorted(request.include_genres)),
               tuple(sorted(request.exclude_genres)), request.bounds)  # fmt: skip
        with self._slices_lock:
            found = self._slices.pop(key, None)
            if found is not None:
                self._slices[key] = found  # most recently used last
                return found
        span = self.year_span(request)
        within = np.arange(*span) if span is not None else np.arange(len(self.catalog))
        rows = within[self.allowed(within, replace(request, exclude=set(), exclude_words=[]))]
        if span is not None:  # the block is there already: nothing to copy
            found = Slice(rows, None, span)
        else:
            fits = len(rows) * self.catalog.embeddings.shape[1] * 4 <= SLICE_BYTES // 4
            found = Slice(rows, np.ascontiguousarray(self.catalog.embeddings[rows]) if fits else None)
        with self._slices_lock:
            self._slices[key] = found
            while sum(kept.nbytes for kept in self._slices.values()) > SLICE_BYTES:
                self._slices.popitem(last=False)
        return found

    def year_span(self, request: RankRequest) -> tuple[int, int] | None:
        """(start, end) of the rows in the request's year range when the catalog is in year order and the request
        has a range; unknown years (0) sort first, so a range with only an end keeps them, as `allowed` does."""
        if not self.year_ordered or (request.year_min is None and request.year_max is None):
            return None
        years = self.years  # bounds in its dtype: a Python int would have numpy copy all 1M years to compare
        low, high = (None if y is None else years.dtype.type(min(max(y, -(2**31)), 2**31 - 1)) for y in (
            request.year_min, request.year_max))  # fmt: skip
        start = 0 if low is None else int(years.searchsorted(low, "left"))
        end = len(years) if high is None else int(years.searchsorted(high, "right"))
        return start, max(start, end)


class CatalogTexts:
    """Every item's `text_of`, lower-cased and joined, read once (at start by `warm`, else on first use), so which
    items say a word is one scan of the joined text for its literal stem, at C speed, rather than a pattern searched
    in each text: a new word over 10k demo-like items took ~50 ms one text at a time, ~1.5 ms here, and 14 ms at
    50k (`EXACT_LIMIT`), where the texts took 250 ms. A few rows' texts (ANN candidates) are slices of it."""

    def __init__(self, items: list[CatalogItem]) -> None:
        self._items = items
        self._joined: tuple[str, np.ndarray, np.ndarray] | None = None
        self._lock = threading.Lock()

    def joined(self) -> tuple[str, np.ndarray, np.ndarray]:
        """The texts joined by newlines, and where each row's text starts and ends in it."""
        with self._lock:
            if self._joined is None:
                texts = [text_of(item).lower() for item in self._items]
                ends = np.cumsum([len(text) + 1 for text in texts], dtype=np.int64) - 1
                self._joined = ("\n".join(texts), ends - [len(text) for text in texts], ends)
            return self._joined

    def texts(self, rows: np.ndarray) -> list[str]:
        """The lower-cased `text_of` of each row: slices of the joined text, ~4x cheaper than building them again."""
        joined, starts, ends = self.joined()
        return [joined[start:end] for start, end in zip(starts[rows].tolist(), ends[rows].tolist(), strict=True)]

    @staticmethod
    def scans(word: str) -> bool:
        """Whether `saying` can find `word`: one that starts and ends with a letter or digit (else the boundaries
        `\\b` would mean something else)."""
        return word[:1].isalnum() and word[-1:].isalnum()

    def saying(self, word: str) -> np.ndarray:
        """Which rows say `word` (one that `scans`) as `\\b{stem(word)}\\b`, ignoring case, would find it: the
        pattern's literal stem is searched without the leading `\\b` (which would make the regex engine try every
        position), and a hit that starts inside a longer word is dropped by looking at the character before it."""
        word = word.lower()
        found = np.zeros(len(self._items), dtype=bool)
        joined, starts, _ = self.joined()
        hits = [
            match.start()
            for match in re.finditer(rf"{stem(word)}(?!\w)", joined)
            if match.start() == 0 or not _is_word_character(joined[match.start() - 1])
        ]
        if hits:
            found[np.searchsorted(starts, hits, side="right") - 1] = True
        return found


def _is_word_character(character: str) -> bool:
    """What the regex `\\w` matches (its definition for str patterns)."""
    return character.isalnum() or character == "_"


def cut_of(values: np.ndarray, fraction: float, spread: bool, keeps: Keeps | None = None) -> float | None:
    """The value `fraction` of the way up the known (not NaN) values: along their spread from the lowest to the
    highest, or their quantile; None when none is known. `keeps`: the side a bound at it keeps ("above" for an
    upper third, "below" for a lower third), which is moved past a tie that would keep more than half the values:
    of ten restaurants priced $ $ $ $ $$ $$ $$ $$$ $$$ $$$$, the upper third's quantile is $$, and "somewhere
    fancier" kept six, the taqueria and the barbecue shack first."""
    known = values[~np.isnan(values)]
    if not len(known):
        return None
    if spread:
        return float(known.min() + fraction * (known.max() - known.min()))
    at = float(np.quantile(known, fraction))
    if keeps == "above" and np.mean(known >= at) > 0.5 and (known > at).any():
        at = float(known[known > at].min())
    elif keeps == "below" and np.mean(known <= at) > 0.5 and (known < at).any():
        at = float(known[known < at].max())
    return at


def _as_float(value: object) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else np.nan


def text_of(item: CatalogItem) -> str:
    """What excluded words are looked for in: the description and the tags."""
    tags = item.meta.get("tags") or []
    return " ".join([item.description, *(tags if isinstance(tags, list) else [str(tags)])])
