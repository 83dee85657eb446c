"""A tiny run of `recochat bench understand` (the full run builds 100k items)."""

import random

from recochat.benchmarks import understand_scale


def test_understand_bench_smoke_times_the_same_messages_on_both_catalogs():
    rng = random.Random(1)
    demo, big, words = understand_scale.catalogs(1_000, rng)
    texts = understand_scale.messages(words, rng, count=4)
    assert len(big) == 1_000 and all(len(t) == 2000 for t in texts)
    small, large = understand_scale.timings(demo, texts), understand_scale.timings(big, texts)
    assert small["items"] == len(demo) and large["items"] == 1_000
    assert 0 < small["p50_ms"] <= small["p95_ms"] and 0 < large["p50_ms"] <= large["p95_ms"]
