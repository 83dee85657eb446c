"""A large catalog's cold start without scoring every row: the popularity order, and the proof that a few of
its most popular rows hold the whole MMR pool."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .people import PeopleIndex
from .request import RankRequest
from .scorer import Scorer, top_by_position

COLD_HEAD = 512
"""A cold start over a large catalog scores, per soft-genre level, this many of its most popular rows (and every row
tied with the last of them) before the proof that no other row can reach its pool (`ColdStart.pool`)."""
LEVELS = 5
"""Soft-genre levels (`ColdStart._levels`)."""


class ColdStart:
    """Setup: the scorer (its candidate index, weights and popularity prior) and the people index. Construct once
    per catalog: a large one's popularity order is sorted then (~0.1 s at 1M). Use: `pool(rows, request)`."""

    def __init__(self, scorer: Scorer, people: PeopleIndex) -> None:
        self.scorer = scorer
        self.index = scorer.index
        self.people = people
        total = len(self.index.catalog)
        self.by_prior: np.ndarray | None = None
        """Large catalogs: rows by catalog popularity, most popular first (ties in row order)."""
        self._prior_rank = self._prior_desc = np.zeros(0)
        if not self.index.exact(total):  # once at start, so a cold start need not score every row
            self.by_prior = np.argsort(-scorer.meta_prior, kind="stable")
            self._prior_rank = np.empty(total, dtype=np.int64)
            self._prior_rank[self.by_prior] = np.arange(total)
            self._prior_desc = -scorer.meta_prior[self.by_prior]  # ascending: ties are one searchsorted block

    def pool(self, rows: np.ndarray, request: RankRequest) -> np.ndarray:
        """Of a cold start's rows (sorted), a few that hold its whole MMR pool, the same pool as scoring every row
        (34–94 ms at 1M items); `rows` itself when that cannot be shown cheaply (or the rows are few enough to
        score them all).

        Without an interest vector a row's score is its popularity prior plus its soft-genre level, less the
        aversion term (never negative), plus what only some rows get: co-occurrence, learned counts, people. So
        within one soft-genre level, a row without those extras scores at most what a more popular one would
        without the aversion. Per level: the `COLD_HEAD` most popular rows (through the last one's ties), every row
        with an extra, and the next row of the level (the sentinel) are scored; when the pool's last score beats
        each sentinel's bound, no row left out can enter the pool, and its `mmr_pool` rows (ties by row, as
        `top_positions` breaks them) plus the rows with extras (the co-occurrence scale is their largest) are
        returned. Anchors (a cosine per row) and a negative popularity weight keep every row."""
        total = len(self.index.catalog)
        if self.index.exact(len(rows)) or not self._applies(request):
            return rows
        extra = self._extra_rows(request)
        levels = self._levels(request)
        head_size = COLD_HEAD
        while head_size <= total // 8:
            scored, sentinels = self._heads(levels, head_size, extra)
            if len(scored) > total // 4:  # popularity that barely differs (or none): nothing to gain
                return rows
            pool = self._proven_pool(rows, scored, sentinels, request)
            if pool is not None:
                return np.union1d(pool, extra[np.isin(extra, rows)])
            head_size *= 4
        return rows

    def _applies(self, request: RankRequest) -> bool:
        """A popularity order to read, a popularity weight that is not negative, and no anchor in the catalog (nor
        an asked person's work, whose neighbours lead past their own items)."""
        row_of = self.index.catalog.row_of
        return (
            self.by_prior is not None
            and self.scorer.weights.popularity >= 0
            and not any(i in row_of for i in request.built_around)
            and request.standing != "obscure"
        )

    def _extra_rows(self, request: RankRequest) -> np.ndarray:
        """The rows only some get a share of the score from: co-occurrence, learned counts, liked or disliked people."""
        row_of = self.index.catalog.row_of
        ids = {*request.collaborative, *request.popularity_counts}
        for name in (*request.liked_people, *request.disliked_people):
            ids.update(self.people.items_with(name))
        return np.unique(np.array([row_of[i] for i in ids if i in row_of], dtype=np.int64))

    def _levels(self, request: RankRequest) -> np.ndarray | None:
        """Each row's soft-genre level, one per lean `Scorer.leaning` can give it: 0 none, 1 some as a flavour,
        2 some as its first genre, 3 and 4 the same with every one of several; None without soft genres."""
        if not request.preferred_genres:
            return None
        has, what_it_is, every = self.scorer.genre_lean(np.arange(len(self.index.catalog)), request.preferred_genres)
        return (has * (1 + what_it_is) + 2 * every).astype(np.int8)

    def _heads(self, levels: np.ndarray | None, size: int, extra: np.ndarray) -> tuple[np.ndarray, list[int]]:
        """(the rows to score: every level's head and the rows with extras, sorted; the levels' sentinels)."""
        heads, sentinels = [extra], []
        for level in range(1 if levels is None else LEVELS):
            head, sentinel = self._level_head(levels, level, size)
            heads.append(head)
            if sentinel is not None:
                sentinels.append(sentinel)
        return np.unique(np.concatenate(heads)), sentinels

    def _proven_pool(
        self, rows: np.ndarray, scored: np.ndarray, sentinels: list[int], request: RankRequest
    ) -> np.ndarray | None:
        """The MMR pool's rows among `scored` (those of them in `rows`) when no sentinel can beat its last score,
        else None (a bigger head may prove it)."""
        at = np.minimum(np.searchsorted(rows, scored), len(rows) - 1)
        scored = scored[rows[at] == scored]  # only the rows this ranking may pick
        score = self._score(scored, request, columns=request.aversion is not None)
        size = self.scorer.weights.mmr_pool
        pool = top_by_position(score, size)
        if not sentinels:
            return scored[pool]
        if len(pool) != size:
            return None
        plain = replace(request, aversion=None, collaborative={}, liked_people=[], disliked_people=[])
        bound = self._score(np.array(sorted(sentinels), dtype=np.int64), plain, columns=False)
        return scored[pool] if float(score[pool[-1]]) > float(bound.max()) else None

    def _score(self, rows: np.ndarray, request: RankRequest, columns: bool) -> np.ndarray:
        """The formula's score of `rows`; without their embedding columns when nothing reads them."""
        embeddings = self.index.catalog.embeddings
        no_columns = None if columns else np.zeros((len(rows), 0), dtype=embeddings.dtype)
        return self.scorer.formula(rows, request, no_columns).score

    def _level_head(self, levels: np.ndarray | None, level: int, size: int) -> tuple[np.ndarray, int | None]:
        """The `size` most popular rows of a soft-genre level (every row when `levels` is None), with every row of
        the level tied in popularity with the last of them, and the level's next row (None when there is none)."""
        order, total = self.by_prior, len(self.index.catalog)
        assert order is not None
        members = None if levels is None else np.flatnonzero(levels == level)
        if members is not None and len(members) <= size:
            return members, None
        if members is not None and len(members) <= total // 8:  # a sparse level: its ranks in the popularity order
            ranks = self._prior_rank[members]
            last = int(np.partition(ranks, size - 1)[size - 1])
        else:  # a dense one: the first rows of the order hold enough of it
            found = self._dense_head(levels, level, size)
            if len(found) < size:
                return found, None
            last = int(self._prior_rank[found[size - 1]])
        end = int(np.searchsorted(self._prior_desc, self._prior_desc[last], "right"))  # through the ties
        if members is not None and len(members) <= total // 8:
            inside = ranks < end
            return members[inside], (int(order[ranks[~inside].min()]) if not inside.all() else None)
        return self._head_and_next(levels, level, size, end)

    def _dense_head(self, levels: np.ndarray | None, level: int, size: int) -> np.ndarray:
        """The level's rows among the first rows of the popularity order, reaching further until there are `size`."""
        order, total = self.by_prior, len(self.index.catalog)
        assert order is not None
        reach = min(total, 4 * size)
        while True:
            prefix = order[:reach]
            found = prefix if levels is None else prefix[levels[prefix] == level]
            if len(found) >= size or reach == total:
                return found
            reach = min(total, 4 * reach)

    def _head_and_next(
        self, levels: np.ndarray | None, level: int, size: int, end: int
    ) -> tuple[np.ndarray, int | None]:
        """The level's rows among the first `end` of the popularity order, and its next row after them."""
        order, total = self.by_prior, len(self.index.catalog)
        assert order is not None
        head = order[:end] if levels is None else order[:end][levels[order[:end]] == level]
        step = 4 * size
        while end < total:  # the level's next row
            after = order[end : end + step]
            hit = after if levels is None else after[levels[after] == level]
            if len(hit):
                return head, int(hit[0])
            end, step = end + step, 4 * step
        return head, None
