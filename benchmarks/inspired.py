"""INSPIRED: the ReDial protocol on INSPIRED's test dialogues, tuned on its dev dialogues.

- Catalog: the 1,096 INSPIRED movies of `inspired-kg-cfcrs` (genres, director, cast), with
  the plot from ReDial's `id2info.json` where the title and year match (±1 year).
- Samples: every RECOMMENDER utterance of `inspired/test.tsv` that names movies; its
  context is every earlier utterance, with the speaker known. Targets missing from the
  catalog count as misses (coverage is reported).
- Tuning: `inspired/dev.tsv` only (its dialogues also feed the collaborative component, and train the learned
  ranker, two folds by dialogue as for ReDial). INSPIRED's train split (`inspired/train_data_dbpedia.jsonl`, 801
  dialogues) feeds the collaborative component of every fold and of the held-out ranking too. The ranker `recochat bench redial` learned on ReDial's tuning
  half (`results/redial_ranker.json`) is scored on the same dev folds, and used instead when it does better there.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
import tempfile
import time
import unicodedata
from collections import defaultdict
from pathlib import Path

from recochat.retrieval.catalog import CatalogItem, ColumnMap, load_catalog, split_title_year
from recochat.retrieval.encoder import Encoder
from recochat.retrieval.ranker import load_ranker

from . import redial
from .redial import (
    DATA,
    DEBIAS_CURVE,
    EVAL_CACHE,
    RESULTS,
    SMOKE_DEBIAS,
    Sample,
    ablate,
    events_learner,
    learn_ranker,
    markdown,
    report,
    save,
    smoke_subset,
    stored,
    tune,
)


def _key(name: str) -> tuple[str, int | None]:
    """README's matching: lower-case, ASCII-fold, no punctuation, 'Title, The' → 'The Title'."""
    title, year = split_title_year(name)
    if m := re.match(r"^(.*), (the|a|an)$", title, re.IGNORECASE):
        title = f"{m.group(2)} {m.group(1)}"
    title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", " ", title).strip(), year


class NameMatcher:
    def __init__(self, names: dict[str, str]) -> None:
        """names: display name → id."""
        self.by_title: dict[str, list[tuple[int | None, str]]] = defaultdict(list)
        for name, item_id in names.items():
            title, year = _key(name)
            self.by_title[title].append((year, item_id))

    def find(self, name: str) -> str | None:
        title, year = _key(name)
        for candidate_year, item_id in self.by_title.get(title, []):
            if year is None or candidate_year is None or abs(candidate_year - year) <= 1:
                return item_id
        return None


def require_data() -> None:
    needed = [DATA / "inspired" / "test.tsv", DATA / "inspired" / "dev.tsv", DATA / "inspired-kg-cfcrs" / "kg.json"]
    missing = [str(p) for p in needed if not p.is_file()]
    if missing:
        raise SystemExit(f"INSPIRED data not found: {', '.join(missing)} (set RECOCHAT_DATA)")


def inspired_items() -> list[CatalogItem]:
    """The 1,096 INSPIRED movies with ReDial plots where titles match (written once to the bench cache)."""
    redial.CACHE.mkdir(parents=True, exist_ok=True)
    path = redial.CACHE / "inspired_catalog.jsonl"
    if not path.exists():
        folder = DATA / "inspired-kg-cfcrs"
        entity2id = json.loads((folder / "entity2id.json").read_text())
        names = {v: k for k, v in entity2id.items()}
        kg = json.loads((folder / "kg.json").read_text())
        relation = {v: k for k, v in json.loads((folder / "relation2id.json").read_text()).items()}
        plots = NameMatcher(
            {
                r["name"]: r.get("plot") or ""
                for r in json.loads((DATA / "redial-ievalm" / "id2info.json").read_text()).values()
            }
        )
        with path.open("w", encoding="utf-8") as f:
            for movie in json.loads((folder / "item_ids.json").read_text()):
                fields: dict[str, list[str]] = {"star": [], "director": [], "genre": []}
                for rel, tail in kg.get(str(movie), []):
                    fields[relation[rel]].append(names[tail])
                name = names[movie]
                row = {"id": str(movie), "name": name, "plot": plots.find(name) or "", **fields}
                f.write(json.dumps(row) + "\n")
    columns = ColumnMap(
        id="id", title="name", text=("plot", "genre", "director", "star"), meta=("genre", "director", "star")
    )
    return load_catalog(path, columns, skip_bad=True).items


def read_dialogs(path: Path) -> dict[str, list[dict]]:
    csv.field_size_limit(sys.maxsize)
    dialogs: dict[str, list[dict]] = defaultdict(list)
    with path.open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            dialogs[row["dialog_id"]].append(row)
    for rows in dialogs.values():
        rows.sort(key=lambda r: int(r["utt_id"]))
    return dict(sorted(dialogs.items()))


def movies_of(row: dict) -> list[str]:
    return [m.strip() for m in (row.get("movies") or "").split(";") if m.strip()]


def load_samples(path: Path, matcher: NameMatcher) -> tuple[list[Sample], dict]:
    samples, covered, total = [], 0, 0
    for dialog_id, rows in read_dialogs(path).items():
        for index, row in enumerate(rows):
            if row["speaker"] != "RECOMMENDER" or not movies_of(row) or index == 0:
                continue
            context = [r["text"] for r in rows[:index]]
            targets = []
            for name in movies_of(row):
                total += 1
                item_id = matcher.find(name)
                covered += item_id is not None
                targets.append(item_id or f"missing:{name}")
            mentioned = {i for r in rows[:index] for name in movies_of(r) if (i := matcher.find(name))}
            seeker = [r["speaker"] == "SEEKER" for r in rows[:index]]
            samples.append(Sample(dialog_id, int(row["utt_id"]), context, targets, mentioned, seeker))
    return samples, {"targets": total, "in_catalog": covered, "coverage": round(covered / total, 4) if total else 0}


def dev_mentions(matcher: NameMatcher) -> dict[str, list[str]]:
    """Dev dialogue → the catalog ids of the movies it names, in order."""
    return {
        dialog_id: [item_id for row in rows for name in movies_of(row) if (item_id := matcher.find(name))]
        for dialog_id, rows in read_dialogs(DATA / "inspired" / "dev.tsv").items()
    }


def train_mentions(matcher: NameMatcher) -> dict[str, list[str]]:
    """INSPIRED train dialogue (`inspired/train_data_dbpedia.jsonl`, 801) → the catalog ids of the movies it
    names ("Title (Year)" in each turn's `movie`), in order: what every collaborative learner sees first."""
    out = {}
    path = DATA / "inspired" / "train_data_dbpedia.jsonl"
    for number, line in enumerate(path.open(encoding="utf-8")):
        if line.strip():
            turns = json.loads(line)
            out[f"train:{number}"] = [
                i for turn in turns for name in turn.get("movie", []) if (i := matcher.find(name))
            ]
    return out


def run(smoke: bool = False, out_dir: Path | None = None, encoder: Encoder | None = None) -> dict:
    require_data()
    started = time.perf_counter()
    encoder = encoder or Encoder(cache_size=EVAL_CACHE)
    items = inspired_items()
    matcher = NameMatcher({item.label(): item.id for item in items})
    tuning, tuning_coverage = load_samples(DATA / "inspired" / "dev.tsv", matcher)
    heldout, coverage = load_samples(DATA / "inspired" / "test.tsv", matcher)
    if smoke:  # the movies the samples touch and a few hundred others: the catalog encodes in seconds
        tuning, heldout = tuning[:30], heldout[:30]
        catalog = stored(encoder, smoke_subset(items, tuning + heldout), "inspired-smoke")
    else:
        catalog = stored(encoder, items, "inspired")
    learn = events_learner(dev_mentions(matcher), catalog, background={} if smoke else train_mentions(matcher))
    home = Path(tempfile.mkdtemp(prefix="recochat-inspired-"))
    chosen, tuning_log = tune(catalog, encoder, learn, home, tuning, smoke)
    transfer = load_ranker(RESULTS / "redial_ranker.json")  # trained on ReDial's tuning half only
    model, ranker_report = learn_ranker(catalog, catalog, encoder, learn, home, tuning, chosen, smoke, transfer)
    name = "inspired_smoke" if smoke else "inspired"
    model.save((out_dir or RESULTS) / f"{name}_ranker.json")
    used = model if ranker_report["used"] else None
    points = SMOKE_DEBIAS if smoke else DEBIAS_CURVE
    ablation, final = ablate(catalog, encoder, learn, home, tuning, heldout, chosen, ranker=used, debias=points)
    result = report("INSPIRED", __doc__, encoder, smoke, tuning, heldout, chosen, tuning_log, ablation, final, started)
    result.update(
        catalog_items=len(catalog), coverage_test=coverage, coverage_dev=tuning_coverage, ranker=ranker_report
    )
    return save(result, out_dir or RESULTS, name, note=f"\nTest targets in the catalog: {coverage}\n")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="recochat bench inspired")
    parser.add_argument("--smoke", action="store_true", help="30 samples per split, a 2-point grid (for CI)")
    parser.add_argument("--out", type=Path, help=f"results folder (default {RESULTS})")
    args = parser.parse_args(argv)
    print(markdown(run(smoke=args.smoke, out_dir=args.out)))
    return 0
