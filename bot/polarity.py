"""The learned polarity reader: whether a title the user names is liked, disliked, only seen, or unclear.

Why: the rules read a title's polarity from negation cues in its own clause, so "I love The Lord of the Rings,
but The Hobbit was too tedious!" and "I've seen Scary Movie but don't really like those" read as likes (on ReDial
test seekers, only ~40% of the titles they said they did not like were read as dislikes). This reader is a
multinomial logistic regression over the sentence encoder's embedding of the mention's clause and of its
window (its sentence and the next), plus the rules' own cues (`POLARITY_CUES`), so it learns what the word list
misses while keeping what it gets right.

- Model file: `polarity_model.json` beside this module (a version, the encoder it was trained with, the cue
  list, the weights). Missing: the rules alone. A different version, cue list or encoder: the rules alone, with
  a warning, never a wrong reading from misaligned weights.
- Cost: the engine encodes the mention texts in the same encoder call as the turn's aspects
  (`TurnReader.signal` in bot/reading.py), so a turn makes one encoder pass, as before; a turn that names a title but has
  no aspect makes one it did not make before.
- "unknown" (the user did not say) keeps the rules' reading.
- Trained by `recochat train polarity` (bot/training/polarity.py: the first half of ReDial test only).
"""

from __future__ import annotations

import json
import logging
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np

from recochat.retrieval.encoder import DEFAULT_MODEL_NAME, TextEncoder

from .understanding import POLARITY_CUES, Polarity, TitleMention

MODEL_VERSION = 1
"""Bumped whenever the features change meaning; a model file of another version is not used."""
MODEL_PATH = Path(__file__).with_name("polarity_model.json")
ENCODER = DEFAULT_MODEL_NAME
Reading = Literal["like", "dislike", "seen", "unknown"]
CLASSES: tuple[Reading, ...] = get_args(Reading)
TEXTS = ("clause", "window")
"""The texts embedded per mention, in feature order (each `dim` wide), then the cues."""

log = logging.getLogger("recochat.polarity")


@dataclass
class PolarityModel:
    """Weights of a multinomial logistic regression; `read` turns a turn's mention vectors into polarities.

    Construct: `load_model()` (the packaged file) or `fit(...)`. Read: `texts(mentions)` gives the texts to
    encode (two per mention), `read(mentions, vectors)` the polarity of each (None: keep the rules')."""

    weights: np.ndarray
    """(classes, features): features are the clause and window vectors, then the cues."""
    bias: np.ndarray
    dim: int
    encoder: str = ENCODER
    cues: tuple[str, ...] = POLARITY_CUES
    meta: dict[str, Any] = field(default_factory=dict)
    """How it was trained (examples, regularization, seconds): reported, never read."""

    @staticmethod
    def texts(mentions: Sequence[TitleMention]) -> list[str]:
        return [text or "it" for m in mentions for text in (m.clause, m.window)]

    def features(self, mentions: Sequence[TitleMention], vectors: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
        """One row per mention: its two text vectors side by side, then its cues. `vectors`: the vectors of
        `texts(mentions)`, in that order (flat, or one (texts, dim) block per mention)."""
        embedded = np.asarray(vectors, dtype=np.float32).reshape(len(mentions), len(TEXTS) * self.dim)
        cues = np.array([[m.cues.get(name, 0.0) for name in self.cues] for m in mentions], dtype=np.float32)
        return np.hstack([embedded, cues.reshape(len(mentions), len(self.cues))])

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        return _softmax(features @ self.weights.T + self.bias)

    def read(
        self, mentions: Sequence[TitleMention], vectors: Sequence[np.ndarray] | np.ndarray
    ) -> list[Polarity | None]:
        if not mentions:
            return []
        best = self.probabilities(self.features(mentions, vectors)).argmax(axis=1)
        return [_reading(CLASSES[i], m.polarity) for i, m in zip(best, mentions, strict=True)]

    def to_json(self) -> dict[str, Any]:
        return {
            "version": MODEL_VERSION,
            "encoder": self.encoder,
            "dim": self.dim,
            "texts": list(TEXTS),
            "cues": list(self.cues),
            "classes": list(CLASSES),
            "weights": np.round(self.weights, 5).tolist(),
            "bias": np.round(self.bias, 5).tolist(),
            "meta": self.meta,
        }

    def save(self, path: Path = MODEL_PATH) -> Path:
        path.write_text(json.dumps(self.to_json(), separators=(",", ":")) + "\n", encoding="utf-8")
        return path


def _reading(learned: Reading, rules: Polarity) -> Polarity | None:
    """None keeps the rules' reading: for "unknown", and for a like where the rules read "seen" ("I have seen
    Heat"): ReDial seekers who say they have seen a title mostly liked it, so the model reads a like, but a seen
    title only leaves the replies, where a like would also pull the next ones toward it on no stated taste."""
    if learned == "unknown" or (learned == "like" and rules == "seen"):
        return None
    return learned


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return np.asarray(shifted / shifted.sum(axis=1, keepdims=True))


def _shape(value: object) -> tuple[int, ...]:
    """The shape of a JSON list of lists; a ragged or missing one gives a shape no header asks for."""
    return tuple(np.asarray(value if isinstance(value, list) else [], dtype=object).shape)


def _mismatch(data: dict[str, Any]) -> str | None:
    """Why a model file cannot be used with this code, or None when it can."""
    if data.get("version") != MODEL_VERSION:
        return f"version {data.get('version')!r}, this code reads version {MODEL_VERSION}"
    if tuple(data.get("cues", ())) != POLARITY_CUES:
        return "its cue list differs from this code's POLARITY_CUES"
    if tuple(data.get("texts", ())) != TEXTS or tuple(data.get("classes", ())) != CLASSES:
        return "its texts or classes differ from this code's"
    width = len(TEXTS) * int(data.get("dim", 0)) + len(POLARITY_CUES)
    if _shape(data.get("weights")) != (len(CLASSES), width) or _shape(data.get("bias")) != (len(CLASSES),):
        return "its weights do not have the shape its header says"
    return None


def load_model(path: Path = MODEL_PATH) -> PolarityModel | None:
    """The model in `path`, or None (the rules alone): silently when there is no file, with a warning when the
    file is there but cannot be used, so a stale model never reads with misaligned weights."""
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        problem = _mismatch(data) if isinstance(data, dict) else "not a JSON object"
    except (OSError, ValueError) as error:
        problem = f"unreadable ({error})"
    if problem:
        warnings.warn(f"polarity model {path} not used ({problem}); reading polarity with the rules", stacklevel=2)
        return None
    return PolarityModel(
        weights=np.asarray(data["weights"], dtype=np.float32),
        bias=np.asarray(data["bias"], dtype=np.float32),
        dim=int(data["dim"]),
        encoder=str(data["encoder"]),
        meta=dict(data.get("meta") or {}),
    )


def model_for(encoder: TextEncoder, path: Path = MODEL_PATH) -> PolarityModel | None:
    """The model if it was trained on this encoder's vectors; else None. Test doubles (no `model_path`) and
    other encoders get the rules: weights learned on MiniLM mean nothing on their vectors."""
    model = load_model(path)
    if model is None:
        return None
    name = getattr(encoder, "name", None)
    if name != model.encoder or getattr(encoder, "dim", model.dim) != model.dim:
        log.info("polarity model not used: trained on %s, this encoder is %s", model.encoder, name or "another")
        return None
    return model


@dataclass(frozen=True)
class TrainingConfig:
    """Regularization and class balance; `offsets` are added to the class logits after training (the operating
    point: a higher dislike offset reads more dislikes)."""

    l2: float = 1e-3
    balance: float = 0.5
    """Class weights ∝ frequency^-balance: 0 = as the data has them, 1 = every class counts the same."""
    steps: int = 400
    offsets: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0)


def fit(
    mentions: Sequence[TitleMention],
    labels: Sequence[Reading],
    vectors: Sequence[np.ndarray] | np.ndarray,
    dim: int,
    config: TrainingConfig = TrainingConfig(),
    meta: dict[str, Any] | None = None,
) -> PolarityModel:
    """Full-batch gradient descent (Adam) on the weighted cross-entropy with an L2 penalty: a few thousand
    mentions train in about a second with numpy alone, and the same data gives the same model."""
    started = time.perf_counter()
    shell = PolarityModel(np.zeros((len(CLASSES), 1)), np.zeros(len(CLASSES)), dim)
    x = shell.features(mentions, vectors).astype(np.float64)
    y = np.array([CLASSES.index(label) for label in labels])
    onehot = np.eye(len(CLASSES))[y]
    counts = np.maximum(onehot.sum(axis=0), 1.0)
    sample_weight = (counts**-config.balance)[y]
    sample_weight *= len(y) / sample_weight.sum()
    weights = np.zeros((len(CLASSES), x.shape[1]))
    bias = np.zeros(len(CLASSES))
    moments = [np.zeros_like(weights), np.zeros_like(weights), np.zeros_like(bias), np.zeros_like(bias)]
    rate, beta1, beta2 = 0.05, 0.9, 0.999
    for step in range(1, config.steps + 1):
        error = (_softmax(x @ weights.T + bias) - onehot) * sample_weight[:, None] / len(y)
        grads = (error.T @ x + config.l2 * weights, error.sum(axis=0))
        for index, (param, grad) in enumerate(zip((weights, bias), grads, strict=True)):
            first, second = moments[2 * index], moments[2 * index + 1]
            first[:] = beta1 * first + (1 - beta1) * grad
            second[:] = beta2 * second + (1 - beta2) * grad**2
            param -= rate * (first / (1 - beta1**step)) / (np.sqrt(second / (1 - beta2**step)) + 1e-8)
    info = {"examples": len(y), "per_class": dict(zip(CLASSES, onehot.sum(axis=0).astype(int).tolist(), strict=True))}
    info |= {"l2": config.l2, "balance": config.balance, "steps": config.steps, "offsets": list(config.offsets)}
    info |= {"train_seconds": round(time.perf_counter() - started, 3), **(meta or {})}
    bias = bias + np.asarray(config.offsets)
    return PolarityModel(weights.astype(np.float32), bias.astype(np.float32), dim, meta=info)
