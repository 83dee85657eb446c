"""The ONNX Runtime encoder agrees with torch on the same model: the same neighbours, the same vectors."""

import numpy as np
import pytest

from recochat.retrieval.catalog import demo_catalog_path, load_catalog
from recochat.retrieval.encoder import Encoder

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
