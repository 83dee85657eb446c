"""ReDial: recommendation quality of the real conversation pipeline, with an ablation.

Protocol (also written into the results):
- Catalog: iEvaLM's ReDial `id2info.json` (6,583 movies; plot, genres, director, cast
  embedded), ingested through `recochat ingest`'s code path into Chroma.
- Samples: iEvaLM's `test_data_processed.jsonl`; split by `dialog_id` sorted as strings, the
  first half tunes, the second half is held out. Nothing is learned from held-out dialogues.
- Each sample: a fresh user; its context turns go through `Engine.turn` (title linking,
  negation, constraints, profile update), then `Engine.ranking` ranks the whole catalog.
- Every `rec` title is one target. `all_targets`: nothing excluded. `new_items`: targets
  mentioned earlier in the context are dropped, and every mentioned item is excluded.
- Learning from other users: ReDial's train/validation conversations (`redial-train/`, 2,270) and
  the tuning split's original ReDial conversations are replayed as positive events (every movie
  mentioned, in order) into the same `CoOccurrence` component that learns from real users'
  feedback; its counts are the learned popularity prior. An ablation row shows the tuning half alone.
- Standard-protocol rows: learned from the train/validation conversations only, ranked for the
  whole test set, for a fair line against the published tables (which learn from all of train).
- Catalog popularity (a separate ablation row): the catalog's `popularity` column is
  ReDial's `nbMentions` minus every @mention in the test conversations (tuning and held-out),
  i.e. mentions in ReDial's train/validation conversations, which the published systems
  train on. Nothing of the held-out dialogues remains in it.
- Tuning is two-fold inside the tuning split: the samples of one half of its dialogues are
  scored with what the other half taught the collaborative component, so a sample never
  sees its own conversation's future mentions.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from recochat.bot.engine import Engine
from recochat.bot.polarity import MODEL_PATH, MODEL_VERSION, PolarityModel, load_model
from recochat.bot.training import polarity as polarity_training
from recochat.bot.training import redial as data
from recochat.bot.training.polarity import POLARITY_PROTOCOL, PolarityExample, polarity_scores
from recochat.bot.training.ranker import learn_ranker as _learn_ranker
from recochat.bot.training.redial import (
    BASE,
    EVAL_CACHE,
    Learner,
    Sample,
    events_learner,
    make_engine,
    replay,
    reused_formula,
    split,
    tuned_weights,
)
from recochat.profiles.collaborative import CoOccurrence
from recochat.retrieval.catalog import CatalogItem
from recochat.retrieval.encoder import DEFAULT_MODEL_NAME, Encoder
from recochat.retrieval.ranker import RankerModel
from recochat.retrieval.recommender import Recommender
from recochat.retrieval.scoring import ScoringWeights
from recochat.retrieval.store import StoredCatalog

from . import ranker as ranking
from .metrics import evaluate, exposure
from .settings import SETTINGS

ROOT = Path(__file__).resolve().parent.parent
DATA = SETTINGS.data
CACHE = SETTINGS.bench_cache
"""Built catalogs (read at each call, so a test can point it elsewhere)."""
RESULTS = ROOT / "benchmarks" / "results"
ANCHORS = {
    "KBRD": {"recall@1": 0.030, "recall@10": 0.163, "recall@50": 0.338},
    "KGSF": {"recall@1": 0.039, "recall@10": 0.183, "recall@50": 0.378},
    "UniCRS": {"recall@1": 0.051, "recall@10": 0.224, "recall@50": 0.428},
    "UniCRS, repeated items removed": {"recall@1": 0.024, "recall@10": 0.180, "recall@50": 0.335},
    "GPT-4 zero-shot": {"recall@10": 0.194},
}
TARGET = {"recall@1": 0.05, "recall@10": 0.23, "recall@50": 0.43}


def require_data() -> None:
    data.require_data(DATA)


def redial_items() -> list[CatalogItem]:
    """id2info → JSONL → the product's catalog loader (bot/training/redial.py)."""
    return data.redial_items(DATA, CACHE)


def stored(encoder: Encoder, items: list[CatalogItem], name: str) -> StoredCatalog:
    """Ingest through the product's code path (cached by content hash) and load into memory."""
    return data.stored(encoder, items, name, CACHE)


def catalog_name(encoder: Encoder) -> str:
    """The cached catalog's collection: one per encoder, so a tuned encoder's run leaves the base one's in place."""
    if encoder.name == DEFAULT_MODEL_NAME:
        return "redial"
    return "redial-" + re.sub(r"[^a-z0-9]+", "-", encoder.name.lower()).strip("-")[:50]


def load_redial_catalog(encoder: Encoder) -> StoredCatalog:
    return stored(encoder, redial_items(), catalog_name(encoder))


def smoke_subset(items: list[CatalogItem], samples: list[Sample], extra: int = 120) -> list[CatalogItem]:
    """For CI: the items the samples touch plus a hundred or so others, so ingest takes seconds."""
    keep = {t for s in samples for t in s.targets} | {m for s in samples for m in s.mentioned}
    others = [i for i in items if i.id not in keep][:extra]
    return [i for i in items if i.id in keep] + others


def load_samples(items: list[CatalogItem]) -> list[Sample]:
    return data.load_samples(items, DATA)


def redial_mentions() -> dict[str, list[str]]:
    return data.redial_mentions(DATA)


def train_popularity(catalog: StoredCatalog, mentions: dict[str, list[str]]) -> StoredCatalog:
    return data.train_popularity(catalog, mentions, DATA)


Rows = tuple[list[tuple[str, list[str]]], list[tuple[str, list[str]]]]


def ranked_rows(engine: Engine, samples: list[Sample], diversify: bool = False) -> Rows:
    """(all_targets rows, new_items rows): one (target, top-50) per target."""
    rows_all, rows_new = [], []
    for sample in samples:
        ranked = [r.item.id for r in engine.ranking(sample.user, 50, diversify=diversify)]
        rows_all += [(t, ranked) for t in sample.targets]
        if sample.new_targets():
            fresh = [r.item.id for r in engine.ranking(sample.user, 50, exclude=sample.mentioned, diversify=diversify)]
            rows_new += [(t, fresh) for t in sample.new_targets()]
    return rows_all, rows_new


def metrics_of(rows: Rows, popularity: Mapping[str, float] | None = None) -> dict[str, dict]:
    """Recall and NDCG per target; with `popularity`, also who gets shown over the samples' rankings (`exposure`)."""
    out = {"new_items": evaluate(rows[1]), "all_targets": evaluate(rows[0])}
    if popularity is not None:
        rankings = list({id(ranked): ranked for _, ranked in rows[0]}.values())  # one per sample, not per target
        out["exposure"] = exposure(rankings, popularity)
    return out


def score(
    engine: Engine, samples: list[Sample], diversify: bool = False, popularity: Mapping[str, float] | None = None
) -> dict[str, dict]:
    return metrics_of(ranked_rows(engine, samples, diversify), popularity)


def popularity_of(catalog: StoredCatalog) -> dict[str, float]:
    """Each item's popularity as the catalog's prior has it: the yardstick of `exposure`."""
    prior = catalog.column_arrays().prior_popularity
    return {item.id: float(value) for item, value in zip(catalog.items, prior, strict=True)}


DEBIAS_CURVE = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5)
"""The `debias` settings the held-out split is ranked at, for R@10 against exposure."""
SMOKE_DEBIAS = (0.0, 0.3)
SMOKE_TRAIN_CONVERSATIONS = 30
"""The ReDial train conversations a smoke run builds ranker samples from (all 2,270 take ~20 s to link)."""


def debias_curve(
    engine: Engine,
    catalog: StoredCatalog,
    weights: ScoringWeights,
    samples: list[Sample],
    ranker: RankerModel | None,
    points: Sequence[float] = DEBIAS_CURVE,
) -> list[dict]:
    """The chosen configuration at each debias value (the app's `debias` setting, one implementation)."""
    popularity = popularity_of(catalog)
    curve = []
    for debias in points:
        engine.recommender = Recommender(catalog, replace(weights, debias=debias), ranker=ranker)
        curve.append({"debias": debias, **score(engine, samples, popularity=popularity)})
    return curve


class QueryEncoder(Protocol):
    """What the content-only baseline asks of an encoder (the app's, or a model being tuned)."""

    def encode_query(self, text: str) -> np.ndarray: ...


def content_query(sample: Sample) -> str:
    """The text the content-only baseline encodes: the whole context, its last 2,000 characters."""
    return (" ".join(t for t in sample.context if t.strip()) or "movie")[-2000:]


def content_only(
    catalog: StoredCatalog, encoder: QueryEncoder, samples: list[Sample], popularity: Mapping[str, float] | None = None
) -> dict[str, dict]:
    """Baseline: MiniLM on the context text plus the mentioned items' vectors, cosine ranking."""
    rows_all, rows_new = [], []
    for sample in samples:
        interest = encoder.encode_query(content_query(sample)).copy()
        for item_id in sample.mentioned:
            interest += catalog.embeddings[catalog.row_of[item_id]]
        scores = catalog.embeddings @ interest
        ranked = [catalog.items[i].id for i in np.argsort(-scores)[:50]]
        rows_all += [(t, ranked) for t in sample.targets]
        if sample.new_targets():
            masked = scores.copy()
            masked[[catalog.row_of[i] for i in sample.mentioned]] = -np.inf
            fresh = [catalog.items[i].id for i in np.argsort(-masked)[:50]]
            rows_new += [(t, fresh) for t in sample.new_targets()]
    return metrics_of((rows_all, rows_new), popularity)


def tune(
    catalog: StoredCatalog,
    encoder: Encoder,
    learn: Learner,
    home: Path,
    tuning: list[Sample],
    smoke: bool = False,
    popular: StoredCatalog | None = None,
) -> tuple[dict, list[dict]]:
    """Two-fold grid on the tuning split: recommender turns fed or not, catalog popularity
    (when `popular` has it) or not, collaborative ε, popularity δ."""
    grid = [(e, d) for e in (0.0, 0.25, 0.5, 1.0, 2.0) for d in (0.0, 0.15, 0.3, 0.6, 1.0)]
    if smoke:
        grid = grid[:2]
    folds = ranking.two_folds(tuning)
    taught_by_other_fold = [learn(folds[1]), learn(folds[0])]
    recommenders = {False: Recommender(catalog, BASE)}
    if popular is not None:
        recommenders[True] = Recommender(popular, BASE)
    log = []
    best: tuple[float, dict] | None = None
    for recommender_turns in (False, True):
        engine = make_engine(catalog, encoder, CoOccurrence(), home, BASE)
        replay(engine, tuning, recommender_turns)
        for catalog_popularity, recommender in recommenders.items():
            engine.recommender = recommender
            for eps, delta in grid:
                config = {
                    "recommender_turns": recommender_turns,
                    "catalog_popularity": catalog_popularity,
                    "collaborative": eps,
                    "popularity": delta,
                }
                recommender.weights = tuned_weights(config)
                rows_all, rows_new = [], []
                for fold, collaborative in zip(folds, taught_by_other_fold, strict=True):
                    engine.collaborative = collaborative
                    part_all, part_new = ranked_rows(engine, [s for s in tuning if s.dialog_id in fold])
                    rows_all += part_all
                    rows_new += part_new
                metrics = metrics_of((rows_all, rows_new))
                log.append({**config, **metrics})
                key = metrics["new_items"]["recall@10"] + 0.5 * metrics["new_items"]["recall@50"]
                if best is None or key > best[0]:
                    best = (key, {**config, "metrics": metrics})
    assert best is not None
    return best[1], log


def ablate(
    catalog: StoredCatalog,
    encoder: Encoder,
    learn: Learner,
    home: Path,
    tuning: list[Sample],
    heldout: list[Sample],
    chosen: dict,
    popular: StoredCatalog | None = None,
    ranker: RankerModel | None = None,
    debias: Sequence[float] = DEBIAS_CURVE,
) -> tuple[list[dict], dict]:
    """Held-out, collaborative component taught by the whole tuning split: each row adds one
    part; returns (rows, the chosen configuration's metrics: with `ranker` when one is given).

    With a ranker, the learned parts are ablated too: the formula and the ranker, each with the
    rules reading polarity (a replay without the learned reader) and with the learned reader."""
    collab = learn({s.dialog_id for s in tuning})
    tuned = tuned_weights(chosen)
    popularity = popularity_of(popular if popular is not None else catalog)
    ablation = [
        {
            "variant": "content only (MiniLM on context + mentioned items)",
            **content_only(catalog, encoder, heldout, popularity),
        }
    ]
    variants = [
        ("+ title linking and understanding (pipeline)", catalog, BASE),
        ("+ negatives (γ = 0.5)", catalog, replace(BASE, negative=0.5)),
        (
            "+ collaborative (co-occurrence)",
            catalog,
            replace(BASE, negative=0.5, collaborative=chosen["collaborative"]),
        ),
        ("+ popularity prior learned from events", catalog, tuned),
    ]
    if popular is not None:
        variants.append(("+ catalog popularity (ReDial train mentions)", popular, tuned))
    chosen_catalog = popular if chosen.get("catalog_popularity") else catalog
    engine = make_engine(catalog, encoder, collab, home, tuned)
    replay(engine, heldout, chosen["recommender_turns"])
    for name, with_catalog, weights in variants:
        assert with_catalog is not None
        engine.recommender = Recommender(with_catalog, weights)
        ablation.append({"variant": name, **score(engine, heldout, popularity=popularity)})
    assert chosen_catalog is not None
    engine.recommender = Recommender(chosen_catalog, tuned, ranker=ranker)
    final: dict[str, Any] = score(engine, heldout, popularity=popularity)
    reranked = score(engine, heldout, diversify=True, popularity=popularity)
    ablation.append({"variant": "chosen + reranking (MMR, λ = 0.75)", **reranked})
    no_links = make_engine(catalog, encoder, collab, home, tuned, link_titles=False)
    no_links.recommender = Recommender(chosen_catalog, tuned, ranker=ranker)
    replay(no_links, heldout, chosen["recommender_turns"])
    ablation.append({"variant": "chosen, but without title linking", **score(no_links, heldout, popularity=popularity)})
    if ranker is not None:
        rules = make_engine(catalog, encoder, collab, home, tuned)
        rules.reader.polarity = None
        replay(rules, heldout, chosen["recommender_turns"])
        for name, with_engine, model in (
            ("learned parts: formula, rules read polarity", rules, None),
            ("learned parts: formula + learned polarity reader", engine, None),
            ("learned parts: learned ranker, rules read polarity", rules, ranker),
            ("learned parts: learned ranker + learned polarity reader (both)", engine, ranker),
        ):
            with_engine.recommender = Recommender(chosen_catalog, tuned, ranker=model)
            ablation.append({"variant": name, **score(with_engine, heldout, popularity=popularity)})
    final["debias_curve"] = debias_curve(engine, chosen_catalog, tuned, heldout, ranker, debias)
    return ablation, final


def score_taught(
    catalog: StoredCatalog,
    chosen_catalog: StoredCatalog,
    encoder: Encoder,
    collab: CoOccurrence,
    home: Path,
    samples: list[Sample],
    chosen: dict,
    ranker: RankerModel | None,
) -> dict[str, dict]:
    """The chosen configuration on `samples`, its collaborative component taught by `collab`."""
    engine = make_engine(catalog, encoder, collab, home, tuned_weights(chosen))
    replay(engine, samples, chosen["recommender_turns"])
    engine.recommender = Recommender(chosen_catalog, tuned_weights(chosen), ranker=ranker)
    return score(engine, samples, popularity=popularity_of(chosen_catalog))


def standard_protocol(
    catalog: StoredCatalog,
    chosen_catalog: StoredCatalog,
    encoder: Encoder,
    learn: Learner,
    home: Path,
    samples: list[Sample],
    chosen: dict,
    conversations: int,
) -> dict:
    """The published tables' protocol, beside the headline: learned from ReDial's train/validation conversations
    only (no test dialogue taught the collaborative component, and no learned ranker, which trains on the tuning
    half), ranked for the whole test set. The formula's weights are the tuning half's choice, as in the headline."""
    collab = learn(set())  # the background alone: ReDial's train and validation conversations
    metrics = score_taught(catalog, chosen_catalog, encoder, collab, home, samples, chosen, None)
    share = conversations / data.REDIAL_TRAIN_CONVERSATIONS
    return {
        "protocol": (
            f"learned from {conversations} ReDial train/validation conversations ({share:.1%} of the "
            f"{data.REDIAL_TRAIN_CONVERSATIONS:,} in ReDial's train split the published systems learn from); "
            f"all {len(samples)} test samples; formula (no learned ranker), weights chosen on the tuning half"
        ),
        "conversations": conversations,
        "share_of_train": round(share, 4),
        "samples": len(samples),
        **metrics,
    }


def learn_ranker(
    catalog: StoredCatalog,
    scored: StoredCatalog,
    encoder: Encoder,
    learn: Learner,
    home: Path,
    tuning: list[Sample],
    chosen: dict,
    smoke: bool,
    transfer: RankerModel | None = None,
    extra: Sequence[Sample] = (),
    extra_learn: Learner | None = None,
) -> tuple[RankerModel, dict]:
    """The product's cross-validated ranker training (bot/training/ranker.py), with LightGBM logged beside it."""
    return _learn_ranker(
        catalog,
        scored,
        encoder,
        learn,
        home,
        tuning,
        chosen,
        smoke,
        transfer,
        ranking.lightgbm_rows,
        extra,
        extra_learn,
    )


def progress(started: float, what: str) -> None:
    """One line on stderr per phase of a long run: how far it is and how long it has taken."""
    print(f"[{time.perf_counter() - started:6.0f} s] {what}", file=sys.stderr, flush=True)


def run(
    smoke: bool = False, out_dir: Path | None = None, encoder: Encoder | None = None, formula_from: Path | None = None
) -> dict:
    """formula_from: a results file whose chosen formula configuration is reused instead of running its grid."""
    require_data()
    started = time.perf_counter()
    encoder = encoder or Encoder(cache_size=EVAL_CACHE)
    items = redial_items()
    if smoke:
        tuning, heldout = data.first_samples(items, DATA, 40)
        catalog = stored(encoder, smoke_subset(items, tuning + heldout), "redial-smoke")
    else:
        tuning, heldout = split(load_samples(items))
        catalog = stored(encoder, items, catalog_name(encoder))
    mentions = redial_mentions()
    train_mentions = data.train_mentions(DATA)
    background = {} if smoke else train_mentions
    learn = events_learner(mentions, catalog, background=background)
    popular = train_popularity(catalog, mentions)
    home = Path(tempfile.mkdtemp(prefix="recochat-redial-"))
    progress(
        started, f"{len(tuning)} tuning and {len(heldout)} held-out samples, {len(background)} train conversations"
    )
    if formula_from is None:
        chosen, tuning_log = tune(catalog, encoder, learn, home, tuning, smoke, popular)
    else:
        chosen, tuning_log = reused_formula(formula_from)
    chosen_catalog = popular if chosen["catalog_popularity"] else catalog
    extra = data.train_samples(catalog.items, DATA, conversations=SMOKE_TRAIN_CONVERSATIONS if smoke else None)
    extra_learn = events_learner({**mentions, **train_mentions}, catalog)  # each fold's own, no background
    progress(started, f"formula chosen; training the ranker (and on {len(extra)} train-conversation samples)")
    model, ranker_report = learn_ranker(
        catalog, chosen_catalog, encoder, learn, home, tuning, chosen, smoke, extra=extra, extra_learn=extra_learn
    )
    name = "redial_smoke" if smoke else "redial"
    model.save((out_dir or RESULTS) / f"{name}_ranker.json")
    used = model if ranker_report["used"] else None
    points = SMOKE_DEBIAS if smoke else DEBIAS_CURVE
    progress(started, "ranker done; held-out ablation")
    ablation, final = ablate(catalog, encoder, learn, home, tuning, heldout, chosen, popular, used, points)
    progress(started, "ablation done; the tuning half alone and the standard protocol")
    tuning_only = events_learner(mentions, catalog)  # the protocol before ReDial's train conversations came in
    ablation.append(
        {
            "variant": "chosen, collaborative taught by the tuning half only (no ReDial train conversations)",
            **score_taught(catalog, chosen_catalog, encoder, tuning_only({s.dialog_id for s in tuning}), home,
                           heldout, chosen, used),
        }
    )  # fmt: skip
    standard = standard_protocol(
        catalog, chosen_catalog, encoder, learn, home, tuning + heldout, chosen, len(background)
    )

    result = report("ReDial", __doc__, encoder, smoke, tuning, heldout, chosen, tuning_log, ablation, final, started)
    result["standard_protocol"] = standard
    result.update(anchors=ANCHORS, target_new_items=TARGET, ranker=ranker_report, formula_from=str(formula_from or ""))
    return save(result, out_dir or RESULTS, name)


def report(
    benchmark: str,
    protocol: str | None,
    encoder: Encoder,
    smoke: bool,
    tuning: list[Sample],
    heldout: list[Sample],
    chosen: dict,
    tuning_log: list[dict],
    ablation: list[dict],
    final: dict,
    started: float,
) -> dict:
    return {
        "benchmark": benchmark,
        "protocol": (protocol or "").strip(),
        "date": date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, encoder on {encoder.device}",
        "smoke": smoke,
        "split": {"tuning_samples": len(tuning), "heldout_samples": len(heldout)},
        "chosen": {k: v for k, v in chosen.items() if k != "metrics"},
        "heldout": final,
        "tuning": chosen["metrics"],
        "ablation": ablation,
        "tuning_grid": tuning_log,
        "seconds": round(time.perf_counter() - started, 1),
    }


def save(result: dict, out_dir: Path, name: str, note: str = "") -> dict:
    """NAME.json, NAME.md (table) and, for full runs, NAME.png (ablation chart)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"{name}.json").write_text(json.dumps(result, indent=2, ensure_ascii=False))
    (out_dir / f"{name}.md").write_text(markdown(result) + note)
    if not result["smoke"]:
        plot(result, out_dir / f"{name}.png")
    return result


def markdown(result: dict) -> str:
    def row(name: str, m: dict) -> str:
        return f"| {name} | {m['recall@1']:.3f} | {m['recall@10']:.3f} | {m['recall@50']:.3f} | {m['ndcg@10']:.3f} | {m['n']} |"

    lines = [
        f"{result.get('benchmark', 'ReDial')}, held-out split ({result['date']}, {result['machine']})",
        "",
        "| variant (new items only) | R@1 | R@10 | R@50 | NDCG@10 | n |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    lines += [row(a["variant"], a["new_items"]) for a in result["ablation"]]
    lines += _exposure_tables(result)
    lines += [
        "",
        "| setting (chosen configuration) | R@1 | R@10 | R@50 | NDCG@10 | n |",
        "| --- | --- | --- | --- | --- | --- |",
        row("held-out, new items", result["heldout"]["new_items"]),
        row("held-out, all targets", result["heldout"]["all_targets"]),
        row("tuning (two-fold), new items", result["tuning"]["new_items"]),
    ]
    if standard := result.get("standard_protocol"):
        lines += [
            "",
            f"Standard protocol, beside the headline: {standard['protocol']}.",
            "",
            "| standard protocol (whole test set) | R@1 | R@10 | R@50 | NDCG@10 | n |",
            "| --- | --- | --- | --- | --- | --- |",
            row("new items", standard["new_items"]),
            row("all targets", standard["all_targets"]),
        ]
    if result.get("formula_from"):
        lines += ["", f"Formula configuration (and its tuning row) reused from {result['formula_from']}."]
    ranker = result.get("ranker")
    if ranker:
        lines += [
            "",
            f"Learned ranker, chosen on the tuning split's two folds: {json.dumps(ranker['chosen'])}; "
            + (
                f"used: {ranker.get('source', 'trained here')}"
                if ranker["used"]
                else "not used (the formula did as well)"
            ),
            "",
            "| ranker, tuning split (two folds), new items | R@1 | R@10 | R@50 | NDCG@10 | n |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for entry in ranker["grid"]:
            settings = ", ".join(f"{k} {v}" for k, v in entry.items() if k in ("first_stage", "l2", "num_leaves"))
            lines.append(row(f"{entry['model']} ({settings})", entry))
        lines += ["", "Learned weights: " + ", ".join(f"{k} {v:+.3f}" for k, v in ranker["weights"].items())]
    lines += [
        "",
        f"Chosen on the tuning split: {json.dumps(result['chosen'])}",
        f"Target (new items, held-out): R@1 ≥ {TARGET['recall@1']}, R@10 ≥ {TARGET['recall@10']}, R@50 ≥ {TARGET['recall@50']}",
    ]
    return "\n".join(lines) + "\n"


def _exposure_tables(result: dict) -> list[str]:
    """Who gets shown, per variant and along the debias curve (absent in results from before it was measured)."""

    def row(name: str, e: dict, recall: float | None = None) -> str:
        cells = [f"{e['coverage@5']:.3f}", f"{e['coverage@10']:.3f}", f"{e['long_tail@10']:.3f}"]
        cells.append(f"{e['popularity_percentile@10']:.3f}")
        return f"| {name} | " + (f"{recall:.3f} | " if recall is not None else "") + " | ".join(cells) + " |"

    lines: list[str] = []
    measured = [a for a in result["ablation"] if "exposure" in a]
    if measured:
        lines += [
            "",
            "| variant (exposure over the held-out samples' top lists) | coverage@5 | coverage@10 | long tail@10 | "
            "popularity percentile@10 |",
            "| --- | --- | --- | --- | --- |",
        ]
        lines += [row(a["variant"], a["exposure"]) for a in measured]
    curve = result["heldout"].get("debias_curve") or []
    if curve:
        lines += [
            "",
            "| debias (chosen configuration) | R@10 new items | coverage@5 | coverage@10 | long tail@10 | "
            "popularity percentile@10 |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        lines += [row(f"{p['debias']:.2f}", p["exposure"], p["new_items"]["recall@10"]) for p in curve]
    return lines


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [a["variant"] for a in result["ablation"]]
    fig, ax = plt.subplots(figsize=(9, 4))
    for offset, metric in ((-0.25, "recall@1"), (0.0, "recall@10"), (0.25, "recall@50")):
        ax.barh(
            [i + offset for i in range(len(names))],
            [a["new_items"][metric] for a in result["ablation"]],
            height=0.25,
            label=metric,
        )
    for value in TARGET.values():
        ax.axvline(value, linestyle=":", color="grey")
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("held-out, new items only")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="recochat bench redial")
    parser.add_argument("--smoke", action="store_true", help="40 samples per split, a 2-point grid (for CI)")
    parser.add_argument("--out", type=Path, help=f"results folder (default {RESULTS})")
    parser.add_argument(
        "--polarity", action="store_true", help="how title mentions are read: rules vs the learned reader, held out"
    )
    parser.add_argument(
        "--formula-from",
        type=Path,
        help="reuse the formula configuration an earlier results file chose (skips its 100-point grid)",
    )
    args = parser.parse_args(argv)
    if args.polarity:
        print(json.dumps(run_polarity(out_dir=args.out), indent=2, ensure_ascii=False))
        return 0
    result = run(smoke=args.smoke, out_dir=args.out, formula_from=args.formula_from)
    print(markdown(result))
    return 0


# -- polarity: how title mentions are read (liked / disliked / seen), rules against the learned reader -------------
# (examples and training: bot/training/polarity.py, `recochat train polarity`)


def _turn_cost(examples: list[PolarityExample], encoder: Encoder, model: PolarityModel, rounds: int = 200) -> dict:
    """What the learned reader adds to a turn that names a title: its texts in the turn's one encoder pass (the
    same call as the aspects, uncached) plus the features and the product; ms, p50/p95. The two encodings of a
    turn alternate in order so neither always runs warm."""
    added: list[float] = []
    messages = list({id(e.understood): e.understood for e in examples if e.understood.titles}.values())
    for index, understood in enumerate(messages[:rounds]):
        aspects, titles = understood.positive + understood.negative, understood.titles
        timings = {}
        for with_reader in (False, True) if index % 2 else (True, False):
            begun = time.perf_counter()
            texts = aspects + PolarityModel.texts(titles) if with_reader else aspects
            vectors = encoder.encode_texts(texts) if texts else np.zeros((0, encoder.dim))
            if with_reader:
                model.read(titles, list(vectors[len(aspects) :]))
            timings[with_reader] = (time.perf_counter() - begun) * 1000
        added.append(timings[True] - timings[False])
    return {"turns": len(added), "p50_ms": round(float(np.percentile(added, 50)), 1),
            "p95_ms": round(float(np.percentile(added, 95)), 1)}  # fmt: skip


def run_polarity(out_dir: Path | None = None, encoder: Encoder | None = None) -> dict:
    """Rules against the packaged learned reader on the held-out half, side by side in one run."""
    require_data()
    encoder = encoder or Encoder()
    model = load_model()
    if model is None:
        raise SystemExit(f"no usable polarity model at {MODEL_PATH}: run `recochat train polarity` first")
    tuning, heldout = polarity_training.polarity_examples(DATA)
    labels = [e.label for e in heldout]
    rules = [e.mention.polarity if e.mention else None for e in heldout]
    cache = polarity_training.embeddings_cache(SETTINGS)
    mentions, _, vectors = polarity_training.features_of(heldout, encoder, cache)
    learned_read = iter(model.read(mentions, vectors.reshape(-1, encoder.dim)))
    learned = [(next(learned_read) or e.mention.polarity) if e.mention else None for e in heldout]
    result = {
        "benchmark": "ReDial polarity",
        "protocol": POLARITY_PROTOCOL,
        "date": date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, encoder on {encoder.device}",
        "examples": {"tuning": len(tuning), "heldout": len(heldout)},
        "model": {"version": MODEL_VERSION, **model.meta},
        "heldout": {"rules": polarity_scores(labels, rules), "learned": polarity_scores(labels, learned)},
        "added_per_turn_ms": _turn_cost(tuning, encoder, model),
        "target": {"dislike_recall": 0.80, "like_recall": 0.96},
    }
    (out_dir or RESULTS).mkdir(parents=True, exist_ok=True)
    (out_dir or RESULTS).joinpath("redial_polarity.json").write_text(json.dumps(result, indent=2, ensure_ascii=False))
    return result
