"""The learned ranker: a linear pairwise model that reorders the formula's best candidates.

Why: the formula's weights were set by hand on a small grid, and it cannot weigh what it has no term for (how
close an item is to each liked item, genre overlap with them, year distance). This model learns one weight per
named feature (`FEATURES`) from conversations where we know what was recommended next (ReDial's tuning half,
INSPIRED dev) or from the product's own event log (each 👍 or liked mention, against what the ranker offered
just before it).

Why linear and pairwise (a logistic loss on "the target outranks this candidate"): on the tuning half's two
folds it matched LightGBM lambdarank within noise (benchmarks/README.md), costs one (400 × 16) product per
turn, needs no native dependency, and its weights can be read. Scores are rescaled so they spread the training
candidates as much as cos(interest) does, the formula's main term: the hand-set leanings the data has no examples
of ("more like #2", "something funny") then move a learned ranking as much as they move the formula's
(`Recommender._leaning`).

- Construct: `load_ranker(path)` (None when there is no file; None with a warning when the file is unusable,
  of another version or another feature list: the formula ranks instead), or `fit_pairwise(groups, ...)`.
- Use: `Recommender(catalog, ranker=model)` scores its first `first_stage` formula candidates with it.
- Train: `recochat train ranker` (ReDial tuning half, or `--from-events` the configured profile store).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

RANKER_VERSION = 3
"""Bumped whenever a feature changes meaning; a file of another version is not used. 2: the collaborative
features are EASE's weights (profiles/item_weights.py), no longer the cosine of co-occurrence counts. 3: they are
asked with every item liked, named or seen (`Profile.liked_or_seen`), no longer the liked ones alone."""
FEATURES: tuple[str, ...] = (
    "interest",
    "aversion",
    "liked_max",
    "liked_mean",
    "collaborative",
    "co_occurrence",
    "seen_max",
    "co_seen",
    "learned_popularity",
    "catalog_popularity",
    "people",
    "genre_match",
    "year_distance",
    "recency",
    "aspect_match",
    "first_stage_rank",
)
"""One column each, computed by `Recommender._features`:
- interest: cos(interest vector, item); aversion: max(cos(aversion vector, item), 0);
- liked_max / liked_mean: the item's highest and mean cosine to the latest 20 liked or mentioned items;
- collaborative: co-occurrence with the items liked, named or seen, scaled to the best candidate's; co_occurrence:
  log1p of it raw;
- seen_max / co_seen: the highest cosine to, and log1p of the co-occurrence with, items named without a like;
- learned_popularity: the event log's counts, log-scaled; catalog_popularity: the catalog's own column, log-scaled;
- people: liked people the item has minus disliked ones;
- genre_match: the share of the item's genres among the liked items' genres;
- year_distance: |year − the liked items' median year| / 10, capped at 5 (0 when either is unknown);
- recency: (year − 1950) / 50, floored at 0 (0 when unknown): how much newer titles are wanted is learned;
- aspect_match: the item's highest cosine to the phrases the user asked for or liked (`RankRequest.aspects`);
- first_stage_rank: log1p(position in the formula's order) / log1p(first_stage)."""
FIRST_STAGE = 400
"""How many of the formula's best candidates the model reorders: ReDial's tuning split chose 400 of 100/200/400
(its 400 best hold 66% of the targets, its 200 best 56%); the cost grows with it."""


def first_stage_rank(size: int) -> np.ndarray:
    """The `first_stage_rank` column of a first stage of `size` candidates in the formula's order."""
    return np.log1p(np.arange(size)) / np.log1p(max(size, 1))


class RankerFileError(ValueError):
    """A ranker file that cannot be used: its path and what is wrong with it."""


@dataclass
class RankerModel:
    """Weights over `features` (raw feature scale; scores spread like cos(interest)), and how it was trained."""

    weights: np.ndarray
    features: tuple[str, ...] = FEATURES
    first_stage: int = FIRST_STAGE
    meta: dict[str, Any] = field(default_factory=dict)
    """Where it was trained, on how many groups, with what regularization, in how many seconds: reported only."""

    def score(self, features: np.ndarray) -> np.ndarray:
        return (features @ self.weights).astype(np.float32)

    def save(self, path: Path) -> Path:
        """Written atomically, so a running bot that reloads never reads half a file."""
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {
            "version": RANKER_VERSION,
            "features": list(self.features),
            "weights": [round(float(w), 6) for w in self.weights],
            "first_stage": self.first_stage,
            "meta": self.meta,
        }
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(handle, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2, ensure_ascii=False)
        os.chmod(temporary, 0o644)  # mkstemp's 0600 would hide it from a bot running as another user
        os.replace(temporary, path)
        return path


def read_ranker(path: Path) -> RankerModel:
    """The model in `path`; RankerFileError saying what is wrong when it cannot be used."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise RankerFileError(f"{path}: unreadable ({error})") from error
    if not isinstance(data, dict):
        raise RankerFileError(f"{path}: not a JSON object")
    if data.get("version") != RANKER_VERSION:
        raise RankerFileError(f"{path}: version {data.get('version')!r}, this recochat reads {RANKER_VERSION}")
    if tuple(data.get("features") or ()) != FEATURES:
        raise RankerFileError(f"{path}: features {data.get('features')!r} differ from this recochat's {list(FEATURES)}")
    weights = np.asarray(data.get("weights"), dtype=np.float32)
    if weights.shape != (len(FEATURES),) or not np.isfinite(weights).all():
        raise RankerFileError(f"{path}: 'weights' must be {len(FEATURES)} finite numbers")
    first_stage = data.get("first_stage")
    if not isinstance(first_stage, int) or first_stage < 1:
        raise RankerFileError(f"{path}: 'first_stage' must be a positive integer")
    return RankerModel(weights, FEATURES, first_stage, dict(data.get("meta") or {}))


def load_ranker(path: Path) -> RankerModel | None:
    """The model in `path`, or None (the formula ranks): silently when there is no file, with a warning when there
    is one that cannot be used, so weights never apply to features they were not learned on."""
    if not path.is_file():
        return None
    try:
        return read_ranker(path)
    except RankerFileError as error:
        warnings.warn(f"ranker not used, ranking with the formula: {error}", stacklevel=2)
        return None


@dataclass
class Group:
    """One ranking with known outcomes: the candidates' features (in the formula's order) and which were chosen."""

    features: np.ndarray
    """(candidates, len(FEATURES))."""
    relevant: np.ndarray
    """(candidates,) bool: the item recommended or liked next."""
    ids: list[str] = field(default_factory=list)
    """The candidates' item ids, for evaluation."""


def fit_pairwise(
    groups: Sequence[Group], l2: float = 1.0, first_stage: int = FIRST_STAGE, meta: dict[str, Any] | None = None
) -> RankerModel:
    """Logistic regression on feature differences (relevant − other) within each group, every group weighing the
    same whatever its size; Newton's method (a dozen features: the Hessian is tiny). Features are standardized for
    the fit and the weights mapped back, then scaled so the learned score spreads the candidates as much as
    cos(interest) does (see the module docstring). Raises ValueError when there is nothing to learn from."""
    started = time.perf_counter()
    differences, pair_weights = [], []
    for group in groups:
        good, other = group.features[group.relevant], group.features[~group.relevant]
        if not len(good) or not len(other):
            continue
        pairs = (good[:, None, :] - other[None, :, :]).reshape(-1, group.features.shape[1])
        differences.append(pairs)
        pair_weights.append(np.full(len(pairs), 1.0 / len(pairs)))
    if not differences:
        raise ValueError("no group has a relevant candidate and another one: nothing to learn from")
    d = np.concatenate(differences).astype(np.float64)
    sample = np.concatenate(pair_weights)
    sample *= len(differences) / sample.sum()
    scale = np.concatenate([g.features for g in groups]).std(axis=0)
    scale[scale < 1e-9] = 1.0
    d /= scale
    w = np.zeros(d.shape[1])
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-np.clip(d @ w, -30, 30)))
        gradient = d.T @ (sample * (p - 1.0)) + l2 * w
        hessian = (d * (sample * p * (1 - p))[:, None]).T @ d + l2 * np.eye(len(w))
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.abs(step).max() < 1e-7:
            break
    raw = w / scale
    candidates = np.concatenate([g.features for g in groups])
    spread = float((candidates @ raw).std())
    if spread < 1e-9:
        raise ValueError("the learned weights do not separate any candidates: nothing usable was learned")
    units = float(candidates[:, FEATURES.index("interest")].std()) / spread
    info = {
        "groups": len(differences),
        "pairs": len(d),
        "l2": l2,
        "train_seconds": round(time.perf_counter() - started, 2),
        **(meta or {}),
    }
    return RankerModel((raw * units).astype(np.float32), FEATURES, first_stage, info)
