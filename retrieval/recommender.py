"""The ranking policy: which candidates a reply shows, in what order, what it gives up when short, and why.

The parts it composes each have one job: `candidates.CandidateIndex` finds the rows a request allows (ANN,
second pass, filters and their caches), `scorer.Scorer` scores them (the formula or a learned ranker),
`cold.ColdStart` keeps a large catalog's cold start from scoring every row, `whys.Whys` says why a pick fits.
The value types are in `request.py` (re-exported here).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from .candidates import CandidateIndex
from .catalog import CatalogItem
from .cold import ColdStart
from .explain import distinct
from .neighbours import NeighbourIndex
from .people import PeopleIndex
from .ranker import FEATURES, RankerModel
from .request import LOOSENING, Loosening, Ranking, RankRequest, Recommendation
from .schema import measured_columns
from .scorer import Scored, Scorer, top_by_position
from .scoring import ScoringWeights, mmr
from .store import StoredCatalog
from .whys import Whys

__all__ = [
    "DEFAULT_WEIGHTS",
    "LOOSENING",
    "Loosening",
    "RankRequest",
    "Ranking",
    "Recommendation",
    "Recommender",
]

FIT_FLOOR = 0.3
"""Below this cosine to the request, a pick within a year range said in passing gives way to a closer one outside it
(the read-through's recent-titles-only replies: Nomadland, Barbie at 0.17–0.28 for a crime-thriller profile)."""
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
PEOPLE_ANCHORS = 5
"""How many of the asked people's works a reply leans to the neighbours of (their best known)."""


class Recommender:
    """Retrieve candidates, score them, fill a short reply by loosening, diversify, and say why.

    Setup: a catalog and, for a large one, `ann_query(vector, n)` (the store's ANN index). Construct with the
    scoring weights and, optionally, a learned ranker (`ranker.py`); both may be replaced later. Rank:
    `rank(request)` gives a `Ranking`; `candidate_features` what a learned ranker trains on."""

    def __init__(
        self,
        catalog: StoredCatalog,
        weights: ScoringWeights = DEFAULT_WEIGHTS,
        ann_query: Callable[[np.ndarray, int], list[str]] | None = None,
        ranker: RankerModel | None = None,
    ) -> None:
        """ranker: a learned model that reorders the formula's best candidates (`ranker.py`); None: the formula."""
        self.catalog = catalog
        self.index = CandidateIndex(catalog, ann_query)
        self.people = PeopleIndex(catalog.items)
        measured = {c: self.index.numbers(c) for c in measured_columns(catalog.catalog_schema())}
        self.neighbours = NeighbourIndex(
            catalog.items, self.index.genres, self.index.genre_column, self.people, catalog.row_of, numbers=measured
        )
        self.scorer = Scorer(self.index, self.people, self.neighbours, weights, ranker)
        self.cold_start = ColdStart(self.scorer, self.people)
        self.whys = Whys(catalog, self.neighbours, self.index.genre_column)

    def warm(self) -> None:
        """Build the indexes that are otherwise built on first use, so no user's turn waits for them (the app does
        this at start and on a catalog swap; one-off uses, tests and benches, may leave it to the first turn)."""
        self.index.warm()
        self.neighbours.warm()

    @property
    def weights(self) -> ScoringWeights:
        return self.scorer.weights

    @weights.setter
    def weights(self, weights: ScoringWeights) -> None:
        self.scorer.weights = weights

    @property
    def ranker(self) -> RankerModel | None:
        return self.scorer.ranker

    @ranker.setter
    def ranker(self, ranker: RankerModel | None) -> None:
        self.scorer.ranker = ranker

    def rank(self, request: RankRequest) -> Ranking:
        """The top `request.k` items for a request, best first, with the time spent retrieving and scoring.

        When the filters leave fewer than k items, the rest of the reply are the nearest items that break
        one constraint, marked in `Recommendation.loosened`: a soft genre first (its items lead, the
        closest others follow), then the year range, then the insisted genres (`LOOSENING`)."""
        started = time.perf_counter()
        rows = self.index.retrieve(request, self.weights.mmr_pool)
        retrieved = time.perf_counter()
        results = self._closer_elsewhere(request, self._fill_leaning(rows, request, [], ()))
        if request.loosen:
            results = self._loosen(request, results)
        whys = distinct([r.why for r in results], [r.item for r in results]) if request.explain else []
        for rank, result in enumerate(results, start=1):
            result.rank, result.why = rank, whys[rank - 1] if whys else ""
        scored_ms = (time.perf_counter() - retrieved) * 1000
        return Ranking(results, {"retrieve": (retrieved - started) * 1000, "score": scored_ms})

    def people_items(self, names: list[str]) -> frozenset[str]:
        """The items with any of these people (`RankRequest.people_items`)."""
        return frozenset(i for name in names for i in self.people.items_with(name))

    def people_anchors(self, people_items: frozenset[str]) -> list[str]:
        """The `PEOPLE_ANCHORS` best known of the asked people's items (`RankRequest.people_anchors`)."""
        return self.scorer.best_known(people_items, PEOPLE_ANCHORS)

    def candidate_features(self, request: RankRequest, first_stage: int) -> tuple[list[str], np.ndarray]:
        """(item ids, `FEATURES` columns) of the formula's `first_stage` best items that pass the hard filters, in
        the formula's order: what a learned ranker is trained on and reorders."""
        rows = self.index.retrieve(request, self.weights.mmr_pool)
        if not len(rows) or request.interest is None:
            return [], np.zeros((0, len(FEATURES)), dtype=np.float32)
        formula = self.scorer.formula(rows, request)
        first, features = self.scorer.first_stage(formula, request, first_stage)
        return [self.catalog.items[r].id for r in formula.rows[first]], features

    def blocking_genres(self, request: RankRequest) -> list[str]:
        """The excluded genres that every item not yet shown, seen or rejected has: what to drop when nothing
        is left (empty when nothing is left at all)."""
        rows = np.arange(len(self.catalog))
        left = rows[self.index.on_rows(dict.fromkeys(request.exclude, 1.0), rows) == 0]
        return [g for g in request.exclude_genres if len(left) and self.index.genre_counts(left, [g]).any()]

    def _loosen(self, request: RankRequest, results: list[Recommendation]) -> list[Recommendation]:
        """A reply short of k filled, one `LOOSENING` step at a time, with the nearest items that break it."""
        for broken in LOOSENING:
            if len(results) >= request.k:
                break
            if broken == (Loosening.BOUNDS,):
                results += self._fill_past_bounds(request, results)
                continue
            relaxed = self._relaxed(request, broken)
            if relaxed is not None:
                rows = self.index.retrieve(relaxed, self.weights.mmr_pool)
                results += self._fill_leaning(rows, relaxed, results, broken)
        return results

    def _fill_past_bounds(self, request: RankRequest, results: list[Recommendation]) -> list[Recommendation]:
        """The nearest items that break the fewest asks about numbers: one ask given up at a time, those said as
        words ("heavy") before those said as numbers ("solo", "for 4 players"), then all of them."""
        asks = sorted(dict.fromkeys((not b.relative, b.said) for b in request.bounds))
        groups = [[said] for _, said in asks] if len(asks) > 1 else []
        filled: list[Recommendation] = []
        for given_up in [*groups, [said for _, said in asks]]:
            if len(results) + len(filled) >= request.k:
                break
            relaxed = replace(request, bounds=tuple(b for b in request.bounds if b.said not in given_up))
            rows = self.index.retrieve(relaxed, self.weights.mmr_pool)
            found = self._fill_leaning(rows, relaxed, [*results, *filled], (Loosening.BOUNDS,))
            for r in found:
                r.missed = tuple(given_up)
            filled += found
        return filled

    def _closer_elsewhere(self, request: RankRequest, results: list[Recommendation]) -> list[Recommendation]:
        """Picks under `FIT_FLOOR` within a year range said in passing give way to close items from other years
        (marked `for_fit`); the weak ones stay only to fill what the others cannot."""
        if not (request.loosen and request.years_in_passing and request.interest is not None):
            return results
        strong = [r for r in results if r.fit >= FIT_FLOOR]
        weak = [r for r in results if r.fit < FIT_FLOOR]
        broken = (Loosening.YEARS,)
        relaxed = self._relaxed(request, broken)
        if not weak or relaxed is None:
            return results
        wanted = request.k - len(strong)
        rows = self.index.retrieve(relaxed, self.weights.mmr_pool)
        found = self._fill(rows, replace(relaxed, k=len(strong) + 3 * wanted), strong, broken)
        closer = [r for r in found if r.fit >= FIT_FLOOR and self.whys.near_liked(r.item, request)][:wanted]
        for r in closer:
            r.for_fit = True
        return (strong + closer + weak)[: request.k]

    @staticmethod
    def _relaxed(request: RankRequest, broken: tuple[Loosening, ...]) -> RankRequest | None:
        """The request without the constraints in `broken` (never its `held_genres`); None when it has none of them
        to give up."""
        years = request.year_min is not None or request.year_max is not None
        no_years, no_genres = Loosening.YEARS in broken, Loosening.GENRES in broken
        held = [g for g in request.include_genres if g in request.held_genres]
        if (no_years and not years) or (no_genres and len(held) == len(request.include_genres)):
            return None
        return replace(
            request,
            include_genres=held if no_genres else request.include_genres,
            year_min=None if no_years else request.year_min,
            year_max=None if no_years else request.year_max,
        )

    def _fill(
        self, rows: np.ndarray, request: RankRequest, taken: list[Recommendation], broken: tuple[Loosening, ...]
    ) -> list[Recommendation]:
        """The best of `rows` not already in the reply, up to k in all, marked as breaking `broken`."""
        need = request.k - len(taken)
        if need <= 0 or not len(rows):
            return []
        return self._score_and_pick(self._untaken(rows, taken), replace(request, k=need), broken)

    def _fill_leaning(
        self, rows: np.ndarray, request: RankRequest, taken: list[Recommendation], broken: tuple[Loosening, ...]
    ) -> list[Recommendation]:
        """`_fill`, with the rows of a soft genre first when fewer of them are left than the reply still needs, or when
        the turn asked for it (`RankRequest.lead_genres`): the closest others then break the soft genre too, and the
        reply says so ("family movies without animation"). Otherwise the genre is only a boost. The first ranking of
        `rank` and every loosening fill it."""
        need = request.k - len(taken)
        if need > 0 and request.loosen and request.preferred_genres and Loosening.SOFT_GENRES not in broken:
            soft = self._soft_rows(rows, request, taken)
            if len(soft) < need or request.lead_genres:
                first = self._fill(soft, request, taken, broken)
                first += self._soft_past_words(request, [*taken, *first], broken)
                return first + self._fill(rows, request, [*taken, *first], (*broken, Loosening.SOFT_GENRES))
        return self._fill(rows, request, taken, broken)

    def _soft_past_words(
        self, request: RankRequest, taken: list[Recommendation], broken: tuple[Loosening, ...]
    ) -> list[Recommendation]:
        """The soft genre's items that miss only the asks said as words ("cheap", "short"), before the items of
        other kinds that keep them: "cheap italian place" is about Italian food, and a pricier trattoria is closer
        to it than a cheap burger joint. Asks said as numbers ("for 4 players") hold longer (`_fill_past_bounds`)."""
        words = [b for b in request.bounds if b.relative]
        if not words or Loosening.BOUNDS in broken or any(b.compared for b in words):
            # "something cheaper" compares with what was shown: the dearer ones it leaves are no closer to it (more
            # headphones at $349 led; the cheaper gadgets of other kinds came after)
            return []
        relaxed = replace(request, bounds=tuple(b for b in request.bounds if not b.relative))
        rows = self.index.retrieve(relaxed, self.weights.mmr_pool)
        found = self._fill(self._soft_rows(rows, request, taken), relaxed, taken, (*broken, Loosening.BOUNDS))
        for r in found:
            r.missed = tuple(dict.fromkeys(b.said for b in words))
        return found

    def _soft_rows(self, rows: np.ndarray, request: RankRequest, taken: list[Recommendation]) -> np.ndarray:
        """Those of `rows` with a soft genre of the request (one this turn asked for, when it asked: "something
        funnier" after horror leads with comedies, the horror ones first), not already in the reply."""
        genres = request.lead_genres or request.preferred_genres
        return self._untaken(rows[self.index.genre_counts(rows, genres) > 0], taken)

    def _untaken(self, rows: np.ndarray, taken: list[Recommendation]) -> np.ndarray:
        """`rows` without the items already in the reply."""
        shown = {r.item.id for r in taken}
        return rows[self.index.on_rows(dict.fromkeys(shown, 1.0), rows) == 0] if shown else rows

    def _score_and_pick(
        self, rows: np.ndarray, request: RankRequest, broken: tuple[Loosening, ...]
    ) -> list[Recommendation]:
        """Score the rows, keep the best pool, diversify it with MMR (unless asked not to) and explain the picks
        (`rank` numbers them and makes the whys of the whole reply distinct)."""
        if not len(rows):
            return []
        if request.interest is None:
            rows = self.cold_start.pool(rows, request)
        scored = self.scorer.scored(rows, request)
        # a reply (diversified, explained, for a taste) holds at most one wildcard in five; plain top-k rankings
        # for evaluation and exports keep the scores' order
        capped = request.diversify and request.explain and request.interest is not None
        picks = self._ordered(scored, request, capped)
        fit = np.zeros(len(scored.score), dtype=np.float32)  # read at the picks only: not a pass over every row
        if request.interest is not None and picks:
            fit[picks] = scored.embeddings[picks] @ self.index.query(request, request.interest)
        return self._chosen(scored, fit, picks, request, broken, capped)

    def _ordered(self, scored: Scored, request: RankRequest, capped: bool) -> list[int]:
        """Positions of the best pool, diversified by MMR (with spares to pass over wildcards when `capped`)."""
        pool = top_by_position(scored.score, self.weights.mmr_pool)
        if not request.diversify:
            return [int(p) for p in pool[: request.k]]
        lam = self.weights.cold_mmr_lambda if request.interest is None else self.weights.mmr_lambda
        if request.standing:  # "the best movies of all time": the best known, not a spread of kinds
            lam = self.weights.mmr_lambda
        if request.anchors:  # "more like X" asks for X's neighbours, which resemble each other: diversify less
            lam = self.weights.anchored_mmr_lambda
        spare = WILDCARD_SPARE if capped else 0
        # the titles named, not an asked person's best known works (`people_anchors`): their own lead together
        row_of = self.catalog.row_of
        anchors = [row_of[i] for i in request.anchors if i in row_of] if capped and not request.blend_anchors else []
        size = len(pool) if len(anchors) > 1 else request.k + spare  # the whole pool, to take turns from
        order = [int(pool[p]) for p in mmr(scored.embeddings[pool], scored.score[pool], size, lam)]
        return self._taking_turns(scored, order, anchors)[: request.k + spare] if len(anchors) > 1 else order

    def _taking_turns(self, scored: Scored, order: list[int], anchors: list[int]) -> list[int]:
        """`order` (positions) with the anchors taking turns, each giving its closest picks in their order: "I like
        Knives Out and Gone Girl" gave five of Gone Girl's neighbours (a Fincher thriller: its links score higher,
        and the crowd's co-likes add to them) and none of Knives Out's. An anchor leads with its own best pick."""
        rows = scored.rows[order]
        ranked = np.argsort(rows, kind="stable")
        ordered_rows = rows[ranked]
        embeddings = self.catalog.embeddings[ordered_rows]
        closeness = np.zeros((len(anchors), len(rows)), dtype=np.float32)
        for i, anchor in enumerate(anchors):
            closeness[i, ranked] = self.neighbours.anchor_closeness(
                anchor, ordered_rows, embeddings, self.catalog.embeddings
            )
        owner = closeness.argmax(axis=0)
        turns: dict[int, list[int]] = {}
        for position, anchor in zip(order, owner, strict=True):
            turns.setdefault(int(anchor), []).append(position)
        queues = list(turns.values())  # anchors in the order of their best pick
        taken: list[int] = []
        while any(queues):
            taken += [queue.pop(0) for queue in queues if queue]
        return taken

    def _chosen(
        self,
        scored: Scored,
        fit: np.ndarray,
        picks: list[int],
        request: RankRequest,
        broken: tuple[Loosening, ...],
        capped: bool,
    ) -> list[Recommendation]:
        """The first k of `picks` as recommendations, explained; with `capped`, wildcards past one in five, or near
        what the user rejects, held back to fill only what nothing else can."""
        chosen: list[Recommendation] = []
        held: list[Recommendation] = []
        wildcards = 0
        best_fit = max((float(fit[p]) for p in picks), default=0.0)
        for p in picks:
            pick = self._pick(scored, p, fit, request, broken)
            if capped and not pick.linked and fit[p] < WILDCARD_FIT * best_fit:
                # nothing ties it to the request or the taste, and it fits far worse than the best pick: exploration
                # or popularity put it here. At most one in five, never near what the user rejects, said as it is.
                pick.why = f"something different: {pick.why}"
                if wildcards >= max(1, request.k // 5) or scored.negative[p] > WILDCARD_AVERSION:
                    held.append(pick)
                    continue
                wildcards += 1
            chosen.append(pick)
            if len(chosen) == request.k:
                break
        chosen += held[: request.k - len(chosen)]
        return chosen

    def _pick(
        self, scored: Scored, p: int, fit: np.ndarray, request: RankRequest, broken: tuple[Loosening, ...]
    ) -> Recommendation:
        """The recommendation at position `p`, explained (`Recommendation.linked`: whether its why ties it to the
        request or the taste)."""
        row = scored.rows[p]
        if request.explain:
            why, linked = self.whys.why(row, request, float(scored.collab[p]), float(scored.prior[p]))
        else:
            why, linked = "", True
        item: CatalogItem = self.catalog.items[row]
        return Recommendation(item, float(scored.score[p]), why, 0, broken, float(fit[p]), linked=linked)
