"""`recochat bench understand`: p50/p95 time to understand an untruncated 2,000-character message,
on the demo catalog and on 100k items (the demo plus synthetic titles made of description words,
with years, genres and stars), 20 messages each, the same messages for both.

The message limit (2,000 characters) is enforced before understanding; this checks that title
linking, people and genre matching stay within the 50 ms target as the catalog grows.
"""

from __future__ import annotations

import json
import random
import statistics
import time
from pathlib import Path

from recochat.bot.understanding import understand
from recochat.retrieval.catalog import CatalogItem, demo_catalog_path, load_catalog
from recochat.retrieval.people import PeopleIndex
from recochat.retrieval.titles import TitleIndex

BASE = (
    "I loved Hot Fuzz and Heat, something funny but smart from the 90s, no horror, with Tom Hanks maybe, "
    "more like #2 but older, a heist movie with a twist, not too long, nothing scary for the kids. "
)


def catalogs(size: int, rng: random.Random) -> tuple[list[CatalogItem], list[CatalogItem], list[str]]:
    demo = load_catalog(demo_catalog_path()).items
    words = sorted({w for i in demo for w in i.description.split() if w.isalpha() and len(w) > 3})
    people = sorted({p for i in demo for p in (i.meta.get("stars") or [])})
    big = list(demo)
    for n in range(size - len(demo)):
        title = " ".join(rng.choice(words).capitalize() for _ in range(rng.randint(1, 4)))
        meta = {
            "year": rng.randint(1930, 2024),
            "genres": [rng.choice(["comedy", "drama", "horror", "thriller"])],
            "stars": [rng.choice(people)],
            "popularity": rng.random(),
        }
        big.append(CatalogItem(f"s{n}", title, title, meta))
    return demo, big, words


def messages(words: list[str], rng: random.Random, count: int = 20, length: int = 2000) -> list[str]:
    out = []
    for _ in range(count):
        text = ""
        while len(text) < length:
            text += rng.choice([BASE, " ".join(rng.choice(words) for _ in range(20)) + ". "])
        out.append(text[:length])
    return out


def timings(items: list[CatalogItem], texts: list[str]) -> dict[str, float]:
    titles, people = TitleIndex(items), PeopleIndex(items)
    genres = {g for i in items for g in i.genres}
    for text in texts[:3]:
        understand(text, titles, genres, 2025, people)
    ms = []
    for text in texts:
        started = time.perf_counter()
        understand(text, titles, genres, 2025, people)
        ms.append((time.perf_counter() - started) * 1000)
    ms.sort()
    return {"items": len(items), "p50_ms": statistics.median(ms), "p95_ms": ms[round(0.95 * (len(ms) - 1))]}


def main(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="recochat bench understand")
    parser.add_argument("--size", type=int, default=100_000)
    args = parser.parse_args(argv)
    rng = random.Random(7)
    demo, big, words = catalogs(args.size, rng)
    texts = messages(words, rng)
    result = {"demo": timings(demo, texts), "large": timings(big, texts)}
    out = Path(__file__).parent / "results" / "understand.json"
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    return 0
