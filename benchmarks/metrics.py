"""Ranking metrics with one signature: metric(truth, predictions, k) for one target (`recall_at_k`, `ndcg_at_k`
and `evaluate` live in the product's training, `bot/training/metrics.py`), and who gets shown (`exposure`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from recochat.bot.training.metrics import METRICS, Metric, evaluate, ndcg_at_k, recall_at_k

__all__ = ["METRICS", "Metric", "evaluate", "exposure", "ndcg_at_k", "recall_at_k", "HEAD_SHARE"]

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
