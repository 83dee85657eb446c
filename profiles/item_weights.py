"""Item-to-item weights learned from the co-occurrence counts by EASE (Steck, "Embarrassingly Shallow
Autoencoders for Sparse Data", WWW 2019): the collaborative scores a ranking reads.

Why EASE over the cosine of co-occurrence counts: the cosine adds up every pair a liked item was seen in,
so a blockbuster liked beside everything lifts everything. EASE solves one ridge regression per item, each
item's likes from all the others' at once, so a pair that popularity or a third title already explains
weighs little. On the ReDial tuning half (two folds, formula weights re-chosen for each) it moved recall@10
of new items from .193 to .203 and recall@50 from .382 to .392 (benchmarks/README.md).

The counts are the Gram matrix EASE needs: `CoOccurrence.counts[i]` is the sessions that liked i (the
diagonal of XᵀX) and `pairs[i][j]` the sessions that liked both. So the weights are a closed form over what
the collaborative component already keeps: B = I − P·diag(1/diag(P)), P = (G + λI)⁻¹, B's diagonal zeroed.

Cost: one inversion over the `MAX_ITEMS` most liked items (3.3k items of ReDial: ~2 s on 2 cores, 45 MB
kept), so the weights are refitted from the counts now and then, not at every like (`profiles/crowd.py`);
a user's own likes move their scores at once, since a ranking sums the rows of what they liked.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

L2 = 200.0
"""λ, the ridge on every item's regression: 100, 200 and 400 gave the same recall on the ReDial tuning half
(recall@10 .202-.203), so the middle one."""
MAX_ITEMS = 4000
"""The most liked items the weights cover (an n×n float32 matrix: 64 MB at 4,000). Likes of rarer items
still count in the counts and the why; they add no collaborative score."""
TOP = 300
"""Candidates a ranking's collaborative scores keep, best first: the top 300 and the whole list gave the same
recall on the ReDial tuning half, and a large catalog adds each of them to its ANN candidates."""


@dataclass(frozen=True)
class ItemWeights:
    """EASE's weights over `ids` (`weights[i, j]`: how much liking ids[i] predicts liking ids[j])."""

    ids: tuple[str, ...]
    column: Mapping[str, int]
    weights: np.ndarray

    def scores(self, liked: Sequence[str], top: int = TOP) -> dict[str, float]:
        """Candidate → Σ over the liked items of their weight to it, the `top` positive ones; the liked items
        themselves are candidates too (a ranking leaves out what it has shown or been told)."""
        rows = [self.column[item] for item in dict.fromkeys(liked) if item in self.column]
        if not rows:
            return {}
        total = self.weights[rows].sum(axis=0)
        positive = np.flatnonzero(total > 0)
        if len(positive) > top:
            positive = positive[np.argpartition(-total[positive], top)[:top]]
        return {self.ids[j]: float(total[j]) for j in positive}


def fit(
    counts: Mapping[str, float],
    pairs: Mapping[str, Mapping[str, float]],
    l2: float = L2,
    max_items: int = MAX_ITEMS,
) -> ItemWeights | None:
    """EASE over the `max_items` most counted items (ties by id, so a refit of the same counts is the same);
    None when fewer than two items were liked (nothing to learn between them)."""
    ids = tuple(sorted((i for i, n in counts.items() if n > 0), key=lambda i: (-counts[i], i))[:max_items])
    if len(ids) < 2:
        return None
    column = {item: c for c, item in enumerate(ids)}
    gram = np.zeros((len(ids), len(ids)), dtype=np.float64)
    for item, c in column.items():
        gram[c, c] = counts[item] + l2
        for other, together in pairs.get(item, {}).items():
            if (o := column.get(other)) is not None and o != c:
                gram[c, o] = together
    precision = np.linalg.inv(gram)
    weights = precision / -np.diag(precision)
    np.fill_diagonal(weights, 0.0)
    return ItemWeights(ids, column, weights.astype(np.float32))
