"""EASE's item weights (profiles/item_weights.py) and how a crowd keeps them fitted to changing counts."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from recochat.profiles.collaborative import CoOccurrence
from recochat.profiles.crowd import Crowd
from recochat.profiles.item_weights import fit

SESSIONS = [["a", "b"], ["a", "b", "c"], ["b", "c"], ["c", "d"], ["a", "d"], ["a", "b", "d"]]


def _model(sessions: list[list[str]]) -> CoOccurrence:
    model = CoOccurrence()
    for n, items in enumerate(sessions):
        model.observe_all(f"user{n}", items)
    return model


def test_the_weights_are_each_items_ridge_regression_on_the_others():
    """The closed form from the counts equals solving, for each item j, min ‖X_j − X_{−j} w‖² + λ‖w‖² over the
    sessions × items matrix X itself: the counts are its Gram matrix."""
    model = _model(SESSIONS)
    counts, pairs = model.snapshot()
    weights = fit(counts, pairs, l2=2.0)
    assert weights is not None
    ids = weights.ids
    x = np.array([[1.0 if i in s else 0.0 for i in ids] for s in SESSIONS])
    for j in range(len(ids)):
        others = [i for i in range(len(ids)) if i != j]
        a = x[:, others]
        solved = np.linalg.solve(a.T @ a + 2.0 * np.eye(len(others)), a.T @ x[:, j])
        assert weights.weights[others, j] == pytest.approx(solved, abs=1e-5)
        assert weights.weights[j, j] == 0.0


def test_scores_sum_the_liked_items_rows_and_keep_the_best_positive_ones():
    model = _model(SESSIONS)
    counts, pairs = model.snapshot()
    weights = fit(counts, pairs, l2=2.0)
    assert weights is not None
    row = weights.weights[weights.column["a"]] + weights.weights[weights.column["c"]]
    scores = weights.scores(["a", "c", "unknown"])
    assert scores == pytest.approx({weights.ids[j]: float(v) for j, v in enumerate(row) if v > 0})
    best = max(scores, key=scores.__getitem__)
    assert weights.scores(["a", "c"], top=1) == pytest.approx({best: scores[best]})
    assert weights.scores(["unknown"]) == {}
    assert fit({"a": 3}, {}) is None  # one liked item: nothing to learn between items


def test_fit_covers_the_most_liked_items_first():
    model = _model(SESSIONS)
    counts, pairs = model.snapshot()
    weights = fit(counts, pairs, max_items=2)
    assert weights is not None and weights.ids == ("a", "b")  # 4 sessions each; c and d have 3


def test_a_crowd_ranks_with_the_last_fit_until_a_background_refit_is_due(monkeypatch: pytest.MonkeyPatch):
    """A fit takes seconds over thousands of items, so a turn never waits for one: after the first, rankings read the
    last fit, and one refit runs in the background once due. An engine handed another component (the benchmark's
    other fold) never ranks with the first one's weights; refit_seconds=0 always ranks with the current counts."""
    started: list[threading.Thread] = []
    monkeypatch.setattr(threading.Thread, "start", lambda thread: started.append(thread))
    crowd = Crowd(refit_seconds=3600)
    own = _model([["a", "b"], ["a", "b"]])
    assert set(crowd.blend(own, ["a"]).scores) == {"b"}  # the first fit: now
    own.observe_all("late", ["a", "c"])
    assert set(crowd.blend(own, ["a"]).scores) == {"b"} and started == []  # the last fit, not due yet
    other = _model([["a", "e"], ["a", "e"]])
    assert set(crowd.blend(other, ["a"]).scores) == {"e"}  # another component: fitted before it ranks

    crowd.refit_seconds = 0.001
    other.observe_all("more", ["a", "f"])
    time.sleep(0.002 + 10 * crowd._fits[other].seconds)  # REFIT_SHARE: ten times the last fit's time
    assert set(crowd.blend(other, ["a"]).scores) == {"e"} and len(started) == 1  # due: a refit in the background
    assert set(crowd.blend(other, ["a"]).scores) == {"e"} and len(started) == 1  # one at a time
    started[0].run()
    assert set(crowd.blend(other, ["a"]).scores) == {"e", "f"}

    crowd.refit_seconds = 0
    other.observe_all("last", ["a", "g"])
    assert set(crowd.blend(other, ["a"]).scores) == {"e", "f", "g"} and len(started) == 1
