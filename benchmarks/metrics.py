"""Ranking metrics with one signature: metric(truth, predictions, k) for one target."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

Metric = Callable[[str, Sequence[str], int], float]


def recall_at_k(truth: str, predictions: Sequence[str], k: int) -> float:
    return 1.0 if truth in predictions[:k] else 0.0


def ndcg_at_k(truth: str, predictions: Sequence[str], k: int) -> float:
    """One relevant item: 1/log2(rank+1) when it is in the top k (ideal DCG is 1)."""
    top = list(predictions[:k])
    return 1.0 / math.log2(top.index(truth) + 2) if truth in top else 0.0


METRICS: dict[str, tuple[Metric, int]] = {
    "recall@1": (recall_at_k, 1),
    "recall@10": (recall_at_k, 10),
    "recall@50": (recall_at_k, 50),
    "ndcg@10": (ndcg_at_k, 10),
}


def evaluate(rows: Sequence[tuple[str, Sequence[str]]]) -> dict[str, float]:
    """rows: (target id, ranked prediction ids), one per target."""
    out: dict[str, float] = {name: 0.0 for name in METRICS}
    for truth, predictions in rows:
        for name, (metric, k) in METRICS.items():
            out[name] += metric(truth, predictions, k)
    n = len(rows)
    result = {name: round(value / n, 4) if n else 0.0 for name, value in out.items()}
    result["n"] = n
    return result


HEAD_SHARE = 0.2
"""The head of a catalog: its most popular fifth. Everything else is the long tail."""


def exposure(rankings: Sequence[Sequence[str]], popularity: Mapping[str, float]) -> dict[str, float]:
    """Who gets shown, over many users' rankings (one per user, best first), against the catalog's popularity
    (every catalog item a key; higher is more popular):

    - coverage@5 / coverage@10: the share of the catalog that is in at least one user's top 5 / top 10;
    - long_tail@10: the share of top-10 slots that go to items outside the most popular `HEAD_SHARE`;
    - popularity_percentile@10: the mean popularity percentile of the top-10 slots (1 = the most popular item).
    """
    ids = sorted(popularity, key=lambda i: (popularity[i], i))
    n = len(ids)
    percentile = {item: position / max(n - 1, 1) for position, item in enumerate(ids)}
    head = set(ids[n - int(round(n * HEAD_SHARE)) :]) if n else set()
    slots = [item for ranking in rankings for item in ranking[:10]]
    return {
        "coverage@5": round(len({i for r in rankings for i in r[:5]}) / n, 4) if n else 0.0,
        "coverage@10": round(len(set(slots)) / n, 4) if n else 0.0,
        "long_tail@10": round(sum(i not in head for i in slots) / len(slots), 4) if slots else 0.0,
        "popularity_percentile@10": round(sum(percentile.get(i, 0.0) for i in slots) / len(slots), 4) if slots else 0.0,
    }
