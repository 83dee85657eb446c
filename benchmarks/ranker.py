"""The learned ranker on conversation data: training groups, a cross-validated grid, LightGBM for comparison.

Protocol: a group is one recommendation turn of the tuning split (ReDial's first half, INSPIRED dev) after its
context went through the pipeline, with the formula's best candidates (mentioned items excluded, as in the
new-items protocol) and the turn's new targets marked. Two folds by dialogue, as the formula's grid: a fold's
groups are built with the collaborative component taught by the other fold, a model trained on one fold is
scored on the other, and their rankings are pooled. Targets outside the candidates count as misses. Nothing
of the held-out split is read here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from recochat.bot.engine import Engine
from recochat.profiles.collaborative import CoOccurrence
from recochat.retrieval.ranker import FEATURES, Group, RankerModel, first_stage_rank, fit_pairwise

from .metrics import evaluate

Sample = Any  # redial.Sample (imported lazily: redial imports this module)
FIRST_STAGES = (100, 200, 400)
L2 = (0.1, 1.0, 10.0)


class Groups:
    """Groups of one fold with the targets they missed, so recall counts every target."""

    def __init__(self) -> None:
        self.groups: list[Group] = []
        self.targets: list[list[str]] = []

    def add(self, ids: list[str], features: np.ndarray, targets: list[str]) -> None:
        wanted = set(targets)
        self.groups.append(Group(features, np.array([i in wanted for i in ids], dtype=bool), ids))
        self.targets.append(targets)

    def truncated(self, size: int) -> Groups:
        """The first `size` candidates of each group, with the rank feature recomputed for that size."""
        out = Groups()
        column = FEATURES.index("first_stage_rank")
        for group, targets in zip(self.groups, self.targets, strict=True):
            features = group.features[:size].copy()
            features[:, column] = first_stage_rank(len(features))
            out.groups.append(Group(features, group.relevant[:size], group.ids[:size]))
            out.targets.append(targets)
        return out

    def __add__(self, other: Groups) -> Groups:
        out = Groups()
        out.groups, out.targets = self.groups + other.groups, self.targets + other.targets
        return out


def build_groups(engine: Engine, samples: Sequence[Sample], first_stage: int) -> Groups:
    """Groups for samples whose context the engine has replayed (each sample is its own user)."""
    out = Groups()
    for sample in samples:
        targets = sample.new_targets()
        if not targets:
            continue
        request = engine.ranking_request(sample.user, 50, exclude=sample.mentioned)
        ids, features = engine.recommender.candidate_features(request, first_stage)
        out.add(ids, features, targets)
    return out


def rows_of(groups: Groups, score: Callable[[np.ndarray], np.ndarray] | None) -> list[tuple[str, list[str]]]:
    """(target, top 50) per target, candidates ordered by `score` (None: the formula's order)."""
    rows = []
    for group, targets in zip(groups.groups, groups.targets, strict=True):
        if score is None or not len(group.ids):
            ranked = group.ids[:50]
        else:
            values = score(group.features)
            ranked = [group.ids[i] for i in np.lexsort((np.arange(len(values)), -values))[:50]]
        rows += [(t, ranked) for t in targets]
    return rows


LIGHTGBM = (
    {"num_leaves": 15, "min_child_samples": 50, "n_estimators": 300},
    {"num_leaves": 7, "min_child_samples": 200, "n_estimators": 150},
)
"""Two LightGBM lambdarank settings for the comparison: the library's usual size, and a smaller, more regularized
one (a few thousand groups with one or two positives each)."""


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


def cross_validate(folds: tuple[Groups, Groups], smoke: bool = False) -> tuple[dict, list[dict]]:
    """The (first stage, l2) with the best pooled two-fold R@10 + R@50 / 2, every point logged, the formula's
    order and LightGBM at the chosen first stage logged beside it."""
    log: list[dict] = []
    best: tuple[float, dict] | None = None
    stages = FIRST_STAGES[:1] if smoke else FIRST_STAGES
    for size in stages:
        a, b = folds[0].truncated(size), folds[1].truncated(size)
        log.append({"model": "formula order", "first_stage": size, **evaluate(rows_of(a, None) + rows_of(b, None))})
        for l2 in L2[:1] if smoke else L2:
            rows = []
            for train, test in ((a, b), (b, a)):
                model = fit_pairwise(train.groups, l2=l2, first_stage=size)
                rows += rows_of(test, model.score)
            metrics = evaluate(rows)
            log.append({"model": "linear pairwise", "first_stage": size, "l2": l2, **metrics})
            key = metrics["recall@10"] + 0.5 * metrics["recall@50"]
            if best is None or key > best[0]:
                best = (key, {"first_stage": size, "l2": l2, "metrics": metrics})
    assert best is not None
    chosen = best[1]
    a, b = folds[0].truncated(chosen["first_stage"]), folds[1].truncated(chosen["first_stage"])
    for params in LIGHTGBM[:1] if smoke else LIGHTGBM:
        started = time.perf_counter()
        boosted = _lightgbm(a, b, params)
        if boosted is None:
            break
        boosted += _lightgbm(b, a, params) or []
        log.append({
            "model": "LightGBM lambdarank", **params, "first_stage": chosen["first_stage"],
            "seconds_two_fits": round(time.perf_counter() - started, 1), **evaluate(boosted),
        })  # fmt: skip
    return chosen, log


def two_folds(samples: Sequence[Sample]) -> tuple[set[str], set[str]]:
    """The samples' dialogues in two folds, alternating in sorted order (what the formula's grid and the ranker's
    cross-validation both split on)."""
    dialogs = sorted({s.dialog_id for s in samples})
    return set(dialogs[0::2]), set(dialogs[1::2])


def fold_groups(
    engine: Engine,
    tuning: Sequence[Sample],
    learn: Callable[[set[str]], CoOccurrence],
    first_stage: int,
) -> tuple[Groups, Groups]:
    """The tuning split's groups in two folds by dialogue, each built with the other fold's collaborative counts
    (the engine has replayed every tuning sample)."""
    folds = two_folds(tuning)
    kept = engine.collaborative
    out = []
    for fold, other in ((folds[0], folds[1]), (folds[1], folds[0])):
        engine.collaborative = learn(other)
        out.append(build_groups(engine, [s for s in tuning if s.dialog_id in fold], first_stage))
    engine.collaborative = kept
    return out[0], out[1]


def train(folds: tuple[Groups, Groups], chosen: dict, meta: dict) -> RankerModel:
    """The chosen configuration fitted on both folds."""
    size = chosen["first_stage"]
    both = folds[0].truncated(size) + folds[1].truncated(size)
    return fit_pairwise(both.groups, l2=chosen["l2"], first_stage=size, meta=meta)


def describe(model: RankerModel) -> dict[str, float]:
    return {name: round(float(w), 4) for name, w in zip(model.features, model.weights, strict=True)}
