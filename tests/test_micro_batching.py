"""Concurrent turns share encoder passes; a lone turn is encoded at once; failures reach every caller."""

import threading
import time

import numpy as np

from recochat.retrieval.encoder import MicroBatcher


class SlowEncoder:
    """Each text becomes [len(text)]; every pass takes 200 ms and is recorded."""

    def __init__(self, fail: bool = False) -> None:
        self.passes: list[list[str]] = []
        self.fail = fail
        self.first_started = threading.Event()

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.passes.append(list(texts))
        self.first_started.set()
        time.sleep(0.2)
        if self.fail:
            raise RuntimeError("encoder exploded")
        return np.array([[float(len(t))] for t in texts], dtype=np.float32)


def call_from_threads(batcher: MicroBatcher, model: SlowEncoder, requests: list[list[str]]) -> list:
    results: list = [None] * len(requests)

    def run(index: int) -> None:
        try:
            results[index] = batcher(requests[index])
        except RuntimeError as error:
            results[index] = error

    first = threading.Thread(target=run, args=(0,))
    first.start()
    model.first_started.wait(5)  # the others arrive while the first pass runs
    rest = [threading.Thread(target=run, args=(i,)) for i in range(1, len(requests))]
    for thread in rest:
        thread.start()
    for thread in [first, *rest]:
        thread.join(5)
    return results


def test_a_lone_caller_gets_its_own_pass():
    model = SlowEncoder()
    vectors = MicroBatcher(model)(["ab", "abcd"])
    assert model.passes == [["ab", "abcd"]]
    assert vectors[:, 0].tolist() == [2.0, 4.0]


def test_callers_arriving_during_a_pass_share_the_next_one():
    model = SlowEncoder()
    requests = [["a"]] + [["x" * n, "same"] for n in range(2, 12)]
    results = call_from_threads(MicroBatcher(model), model, requests)

    assert len(model.passes) == 2
    assert sorted(model.passes[1]) == sorted({t for r in requests[1:] for t in r})  # deduplicated
    for request, vectors in zip(requests, results, strict=True):
        assert vectors[:, 0].tolist() == [float(len(t)) for t in request]


def test_a_failed_pass_raises_in_every_caller_that_shared_it():
    model = SlowEncoder(fail=True)
    results = call_from_threads(MicroBatcher(model), model, [["a"], ["b"], ["c"]])
    assert all(isinstance(r, RuntimeError) and "exploded" in str(r) for r in results)
    model.fail = False
    assert MicroBatcher(model)(["ok"])[:, 0].tolist() == [2.0]


def test_the_real_encoder_gives_the_same_vectors_batched_or_alone(encoder):
    texts = [
        f"a quiet film about {topic}"
        for topic in ("trains", "whales", "chess", "bakers", "storms", "owls", "kites", "glass")
    ]
    alone = encoder.encode_texts(texts)
    encoder._cache.clear()
    out: dict[int, np.ndarray] = {}
    workers = [
        threading.Thread(target=lambda i=i: out.__setitem__(i, encoder.encode_query(texts[i])))
        for i in range(len(texts))
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join(30)
    for i in range(len(texts)):
        np.testing.assert_allclose(out[i], alone[i], atol=1e-5)


def test_a_runtime_runs_blas_on_one_thread(make_runtime, fake_encoder):
    """Concurrent turns' catalog products queued inside OpenBLAS's own threads (50 users at once: half the samples);
    on one thread each they run side by side."""
    from threadpoolctl import threadpool_info, threadpool_limits

    with threadpool_limits(limits=2, user_api="blas"):  # restored after the test, whatever build sets
        make_runtime(encoder=fake_encoder)
        assert {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"} == {1}
