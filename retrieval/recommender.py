"""Retrieve candidates, score them, filter, diversify, and say why.

Small catalogs are scored exactly over the in-memory matrix; large ones take ANN candidates
from Chroma (never with a `where` filter: over-fetch, then filter in memory).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from .catalog import CatalogItem
from .people import PeopleIndex, people_of
from .scoring import ScoringWeights, base_scores, mmr, popularity_prior, top_positions
from .store import StoredCatalog
from .titles import normalize

EXACT_LIMIT = 50_000
"""Up to this many items a full matrix product beats an ANN round trip."""
DEFAULT_WEIGHTS = ScoringWeights()


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
    exclude_genres: list[str] = field(default_factory=list)
    liked: list[str] = field(default_factory=list)
    aspects: list[tuple[str, np.ndarray]] = field(default_factory=list)
    """(text, vector) of what the user asked for, to explain matches."""
    collaborative: dict[str, float] = field(default_factory=dict)
    popularity_counts: dict[str, int] = field(default_factory=dict)
    liked_people: list[str] = field(default_factory=list)
    disliked_people: list[str] = field(default_factory=list)
    diversify: bool = True
    explain: bool = True
    """False skips the per-item "why" (evaluation rankings of 50 items)."""


@dataclass
class Recommendation:
    item: CatalogItem
    score: float
    why: str
    rank: int


class Recommender:
    def __init__(
        self,
        catalog: StoredCatalog,
        weights: ScoringWeights = DEFAULT_WEIGHTS,
        ann_query: Callable[[np.ndarray, int], list[str]] | None = None,
    ) -> None:
        self.catalog = catalog
        self.weights = weights
        self.ann_query = ann_query
        self._meta_popularity = np.array(
            [float(i.meta.get("popularity", i.meta.get("nbmentions", 0)) or 0) for i in catalog.items], dtype=np.float32
        )
        self._has_meta_popularity = bool(self._meta_popularity.any())
        self._meta_prior = popularity_prior(self._meta_popularity)
        self._years = np.array([i.year or 0 for i in catalog.items], dtype=np.int32)
        vocabulary = sorted({g for i in catalog.items for g in i.genres})
        self._genre_column = {g: c for c, g in enumerate(vocabulary)}
        self._genres = np.zeros((len(catalog), len(vocabulary)), dtype=bool)
        for row, item in enumerate(catalog.items):
            for genre in item.genres:
                self._genres[row, self._genre_column[genre]] = True
        self.people = PeopleIndex(catalog.items)
        self._local = threading.local()

    @property
    def timings_ms(self) -> dict[str, float]:
        """The last rank() call's times in this thread (turns of different users run in parallel)."""
        return getattr(self._local, "timings", {})

    def _candidate_rows(self, request: RankRequest, pool: int) -> np.ndarray:
        total = len(self.catalog)
        if total <= EXACT_LIMIT or self.ann_query is None or request.interest is None:
            return np.arange(total)
        fetch = min(total, max(pool * 8, 400))
        ids = set(self.ann_query(request.interest, fetch))
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

    def _allowed(self, rows: np.ndarray, request: RankRequest) -> np.ndarray:
        """Hard filters, vectorized: years, genres, excluded ids."""
        everything = len(rows) == len(self.catalog)  # rows are sorted and unique: all of them means no gather
        mask = np.ones(len(rows), dtype=bool)
        years = self._years if everything else self._years[rows]
        if request.year_min is not None:
            mask &= years >= request.year_min
        if request.year_max is not None:
            mask &= years <= request.year_max
        for wanted, genres in ((True, request.include_genres), (False, request.exclude_genres)):
            columns = [self._genre_column[g] for g in genres if g in self._genre_column]
            if not columns:
                if wanted and genres:
                    mask[:] = False
                continue
            present = (self._genres[:, columns] if everything else self._genres[np.ix_(rows, np.asarray(columns))]).any(axis=1)
            mask &= present if wanted else ~present
        if request.exclude:
            mask &= self._on_rows(dict.fromkeys(request.exclude, 1.0), rows) == 0
        return mask

    def _prior(self, rows: np.ndarray, counts: dict[str, int]) -> np.ndarray:
        if not counts:
            return self._meta_prior[rows]
        top = max((c for i, c in counts.items() if i in self.catalog.row_of), default=0)
        learned = popularity_prior(self._on_rows(counts, rows), top=top)
        return (self._meta_prior[rows] + learned) / 2 if self._has_meta_popularity else learned

    def _people_boost(self, request: RankRequest, rows: np.ndarray) -> np.ndarray:
        boost: dict[str, float] = {}
        for sign, names in ((1.0, request.liked_people), (-1.0, request.disliked_people)):
            for name in names:
                for item_id in self.people.items_with(name):
                    boost[item_id] = boost.get(item_id, 0.0) + sign
        return self._on_rows(boost, rows)

    def rank(self, request: RankRequest) -> list[Recommendation]:
        """The top `request.k` items for a request, best first, with the time spent retrieving and
        scoring kept in `timings_ms` (the engine reports them per turn)."""
        started = time.perf_counter()
        rows = self._retrieve(request)
        retrieved = time.perf_counter()
        results = self._score_and_pick(rows, request) if len(rows) else []
        scored_ms = (time.perf_counter() - retrieved) * 1000 if len(rows) else 0.0
        self._local.timings = {"retrieve": (retrieved - started) * 1000, "score": scored_ms}
        return results

    def _retrieve(self, request: RankRequest) -> np.ndarray:
        """Sorted catalog rows that pass the hard filters: ANN candidates for large catalogs, all rows otherwise."""
        candidates = self._candidate_rows(request, self.weights.mmr_pool)
        rows = candidates[self._allowed(candidates, request)]
        if len(rows) < request.k and len(candidates) < len(self.catalog):
            # The filters emptied the ANN candidates (a narrow year range, a rare genre):
            # score the whole filtered catalog rather than answer with nothing.
            everything = np.arange(len(self.catalog))
            rows = everything[self._allowed(everything, request)]
        return rows

    def _score_and_pick(self, rows: np.ndarray, request: RankRequest) -> list[Recommendation]:
        """Score the rows, keep the best pool, diversify it with MMR (unless asked not to) and explain the picks."""
        # All rows (cold start, small catalogs) use the matrix as is: gathering 1M rows copies 1.5 GB.
        embeddings = self.catalog.embeddings if len(rows) == len(self.catalog) else self.catalog.embeddings[rows]
        collab_raw = self._on_rows(request.collaborative, rows)
        collab = collab_raw / collab_raw.max() if collab_raw.max() > 0 else collab_raw
        prior = self._prior(rows, request.popularity_counts)
        score, _, _ = base_scores(embeddings, request.interest, request.aversion, prior, collab, self.weights)
        if request.liked_people or request.disliked_people:
            score = score + self.weights.person * self._people_boost(request, rows)
        pool = top_positions(score, self.weights.mmr_pool)
        if request.diversify:
            lam = self.weights.cold_mmr_lambda if request.interest is None else self.weights.mmr_lambda
            picks = [int(pool[p]) for p in mmr(embeddings[pool], score[pool], request.k, lam)]
        else:
            picks = [int(p) for p in pool[: request.k]]
        return [
            Recommendation(
                item=self.catalog.items[rows[p]],
                score=float(score[p]),
                why=self._why(rows[p], request, float(collab[p]), float(prior[p])) if request.explain else "",
                rank=rank,
            )
            for rank, p in enumerate(picks, start=1)
        ]

    def _why(self, row: int, request: RankRequest, collab: float, prior: float) -> str:
        """One short line from the strongest drivers: liked items, aspects, constraints, others.

        The order of the checks is the order of importance; only the first three reasons are kept."""
        item = self.catalog.items[row]
        vector = self.catalog.embeddings[row]
        reasons = [r for r in (self._liked_reason(vector, request), _aspect_reason(vector, request)) if r]
        person = _person_reason(item, request)
        if person:
            reasons.insert(0, person)
        if collab > 0.3:
            reasons.append("people with your favourites liked it too")
        reasons += _constraint_reasons(item, request)
        if not reasons:
            genres = "/".join(item.genres[:2]) or "pick"
            reasons.append(f"a widely loved {genres}" if prior > 0.6 else f"{_article(genres)} {genres} worth a look")
        return "; ".join(reasons[:3])

    def _liked_reason(self, vector: np.ndarray, request: RankRequest) -> str | None:
        """'close to X, which you liked' when one of the latest liked items is near enough to say so."""
        liked_rows = [self.catalog.row_of[i] for i in request.liked[-20:] if i in self.catalog.row_of]
        if not liked_rows:
            return None
        sims = self.catalog.embeddings[liked_rows] @ vector
        best = int(np.argmax(sims))
        if sims[best] > 0.45:
            return f"close to {self.catalog.items[liked_rows[best]].title}, which you liked"
        return None


def _aspect_reason(vector: np.ndarray, request: RankRequest) -> str | None:
    """Quote the asked-for phrase the item matches best, if it matches well enough."""
    if not request.aspects:
        return None
    sims = [float(v @ vector) for _, v in request.aspects]
    best = int(np.argmax(sims))
    return f"fits “{request.aspects[best][0]}”" if sims[best] > 0.25 else None


def _person_reason(item: CatalogItem, request: RankRequest) -> str | None:
    """'with <person>': the latest liked person the item has (names compared normalized)."""
    if not request.liked_people:
        return None
    present = {normalize(p) for p in people_of(item)}
    named = [p for p in request.liked_people if normalize(p) in present]
    return f"with {named[-1]}" if named else None


def _constraint_reasons(item: CatalogItem, request: RankRequest) -> list[str]:
    """Echo the hard constraints the item satisfies, so the user sees they were heard."""
    reasons = []
    if request.include_genres:
        matched = [g for g in item.genres if g in request.include_genres]
        if matched:
            reasons.append(f"{_article(matched[0])} {matched[0]} as asked")
    if request.year_min is not None or request.year_max is not None:
        reasons.append(f"from {item.year}")
    if request.exclude_genres:
        reasons.append("no " + "/".join(request.exclude_genres))
    return reasons


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"
