"""LightGBM lambdarank beside the learned ranker, on the same folds and features, for comparison (`bench redial`).

The ranker itself, its groups, cross-validation and fit are the product's (`bot/training/ranker.py`, which
`recochat train ranker` runs); this module only adds the comparison rows to its log.
"""

from __future__ import annotations

import time

import numpy as np

from recochat.bot.training.ranker import Groups, rows_of, two_folds

from .metrics import evaluate

__all__ = ["LIGHTGBM", "lightgbm_rows", "two_folds"]

LIGHTGBM = (
    {"num_leaves": 15, "min_child_samples": 50, "n_estimators": 300},
    {"num_leaves": 7, "min_child_samples": 200, "n_estimators": 150},
)
"""Two LightGBM lambdarank settings for the comparison: the library's usual size, and a smaller, more regularized
one (a few thousand groups with one or two positives each)."""
SMOKE_LIGHTGBM = {"num_leaves": 7, "min_child_samples": 5, "n_estimators": 10}
"""A smoke run's one setting: the rows' code runs, in a tenth of a second instead of ~1 s per fit."""


def _lightgbm(train: Groups, test: Groups, params: dict) -> list[tuple[str, list[str]]] | None:
    """LightGBM lambdarank on the same features, or None when lightgbm is not installed (`pip install lightgbm`)."""
    try:
        import lightgbm
    except ImportError:
        return None
    usable = [g for g in train.groups if g.relevant.any() and len(g.ids) > 1]
    model = lightgbm.LGBMRanker(objective="lambdarank", learning_rate=0.05, verbose=-1, n_jobs=2, **params)
    model.fit(
        np.concatenate([g.features for g in usable]),
        np.concatenate([g.relevant.astype(int) for g in usable]),
        group=[len(g.ids) for g in usable],
    )
    return rows_of(test, lambda x: np.asarray(model.predict(x)))


def lightgbm_rows(folds: tuple[Groups, Groups], chosen: dict, smoke: bool = False) -> list[dict]:
    """LightGBM at the chosen first stage, trained on one fold and scored on the other, pooled; no rows when
    lightgbm is not installed."""
    rows: list[dict] = []
    a, b = folds[0].truncated(chosen["first_stage"]), folds[1].truncated(chosen["first_stage"])
    for params in (SMOKE_LIGHTGBM,) if smoke else LIGHTGBM:
        started = time.perf_counter()
        boosted = _lightgbm(a, b, params)
        if boosted is None:
            break
        boosted += _lightgbm(b, a, params) or []
        rows.append({
            "model": "LightGBM lambdarank", **params, "first_stage": chosen["first_stage"],
            "seconds_two_fits": round(time.perf_counter() - started, 1), **evaluate(boosted),
        })  # fmt: skip
    return rows
