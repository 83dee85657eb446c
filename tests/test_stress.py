"""50 users at once for a while: turns, feedback, undo, seen, why, reset and forget against the
real Engine and Conversations over the tiny catalog (hashing encoder), then the invariants of
`benchmarks/stress.py`. Duration: STRESS_SECONDS (default 6: ~1,500 sends and ~200 each of forget and reset on 2 cores)."""

from __future__ import annotations

import os

import pytest

from recochat.benchmarks.stress import stress

SECONDS = float(os.environ.get("STRESS_SECONDS", "6"))  # read at import: the fixtures clear RECOCHAT_*


@pytest.mark.slow
async def test_fifty_users_at_once_keep_every_invariant(fake_runtime):
    report = await stress(fake_runtime.conversations, users=50, seconds=SECONDS, seed=1)
    print(report)
    assert report["errors"] == {}, report["error_samples"]
    assert report["violations"] == {"profile_vs_rebuild": 0, "foreign_items": 0, "collaborative": 0}, report[
        "violation_samples"
    ]
    by_kind = report["by_kind"]
    assert {"send", "feedback", "undo", "reset", "forget"} <= set(by_kind)
    assert all(by_kind[kind]["n"] >= 10 for kind in ("undo", "reset", "forget")), by_kind
    assert report["ok"]


async def test_the_stress_checks_catch_a_profile_that_leaks_between_users(fake_runtime):
    """The checks can fail: a profile row that no longer matches its log, and an item only
    another user was shown, are both reported."""
    from recochat.benchmarks.stress import check

    c = fake_runtime.conversations
    reply = await c.send("a", "something funny")
    await c.send("b", "something scary")
    engine = fake_runtime.engine
    profile = engine.profiles.load("b")
    exposed = {"a": {i.id for i in reply.items}, "b": set(profile.shown)}
    profile.liked.append(min(exposed["a"] - exposed["b"]))  # as if a's item landed in b's profile
    engine.profiles.save(profile)
    result = check(c, ["a", "b"], exposed)
    assert result["violations"] == {"profile_vs_rebuild": 1, "foreign_items": 1, "collaborative": 0}
