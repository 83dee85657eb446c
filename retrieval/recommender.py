"""Retrieve candidates, score them, filter, diversify, and say why.

Small catalogs are scored exactly over the in-memory matrix; large ones take ANN candidates
from Chroma (never with a `where` filter: over-fetch, then filter in memory).
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace

import numpy as np

from .catalog import CatalogItem
from .explain import anchor_reason, distinct, request_reason, specific_detail
from .neighbours import NeighbourIndex
from .people import PeopleIndex, people_of
from .ranker import FEATURES, RankerModel, first_stage_rank
from .scoring import ScoringWeights, base_scores, mmr, popularity_prior, top_positions
from .store import StoredCatalog
from .titles import normalize

ASPECT_FIT = 0.45
"""Cosine above which an item is said to fit a phrase it does not contain; below it (0.25 was
tried) the read-through found "fits 'animated'" on Gravity and "fits 'dark crime drama'" on Booksmart."""
FIT_FLOOR = 0.3
"""Below this cosine to the request, a pick within a year range said in passing gives way to a closer one outside it
(the read-through's recent-titles-only replies: Nomadland, Barbie at 0.17–0.28 for a crime-thriller profile)."""
SAID_WORDS = 64
"""Excluded words whose whole-catalog masks are kept (a user's "not violent" is asked again every turn)."""
CLOSE = 0.45
"""Cosine above which an item may be called "close to" a liked one even when the catalog shows nothing they share."""
EXACT_LIMIT = 50_000
"""Up to this many items a full matrix product beats an ANN round trip."""
SECOND_PASS = 2_000
"""When a large catalog's filters empty the ANN candidates, this many of the nearest allowed items are the
candidates instead (exact, within the filter): the same approximation as the ANN list, without scoring or text-
checking every allowed row (at 1M items, ~100k rows and a regex over their texts: seconds)."""
SLICE_BYTES = 512 * 2**20
"""Memory for the filtered slices of a large catalog: the latest constraint sets' allowed rows, with their
embeddings side by side when they fit in a quarter of this, so a second pass is one product, not a gather."""
_GATHER_COST = 2
"""Gathering a row out of the matrix (`_nearness`, a chunk at a time) costs about this many rows of an in-place
product (at 1M items, 2 cores: 22.6k rows of a 161k-row block in 5 ms against 20 ms for the block's product; 64k
rows in 13 ms against 21 ms): below that share of its year block, a second pass gathers."""
GATHER_CHUNK = 512
"""Rows gathered at a time by `_nearness`, into a buffer each thread keeps: one gather of 22k rows (35 MB of new
pages) took 24 ms and of 64k rows 55 ms, in 512-row chunks 5 and 13 ms (bitwise the same products)."""
COLD_HEAD = 512
"""A cold start over a large catalog scores, per soft-genre level, this many of its most popular rows (and every row
tied with the last of them) before the proof that no other row can reach its pool (`Recommender._cold_pool`)."""
NEAR_ANCHOR = 0.45
"""`NeighbourIndex.closeness` (cosine plus links) above which an item may be called close to its anchor with no link
to name: Past Lives to Lost in Translation (0.5), not Saw (0.1)."""
WILDCARD_FIT = 0.5
"""A pick with nothing to name that fits the request less than this share of the reply's best pick is a wildcard:
Saw (0.1) beside Her (0.6) for "more like Lost in Translation"; not the picks of a vague "something tense", which
all fit about as well and simply have no words of the request in their own text."""
WILDCARD_AVERSION = 0.3
"""A wildcard this close to the aversion vector is never shown while anything else can fill the reply."""
WILDCARD_SPARE = 10
"""Picks MMR orders beyond k, so a reply can pass over wildcards (picks with nothing tying them to the request or
the taste) past the one in five it may show."""
DEFAULT_WEIGHTS = ScoringWeights()
LOOSENING: tuple[tuple[str, ...], ...] = (("years",), ("genres",), ("years", "genres"))
"""What a reply short of items gives up, in order, after the soft genres: the year range, then the genres the
user insisted on, then both. Exclusions, dislikes, seen and shown items are never given up."""


@dataclass
class RankRequest:
    interest: np.ndarray | None
    """The profile's interest vector; None for a cold start (popularity and diversity decide)."""
    aversion: np.ndarray | None
    """The profile's aversion vector: items close to it are pushed down, never up."""
    k: int = 5
    exclude: set[str] = field(default_factory=set)
    year_min: int | None = None
    year_max: int | None = None
    include_genres: list[str] = field(default_factory=list)
    """Hard: an item must have one of these (genres the user insisted on)."""
    exclude_genres: list[str] = field(default_factory=list)
    exclude_words: list[str] = field(default_factory=list)
    """Hard too: an item whose description or tags say one of these ("musical", "violent") is out, whatever its
    genres (The Lion King, "an animated musical drama", has no musical genre)."""
    preferred_genres: list[str] = field(default_factory=list)
    """Soft: items with these get `ScoringWeights.genre`; they lead, the others still qualify."""
    liked: list[str] = field(default_factory=list)
    anchors: list[str] = field(default_factory=list)
    """Items this ranking is built around ('more like #2'): their neighbours lead and their whys name them."""
    aspects: list[tuple[str, np.ndarray]] = field(default_factory=list)
    """(text, vector) of what the user asked for, to explain matches."""
    collaborative: dict[str, float] = field(default_factory=dict)
    seen: list[str] = field(default_factory=list)
    """Items the user named without liking them ("I've seen X"): they still say something about taste, which a
    learned ranker may use (`ranker.FEATURES`); the formula does not."""
    collaborative_seen: dict[str, float] = field(default_factory=dict)
    """Co-occurrence with `seen`, as `collaborative` is with the liked items."""
    popularity_counts: dict[str, int] = field(default_factory=dict)
    liked_people: list[str] = field(default_factory=list)
    disliked_people: list[str] = field(default_factory=list)
    diversify: bool = True
    explain: bool = True
    """False skips the per-item "why" (evaluation rankings of 50 items)."""
    years_in_passing: bool = False
    """The year range was said in an earlier turn: picks within it that fit the request poorly (`FIT_FLOOR`) give
    way to close ones from other years, so "something recent" three turns ago does not fill a reply with
    unrelated recent titles once the close ones are shown."""
    loosen: bool = True
    """Fill a reply the filters leave short with the nearest items that break one of them (see `LOOSENING`);
    False for evaluation rankings, which must not change meaning with the catalog's size."""


@dataclass
class _Slice:
    """The rows that pass one set of constraints (sorted), and their embeddings side by side when kept."""

    rows: np.ndarray
    embeddings: np.ndarray | None
    span: tuple[int, int] | None = None
    """In a year-ordered catalog, the block of rows in the year range: `rows` all lie within it."""

    @property
    def nbytes(self) -> int:
        return self.rows.nbytes + (self.embeddings.nbytes if self.embeddings is not None else 0)


@dataclass
class _Scored:
    """Rows with their scores and the parts the whys need, aligned."""

    rows: np.ndarray
    embeddings: np.ndarray
    score: np.ndarray
    collab: np.ndarray
    """Co-occurrence with the liked items, scaled to the best row's."""
    prior: np.ndarray
    similarity: np.ndarray
    """cos(interest, row); zeros on a cold start."""
    negative: np.ndarray
    collab_raw: np.ndarray
    leaning: np.ndarray
    """What goes on top of a learned score: the request's leanings (the anchors' vector pull, soft genres) and
    `ScoringWeights.debias` away from popularity (the formula's own score has the anchors' links too)."""

    def at(self, positions: np.ndarray, score: np.ndarray) -> _Scored:
        """These positions only, with a new score."""
        parts = (self.collab, self.prior, self.similarity, self.negative, self.collab_raw, self.leaning)
        return _Scored(self.rows[positions], self.embeddings[positions], score, *(p[positions] for p in parts))


@dataclass
class Recommendation:
    item: CatalogItem
    score: float
    why: str
    rank: int
    loosened: tuple[str, ...] = ()
    """The constraints this item breaks to fill a short reply: 'soft genres', 'years', 'genres'."""
    fit: float = 0.0
    """Cosine to the request (interest pulled toward the anchors); 0 on a cold start."""
    for_fit: bool = False
    """It breaks the year range because what the range still holds fits poorly, not because it ran out."""


class Recommender:
    def __init__(
        self,
        catalog: StoredCatalog,
        weights: ScoringWeights = DEFAULT_WEIGHTS,
        ann_query: Callable[[np.ndarray, int], list[str]] | None = None,
        ranker: RankerModel | None = None,
    ) -> None:
        """ranker: a learned model that reorders the formula's best candidates (`ranker.py`); None: the formula."""
        self.catalog = catalog
        self.weights = weights
        self.ann_query = ann_query
        self.ranker = ranker
        columns = catalog.column_arrays()  # read with a snapshot, or derived from the items once
        self._meta_popularity = columns.prior_popularity
        self._has_meta_popularity = bool(self._meta_popularity.any())
        self._meta_prior = popularity_prior(self._meta_popularity)
        self._years = columns.years
        self._genre_column = {g: c for c, g in enumerate(columns.genres)}
        self._genres = columns.genre_matrix
        self._year_ordered = bool(np.all(self._years[1:] >= self._years[:-1]))
        """Rows in year order (a large catalog from the store, see `store.YEAR_ORDER_MIN`): a year range is one
        block of the matrix, which a second pass multiplies through in place."""
        self._by_prior: np.ndarray | None = None
        """Large catalogs: rows by catalog popularity, most popular first (ties in row order), for cold starts."""
        self._prior_rank = self._prior_desc = np.zeros(0)
        if len(catalog) > EXACT_LIMIT:  # once at start (~0.1 s at 1M), so a cold start need not score every row
            self._by_prior = np.argsort(-self._meta_prior, kind="stable")
            self._prior_rank = np.empty(len(catalog), dtype=np.int64)
            self._prior_rank[self._by_prior] = np.arange(len(catalog))
            self._prior_desc = -self._meta_prior[self._by_prior]  # ascending: ties are one searchsorted block
        self.people = PeopleIndex(catalog.items)
        self.neighbours = NeighbourIndex(catalog.items, self._genres, self._genre_column, self.people, catalog.row_of)
        self._local = threading.local()
        self._said: dict[str, np.ndarray] = {}
        self._said_lock = threading.Lock()
        self._slices: OrderedDict[tuple, _Slice] = OrderedDict()
        self._slices_lock = threading.Lock()

    @property
    def timings_ms(self) -> dict[str, float]:
        """The last rank() call's times in this thread (turns of different users run in parallel)."""
        return getattr(self._local, "timings", {})

    def _candidate_rows(self, request: RankRequest, pool: int) -> np.ndarray:
        total = len(self.catalog)
        if total <= EXACT_LIMIT or self.ann_query is None or request.interest is None:
            return np.arange(total)
        fetch = min(total, max(pool * 8, 400))
        ids = set(self.ann_query(self._query(request, request.interest), fetch))
        ids.update(request.collaborative)
        rows = [self.catalog.row_of[i] for i in ids if i in self.catalog.row_of]
        return np.array(sorted(rows), dtype=np.int64)

    def _on_rows(self, values: Mapping[str, float], rows: np.ndarray) -> np.ndarray:
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

    def _query(self, request: RankRequest, interest: np.ndarray) -> np.ndarray:
        """The ANN query: the interest pulled toward the anchors, so their neighbours are among the candidates."""
        anchors = [self.catalog.row_of[i] for i in request.anchors if i in self.catalog.row_of]
        query = interest + self.catalog.embeddings[anchors].sum(axis=0) if anchors else interest
        return query / max(float(np.linalg.norm(query)), 1e-9)

    def _genre_counts(self, rows: np.ndarray, genres: list[str]) -> np.ndarray:
        """How many of `genres` each row has (unknown genres count for none)."""
        columns = [self._genre_column[g] for g in genres if g in self._genre_column]
        if not columns:
            return np.zeros(len(rows), dtype=np.int32)
        everything = len(rows) == len(self.catalog)  # rows are sorted and unique: all of them means no gather
        present = self._genres[:, columns] if everything else self._genres[np.ix_(rows, np.asarray(columns))]
        return present.sum(axis=1, dtype=np.int32)

    def _allowed(self, rows: np.ndarray, request: RankRequest) -> np.ndarray:
        """Hard filters, vectorized: years, insisted genres, excluded genres, excluded ids. Soft genres are no filter."""
        everything = len(rows) == len(self.catalog)
        mask = np.ones(len(rows), dtype=bool)
        years = self._years if everything else self._years[rows]
        if request.year_min is not None:
            mask &= years >= request.year_min
        if request.year_max is not None:
            mask &= years <= request.year_max
        if request.include_genres:
            mask &= self._genre_counts(rows, request.include_genres) > 0
        if request.exclude_genres:
            mask &= self._genre_counts(rows, request.exclude_genres) == 0
        if request.exclude:
            mask &= self._on_rows(dict.fromkeys(request.exclude, 1.0), rows) == 0
        if request.exclude_words and everything:  # a mask kept per word
            mask &= ~np.logical_or.reduce([self._saying(word, rows, True) for word in request.exclude_words])
        elif request.exclude_words:  # each text read once, for every word
            mask &= ~self._saying_any(request.exclude_words, rows)
        return mask

    def _saying(self, word: str, rows: np.ndarray, everything: bool) -> np.ndarray:
        """Which of `rows` have a description or tags that say `word` (a long word's other endings too: violent,
        violence). Over the whole catalog (small ones) the mask is kept per word, for the `SAID_WORDS` latest
        words, so a turn costs a mask, not a text scan; over ANN candidates (large catalogs) only those few
        hundred texts are read, never all of a 1M catalog on the turn path, and nothing catalog-sized is kept."""
        pattern = re.compile(rf"\b{_stem(word)}\b", re.I)
        if not everything:
            return self._saying_any([word], rows)
        with self._said_lock:  # turns of different users rank in parallel threads
            found = self._said.pop(word, None)
        if found is None:
            found = np.array([bool(pattern.search(_text_of(item))) for item in self.catalog.items], dtype=bool)
        with self._said_lock:
            self._said[word] = found  # most recently used last
            while len(self._said) > SAID_WORDS:
                self._said.pop(next(iter(self._said)))
        return found

    def _saying_any(self, words: list[str], rows: np.ndarray) -> np.ndarray:
        """Which of `rows` say any of `words`, each read as `_saying` reads it: one pattern and one text per row,
        not one per word ("not violent" is ten words: violent, kill, murder, …)."""
        pattern = re.compile(r"\b(?:" + "|".join(_stem(word) for word in words) + r")\b", re.I)
        items = self.catalog.items
        found = (bool(pattern.search(_text_of(items[row]))) for row in rows.tolist())
        return np.fromiter(found, dtype=bool, count=len(rows))

    def blocking_genres(self, request: RankRequest) -> list[str]:
        """The excluded genres that every item not yet shown, seen or rejected has: what to drop when nothing
        is left (empty when nothing is left at all)."""
        rows = np.arange(len(self.catalog))
        left = rows[self._on_rows(dict.fromkeys(request.exclude, 1.0), rows) == 0]
        return [g for g in request.exclude_genres if len(left) and self._genre_counts(left, [g]).any()]

    def _prior(self, rows: np.ndarray, counts: dict[str, int]) -> np.ndarray:
        if not counts:
            return self._meta_prior[rows]
        learned = self._learned_prior(rows, counts)
        return (self._meta_prior[rows] + learned) / 2 if self._has_meta_popularity else learned

    def _learned_prior(self, rows: np.ndarray, counts: dict[str, int]) -> np.ndarray:
        """The event log's counts of `rows`, log-scaled against the catalog's most counted item."""
        top = max((c for i, c in counts.items() if i in self.catalog.row_of), default=0)
        return popularity_prior(self._on_rows(counts, rows), top=top)

    def _people_boost(self, request: RankRequest, rows: np.ndarray) -> np.ndarray:
        boost: dict[str, float] = {}
        for sign, names in ((1.0, request.liked_people), (-1.0, request.disliked_people)):
            for name in names:
                for item_id in self.people.items_with(name):
                    boost[item_id] = boost.get(item_id, 0.0) + sign
        return self._on_rows(boost, rows)

    def rank(self, request: RankRequest) -> list[Recommendation]:
        """The top `request.k` items for a request, best first, with the time spent retrieving and
        scoring kept in `timings_ms` (the engine reports them per turn).

        When the filters leave fewer than k items, the rest of the reply are the nearest items that break
        one constraint, marked in `Recommendation.loosened`: a soft genre first (its items lead, the
        closest others follow), then the year range, then the insisted genres (`LOOSENING`)."""
        started = time.perf_counter()
        rows = self._retrieve(request)
        retrieved = time.perf_counter()
        results = self._closer_elsewhere(request, self._fill_leaning(rows, request, [], ()))
        for broken in LOOSENING if request.loosen else ():
            if len(results) >= request.k:
                break
            relaxed = self._relaxed(request, broken)
            if relaxed is not None:
                results += self._fill_leaning(self._retrieve(relaxed), relaxed, results, broken)
        whys = distinct([r.why for r in results], [r.item for r in results]) if request.explain else []
        for rank, result in enumerate(results, start=1):
            result.rank, result.why = rank, whys[rank - 1] if whys else ""
        scored_ms = (time.perf_counter() - retrieved) * 1000
        self._local.timings = {"retrieve": (retrieved - started) * 1000, "score": scored_ms}
        return results

    def _closer_elsewhere(self, request: RankRequest, results: list[Recommendation]) -> list[Recommendation]:
        """Picks under `FIT_FLOOR` within a year range said in passing give way to close items from other years
        (marked `for_fit`); the weak ones stay only to fill what the others cannot."""
        if not (request.loosen and request.years_in_passing and request.interest is not None):
            return results
        strong = [r for r in results if r.fit >= FIT_FLOOR]
        weak = [r for r in results if r.fit < FIT_FLOOR]
        relaxed = self._relaxed(request, ("years",))
        if not weak or relaxed is None:
            return results
        wanted = request.k - len(strong)
        found = self._fill(self._retrieve(relaxed), replace(relaxed, k=len(strong) + 3 * wanted), strong, ("years",))
        closer = [r for r in found if r.fit >= FIT_FLOOR and self._near_liked(r.item, request)][:wanted]
        for r in closer:
            r.for_fit = True
        return (strong + closer + weak)[: request.k]

    def _near_liked(self, item: CatalogItem, request: RankRequest) -> bool:
        """It is close to an anchor or a liked item by the whys' own test (something shared, or very near), when
        the user has liked anything: the read-through found WALL-E "closer" to a crime fan than recent films."""
        if not (request.anchors or request.liked):
            return True
        closest = self._closest_liked(self.catalog.embeddings[self.catalog.row_of[item.id]], request)
        return closest is not None and anchor_reason(item, closest[0], close=closest[1] > CLOSE) is not None

    @staticmethod
    def _relaxed(request: RankRequest, broken: tuple[str, ...]) -> RankRequest | None:
        """The request without the constraints in `broken`; None when it has none of them to give up."""
        years = request.year_min is not None or request.year_max is not None
        if ("years" in broken and not years) or ("genres" in broken and not request.include_genres):
            return None
        relaxed = replace(request, include_genres=[] if "genres" in broken else request.include_genres)
        if "years" in broken:
            relaxed.year_min = relaxed.year_max = None
        return relaxed

    def _fill(
        self, rows: np.ndarray, request: RankRequest, taken: list[Recommendation], broken: tuple[str, ...]
    ) -> list[Recommendation]:
        """The best of `rows` not already in the reply, up to k in all, marked as breaking `broken`."""
        need = request.k - len(taken)
        if need <= 0 or not len(rows):
            return []
        return self._score_and_pick(self._untaken(rows, taken), replace(request, k=need), broken)

    def _fill_leaning(
        self, rows: np.ndarray, request: RankRequest, taken: list[Recommendation], broken: tuple[str, ...]
    ) -> list[Recommendation]:
        """`_fill`, with the rows of a soft genre first when fewer of them are left than the reply still needs: the
        closest others then break the soft genre too, and the reply says so ("family movies without animation").
        With enough of them the genre is only a boost. The first ranking of `rank` and every loosening fill it."""
        need = request.k - len(taken)
        if need > 0 and request.loosen and request.preferred_genres and "soft genres" not in broken:
            soft = self._untaken(rows[self._genre_counts(rows, request.preferred_genres) > 0], taken)
            if len(soft) < need:
                first = self._fill(soft, request, taken, broken)
                return first + self._fill(rows, request, [*taken, *first], (*broken, "soft genres"))
        return self._fill(rows, request, taken, broken)

    def _untaken(self, rows: np.ndarray, taken: list[Recommendation]) -> np.ndarray:
        """`rows` without the items already in the reply."""
        shown = {r.item.id for r in taken}
        return rows[self._on_rows(dict.fromkeys(shown, 1.0), rows) == 0] if shown else rows

    def _retrieve(self, request: RankRequest) -> np.ndarray:
        """Sorted catalog rows that pass the hard filters: ANN candidates for large catalogs, all rows otherwise."""
        candidates = self._candidate_rows(request, self.weights.mmr_pool)
        rows = candidates[self._allowed(candidates, request)]
        if len(candidates) == len(self.catalog):
            return rows
        if len(rows) < request.k:
            # The filters emptied the ANN candidates (a narrow year range, a rare genre): the nearest of the
            # items they allow, rather than an answer with nothing.
            return self._second_pass(request)
        if request.preferred_genres and (self._genre_counts(rows, request.preferred_genres) > 0).sum() < request.k:
            # Few candidates have the soft genre: add the catalog's nearest, so it is not called exhausted when
            # it is not.
            return np.union1d(rows, self._second_pass(request, soft=True))
        return rows

    def _second_pass(self, request: RankRequest, soft: bool = False) -> np.ndarray:
        """The `SECOND_PASS` allowed rows nearest to the request (with a soft genre, if `soft`), exact within the
        filters, sorted; excluded words are checked on the nearest rows' texts only, a chunk at a time."""
        kept = self._filtered(request)
        rows, embeddings = kept.rows, kept.embeddings
        mask = self._on_rows(dict.fromkeys(request.exclude, 1.0), rows) == 0
        if soft:
            mask &= self._genre_counts(rows, request.preferred_genres) > 0
        candidates = rows[mask]
        if request.interest is None or not len(candidates):
            return candidates[:SECOND_PASS]
        query = self._query(request, request.interest)
        if embeddings is not None:  # kept side by side: one product over the slice
            nearness = (embeddings @ query)[mask]
        elif kept.span is not None and len(candidates) * _GATHER_COST > kept.span[1] - kept.span[0]:
            start, end = kept.span  # one product over the year range's block, in place
            nearness = (self.catalog.embeddings[start:end] @ query)[candidates - start]
        elif len(candidates) * _GATHER_COST > len(self.catalog):  # one product over the matrix beats the gather
            nearness = (self.catalog.embeddings @ query)[candidates]
        else:
            nearness = self._nearness(candidates, query)
        found = candidates[top_positions(nearness, 4 * SECOND_PASS)]  # nearest first
        if request.exclude_words:  # checked a chunk at a time, nearest first, until enough pass
            keep, checked = np.ones(len(found), dtype=bool), 0
            while checked < len(found) and keep[:checked].sum() < SECOND_PASS:
                chunk = slice(checked, checked + SECOND_PASS)
                keep[chunk] &= ~self._saying_any(request.exclude_words, found[chunk])
                checked += SECOND_PASS
            found = found[:checked][keep[:checked]]
        return np.sort(found[:SECOND_PASS])

    def _nearness(self, rows: np.ndarray, query: np.ndarray) -> np.ndarray:
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

    def _filtered(self, request: RankRequest) -> _Slice:
        """The rows that pass the request's years and genres (not its excluded ids or words), with their
        embeddings side by side when small enough; the latest are kept, up to `SLICE_BYTES`, keyed by those."""
        key = (request.year_min, request.year_max, tuple(sorted(request.include_genres)),
               tuple(sorted(request.exclude_genres)))  # fmt: skip
        with self._slices_lock:
            found = self._slices.pop(key, None)
            if found is not None:
                self._slices[key] = found  # most recently used last
                return found
        span = self._year_span(request)
        within = np.arange(*span) if span is not None else np.arange(len(self.catalog))
        rows = within[self._allowed(within, replace(request, exclude=set(), exclude_words=[]))]
        if span is not None:  # the block is there already: nothing to copy
            found = _Slice(rows, None, span)
        else:
            fits = len(rows) * self.catalog.embeddings.shape[1] * 4 <= SLICE_BYTES // 4
            found = _Slice(rows, np.ascontiguousarray(self.catalog.embeddings[rows]) if fits else None)
        with self._slices_lock:
            self._slices[key] = found
            while sum(kept.nbytes for kept in self._slices.values()) > SLICE_BYTES:
                self._slices.popitem(last=False)
        return found

    def _year_span(self, request: RankRequest) -> tuple[int, int] | None:
        """(start, end) of the rows in the request's year range when the catalog is in year order and the request
        has a range; unknown years (0) sort first, so a range with only an end keeps them, as `_allowed` does."""
        if not self._year_ordered or (request.year_min is None and request.year_max is None):
            return None
        years = self._years  # bounds in its dtype: a Python int would have numpy copy all 1M years to compare
        low, high = (None if y is None else years.dtype.type(min(max(y, -(2**31)), 2**31 - 1)) for y in (
            request.year_min, request.year_max))  # fmt: skip
        start = 0 if low is None else int(years.searchsorted(low, "left"))
        end = len(years) if high is None else int(years.searchsorted(high, "right"))
        return start, max(start, end)

    def _score_and_pick(self, rows: np.ndarray, request: RankRequest, broken: tuple[str, ...]) -> list[Recommendation]:
        """Score the rows, keep the best pool, diversify it with MMR (unless asked not to) and explain the picks
        (`rank` numbers them and makes the whys of the whole reply distinct)."""
        if not len(rows):
            return []
        if request.interest is None and len(rows) > EXACT_LIMIT:
            rows = self._cold_pool(rows, request)
        scored = self._scored(rows, request)
        rows, embeddings, score, collab, prior = (
            scored.rows,
            scored.embeddings,
            scored.score,
            scored.collab,
            scored.prior,
        )
        fit = embeddings @ self._query(request, request.interest) if request.interest is not None else 0 * score
        pool = _top_by_position(score, self.weights.mmr_pool)
        # a reply (diversified, explained, for a taste) holds at most one wildcard in five; plain top-k rankings
        # for evaluation and exports keep the scores' order
        wildcards_capped = request.diversify and request.explain and request.interest is not None
        if request.diversify:
            lam = self.weights.cold_mmr_lambda if request.interest is None else self.weights.mmr_lambda
            if request.anchors:  # "more like X" asks for X's neighbours, which resemble each other: diversify less
                lam = self.weights.anchored_mmr_lambda
            spare = WILDCARD_SPARE if wildcards_capped else 0
            picks = [int(pool[p]) for p in mmr(embeddings[pool], score[pool], request.k + spare, lam)]
        else:
            picks = [int(p) for p in pool[: request.k]]
        chosen: list[Recommendation] = []
        held: list[Recommendation] = []  # wildcards past the cap, or near what the user rejects: only to fill
        wildcards = 0
        best_fit = max((float(fit[p]) for p in picks), default=0.0)
        for p in picks:
            why, linked = (
                self._why(rows[p], request, float(collab[p]), float(prior[p])) if request.explain else ("", True)
            )
            pick = Recommendation(
                item=self.catalog.items[rows[p]], score=float(score[p]), why=why, rank=0, loosened=broken,
                fit=float(fit[p]),
            )  # fmt: skip
            if wildcards_capped and not linked and fit[p] < WILDCARD_FIT * best_fit:
                # nothing ties it to the request or the taste, and it fits far worse than the best pick: exploration
                # or popularity put it here. At most one in five, never near what the user rejects, said as it is.
                pick.why = f"something different: {why}"
                if wildcards >= max(1, request.k // 5) or scored.negative[p] > WILDCARD_AVERSION:
                    held.append(pick)
                    continue
                wildcards += 1
            chosen.append(pick)
            if len(chosen) == request.k:
                break
        chosen += held[: request.k - len(chosen)]
        return chosen

    def _cold_pool(self, rows: np.ndarray, request: RankRequest) -> np.ndarray:
        """Of a cold start's rows (sorted), a few that hold its whole MMR pool, the same pool as scoring every row
        (34–94 ms at 1M items); `rows` itself when that cannot be shown cheaply.

        Without an interest vector a row's score is its popularity prior plus its soft-genre level, less the
        aversion term (never negative), plus what only some rows get: co-occurrence, learned counts, people. So
        within one soft-genre level, a row without those extras scores at most what a more popular one would
        without the aversion. Per level: the `COLD_HEAD` most popular rows (through the last one's ties), every row
        with an extra, and the next row of the level (the sentinel) are scored; when the pool's last score beats
        each sentinel's bound, no row left out can enter the pool, and its `mmr_pool` rows (ties by row, as
        `top_positions` breaks them) plus the rows with extras (the co-occurrence scale is their largest) are
        returned. Anchors (a cosine per row) and a negative popularity weight keep every row."""
        order, weights, total = self._by_prior, self.weights, len(self.catalog)
        if order is None or weights.popularity < 0 or any(i in self.catalog.row_of for i in request.anchors):
            return rows
        row_of = self.catalog.row_of
        ids = {*request.collaborative, *request.popularity_counts}
        for name in (*request.liked_people, *request.disliked_people):
            ids.update(self.people.items_with(name))
        extra = np.unique(np.array([row_of[i] for i in ids if i in row_of], dtype=np.int64))
        levels: np.ndarray | None = None
        if request.preferred_genres:
            counts = self._genre_counts(np.arange(total), request.preferred_genres)
            levels = (counts > 0).astype(np.int8) + ((counts == len(request.preferred_genres)) & (counts > 1))
        head_size = COLD_HEAD
        while head_size <= total // 8:
            heads, sentinels = [extra], []
            for level in range(1 if levels is None else 3):
                head, sentinel = self._level_head(levels, level, head_size)
                heads.append(head)
                if sentinel is not None:
                    sentinels.append(sentinel)
            scored = np.unique(np.concatenate(heads))
            if len(scored) > total // 4:  # popularity that barely differs (or none): nothing to gain
                return rows
            at = np.minimum(np.searchsorted(rows, scored), len(rows) - 1)
            scored = scored[rows[at] == scored]  # only the rows this ranking may pick
            no_columns = np.zeros((len(scored), 0), dtype=self.catalog.embeddings.dtype)
            score = self._formula(scored, request, None if request.aversion is not None else no_columns).score
            pool = _top_by_position(score, weights.mmr_pool)
            if not sentinels:
                return np.union1d(scored[pool], extra[np.isin(extra, rows)])
            if len(pool) == weights.mmr_pool:
                plain = replace(request, aversion=None, collaborative={}, liked_people=[], disliked_people=[])
                sentinel_rows = np.array(sorted(sentinels), dtype=np.int64)
                no_columns = np.zeros((len(sentinel_rows), 0), dtype=self.catalog.embeddings.dtype)
                bound = self._formula(sentinel_rows, plain, no_columns).score
                if float(score[pool[-1]]) > float(bound.max()):
                    return np.union1d(scored[pool], extra[np.isin(extra, rows)])
            head_size *= 4
        return rows

    def _level_head(self, levels: np.ndarray | None, level: int, size: int) -> tuple[np.ndarray, int | None]:
        """The `size` most popular rows of a soft-genre level (every row when `levels` is None), with every row of
        the level tied in popularity with the last of them, and the level's next row (None when there is none)."""
        order, total = self._by_prior, len(self.catalog)
        assert order is not None
        members = None if levels is None else np.flatnonzero(levels == level)
        if members is not None and len(members) <= size:
            return members, None
        if members is not None and len(members) <= total // 8:  # a sparse level: its ranks in the popularity order
            ranks = self._prior_rank[members]
            last = int(np.partition(ranks, size - 1)[size - 1])
        else:  # a dense one: the first rows of the order hold enough of it
            reach = min(total, 4 * size)
            while True:
                prefix = order[:reach]
                found = prefix if levels is None else prefix[levels[prefix] == level]
                if len(found) >= size or reach == total:
                    break
                reach = min(total, 4 * reach)
            if len(found) < size:
                return found, None
            last = int(self._prior_rank[found[size - 1]])
        end = int(np.searchsorted(self._prior_desc, self._prior_desc[last], "right"))  # through the ties
        if members is not None and len(members) <= total // 8:
            inside = ranks < end
            return members[inside], (int(order[ranks[~inside].min()]) if not inside.all() else None)
        head = order[:end] if levels is None else order[:end][levels[order[:end]] == level]
        step = 4 * size
        while end < total:  # the level's next row
            after = order[end : end + step]
            hit = after if levels is None else after[levels[after] == level]
            if len(hit):
                return head, int(hit[0])
            end, step = end + step, 4 * step
        return head, None

    def _scored(self, rows: np.ndarray, request: RankRequest) -> _Scored:
        """The formula's score of every row; with a learned ranker (and an interest vector: a cold start has
        nothing to learn from), only the formula's `first_stage` best rows, scored by the model plus the
        request's leanings, which the training data has no examples of."""
        formula = self._formula(rows, request)
        if self.ranker is None or request.interest is None:
            return formula
        first, features = self._first_stage(formula, request, self.ranker.first_stage)
        learned = self.ranker.score(features) + formula.leaning[first]
        return formula.at(first, learned)

    def _formula(self, rows: np.ndarray, request: RankRequest, embeddings: np.ndarray | None = None) -> _Scored:
        """embeddings: the rows' (gathered here when not given); `_cold_pool` passes no columns when nothing reads
        them (no interest, aversion or anchor)."""
        if embeddings is None:  # all rows (small catalogs) use the matrix as is: gathering 1M rows copies 1.5 GB
            embeddings = self.catalog.embeddings if len(rows) == len(self.catalog) else self.catalog.embeddings[rows]
        collab_raw = self._on_rows(request.collaborative, rows)
        collab = collab_raw / collab_raw.max() if collab_raw.max() > 0 else collab_raw
        prior = self._prior(rows, request.popularity_counts)
        score, similarity, negative = base_scores(
            embeddings, request.interest, request.aversion, prior, collab, self.weights
        )
        debias = self.weights.debias * prior
        leaning = self._leaning(rows, embeddings, request) - debias
        score = score + leaning
        if request.liked_people or request.disliked_people:
            score = score + self.weights.person * self._people_boost(request, rows)
        # on top of a learned score: the anchors' vector pull only, since the ranker weighs people and genres itself
        on_top = leaning if self.ranker is None else self._leaning(rows, embeddings, request, links=False) - debias
        return _Scored(rows, embeddings, score, collab, prior, similarity, negative, collab_raw, on_top)

    def _first_stage(self, formula: _Scored, request: RankRequest, size: int) -> tuple[np.ndarray, np.ndarray]:
        """(positions, `FEATURES` columns) of the formula's `size` best rows, in the formula's order."""
        first = top_positions(formula.score, size)
        features = self._features(
            formula.rows[first],
            formula.embeddings[first],
            request,
            formula.similarity[first],
            formula.negative[first],
            formula.collab_raw[first],
        )
        return first, features

    def candidate_features(self, request: RankRequest, first_stage: int) -> tuple[list[str], np.ndarray]:
        """(item ids, `FEATURES` columns) of the formula's `first_stage` best items that pass the hard filters, in
        the formula's order: what a learned ranker is trained on and reorders."""
        rows = self._retrieve(request)
        if not len(rows) or request.interest is None:
            return [], np.zeros((0, len(FEATURES)), dtype=np.float32)
        formula = self._formula(rows, request)
        first, features = self._first_stage(formula, request, first_stage)
        return [self.catalog.items[r].id for r in formula.rows[first]], features

    def _features(
        self,
        rows: np.ndarray,
        embeddings: np.ndarray,
        request: RankRequest,
        similarity: np.ndarray,
        aversion: np.ndarray,
        collab_raw: np.ndarray,
    ) -> np.ndarray:
        """The `FEATURES` columns (see ranker.py) of `rows`, given in the formula's order."""
        n = len(rows)
        zeros = np.zeros(n, dtype=np.float32)
        row_of = self.catalog.row_of
        years = self._years[rows]
        liked = [row_of[i] for i in request.liked[-20:] if i in row_of]
        if liked:
            to_liked = embeddings @ self.catalog.embeddings[liked].T
            liked_max, liked_mean = to_liked.max(axis=1), to_liked.mean(axis=1)
            liked_genres = self._genres[liked].mean(axis=0)
            genres = self._genres[rows]
            genre_match = (genres @ liked_genres) / np.maximum(genres.sum(axis=1), 1)
            known = self._years[liked][self._years[liked] > 0]
            if len(known):
                year_distance = np.minimum(np.abs(years - float(np.median(known))) / 10.0, 5.0) * (years > 0)
            else:
                year_distance = zeros
        else:
            liked_max = liked_mean = genre_match = year_distance = zeros
        seen = [row_of[i] for i in request.seen[-20:] if i in row_of]
        seen_max = (embeddings @ self.catalog.embeddings[seen].T).max(axis=1) if seen else zeros
        counts = request.popularity_counts
        learned_popularity = self._learned_prior(rows, counts) if counts else zeros
        people = self._people_boost(request, rows) if request.liked_people or request.disliked_people else zeros
        collab = collab_raw / collab_raw.max() if n and collab_raw.max() > 0 else collab_raw
        aspects = [v for _, v in request.aspects]
        columns = {
            "interest": similarity,
            "aversion": aversion,
            "liked_max": liked_max,
            "liked_mean": liked_mean,
            "collaborative": collab,
            "co_occurrence": np.log1p(np.maximum(collab_raw, 0)),
            "seen_max": seen_max,
            "co_seen": np.log1p(np.maximum(self._on_rows(request.collaborative_seen, rows), 0)),
            "learned_popularity": learned_popularity,
            "catalog_popularity": self._meta_prior[rows],
            "people": people,
            "genre_match": genre_match,
            "year_distance": year_distance,
            "recency": np.maximum(years - 1950, 0) / 50.0 * (years > 0),
            "aspect_match": (embeddings @ np.stack(aspects).T).max(axis=1) if aspects else zeros,
            "first_stage_rank": first_stage_rank(n),
        }
        return np.column_stack([np.asarray(columns[name], dtype=np.float32) for name in FEATURES])

    def _leaning(
        self, rows: np.ndarray, embeddings: np.ndarray, request: RankRequest, links: bool = True
    ) -> np.ndarray:
        """What the request leans to without filtering: the anchors' neighbours (by `NeighbourIndex.closeness` to the
        nearest anchor; with `links` False by the item vectors alone) and items with a soft genre (more when they
        have every one asked for)."""
        extra = np.zeros(len(rows), dtype=np.float32)
        anchors = [self.catalog.row_of[i] for i in request.anchors if i in self.catalog.row_of]
        if anchors:
            cosines = embeddings @ self.catalog.embeddings[anchors].T
            if links:
                closeness = [self.neighbours.closeness(a, rows, cosines[:, n]) for n, a in enumerate(anchors)]
                extra += self.weights.anchor * np.max(closeness, axis=0)
            else:
                extra += self.weights.anchor * cosines.max(axis=1)
        if request.preferred_genres:
            counts = self._genre_counts(rows, request.preferred_genres)
            every = (counts == len(request.preferred_genres)) & (len(request.preferred_genres) > 1)
            extra += self.weights.genre * ((counts > 0) + 0.5 * every)
        return extra

    def _why(self, row: int, request: RankRequest, collab: float, prior: float) -> tuple[str, bool]:
        """At most two reasons specific to this item, strongest first (see `explain.py`).

        A liked person it has, the anchor or liked item it is closest to and their strongest link, the words of
        the request its own text contains; else how well it fits the request, what people with the
        same favourites liked, or what the item itself is. The flag: whether anything ties it to the request
        or the taste (a genre asked for counts); a pick with nothing is a wildcard (`_score_and_pick`)."""
        item = self.catalog.items[row]
        vector = self.catalog.embeddings[row]
        reasons = [r for r in (_person_reason(item, request),) if r]
        near_anchor = self._anchor_link(row, request)
        closest = None if near_anchor else self._closest_liked(vector, request)
        if near_anchor is not None:
            reasons.append(near_anchor)
        elif closest is not None:
            anchor, similarity = closest
            reason = anchor_reason(item, anchor, close=similarity > CLOSE)
            reasons += [reason] if reason else []
        matched = request_reason(item, [text for text, _ in request.aspects])
        fit = matched or _aspect_reason(item, vector, request, self._genre_column)
        if fit:
            reasons.append(fit)
        if collab > 0.3 and len(reasons) < 2:
            reasons.append(self._collaborative_reason(request))
        if reasons:
            return "; ".join(reasons[:2]), True
        genres = "/".join(item.genres[:2]) or "pick"
        lead = f"a widely loved {genres}" if prior > 0.6 else f"{_article(genres)} {genres}"
        asked = {*request.preferred_genres, *request.include_genres}
        return f"{lead}: {specific_detail(item)}", bool(asked & set(item.genres))

    def _anchor_link(self, row: int, request: RankRequest) -> str | None:
        """'close to Pulp Fiction, which you liked: also directed by Quentin Tarantino': the anchor this item is
        closest to by `NeighbourIndex.closeness`, and the strongest real link between them, when there is one."""
        anchors = [self.catalog.row_of[i] for i in request.anchors if i in self.catalog.row_of]
        if not anchors:
            return None
        one = np.array([row], dtype=np.int64)
        cosines = self.catalog.embeddings[anchors] @ self.catalog.embeddings[row]
        closeness = [float(self.neighbours.closeness(a, one, cosines[n : n + 1])[0]) for n, a in enumerate(anchors)]
        best = int(np.argmax(closeness))
        anchor = self.catalog.items[anchors[best]]
        link = self.neighbours.link(self.catalog.items[row], anchor)
        if link:
            return f"close to {anchor.title}, which you liked: {link}"
        return f"close to {anchor.title}, which you liked" if closeness[best] >= NEAR_ANCHOR else None

    def _closest_liked(self, vector: np.ndarray, request: RankRequest) -> tuple[CatalogItem, float] | None:
        """(item, similarity): the anchor this item is near (the ranking was built around it, so the why names
        it when they share something), else the latest liked item nearest to it, when near enough to say so."""
        for ids, threshold in ((request.anchors, 0.3), (request.liked[-20:], CLOSE)):
            liked_rows = [self.catalog.row_of[i] for i in ids if i in self.catalog.row_of]
            if not liked_rows:
                continue
            sims = self.catalog.embeddings[liked_rows] @ vector
            best = int(np.argmax(sims))
            if sims[best] > threshold:
                return self.catalog.items[liked_rows[best]], float(sims[best])
        return None

    def _collaborative_reason(self, request: RankRequest) -> str:
        liked = [self.catalog.items[self.catalog.row_of[i]] for i in request.liked if i in self.catalog.row_of]
        if len(liked) == 1:
            return f"people who liked {liked[0].title} also liked it"
        return "people with your favourites liked it too"


def _top_by_position(scores: np.ndarray, k: int) -> np.ndarray:
    """`top_positions`, with the ties at the k-th score taken lowest position first (its partial sort takes any of
    them): a cold start's pool from a few rows (`Recommender._cold_pool`) is then the pool of all of them."""
    top = top_positions(scores, k)
    if len(scores) <= k or not len(top):
        return top
    last = scores[top[-1]]
    above = top[scores[top] > last]
    tied = np.flatnonzero(scores == last)  # ascending
    return np.concatenate([above, tied[: k - len(above)]]) if len(tied) > k - len(above) else top


def _aspect_reason(item: CatalogItem, vector: np.ndarray, request: RankRequest, genres: Iterable[str]) -> str | None:
    """Quote the asked-for phrase the item matches best, if it matches well enough and has every genre the phrase
    names (the read-through found Men in Black "fits 'dark crime drama'")."""
    if not request.aspects:
        return None
    sims = [float(v @ vector) for _, v in request.aspects]
    best = int(np.argmax(sims))
    phrase = request.aspects[best][0]
    named = {g for g in genres if re.search(rf"\b{re.escape(g)}s?\b", phrase.lower())}
    return f"fits “{phrase}”" if sims[best] > ASPECT_FIT and named <= set(item.genres) else None


def _stem(word: str) -> str:
    """The pattern of a word and its other endings: a long word's last letter may change (violent, violence)."""
    return re.escape(word[:-1]) + r"\w*" if len(word) >= 6 else re.escape(word) + "s?"


def _text_of(item: CatalogItem) -> str:
    tags = item.meta.get("tags") or []
    return " ".join([item.description, *(tags if isinstance(tags, list) else [str(tags)])])


def _person_reason(item: CatalogItem, request: RankRequest) -> str | None:
    """'with <person>': the latest liked person the item has (names compared normalized)."""
    if not request.liked_people:
        return None
    present = {normalize(p) for p in people_of(item)}
    named = [p for p in request.liked_people if normalize(p) in present]
    return f"with {named[-1]}" if named else None


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"
