"""Your own taste check: would a fan of the anchor sign the picks for "more like X"?

`recochat bench taste [--catalog movies|books|all]`: for every anchor in `benchmarks/taste/*.yaml`
(lists a film fan or reader wrote blind to recochat's picks, by `benchmarks/taste/RUBRIC.md`), a
fresh user says "more like <title>" and, as another fresh user, "I loved <title>, what next?";
hits@5 is how many of the five picks are on the anchor's list. The template writer and the real
encoder, on the shipped demo catalog and on the books catalog of the scripted tests. Writes
results/taste.json (every pick, for reading) and prints the means, the anchors with 0 in both
prompts, and the picks' whys for the anchors named on the command line (`--show ID`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
from pathlib import Path
from typing import Any

import yaml

from recochat.bot.runtime import Runtime, build
from recochat.bot.settings import DEMO_COLLECTION, Settings
from recochat.retrieval.catalog import load_catalog
from recochat.retrieval.ingest import ingest

HERE = Path(__file__).parent
RESULTS = HERE / "results"
LISTS = {"movies": HERE / "taste" / "movies.yaml", "books": HERE / "taste" / "books.yaml"}
BOOKS_CATALOG = HERE.parent / "tests" / "conversations" / "catalogs" / "books.csv"
PROMPTS = ("more like {title}", "I loved {title}, what next?")


def _runtime(home: Path, catalog: str) -> Runtime:
    settings = Settings(home=home, llm="template")
    if catalog == "movies":
        return build(settings, DEMO_COLLECTION)
    runtime = build(settings, DEMO_COLLECTION)  # loads the encoder once; the books go beside the demo
    ingest(runtime.store, runtime.encoder, "books", load_catalog(BOOKS_CATALOG).items, noun="book")
    encoder = runtime.encoder
    runtime.close()
    return build(settings, "books", encoder=encoder)


async def check(runtime: Runtime, anchors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for n, anchor in enumerate(anchors):
        closest = set(anchor["closest"])
        row: dict[str, Any] = {"anchor": anchor["anchor"], "title": anchor["title"]}
        for p, prompt in enumerate(PROMPTS):
            reply = await runtime.conversations.send(f"taste-{n}-{p}", prompt.format(title=anchor["title"]))
            picks = [{"id": i.id, "title": i.title, "why": i.why, "hit": i.id in closest} for i in reply.items[:5]]
            row[prompt.split(" {")[0]] = {"hits": sum(p["hit"] for p in picks), "picks": picks, "prose": reply.prose}
        rows.append(row)
    return rows


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    keys = [p.split(" {")[0] for p in PROMPTS]
    means = {k: statistics.mean(r[k]["hits"] for r in rows) for k in keys}
    return {
        "anchors": len(rows),
        "mean_hits_at_5": means,
        "mean_hits_at_5_both": statistics.mean(means.values()),
        "zero_in_both": [r["title"] for r in rows if all(r[k]["hits"] == 0 for k in keys)],
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="recochat bench taste", description=__doc__.splitlines()[0])
    parser.add_argument("--catalog", choices=["movies", "books", "all"], default="all")
    parser.add_argument("--show", nargs="*", default=[], help="anchor ids whose picks and whys to print")
    parser.add_argument("--out", type=Path, default=RESULTS / "taste.json")
    args = parser.parse_args(argv)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="recochat-taste-") as scratch:
        for catalog in ("movies", "books") if args.catalog == "all" else (args.catalog,):
            anchors = yaml.safe_load(LISTS[catalog].read_text())["anchors"]
            runtime = _runtime(Path(scratch) / catalog, catalog)
            try:
                rows = asyncio.run(check(runtime, anchors))
            finally:
                runtime.close()
            results[catalog] = {"summary": summary(rows), "anchors": rows}
            print(f"{catalog}: {json.dumps(results[catalog]['summary'])}")
            for row in rows:
                if row["anchor"] in args.show:
                    for key in (p.split(" {")[0] for p in PROMPTS):
                        print(f"  {row['title']} / {key}: {row[key]['hits']} hits")
                        for pick in row[key]["picks"]:
                            print(f"    {'+' if pick['hit'] else '-'} {pick['title']} — {pick['why']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1, ensure_ascii=False))
    return 0
