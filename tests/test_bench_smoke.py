"""Tiny versions of the quality benchmarks, so the harness cannot rot (full runs: `recochat bench NAME`)."""

import json

import numpy as np
import pytest

from recochat.benchmarks import inspired, redial, simulated
from recochat.bot.training import redial as data
from recochat.retrieval.catalog import CatalogItem
from recochat.retrieval.ranker import FEATURES, load_ranker
from recochat.retrieval.store import StoredCatalog

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def bench_cache(tmp_path, monkeypatch):
    if not (redial.DATA / "redial-ievalm" / "id2info.json").is_file():
        pytest.skip(f"shared data not found at {redial.DATA}")
    monkeypatch.setattr(redial, "CACHE", tmp_path / "cache")


def check_ranking_result(result, out, name):
    assert json.loads((out / f"{name}.json").read_text())["heldout"] == result["heldout"]
    for setting in ("new_items", "all_targets"):
        metrics = result["heldout"][setting]
        assert metrics["n"] > 0
        assert 0 <= metrics["recall@1"] <= metrics["recall@10"] <= metrics["recall@50"] <= 1
    assert [row["variant"] for row in result["ablation"]][0].startswith("content only")
    assert "held-out split" in (out / f"{name}.md").read_text()
    assert list(result["ranker"]["weights"]) == list(FEATURES)
    assert load_ranker(out / f"{name}_ranker.json") is not None
    # who gets shown, for every variant, and along the debias curve (the app's setting)
    assert all(0 < row["exposure"]["coverage@10"] <= 1 for row in result["ablation"])
    curve = result["heldout"]["debias_curve"]
    assert [point["debias"] for point in curve] == list(redial.SMOKE_DEBIAS)
    assert "| debias (chosen configuration) |" in (out / f"{name}.md").read_text()


def test_redial_smoke(tmp_path, encoder):
    result = redial.run(smoke=True, out_dir=tmp_path, encoder=encoder)
    check_ranking_result(result, tmp_path, "redial_smoke")
    assert result["split"] == {"tuning_samples": 40, "heldout_samples": 40}
    standard = result["standard_protocol"]  # the published tables' protocol, beside the headline
    assert standard["samples"] == 80 and standard["new_items"]["n"] > 0
    assert "(no ReDial train conversations)" in result["ablation"][-1]["variant"]
    # the ranker's cross-validation tries the train conversations' samples beside the tuning folds alone
    assert {"linear pairwise", "linear pairwise + train conversations"} <= {
        r["model"] for r in result["ranker"]["grid"]
    }
    assert "Standard protocol, beside the headline" in (tmp_path / "redial_smoke.md").read_text()
    # leaning away from popularity shows less popular items (ReDial's catalog popularity is its train mentions)
    unbiased, debiased = (p["exposure"]["popularity_percentile@10"] for p in result["heldout"]["debias_curve"])
    assert debiased < unbiased


def test_train_conversations_are_outside_the_test_split_and_teach_every_learner():
    conversations = data.train_conversations(redial.DATA)
    assert len(conversations) == len({c.id for c in conversations}) == 2270  # three files, overlaps read once
    assert max(int(c.id) for c in conversations) < 20001  # ReDial's test ids start at 20001
    catalog = StoredCatalog("ids", [CatalogItem(i, i, i) for i in ("111776", "91313", "204322")], np.eye(3))
    background = data.train_mentions(redial.DATA)
    learn = data.events_learner({"20001": ["111776", "91313"]}, catalog, background=background)
    taught, alone = learn(set()), data.events_learner({}, catalog)(set())
    assert taught.popularity("111776") > 0 and alone.popularity("111776") == 0
    assert learn({"20001"}).popularity("111776") == taught.popularity("111776") + 1


def test_inspired_smoke(tmp_path, encoder):
    result = inspired.run(smoke=True, out_dir=tmp_path, encoder=encoder)
    check_ranking_result(result, tmp_path, "inspired_smoke")
    assert 0 < result["coverage_test"]["coverage"] < 1


def test_simulated_smoke(tmp_path, encoder):
    result = simulated.run(10, out_dir=tmp_path, smoke=True, encoder=encoder)
    for setting in ("with_profile", "without_profile"):
        s = result["settings"][setting]
        assert s["n"] == 10 and 0 <= s["success@1"] <= s["success@3"] <= s["success@5"] <= 1
