"""Retrieve candidates, score them, filter, diversify, and say why.

Small catalogs are scored exactly over the in-memory matrix; large ones take ANN candidates
from Chroma (never with a `where` filter: over-fetch, then filter in memory).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .catalog import CatalogItem
from .scoring import ScoringWeights, base_scores, mmr, popularity_prior
from .store import StoredCatalog

EXACT_LIMIT = 50_000
"""Up to this many items a full matrix product beats an ANN round trip."""


@dataclass
class RankRequest:
    u: np.ndarray | None
    n: np.ndarray | None
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
    diversify: bool = True


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
        weights: ScoringWeights = ScoringWeights(),
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
        self._genres = [frozenset(i.genres) for i in catalog.items]
        self.timings_ms: dict[str, float] = {}

    def _candidate_rows(self, request: RankRequest, pool: int) -> np.ndarray:
        total = len(self.catalog)
        if total <= EXACT_LIMIT or self.ann_query is None or request.u is None:
            return np.arange(total)
        fetch = min(total, max(pool * 8, 400))
        ids = set(self.ann_query(request.u, fetch))
        ids.update(request.collaborative)
        rows = [self.catalog.row_of[i] for i in ids if i in self.catalog.row_of]
        return np.array(sorted(rows), dtype=np.int64)

    def _allowed(self, rows: np.ndarray, request: RankRequest) -> np.ndarray:
        mask = np.ones(len(rows), dtype=bool)
        years = self._years[rows]
        if request.year_min is not None:
            mask &= years >= request.year_min
        if request.year_max is not None:
            mask &= years <= request.year_max
        include = set(request.include_genres)
        exclude = set(request.exclude_genres)
        items = self.catalog.items
        for pos, row in enumerate(rows):
            if not mask[pos]:
                continue
            genres = self._genres[row]
            if items[row].id in request.exclude or (include and not genres & include) or genres & exclude:
                mask[pos] = False
        return mask

    def _prior(self, rows: np.ndarray, counts: dict[str, int]) -> np.ndarray:
        if not counts:
            return self._meta_prior[rows]
        top = max(counts.values())
        learned = np.array(
            [np.log1p(counts.get(self.catalog.items[r].id, 0)) / np.log1p(top) for r in rows], dtype=np.float32
        )
        return (self._meta_prior[rows] + learned) / 2 if self._has_meta_popularity else learned

    def rank(self, request: RankRequest) -> list[Recommendation]:
        started = time.perf_counter()
        rows = self._candidate_rows(request, self.weights.mmr_pool)
        retrieved = time.perf_counter()
        rows = rows[self._allowed(rows, request)]
        if len(rows) == 0:
            self.timings_ms = {"retrieve": (retrieved - started) * 1000, "score": 0.0}
            return []
        embeddings = self.catalog.embeddings[rows]
        collab_raw = np.array([request.collaborative.get(self.catalog.items[r].id, 0.0) for r in rows], dtype=np.float32)
        collab = collab_raw / collab_raw.max() if collab_raw.max() > 0 else collab_raw
        prior = self._prior(rows, request.popularity_counts)
        score, similarity, negative = base_scores(embeddings, request.u, request.n, prior, collab, self.weights)
        pool = np.argsort(-score)[: self.weights.mmr_pool]
        if request.diversify:
            lam = self.weights.cold_mmr_lambda if request.u is None else self.weights.mmr_lambda
            picks = [int(pool[p]) for p in mmr(embeddings[pool], score[pool], request.k, lam)]
        else:
            picks = [int(p) for p in pool[: request.k]]
        results = [
            Recommendation(
                item=self.catalog.items[rows[p]],
                score=float(score[p]),
                why=self._why(rows[p], request, float(similarity[p]), float(collab[p]), float(prior[p])),
                rank=rank,
            )
            for rank, p in enumerate(picks, start=1)
        ]
        self.timings_ms = {
            "retrieve": (retrieved - started) * 1000,
            "score": (time.perf_counter() - retrieved) * 1000,
        }
        return results

    def _why(self, row: int, request: RankRequest, similarity: float, collab: float, prior: float) -> str:
        """One short line from the strongest drivers: liked items, aspects, constraints, others."""
        item = self.catalog.items[row]
        vector = self.catalog.embeddings[row]
        reasons: list[str] = []
        liked_rows = [self.catalog.row_of[i] for i in request.liked[-20:] if i in self.catalog.row_of]
        if liked_rows:
            sims = self.catalog.embeddings[liked_rows] @ vector
            best = int(np.argmax(sims))
            if sims[best] > 0.45:
                reasons.append(f"close to {self.catalog.items[liked_rows[best]].title}, which you liked")
        if request.aspects:
            sims = [float(v @ vector) for _, v in request.aspects]
            best = int(np.argmax(sims))
            if sims[best] > 0.25:
                reasons.append(f"fits “{request.aspects[best][0]}”")
        if collab > 0.3:
            reasons.append("people with your favourites liked it too")
        if request.include_genres:
            matched = [g for g in item.genres if g in request.include_genres]
            if matched:
                reasons.append(f"a {matched[0]} as asked")
        if request.year_min is not None or request.year_max is not None:
            reasons.append(f"from {item.year}")
        if request.exclude_genres:
            reasons.append("no " + "/".join(request.exclude_genres))
        if not reasons:
            genres = "/".join(item.genres[:2]) or "pick"
            reasons.append(f"a widely loved {genres}" if prior > 0.6 else f"a {genres} worth a look")
        return "; ".join(reasons[:3])
