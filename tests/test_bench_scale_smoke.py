"""A tiny run of the speed-and-scale benchmark: 1k items, a few turns, 5 users at once,
64 ingested texts; checks the result's shape, not its speed."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from recochat.benchmarks import scale
from recochat.retrieval.encoder import Encoder

pytestmark = pytest.mark.slow


def _positive(value: float | None) -> bool:
    return value is not None and value > 0


def test_scale_smoke(tmp_path: Path, encoder: Encoder, demo_vectors: np.ndarray) -> None:
    out = tmp_path / "results" / "scale.json"
    # the demo's vectors as the suite's shared ingest has them, where the bench would encode them (~5 s)
    (tmp_path / "cache").mkdir()
    np.save(tmp_path / "cache" / "demo_vectors.npy", demo_vectors)
    assert np.allclose(demo_vectors[:3], encoder.encode_texts([i.text for i in scale.demo_items()[:3]]), atol=1e-5)
    result = scale.run(
        sizes=(1000,),
        turns=6,
        users=3,
        crowd=5,
        crowd_rounds=2,
        solo_turns=3,
        ingest_count=64,
        ingest_rounds=2,
        onnx=False,
        cache=tmp_path / "cache",
        out=out,
        encoder=encoder,
    )

    assert json.loads(out.read_text())["sizes"][0]["size"] == 1000
    assert "| 1k | exact |" in out.with_suffix(".md").read_text()
    assert (out.parent / "scale_turns.png").stat().st_size > 0
    assert (out.parent / "scale_concurrency.png").stat().st_size > 0

    assert result["builds"]["scale-1k"] == {**result["builds"]["scale-1k"], "items": 1000, "done": True}
    row = result["sizes"][0]
    assert row["items"] == 1000 and row["retrieval"] == "exact"
    assert row["timed_turns"] == row["turns"] == 6
    for step in (*scale.STEPS, "total"):  # every ranked turn timed every step (a skipped one is not n)
        assert _positive(row["split_ms"][step]["p50"]) and row["split_ms"][step]["n"] == 6, step
    assert row["split_ms"]["total"]["p95"] >= row["split_ms"]["total"]["p50"]
    assert 0 <= row["split_ms"]["other"]["p50"] < row["split_ms"]["total"]["p50"]  # the steps lie inside the turn
    assert _positive(row["encoder_ms"]["p50"]) and _positive(row["langchain_ms"]["p95"])
    assert _positive(row["ratio_p95"]) and _positive(row["encoder_calls_per_turn"])
    assert row["rss_mb"]["peak"] >= row["rss_mb"]["catalog_loaded"] > 0

    crowd = result["concurrency"]
    assert len(crowd["rows"]["concurrent"]) == 10 and len(crowd["rows"]["solo"]) == 3
    assert _positive(crowd["concurrent_ms"]["p95"]) and _positive(crowd["p95_ratio"])
    # how many cores one user's turns keep busy (busy ones: a turn is CPU work), and the ceiling that leaves for many
    # users; both are rounded to 2 decimals, so the ratio of the rounded figures is within 5% of the ceiling
    assert 0.1 <= crowd["solo_cores_busy"] <= (os.cpu_count() or 1) + 0.5 and _positive(crowd["concurrent_cores_busy"])
    assert crowd["throughput_ceiling"] == pytest.approx((os.cpu_count() or 1) / crowd["solo_cores_busy"], rel=0.05)

    ingest = result["ingest"]
    assert ingest["items"] == 64 and len(ingest["ingest_s"]) == len(ingest["raw_encode_s"]) == 2
    assert _positive(ingest["ratio"]) and _positive(ingest["upsert_only_items_per_s"])


def test_messages_are_distinct() -> None:
    plan = scale.conversations(users=20, turns=6, seed=3)
    texts = [text for _, text in plan]
    assert len(texts) == len(set(texts)) == 120
    assert len({user for user, _ in plan}) == 20


def test_synthetic_chunks_are_reproducible() -> None:
    parents = scale.demo_items()[:5]
    vectors = np.eye(5, 384, dtype=np.float32)
    first, a = scale.synthetic_chunk(100, 10, parents, vectors)
    again, b = scale.synthetic_chunk(100, 10, parents, vectors)
    assert [i.id for i in first] == [i.id for i in again] == [f"syn-{n:07d}" for n in range(100, 110)]
    assert np.array_equal(a, b)
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
