"""The pieces of `bench scale-hnsw` that decide something: neighbour cosines, and the choice of a setting."""

from __future__ import annotations

import numpy as np

from recochat.benchmarks import scale_hnsw


def test_neighbour_cosines_rank_the_other_items_not_the_item_itself() -> None:
    rng = np.random.default_rng(1)
    vectors = rng.standard_normal((120, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    found = scale_hnsw.neighbour_cosines(vectors, sample=30)
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, -np.inf)
    first = np.sort(sims, axis=1)[:, -1]
    assert found["cos@1"]["p90"] <= first.max() + 1e-6 < 1.0
    assert found["cos@1"]["p50"] >= found["cos@10"]["p50"] >= found["cos@50"]["p50"]
    assert found["gap 1-50"]["p10"] > 0


def test_the_choice_needs_the_target_at_the_low_end_of_the_interval() -> None:
    def row(m: int, ef: int, recall: float, low: float, p50: float) -> dict:
        return {
            "max_neighbors": m,
            "ef_construction": 100,
            "ef_search": ef,
            "effective_ef": max(ef, 400),
            "recall@50": recall,
            "recall@50_low": low,
            "ms": {"p50": p50, "p95": p50 * 2},
        }

    rows = [row(16, 400, 0.951, 0.94, 4.0), row(16, 500, 0.97, 0.96, 6.0), row(16, 800, 0.99, 0.985, 5.0)]
    chosen = scale_hnsw.choose(rows, 0.95)
    assert chosen is not None and chosen["ef_search"] == 800
    assert scale_hnsw.choose(rows, 0.999) is None
    # ef_search 100 and 400 are the same search for 400 ids: one setting, named 100, timed by both
    same = [row(32, 100, 0.97, 0.96, 5.5), row(32, 400, 0.97, 0.96, 4.5), row(16, 800, 0.99, 0.985, 4.8)]
    chosen = scale_hnsw.choose(same, 0.95)
    assert chosen is not None and chosen["max_neighbors"] == 16  # 4.8 ms beats the pair's mean of 5.0
    fewer = scale_hnsw.choose(same[:2], 0.95)
    assert fewer is not None and fewer["ef_search"] == 100 and fewer["ms"]["p50"] == 5.0
