"""Ranking metrics with one signature: metric(truth, predictions, k) for one target."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

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
