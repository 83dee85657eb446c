"""The learned ranker: its fit, its file (version and feature list, or the formula with a warning), its use by the
recommender (the request's leanings still apply), and retraining from the product's own event log end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from recochat.bot import runtime as runtime_module
from recochat.bot.frontends.cli import main
from recochat.bot.ranker_training import MIN_GROUPS
from recochat.bot.runtime import Runtime
from recochat.retrieval.catalog import CatalogItem
from recochat.retrieval.ranker import (
    FEATURES,
    RANKER_VERSION,
    Group,
    RankerModel,
    fit_pairwise,
    load_ranker,
)
from recochat.retrieval.recommender import RankRequest, Recommender
from recochat.retrieval.store import StoredCatalog

COLUMN = {name: i for i, name in enumerate(FEATURES)}


def synthetic_groups(count: int, seed: int = 0) -> list[Group]:
    """Groups where the relevant candidate has the highest genre match and only an average cos(interest)."""
    rng = np.random.default_rng(seed)
    groups = []
    for _ in range(count):
        features = rng.normal(size=(30, len(FEATURES))).astype(np.float32)
        target = int(rng.integers(30))
        features[target, COLUMN["genre_match"]] = features[:, COLUMN["genre_match"]].max() + 1.0
        groups.append(Group(features, np.arange(30) == target))
    return groups


def test_pairwise_fit_learns_the_feature_that_orders_the_targets() -> None:
    model = fit_pairwise(synthetic_groups(60), l2=1.0)
    assert model.weights[COLUMN["genre_match"]] == max(model.weights)
    held_out = synthetic_groups(20, seed=1)
    first = [int(np.argmax(model.score(g.features))) for g in held_out]
    assert all(g.relevant[i] for g, i in zip(held_out, first, strict=True))
    assert model.meta["groups"] == 60


def test_a_fit_with_nothing_to_learn_from_is_refused() -> None:
    lonely = Group(np.zeros((3, len(FEATURES)), dtype=np.float32), np.zeros(3, dtype=bool))
    with pytest.raises(ValueError, match="nothing to learn"):
        fit_pairwise([lonely])


def test_model_file_round_trips(tmp_path: Path) -> None:
    model = fit_pairwise(synthetic_groups(30), meta={"data": "synthetic"})
    loaded = load_ranker(model.save(tmp_path / "ranker.json"))
    assert loaded is not None
    assert np.allclose(loaded.weights, model.weights, atol=1e-5)
    assert (loaded.features, loaded.first_stage, loaded.meta["data"]) == (FEATURES, model.first_stage, "synthetic")


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"version": RANKER_VERSION + 1}, "version"),
        ({"features": list(reversed(FEATURES))}, "features"),
        ({"weights": [1.0, 2.0]}, "weights"),
    ],
)
def test_a_mismatched_file_falls_back_to_the_formula_with_a_warning(tmp_path: Path, change: dict, reason: str) -> None:
    path = fit_pairwise(synthetic_groups(30)).save(tmp_path / "ranker.json")
    path.write_text(json.dumps({**json.loads(path.read_text()), **change}))
    with pytest.warns(UserWarning, match=f"ranking with the formula.*{reason}"):
        assert load_ranker(path) is None


def test_no_file_is_the_formula_without_a_warning(tmp_path: Path, recwarn: pytest.WarningsRecorder) -> None:
    assert load_ranker(tmp_path / "missing.json") is None
    assert not recwarn.list


def catalog_with_popularity() -> StoredCatalog:
    """Twelve items on a circle; item 'pop' is far from the query but by far the most popular."""
    angles = np.linspace(0, np.pi, 12)
    vectors = np.stack([np.cos(angles), np.sin(angles), np.zeros(12)], axis=1).astype(np.float32)
    items = [
        CatalogItem(f"i{n}", f"Item {n}", f"Item {n}", {"year": 2000, "popularity": 1000 if n == 11 else 1})
        for n in range(12)
    ]
    return StoredCatalog("circle", items, vectors)


def test_the_recommender_ranks_by_the_learned_score_over_the_formulas_first_stage() -> None:
    catalog = catalog_with_popularity()
    weights = np.zeros(len(FEATURES), dtype=np.float32)
    weights[COLUMN["catalog_popularity"]] = 1.0
    request = RankRequest(interest=catalog.embeddings[0], aversion=None, k=3, diversify=False)
    formula = [r.item.id for r in Recommender(catalog).rank(request).items]
    learned = [r.item.id for r in Recommender(catalog, ranker=RankerModel(weights)).rank(request).items]
    assert formula[0] == "i0" and "i11" not in formula
    assert learned[0] == "i11"
    narrow = [r.item.id for r in Recommender(catalog, ranker=RankerModel(weights, first_stage=5)).rank(request).items]
    assert "i11" not in narrow  # outside the formula's first five: the model never sees it


def test_an_anchor_still_leads_a_learned_ranking() -> None:
    catalog = catalog_with_popularity()
    weights = np.zeros(len(FEATURES), dtype=np.float32)
    weights[COLUMN["interest"]] = 1.0
    learned = Recommender(catalog, ranker=RankerModel(weights))
    plain = RankRequest(interest=catalog.embeddings[0], aversion=None, k=12, diversify=False)
    anchored = RankRequest(interest=catalog.embeddings[0], aversion=None, k=12, diversify=False, anchors=["i6"])
    without = [r.item.id for r in learned.rank(plain).items]
    around = [r.item.id for r in learned.rank(anchored).items]
    assert without[0] == "i0" and around[0] == "i2"  # pulled toward the anchor, as the formula's is
    assert around[:3] == [r.item.id for r in Recommender(catalog).rank(anchored).items][:3]


def test_candidate_features_are_named_columns_in_the_formulas_order() -> None:
    catalog = catalog_with_popularity()
    request = RankRequest(
        interest=catalog.embeddings[0],
        aversion=None,
        k=3,
        liked=["i1"],
        seen=["i2"],
        collaborative_seen={"i3": 2.0},
        aspects=[("a phrase", catalog.embeddings[3])],
    )
    ids, features = Recommender(catalog).candidate_features(request, first_stage=4)
    assert ids == ["i0", "i1", "i2", "i3"]
    assert features.shape == (4, len(FEATURES))
    assert features[0, COLUMN["interest"]] == pytest.approx(1.0)
    assert features[1, COLUMN["liked_max"]] == pytest.approx(1.0)
    assert features[2, COLUMN["seen_max"]] == pytest.approx(1.0)
    assert features[:, COLUMN["co_seen"]].tolist() == pytest.approx([0, 0, 0, np.log1p(2.0)])
    assert features[3, COLUMN["aspect_match"]] == pytest.approx(1.0)
    assert features[:, COLUMN["recency"]].tolist() == pytest.approx([1.0] * 4)  # all from 2000
    assert features[0, COLUMN["first_stage_rank"]] == 0.0


def test_co_occurrence_with_seen_items_is_computed_only_for_a_learned_ranker(fake_runtime) -> None:
    """A turn ranked by the formula does not pay for what only the ranker reads; training and evaluation do."""
    engine = fake_runtime.engine
    engine.feedback("other", "m1", "like")
    engine.feedback("other", "m2", "like")
    engine.mark_seen("user", "m1")
    engine.feedback("user", "m5", "like")
    profile = engine.profiles.load("user")
    assert "m2" in engine.ranking_request("user", 5).collaborative_seen
    assert engine._request(profile, [], features=False).collaborative_seen == {}


# -- retraining from the event log, end to end ---------------------------------------------------------------
PREDICTED = "m13"
"""In the synthetic log, every user's second 👍 is this item, whatever their first was."""


def write_log(runtime: Runtime, users: int) -> None:
    engine = runtime.engine
    others = sorted(i for i in engine.catalog.row_of if i != PREDICTED)
    for n in range(users):
        user = f"u{n}"
        engine.feedback(user, others[n % len(others)], "like")
        engine.feedback(user, PREDICTED, "like")


def position(runtime: Runtime, user: str) -> int:
    return [r.item.id for r in runtime.engine.ranking(user, 14)].index(PREDICTED)


def test_retraining_from_the_event_log_end_to_end(
    make_runtime, encoder, monkeypatch: pytest.MonkeyPatch, isolated_home: Path
) -> None:
    monkeypatch.setattr(runtime_module, "open_encoder", lambda settings: encoder)
    logged = make_runtime()
    write_log(logged, users=3 * MIN_GROUPS)
    newcomer = "newcomer"
    liked = min(
        (i for i in logged.engine.catalog.row_of if i != PREDICTED),
        key=lambda i: (
            logged.engine.catalog.embeddings[logged.engine.catalog.row_of[i]]
            @ logged.engine.catalog.embeddings[logged.engine.catalog.row_of[PREDICTED]]
        ),
    )
    logged.engine.feedback(newcomer, liked, "like")
    before = position(logged, newcomer)
    logged.close()
    assert before > 0, "the formula already puts the item first: the test would show nothing"

    result = CliRunner().invoke(main, ["train", "ranker", "--from-events", "--collection", "tiny"])
    assert result.exit_code == 0, result.output
    path = isolated_home / "ranker.json"
    assert f"wrote {path}" in result.output
    assert load_ranker(path) is not None

    relearned = make_runtime()
    assert relearned.engine.recommender.ranker is not None
    assert position(relearned, newcomer) < before
    relearned.close()


def test_too_few_likes_is_one_clear_line(make_runtime, encoder, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime_module, "open_encoder", lambda settings: encoder)
    logged = make_runtime()
    write_log(logged, users=3)
    logged.close()
    result = CliRunner().invoke(main, ["train", "ranker", "--from-events", "--collection", "tiny"])
    assert result.exit_code == 2
    assert f"at least {MIN_GROUPS} are needed" in result.output and "Traceback" not in result.output


def test_a_turn_with_a_learned_ranker_asks_for_its_features(fake_runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = fake_runtime.engine
    asked: list[bool] = []
    original = engine._request

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        asked.append(kwargs.get("features", False))
        return original(*args, **kwargs)

    monkeypatch.setattr(engine, "_request", spy)
    engine.turn("user", "a funny movie")
    engine.recommender.ranker = RankerModel(np.eye(len(FEATURES), dtype=np.float32)[COLUMN["interest"]])
    engine.turn("user", "something else")
    assert asked == [False, True]


def test_a_train_conversation_becomes_samples_as_the_test_ones_were_built():
    """At each recommender utterance naming catalog movies: the earlier utterances (a sender's consecutive messages
    merged, @ids written as titles), the movies as targets, and what was named before (by id or title) as mentioned;
    a seeker's utterance is never a sample."""
    from recochat.bot.training.redial import conversation_samples
    from recochat.retrieval.titles import TitleIndex

    items = [CatalogItem(i, t, t) for i, t in (("1", "Alien (1979)"), ("2", "Heat (1995)"), ("3", "Ronin (1998)"))]
    record = {
        "conversationId": "77",
        "initiatorWorkerId": 5,
        "movieMentions": {"1": "Alien  (1979)", "2": "Heat (1995)", "3": "Ronin (1998)", "9": "Not Listed (2001)"},
        "messages": [
            {"senderWorkerId": 5, "text": "hi"},
            {"senderWorkerId": 5, "text": "I loved @1"},
            {"senderWorkerId": 6, "text": "Try @2 or @9"},
            {"senderWorkerId": 5, "text": "Seen @3 already, and Alien (1979) of course"},
            {"senderWorkerId": 6, "text": "Then @3 again, or @2"},
        ],
    }
    samples = conversation_samples(record, {"1", "2", "3"}, TitleIndex(items))
    assert [(s.dialog_id, s.turn_id, s.targets) for s in samples] == [
        ("train:77", 1, ["2"]),
        ("train:77", 3, ["3", "2"]),
    ]
    assert samples[0].context == ["hi I loved Alien (1979)"]
    assert samples[0].mentioned == {"1"}
    assert samples[1].context[-1] == "Seen Ronin (1998) already, and Alien (1979) of course"
    assert samples[1].mentioned == {"1", "2", "3"} and samples[1].new_targets() == []


def test_encoder_pairs_are_the_recent_context_and_each_target_in_the_catalog():
    from recochat.bot.training.encoder import CONTEXT_CHARS, context_text, pairs_of
    from recochat.bot.training.redial import Sample

    items = {i: CatalogItem(i, f"Film {i}", f"text of {i}") for i in ("1", "2")}
    long_turn = "x" * (CONTEXT_CHARS + 50)
    samples = [
        Sample("d", 3, ["old", "", "a", "b", "c", "d"], ["1", "9"], set()),
        Sample("e", 1, [long_turn], ["2"], set()),
    ]
    pairs = pairs_of(samples, items)
    assert [(p.context, p.item_text) for p in pairs] == [("a b c d", "text of 1"), ("x" * CONTEXT_CHARS, "text of 2")]
    assert context_text(["", " "]) == "movie"
