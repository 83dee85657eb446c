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
- Learning from other users: the tuning split's original ReDial conversations are replayed
  as positive events (every movie mentioned, in order) into the same `CoOccurrence`
  component that learns from real users' feedback; its counts are the popularity prior.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

import numpy as np

from recochat.bot.engine import Engine
from recochat.profiles.collaborative import CoOccurrence
from recochat.profiles.store import ProfileStore
from recochat.retrieval.catalog import CatalogItem, ColumnMap, load_catalog
from recochat.retrieval.encoder import Encoder
from recochat.retrieval.ingest import ingest
from recochat.retrieval.recommender import Recommender
from recochat.retrieval.scoring import ScoringWeights
from recochat.retrieval.store import ChromaStore, StoredCatalog
from recochat.retrieval.titles import TitleIndex

from .metrics import evaluate

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("RECOCHAT_DATA", ROOT.parent / "shared" / "data"))
CACHE = Path(os.environ.get("RECOCHAT_BENCH_CACHE", ROOT / "benchmarks" / ".cache"))
RESULTS = ROOT / "benchmarks" / "results"
ANCHORS = {
    "KBRD": {"recall@1": 0.030, "recall@10": 0.163, "recall@50": 0.338},
    "KGSF": {"recall@1": 0.039, "recall@10": 0.183, "recall@50": 0.378},
    "UniCRS": {"recall@1": 0.051, "recall@10": 0.224, "recall@50": 0.428},
    "UniCRS, repeated items removed": {"recall@1": 0.024, "recall@10": 0.180, "recall@50": 0.335},
    "GPT-4 zero-shot": {"recall@10": 0.194},
}
TARGET = {"recall@1": 0.05, "recall@10": 0.23, "recall@50": 0.43}


@dataclass
class Sample:
    dialog_id: str
    turn_id: int
    context: list[str]
    targets: list[str]
    mentioned: set[str]
    seeker: list[bool] | None = None
    """Who said each context turn; None = alternating, the last one being the seeker (ReDial)."""

    def is_seeker(self, index: int) -> bool:
        if self.seeker is not None:
            return self.seeker[index]
        return (len(self.context) - 1 - index) % 2 == 0

    @property
    def user(self) -> str:
        return f"{self.dialog_id}/{self.turn_id}"

    def new_targets(self) -> list[str]:
        return [t for t in self.targets if t not in self.mentioned]


def require_data() -> None:
    needed = [DATA / "redial-ievalm" / "id2info.json", DATA / "redial-ievalm" / "test_data_processed.jsonl",
              DATA / "redial" / "test_data.jsonl"]
    missing = [str(p) for p in needed if not p.is_file()]
    if missing:
        raise SystemExit(f"ReDial data not found: {', '.join(missing)} (set RECOCHAT_DATA to the shared data folder)")


def redial_items() -> list[CatalogItem]:
    """id2info → JSONL → the product's catalog loader (plot, genres, director, cast embedded)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / "redial_catalog.jsonl"
    if not path.exists():
        info = json.loads((DATA / "redial-ievalm" / "id2info.json").read_text())
        with path.open("w", encoding="utf-8") as f:
            for movie_id, record in info.items():
                row = {"id": movie_id, "name": record["name"], "plot": record.get("plot") or "",
                       "genre": record.get("genre") or [], "director": record.get("director") or [],
                       "star": record.get("star") or []}
                f.write(json.dumps(row) + "\n")
    columns = ColumnMap(id="id", title="name", text=("plot", "genre", "director", "star"),
                        meta=("genre", "director", "star"))
    return load_catalog(path, columns, skip_bad=True).items


def stored(encoder: Encoder, items: list[CatalogItem], name: str) -> StoredCatalog:
    """Ingest through the product's code path (cached by content hash) and load into memory."""
    store = ChromaStore.persistent(CACHE / f"chroma-{name}")
    ingest(store, encoder, name, items)
    return store.load(name)


def load_redial_catalog(encoder: Encoder) -> StoredCatalog:
    return stored(encoder, redial_items(), "redial")


def smoke_subset(items: list[CatalogItem], samples: list[Sample], extra: int = 300) -> list[CatalogItem]:
    """For CI: the items the samples touch plus a few hundred others, so ingest takes seconds."""
    keep = {t for s in samples for t in s.targets} | {m for s in samples for m in s.mentioned}
    others = [i for i in items if i.id not in keep][:extra]
    return [i for i in items if i.id in keep] + others


def load_samples(items: list[CatalogItem]) -> list[Sample]:
    by_name = {}
    for item in items:
        by_name.setdefault(item.label(), item.id)
    titles = TitleIndex(items)
    samples = []
    for line in (DATA / "redial-ievalm" / "test_data_processed.jsonl").open(encoding="utf-8"):
        row = json.loads(line)
        targets = [by_name[name] for name in row["rec"] if name in by_name]
        if not targets:
            continue
        mentioned = {by_name[e] for e in row["entity"] if e in by_name}
        for text in row["context"]:
            mentioned |= {m.item_id for m in titles.find(text)}
        samples.append(Sample(str(row["dialog_id"]), int(row["turn_id"]), row["context"], targets, mentioned))
    return samples


def split(samples: list[Sample]) -> tuple[list[Sample], list[Sample]]:
    dialogs = sorted({s.dialog_id for s in samples})
    tuning_ids = set(dialogs[: len(dialogs) // 2])
    return [s for s in samples if s.dialog_id in tuning_ids], [s for s in samples if s.dialog_id not in tuning_ids]


def tuning_events(tuning_dialogs: set[str], catalog: StoredCatalog) -> CoOccurrence:
    """Replay the tuning split's conversations as logged positive events."""
    import re

    co = CoOccurrence()
    for line in (DATA / "redial" / "test_data.jsonl").open(encoding="utf-8"):
        conversation = json.loads(line)
        dialog = str(conversation["conversationId"])
        if dialog not in tuning_dialogs:
            continue
        for message in conversation["messages"]:
            for movie_id in re.findall(r"@(\d+)", message["text"]):
                if movie_id in catalog.row_of:
                    co.observe(dialog, movie_id)
        co.end_session(dialog)
    return co


def make_engine(catalog: StoredCatalog, encoder: Encoder, collaborative: CoOccurrence, home: Path,
                weights: ScoringWeights, link_titles: bool = True) -> Engine:
    engine = Engine(catalog, encoder, ProfileStore(home / f"profiles-{time.monotonic_ns()}.sqlite3"),
                    recommender=Recommender(catalog, weights), collaborative=collaborative, learn=False)
    if not link_titles:
        engine.titles = TitleIndex([])
    return engine


def replay(engine: Engine, samples: list[Sample], recommender_turns: bool) -> None:
    """Feed each sample's context through the pipeline (recommender turns too, if asked)."""
    for sample in samples:
        for index, text in enumerate(sample.context):
            if text.strip() and (sample.is_seeker(index) or recommender_turns):
                engine.turn(sample.user, text, recommend=False)


def score(engine: Engine, samples: list[Sample], diversify: bool = False) -> dict[str, dict]:
    rows_all, rows_new = [], []
    for sample in samples:
        ranked = [r.item.id for r in engine.ranking(sample.user, 50, diversify=diversify)]
        rows_all += [(t, ranked) for t in sample.targets]
        if sample.new_targets():
            fresh = [r.item.id for r in engine.ranking(sample.user, 50, exclude=sample.mentioned, diversify=diversify)]
            rows_new += [(t, fresh) for t in sample.new_targets()]
    return {"new_items": evaluate(rows_new), "all_targets": evaluate(rows_all)}


def content_only(catalog: StoredCatalog, encoder: Encoder, samples: list[Sample]) -> dict[str, dict]:
    """Baseline: MiniLM on the context text plus the mentioned items' vectors, cosine ranking."""
    rows_all, rows_new = [], []
    for sample in samples:
        text = " ".join(t for t in sample.context if t.strip()) or "movie"
        u = encoder.encode_query(text[-2000:]).copy()
        for item_id in sample.mentioned:
            u += catalog.embeddings[catalog.row_of[item_id]]
        scores = catalog.embeddings @ u
        ranked = [catalog.items[i].id for i in np.argsort(-scores)[:50]]
        rows_all += [(t, ranked) for t in sample.targets]
        if sample.new_targets():
            masked = scores.copy()
            masked[[catalog.row_of[i] for i in sample.mentioned]] = -np.inf
            fresh = [catalog.items[i].id for i in np.argsort(-masked)[:50]]
            rows_new += [(t, fresh) for t in sample.new_targets()]
    return {"new_items": evaluate(rows_new), "all_targets": evaluate(rows_all)}


BASE = ScoringWeights(negative=0.0, popularity=0.0, collaborative=0.0)


def tuned_weights(chosen: dict) -> ScoringWeights:
    return replace(BASE, negative=0.5, collaborative=chosen["collaborative"], popularity=chosen["popularity"])


def tune(catalog: StoredCatalog, encoder: Encoder, collab: CoOccurrence, home: Path, tuning: list[Sample],
         smoke: bool = False) -> tuple[dict, list[dict]]:
    """Grid on the tuning split: recommender turns fed or not, collaborative ε, popularity δ."""
    grid = [(e, d) for e in (0.0, 1.0, 3.0) for d in (0.0, 0.2, 0.6)]
    if smoke:
        grid = grid[:2]
    log = []
    best: tuple[float, dict] | None = None
    for recommender_turns in (False, True):
        engine = make_engine(catalog, encoder, collab, home, BASE)
        replay(engine, tuning, recommender_turns)
        for eps, delta in grid:
            config = {"recommender_turns": recommender_turns, "collaborative": eps, "popularity": delta}
            engine.recommender.weights = tuned_weights(config)
            metrics = score(engine, tuning)
            log.append({**config, **metrics})
            key = metrics["new_items"]["recall@10"] + 0.5 * metrics["new_items"]["recall@50"]
            if best is None or key > best[0]:
                best = (key, {**config, "metrics": metrics})
    assert best is not None
    return best[1], log


def ablate(catalog: StoredCatalog, encoder: Encoder, collab: CoOccurrence, home: Path, heldout: list[Sample],
           chosen: dict) -> tuple[list[dict], dict]:
    """Held-out: each row adds one part; returns (rows, the chosen configuration's metrics)."""
    tuned = tuned_weights(chosen)
    ablation = [{"variant": "content only (MiniLM on context + mentioned items)",
                 **content_only(catalog, encoder, heldout)}]
    variants = [
        ("+ title linking and understanding (pipeline)", BASE),
        ("+ negatives (γ = 0.5)", replace(BASE, negative=0.5)),
        ("+ collaborative", replace(BASE, negative=0.5, collaborative=chosen["collaborative"])),
        ("+ popularity prior", tuned),
    ]
    engine = make_engine(catalog, encoder, collab, home, tuned)
    replay(engine, heldout, chosen["recommender_turns"])
    for name, weights in variants:
        engine.recommender.weights = weights
        ablation.append({"variant": name, **score(engine, heldout)})
    engine.recommender.weights = tuned
    final = score(engine, heldout)
    ablation.append({"variant": "+ reranking (MMR, λ = 0.75)", **score(engine, heldout, diversify=True)})
    no_links = make_engine(catalog, encoder, collab, home, tuned, link_titles=False)
    replay(no_links, heldout, chosen["recommender_turns"])
    ablation.append({"variant": "full, but without title linking", **score(no_links, heldout)})
    return ablation, final


def run(smoke: bool = False, out_dir: Path | None = None, encoder: Encoder | None = None) -> dict:
    require_data()
    started = time.perf_counter()
    encoder = encoder or Encoder()
    items = redial_items()
    tuning, heldout = split(load_samples(items))
    if smoke:
        tuning, heldout = tuning[:40], heldout[:40]
        catalog = stored(encoder, smoke_subset(items, tuning + heldout), "redial-smoke")
    else:
        catalog = stored(encoder, items, "redial")
    collab = tuning_events({s.dialog_id for s in tuning}, catalog)
    home = Path(tempfile.mkdtemp(prefix="recochat-redial-"))
    chosen, tuning_log = tune(catalog, encoder, collab, home, tuning, smoke)
    ablation, final = ablate(catalog, encoder, collab, home, heldout, chosen)

    result = report("ReDial", __doc__, encoder, smoke, tuning, heldout, chosen, tuning_log, ablation, final, started)
    result.update(anchors=ANCHORS, target_new_items=TARGET)
    return save(result, out_dir or RESULTS, "redial_smoke" if smoke else "redial")


def report(benchmark: str, protocol: str | None, encoder: Encoder, smoke: bool, tuning: list[Sample],
           heldout: list[Sample], chosen: dict, tuning_log: list[dict], ablation: list[dict], final: dict,
           started: float) -> dict:
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

    lines = [f"{result.get('benchmark', 'ReDial')}, held-out split ({result['date']}, {result['machine']})", "",
             "| variant (new items only) | R@1 | R@10 | R@50 | NDCG@10 | n |", "| --- | --- | --- | --- | --- | --- |"]
    lines += [row(a["variant"], a["new_items"]) for a in result["ablation"]]
    lines += ["", "| setting (chosen configuration) | R@1 | R@10 | R@50 | NDCG@10 | n |", "| --- | --- | --- | --- | --- | --- |",
              row("held-out, new items", result["heldout"]["new_items"]),
              row("held-out, all targets", result["heldout"]["all_targets"]),
              row("tuning, new items", result["tuning"]["new_items"])]
    lines += ["", f"Chosen on the tuning split: {json.dumps(result['chosen'])}",
              f"Target (new items, held-out): R@1 ≥ {TARGET['recall@1']}, R@10 ≥ {TARGET['recall@10']}, R@50 ≥ {TARGET['recall@50']}"]
    return "\n".join(lines) + "\n"


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [a["variant"] for a in result["ablation"]]
    fig, ax = plt.subplots(figsize=(9, 4))
    for offset, metric in ((-0.25, "recall@1"), (0.0, "recall@10"), (0.25, "recall@50")):
        ax.barh([i + offset for i in range(len(names))], [a["new_items"][metric] for a in result["ablation"]],
                height=0.25, label=metric)
    for metric, value in TARGET.items():
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
    args = parser.parse_args(argv)
    result = run(smoke=args.smoke, out_dir=args.out)
    print(markdown(result))
    return 0
