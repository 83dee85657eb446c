"""A conversation-tuned encoder: the packaged MiniLM fine-tuned on (dialogue context → the item recommended next).

Pairs come from recommendation samples (`redial.train_samples`: ReDial's train/validation conversations, never a
test dialogue): the last utterances before a recommender names a movie, and that movie's catalog text. The loss
is sentence-transformers' `MultipleNegativesRankingLoss` (the other items of a batch are the negatives), run in a
plain torch loop: sentence-transformers' own trainer needs `datasets` and `accelerate`, two large dependencies
for what is one loop here. The embeddings and the lowest layers stay frozen (`FROZEN_LAYERS`), which halves the
backward pass on a CPU. Each epoch ends with `evaluate` (higher is better, e.g. recall on the tuning half); the
best epoch is kept, and training stops at the first epoch that does not beat it.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from recochat.retrieval.catalog import CatalogItem
from recochat.retrieval.encoder import default_model_path

from .redial import Sample

log = logging.getLogger(__name__)

CONTEXT_TURNS = 4
"""Utterances of context in a pair: the recent ones say what is asked now."""
CONTEXT_CHARS = 400
"""…cut to their last characters, so the model's 128 tokens hold the latest words."""
MAX_TOKENS = 128
FROZEN_LAYERS = 2
"""MiniLM-L6's lowest transformer layers kept as they are (with the embeddings)."""


@dataclass(frozen=True)
class Pair:
    context: str
    item_text: str


@dataclass
class EncoderTraining:
    """What a fine-tuning run did: the score of the base model and of each epoch, and where the best model is."""

    pairs: int
    base_score: float
    epochs: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    """0: no epoch beat the base model (nothing written)."""
    seconds: float = 0.0
    path: Path | None = None


def context_text(context: Sequence[str]) -> str:
    """The query a pair's context becomes: its last `CONTEXT_TURNS` utterances, their last `CONTEXT_CHARS`."""
    return " ".join(t for t in context[-CONTEXT_TURNS:] if t.strip())[-CONTEXT_CHARS:] or "movie"


def pairs_of(samples: Sequence[Sample], items: Mapping[str, CatalogItem]) -> list[Pair]:
    """One pair per (sample, target in the catalog)."""
    return [
        Pair(context_text(sample.context), items[target].text)
        for sample in samples
        for target in sample.targets
        if target in items
    ]


def fine_tune(
    pairs: Sequence[Pair],
    out: Path,
    evaluate: Callable[[Any], float],
    base: Path | None = None,
    epochs: int = 3,
    batch_size: int = 32,
    learning_rate: float = 3e-5,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> EncoderTraining:
    """Fine-tune `base` (default: the packaged model) on `pairs`; `evaluate(model)` scores the base model and each
    epoch (a SentenceTransformer in eval mode). The best epoch is saved to `out` when it beats the base model."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    started = time.perf_counter()
    torch.manual_seed(seed)
    model = SentenceTransformer(str(base or default_model_path()), device="cpu")
    model.max_seq_length = MAX_TOKENS
    model.eval()
    report = EncoderTraining(pairs=len(pairs), base_score=evaluate(model))
    say = progress or (lambda line: log.info("%s", line))
    say(f"base model: {report.base_score:.4f} on {len(pairs)} pairs")
    transformer: Any = model[0].auto_model  # a BertModel: its submodules are typed as Tensor | Module
    frozen = [transformer.embeddings, *transformer.encoder.layer[:FROZEN_LAYERS]]
    for module in frozen:
        for parameter in module.parameters():
            parameter.requires_grad = False
    loss = MultipleNegativesRankingLoss(model)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=learning_rate)
    order = list(pairs)
    shuffle = random.Random(seed)
    best = report.base_score
    for epoch in range(1, epochs + 1):
        shuffle.shuffle(order)
        model.train()
        losses = []
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            if len(batch) < 2:  # in-batch negatives need another pair
                continue
            features = [model.tokenize([p.context for p in batch]), model.tokenize([p.item_text for p in batch])]
            value = loss(features, None)
            optimizer.zero_grad()
            value.backward()
            optimizer.step()
            losses.append(float(value.detach()))
        model.eval()
        score = evaluate(model)
        report.epochs.append({"epoch": epoch, "score": score, "loss": float(np.mean(losses)) if losses else 0.0})
        say(f"epoch {epoch}: {score:.4f} (best so far {best:.4f}), {time.perf_counter() - started:.0f} s")
        if score <= best:
            break
        best, report.best_epoch = score, epoch
        model.save(str(out))
        report.path = out
    report.seconds = round(time.perf_counter() - started, 1)
    return report
