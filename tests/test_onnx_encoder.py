"""The ONNX Runtime encoder agrees with torch on the same model: the same neighbours, the same vectors."""

import numpy as np
import pytest

from recochat.retrieval.catalog import demo_catalog_path, load_catalog
from recochat.retrieval.encoder import Encoder
from recochat.retrieval.onnx_encoder import passes

QUERIES = [
    "something funny but smart, no horror",
    "I loved Hot Fuzz",
    "a slow, sad space film",
    "more like #2 but older",
    "anything with Tom Hanks from the 90s",
    "a heist movie that isn't too violent",
    "cozy animated film for the kids",
    "not a musical",
]


@pytest.mark.slow
def test_onnx_agrees_with_torch(encoder: Encoder, tmp_path) -> None:
    assert encoder.backend == "onnx"  # the suite's (and a CPU install's) default
    torch = Encoder(backend="torch")
    texts = [item.text for item in load_catalog(demo_catalog_path()).items[:120]]
    catalog_onnx, catalog_torch = encoder.encode_texts(texts), torch.encode_texts(texts)
    queries_onnx, queries_torch = encoder.encode_texts(QUERIES), torch.encode_texts(QUERIES)
    cosine = np.sum(np.vstack([catalog_onnx, queries_onnx]) * np.vstack([catalog_torch, queries_torch]), axis=1)
    assert cosine.min() >= 0.9999, cosine.min()
    top_onnx = np.argsort(-(queries_onnx @ catalog_onnx.T), axis=1)[:, :10]
    top_torch = np.argsort(-(queries_torch @ catalog_torch.T), axis=1)[:, :10]
    agreement = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(top_onnx, top_torch, strict=True)])
    assert agreement >= 0.999, agreement
    assert encoder.name == torch.name == "all-MiniLM-L6-v2"  # the learned parts keep their model


def test_a_bad_backend_is_named() -> None:
    with pytest.raises(ValueError, match="encoder backend 'tpu': use one of auto, onnx, torch"):
        Encoder(backend="tpu")


def test_passes_keep_alike_lengths_together_and_a_long_text_apart() -> None:
    assert passes([22, 3, 3], batch_size=64) == [[0], [1, 2]]  # padding 3-token phrases to 22 costs more than a pass
    assert passes([12, 5], batch_size=64) == [[0, 1]]  # close enough to share a pass
    assert passes([4, 40, 5, 41], batch_size=64) == [[3, 1], [2, 0]]  # longest first, back to positions


def test_passes_hold_every_text_once_within_the_batch_size() -> None:
    lengths = [7, 7, 7, 7, 7, 30, 2]
    split = passes(lengths, batch_size=2)
    assert sorted(i for rows in split for i in rows) == list(range(len(lengths)))
    assert max(len(rows) for rows in split) == 2
    assert passes([], batch_size=4) == []
