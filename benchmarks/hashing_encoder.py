"""A deterministic, model-free `TextEncoder`: for the tests' plumbing and the benchmarks' `--smoke` runs,
which check processes, logs and stores, not ranking, and must not spend seconds loading MiniLM."""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence

import numpy as np

_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset(
    "a an and the of to in on for with at by as is it its me my i you your that this from who something please".split()
)


def _singular(word: str) -> str:
    """'ghosts' matches 'ghost', 'screams' matches 'Scream Camp'; 'class' stays."""
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


class HashingEncoder:
    """A deterministic `TextEncoder` with no model: each word (lowercased, a plural 's' dropped,
    stop words skipped) adds ±1 to one of `dim` hashed buckets, and the sum is L2-normalized.
    Texts that share words get similar vectors, so plumbing tests still rank by meaning-ish
    overlap, in microseconds and identically on every machine and device."""

    def __init__(self, dim: int = 256) -> None:
        self.dim = dim
        self.name = f"hashing-{dim}"

    def _words(self, text: str) -> list[str]:
        words = (_singular(w) for w in _WORD.findall(text.lower()))
        return [w for w in words if w not in _STOP]

    def _vector(self, text: str) -> np.ndarray:
        vector = np.zeros(self.dim, dtype=np.float32)
        for word in self._words(text) or [""]:  # no words: still a unit vector, never NaN
            h = zlib.crc32(word.encode())
            vector[h % self.dim] += 1.0 if (h >> 16) & 1 else -1.0
        norm = float(np.linalg.norm(vector))
        if norm == 0.0:  # words that cancelled out
            vector[zlib.crc32(text.encode()) % self.dim] = norm = 1.0
        return vector / norm

    def encode_texts(self, texts: Sequence[str], show_progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._vector(t) for t in texts])

    def encode_queries(self, texts: list[str]) -> list[np.ndarray]:
        """Read-only rows, like the real encoder's cached vectors, so a caller that mutates one fails here too."""
        vectors = list(self.encode_texts(texts))
        for vector in vectors:
            vector.setflags(write=False)
        return vectors

    def encode_query(self, text: str) -> np.ndarray:
        return self.encode_queries([text])[0]
