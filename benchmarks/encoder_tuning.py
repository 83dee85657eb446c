"""`recochat bench encoder`: does an encoder tuned to conversations rank ReDial's held-out half better?

Protocol: pairs (the last utterances before a recommender names a movie → that movie's catalog text) from
ReDial's 2,270 train/validation conversations (`redial.train_samples`), fine-tuned with
`MultipleNegativesRankingLoss` (bot/training/encoder.py), early-stopped on the tuning half's content-only
R@10 + R@50 / 2 (new items). The held-out half is read once per model, at the end: the content-only baseline
(context + mentioned items, cosine), base against tuned, each with the catalog encoded by its own model.
`--pipeline` adds the whole pipeline's held-out figures with the tuned encoder (`recochat bench redial` with the
formula its last run chose); the base encoder's are that run's.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from recochat.bot.training import redial as data
from recochat.bot.training.encoder import CONTEXT_CHARS, CONTEXT_TURNS, EncoderTraining, fine_tune, pairs_of
from recochat.retrieval.encoder import DEFAULT_MODEL_NAME
from recochat.retrieval.store import StoredCatalog

from . import redial

RESULTS = redial.RESULTS
SMOKE_CONVERSATIONS = 40


class _Precomputed:
    """`encode_query` answered from one batched pass of a SentenceTransformer over every text a run asks for
    (a query at a time would take minutes on a CPU)."""

    def __init__(self, model: Any, texts: list[str], name: str) -> None:
        self.name = name
        unique = list(dict.fromkeys(texts))
        vectors = model.encode(unique, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
        self._of = dict(zip(unique, np.asarray(vectors, dtype=np.float32), strict=True))

    def encode_query(self, text: str) -> np.ndarray:
        return self._of[text]


def content_scores(model: Any, name: str, items: list, samples: list[data.Sample]) -> dict[str, dict]:
    """The content-only baseline with `model` encoding both the catalog and the contexts."""
    vectors = model.encode([i.text for i in items], batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
    catalog = StoredCatalog(f"redial-{name}", items, np.asarray(vectors, dtype=np.float32))
    queries = _Precomputed(model, [redial.content_query(s) for s in samples], name)
    return redial.content_only(catalog, queries, samples)


def key(metrics: dict[str, dict]) -> float:
    new = metrics["new_items"]
    return float(new["recall@10"] + 0.5 * new["recall@50"])


def run(
    smoke: bool = False,
    out_dir: Path | None = None,
    pipeline: bool = False,
    epochs: int = 3,
    tuned_folder: Path | None = None,
) -> dict:
    """tuned_folder: a model an earlier run (or an interrupted one, after an epoch) saved: scored, not trained."""
    redial.require_data()
    started = time.perf_counter()
    from sentence_transformers import SentenceTransformer

    from recochat.retrieval.encoder import default_model_path

    items = redial.redial_items()
    tuning, heldout = data.split(redial.load_samples(items))
    conversations = SMOKE_CONVERSATIONS if smoke else None
    train = data.train_samples(items, redial.DATA, conversations=conversations)
    if smoke:
        tuning, heldout, epochs = tuning[:40], heldout[:40], 1
        items = redial.smoke_subset(items, tuning + heldout)
        train = [s for s in train if set(s.targets) & {i.id for i in items}]
    by_id = {item.id: item for item in items}
    pairs = pairs_of(train, by_id)
    redial.progress(started, f"{len(pairs)} pairs from {len({s.dialog_id for s in train})} train conversations")
    folder = Path(tempfile.mkdtemp(prefix="recochat-encoder-")) / "conversation-tuned-minilm"
    log: list[dict] = []

    def on_tuning(model: Any) -> float:
        metrics = content_scores(model, "tuning", items, tuning)
        log.append(metrics["new_items"])
        return key(metrics)

    if tuned_folder is None:
        say = lambda line: redial.progress(started, line)  # noqa: E731
        training = fine_tune(pairs, folder, on_tuning, epochs=epochs, progress=say)
    elif (tuned_folder / "config.json").is_file():  # scored only: its tuning-half figures are its training run's
        training = EncoderTraining(pairs=len(pairs), base_score=float("nan"), best_epoch=1, path=tuned_folder)
    else:
        raise SystemExit(f"--tuned {tuned_folder}: not a sentence-transformers model folder (no config.json)")
    base = SentenceTransformer(str(default_model_path()), device="cpu")
    base.max_seq_length = 128
    rows = [{"encoder": f"{DEFAULT_MODEL_NAME} (packaged)", **content_scores(base, "base", items, heldout)}]
    if training.path is not None:
        tuned = SentenceTransformer(str(training.path), device="cpu")
        rows.append(
            {"encoder": f"tuned, epoch {training.best_epoch}", **content_scores(tuned, "tuned", items, heldout)}
        )
    redial.progress(started, "held-out content-only scored")
    result: dict[str, Any] = {
        "benchmark": "ReDial, conversation-tuned encoder",
        "protocol": (__doc__ or "").strip(),
        "date": date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores",
        "smoke": smoke,
        "pairs": training.pairs,
        "train_conversations": len({s.dialog_id for s in train}),
        "context": f"the last {CONTEXT_TURNS} utterances, their last {CONTEXT_CHARS} characters",
        "tuning": (
            {"base": training.base_score, "epochs": training.epochs, "best_epoch": training.best_epoch}
            if tuned_folder is None
            else None
        ),
        "tuning_new_items": log,
        "heldout_content_only": rows,
        "training_seconds": training.seconds,
        "trained_here": tuned_folder is None,
    }
    if pipeline and training.path is not None:
        from recochat.retrieval.encoder import Encoder

        tuned_encoder = Encoder(training.path, backend="torch", cache_size=data.EVAL_CACHE)
        whole = redial.run(smoke, Path(tempfile.mkdtemp()), tuned_encoder, formula_from=redial.RESULTS / "redial.json")
        result["heldout_pipeline_tuned"] = {"heldout": whole["heldout"], "ablation": whole["ablation"]}
    result["seconds"] = round(time.perf_counter() - started, 1)
    out = out_dir or RESULTS
    out.mkdir(parents=True, exist_ok=True)
    name = "encoder_tuning_smoke" if smoke else "encoder_tuning"
    (out / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    (out / f"{name}.md").write_text(markdown(result), encoding="utf-8")
    return result


def markdown(result: dict) -> str:
    lines = [
        f"# {result['benchmark']} ({result['date']}, {result['machine']})",
        "",
        f"{result['pairs']} pairs from {result['train_conversations']} ReDial train/validation conversations; "
        + (
            f"training {result['training_seconds']:.0f} s. Early stopping on the tuning half (content only, new "
            f"items, R@10 + R@50/2): base {result['tuning']['base']:.4f}, "
            + ", ".join(f"epoch {e['epoch']} {e['score']:.4f}" for e in result["tuning"]["epochs"])
            + f"; kept: {'epoch ' + str(result['tuning']['best_epoch']) if result['tuning']['best_epoch'] else 'none'}."
            if result.get("trained_here", True)
            else "the tuned model was saved by an earlier training run (its tuning-half figures are that run's)."
        ),
        "",
        "| held-out, content only | new R@1 | new R@10 | new R@50 | all R@10 |",
        "| --- | --- | --- | --- | --- |",
    ]
    for row in result["heldout_content_only"]:
        new, every = row["new_items"], row["all_targets"]
        lines.append(
            f"| {row['encoder']} | {new['recall@1']:.3f} | {new['recall@10']:.3f} | {new['recall@50']:.3f} "
            f"| {every['recall@10']:.3f} |"
        )
    if "heldout_pipeline_tuned" in result:
        new = result["heldout_pipeline_tuned"]["heldout"]["new_items"]
        lines += ["", f"Whole pipeline, tuned encoder, held-out new items: R@1 {new['recall@1']:.3f}, "
                  f"R@10 {new['recall@10']:.3f}, R@50 {new['recall@50']:.3f}."]  # fmt: skip
    lines += ["", "## Protocol", "", result["protocol"], ""]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="recochat bench encoder", description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="40 conversations, 40 samples per split, one epoch")
    parser.add_argument("--out", type=Path, default=None, help=f"results folder (default {RESULTS})")
    parser.add_argument("--epochs", type=int, default=3, help="at most this many epochs (early stopping)")
    parser.add_argument("--pipeline", action="store_true", help="also the whole pipeline with the tuned encoder")
    parser.add_argument("--tuned", type=Path, default=None, help="score this model folder instead of training one")
    args = parser.parse_args(argv)
    result = run(args.smoke, args.out, args.pipeline, args.epochs, args.tuned)
    print(markdown(result), file=sys.stdout)
    return 0
