"""The learned ranker on conversation data: training groups, a cross-validated grid, the fit, and
`recochat train ranker` on ReDial's tuning half.

Protocol: a group is one recommendation turn of the tuning split (ReDial's first half, INSPIRED dev) after its
context went through the pipeline, with the formula's best candidates (mentioned items excluded, as in the
new-items protocol) and the turn's new targets marked. Two folds by dialogue, as the formula's grid: a fold's
groups are built with the collaborative component taught by the other fold, a model trained on one fold is
scored on the other, and their rankings are pooled. Targets outside the candidates count as misses. Samples of
ReDial's train/validation conversations, built the same way (`redial.train_samples`), may join each fold's
training groups, never its scored ones; the cross-validation keeps them only when they help. Nothing of the
held-out split is read here. (`benchmarks/ranker.py` adds LightGBM beside it, for comparison.)
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from recochat.profiles.collaborative import CoOccurrence
from recochat.retrieval.encoder import Encoder
from recochat.retrieval.ranker import FEATURES, Group, RankerModel, first_stage_rank, fit_pairwise
from recochat.retrieval.recommender import Recommender
from recochat.retrieval.store import StoredCatalog

from ..engine import Engine
from ..settings import DataSettings
from . import redial
from .metrics import evaluate
from .redial import Learner, Sample, make_engine, replay, tuned_weights

FIRST_STAGES = (100, 200, 400)
L2 = (0.1, 1.0, 10.0)
FORMULA_FROM = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "redial.json"
"""The formula configuration `recochat train ranker` trains under: the one the last full `recochat bench redial`
chose (a results file, read as data)."""
Compare = Callable[[tuple["Groups", "Groups"], dict, bool], list[dict]]
"""Extra rows for the cross-validation log (other models on the same folds): (folds, chosen, smoke) → rows."""


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


def cross_validate(
    folds: tuple[Groups, Groups], smoke: bool = False, extra: Groups | None = None
) -> tuple[dict, list[dict]]:
    """The (first stage, l2, extra or not) with the best pooled two-fold R@10 + R@50 / 2, every point logged, the
    formula's order at each first stage beside it. `extra`: groups from other conversations, added to each fold's
    training groups (never scored: the folds are the tuning split's), tried beside the folds alone."""
    log: list[dict] = []
    best: tuple[float, dict] | None = None
    stages = FIRST_STAGES[:1] if smoke else FIRST_STAGES
    for size in stages:
        a, b = folds[0].truncated(size), folds[1].truncated(size)
        log.append({"model": "formula order", "first_stage": size, **evaluate(rows_of(a, None) + rows_of(b, None))})
        more = extra.truncated(size) if extra is not None else None
        for with_extra in (False, True) if more is not None else (False,):
            for l2 in L2[:1] if smoke else L2:
                rows = []
                for train, test in ((a, b), (b, a)):
                    groups = train.groups + (more.groups if with_extra and more is not None else [])
                    model = fit_pairwise(groups, l2=l2, first_stage=size)
                    rows += rows_of(test, model.score)
                metrics = evaluate(rows)
                name = "linear pairwise" + (" + train conversations" if with_extra else "")
                log.append({"model": name, "first_stage": size, "l2": l2, **metrics})
                key = metrics["recall@10"] + 0.5 * metrics["recall@50"]
                if best is None or key > best[0]:
                    best = (key, {"first_stage": size, "l2": l2, "extra": with_extra, "metrics": metrics})
    assert best is not None
    return best[1], log


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


def extra_groups(
    engine: Engine,
    samples: Sequence[Sample],
    learn: Learner,
    taught_too: set[str],
    first_stage: int,
    recommender_turns: bool,
) -> Groups:
    """Groups of other conversations' samples (ReDial train/validation), in two folds by dialogue, each built with
    the collaborative counts of the other fold plus `taught_too` (the tuning dialogues), never its own: a sample's
    own conversation in the counts would hand the model its targets. The engine replays the samples here."""
    replay(engine, samples, recommender_turns)
    kept = engine.collaborative
    folds = two_folds(samples)
    out = Groups()
    for fold, other in ((folds[0], folds[1]), (folds[1], folds[0])):
        engine.collaborative = learn(other | taught_too)
        out = out + build_groups(engine, [s for s in samples if s.dialog_id in fold], first_stage)
    engine.collaborative = kept
    return out


def fit_chosen(folds: tuple[Groups, Groups], chosen: dict, meta: dict, extra: Groups | None = None) -> RankerModel:
    """The chosen configuration fitted on both folds (and the extra groups, when it chose them)."""
    size = chosen["first_stage"]
    both = folds[0].truncated(size) + folds[1].truncated(size)
    if chosen.get("extra") and extra is not None:
        both = both + extra.truncated(size)
    return fit_pairwise(both.groups, l2=chosen["l2"], first_stage=size, meta=meta)


def describe(model: RankerModel) -> dict[str, float]:
    return {name: round(float(w), 4) for name, w in zip(model.features, model.weights, strict=True)}


def learn_ranker(
    catalog: StoredCatalog,
    scored: StoredCatalog,
    encoder: Encoder,
    learn: Learner,
    home: Path,
    tuning: list[Sample],
    chosen: dict,
    smoke: bool,
    transfer: RankerModel | None = None,
    compare: Compare | None = None,
    extra: Sequence[Sample] = (),
    extra_learn: Learner | None = None,
) -> tuple[RankerModel, dict]:
    """The learned ranker (scoring `scored`: the catalog with the chosen popularity column), cross-validated on the
    tuning split's two folds, then fitted on both; `compare` adds other models' rows to the log. `transfer`, a model
    trained on another dataset, is scored on the same folds beside it, and is returned instead when it does better
    there. The report says whether either beat the formula's own order ("used") and which one it is ("source").
    `extra`: samples of other conversations (`redial.train_samples`) whose groups join the training folds when the
    cross-validation says they help; `extra_learn` teaches their collaborative counts (`extra_groups`)."""
    started = time.perf_counter()
    engine = make_engine(catalog, encoder, CoOccurrence(), home, tuned_weights(chosen))
    engine.recommender = Recommender(scored, tuned_weights(chosen))
    replay(engine, tuning, chosen["recommender_turns"])
    folds = fold_groups(engine, tuning, learn, max(FIRST_STAGES))
    more = None
    if extra and extra_learn is not None:
        tuning_dialogs = {s.dialog_id for s in tuning}
        more = extra_groups(engine, extra, extra_learn, tuning_dialogs, max(FIRST_STAGES), chosen["recommender_turns"])
    built = time.perf_counter() - started
    best, log = cross_validate(folds, smoke, more)
    if compare is not None:
        log += compare(folds, best, smoke)
    formula = next(r for r in log if r["model"] == "formula order" and r["first_stage"] == best["first_stage"])
    key = best["metrics"]["recall@10"] + 0.5 * best["metrics"]["recall@50"]
    better = key > formula["recall@10"] + 0.5 * formula["recall@50"]
    data = f"{catalog.name}: {len(tuning)} tuning samples"
    if best.get("extra") and more is not None:
        data += f" and {len(more.groups)} samples of {len({s.dialog_id for s in extra})} train conversations"
    meta = {"data": data, "features_seconds": round(built, 1)}
    model = fit_chosen(folds, best, meta, more)
    source, two_fold = "trained on this tuning split", best["metrics"]
    if transfer is not None:
        a, b = (fold.truncated(transfer.first_stage) for fold in folds)
        moved = evaluate(rows_of(a, transfer.score) + rows_of(b, transfer.score))
        log.append({"model": f"transferred ({transfer.meta.get('data', 'another dataset')})",
                    "first_stage": transfer.first_stage, **moved})  # fmt: skip
        if moved["recall@10"] + 0.5 * moved["recall@50"] > max(key, formula["recall@10"] + 0.5 * formula["recall@50"]):
            model, source, two_fold, better = transfer, "transferred", moved, True
    summary = {
        "chosen": {k: v for k, v in best.items() if k != "metrics"},
        "used": better,
        "source": source,
        "two_fold": two_fold,
        "formula_two_fold": {k: v for k, v in formula.items() if k.startswith(("recall", "ndcg", "n"))},
        "weights": describe(model),
        "train_seconds": model.meta["train_seconds"],
        "grid": log,
        "seconds": round(time.perf_counter() - started, 1),
    }
    return model, summary


def train_ranker(
    settings: DataSettings | None = None, encoder: Encoder | None = None, formula_from: Path = FORMULA_FROM
) -> dict:
    """`recochat train ranker`: the ranker learned on ReDial's tuning half, its collaborative component taught by
    ReDial's train/validation conversations too (the formula configuration the last full `recochat bench redial`
    chose), with its cross-validated figures; SystemExit when it does no better
    than the formula's own order."""
    settings = settings or DataSettings()
    data, cache = settings.data, settings.bench_cache
    redial.require_data(data)
    encoder = encoder or Encoder(cache_size=redial.EVAL_CACHE)
    items = redial.redial_items(data, cache)
    tuning, _ = redial.split(redial.load_samples(items, data))
    catalog = redial.stored(encoder, items, "redial", cache)
    mentions = redial.redial_mentions(data)
    chosen, _ = redial.reused_formula(formula_from)
    with_popularity = redial.train_popularity(catalog, mentions, data) if chosen["catalog_popularity"] else catalog
    home = Path(tempfile.mkdtemp(prefix="recochat-train-ranker-"))
    train = redial.train_mentions(data)
    learn = redial.events_learner(mentions, catalog, background=train)
    extra = redial.train_samples(items, data)
    extra_learn = redial.events_learner({**mentions, **train}, catalog)
    model, summary = learn_ranker(
        catalog,
        with_popularity,
        encoder,
        learn,
        home,
        tuning,
        chosen,
        smoke=False,
        extra=extra,
        extra_learn=extra_learn,
    )
    if not summary["used"]:
        raise SystemExit("the learned ranker did no better than the formula on the tuning half; no model written")
    return {**summary, "model": model}
