"""Who gets shown on the demo catalog: coverage, long tail and popularity of many users' picks, per debias setting.

`recochat bench exposure [--users 300]`: simulated users, each one message (half "I loved <title>", half
"something <genre>", titles and genres drawn with a fixed seed), on the shipped demo catalog with the template
writer and the real encoder. Their top 5 are the reply's items, their top 10 `Engine.ranking` (diversified, as
a reply is). At each `DEBIAS` value (the app's `debias` setting) the same users' lists are measured by
`metrics.exposure`. Writes results/exposure.json and prints a table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from recochat.bot.runtime import Runtime, build
from recochat.bot.settings import DEMO_COLLECTION, Settings
from recochat.retrieval.recommender import Recommender

from .metrics import exposure
from .redial import DEBIAS_CURVE, popularity_of

RESULTS = Path(__file__).parent / "results"


def messages(runtime: Runtime, users: int, seed: int = 11) -> list[str]:
    """Half "I loved <title>", half "something <genre>", drawn from the catalog."""
    rng = random.Random(seed)
    items = runtime.engine.catalog.items
    genres = sorted({g for item in items for g in item.genres})
    return [
        f"I loved {rng.choice(items).title}" if n % 2 == 0 else f"something {rng.choice(genres)}" for n in range(users)
    ]


async def lists(runtime: Runtime, said: list[str], tag: str) -> tuple[list[list[str]], list[list[str]]]:
    """(top 5 as replied, top 10 as ranked) for each simulated user."""
    top5, top10 = [], []
    for n, text in enumerate(said):
        user = f"{tag}-{n}"
        reply = await runtime.conversations.send(user, text)
        top5.append([i.id for i in reply.items])
        top10.append([r.item.id for r in runtime.engine.ranking(user, 10, diversify=True)])
    return top5, top10


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="recochat bench exposure", description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=300)
    parser.add_argument("--out", type=Path, default=RESULTS / "exposure.json")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="recochat-exposure-") as home:
        runtime = build(Settings(home=Path(home), llm="template"), DEMO_COLLECTION)
        try:
            catalog = runtime.engine.catalog
            popularity = popularity_of(catalog)
            said = messages(runtime, args.users)
            base = runtime.engine.recommender.weights
            rows: list[dict[str, Any]] = []
            for debias in DEBIAS_CURVE:
                runtime.engine.recommender = Recommender(catalog, replace(base, debias=debias))
                top5, top10 = asyncio.run(lists(runtime, said, f"d{debias}"))
                five, ten = exposure(top5, popularity), exposure(top10, popularity)
                rows.append({"debias": debias, "top5": five, "top10": ten})
                print(
                    f"debias {debias:.2f}: coverage@5 {five['coverage@5']:.3f}, coverage@10 {ten['coverage@10']:.3f}, "
                    f"long tail@10 {ten['long_tail@10']:.3f}, popularity percentile@10 "
                    f"{ten['popularity_percentile@10']:.3f}"
                )
        finally:
            runtime.close()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"users": args.users, "catalog": DEMO_COLLECTION, "rows": rows}, indent=1))
    return 0
