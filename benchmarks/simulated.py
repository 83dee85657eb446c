"""Real-time learning with simulated users on the ReDial catalog.

Each simulated user has a hidden target movie. It opens vaguely, then each turn states one
true attribute of the target (a genre, a person, a plot keyword), 👎s every wrong item
shown, and stops when the target is shown. Two settings, same users, same messages:
`with_profile` (one conversation: the profile, negatives and exclusions accumulate) and
`without_profile` (every turn is a new user who only says the current message).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from recochat.bot.engine import Engine

import argparse
import json
import math
import random
import re
import tempfile
import time
from collections import Counter
from datetime import date
from pathlib import Path

from recochat.profiles.collaborative import CoOccurrence
from recochat.retrieval.catalog import CatalogItem
from recochat.retrieval.encoder import Encoder
from recochat.retrieval.scoring import ScoringWeights
from recochat.retrieval.store import StoredCatalog

from .redial import DATA, RESULTS, load_redial_catalog, make_engine, redial_items, require_data, stored

MAX_TURNS = 5
_WORD = re.compile(r"[a-z]{5,}")
_STOP = frozenset(
    """about after again against their there these those which while would could should being other where
    young woman women world years after before story family finds becomes against between through""".split()
)


def _people(item: CatalogItem) -> list[str]:
    names = []
    for key in ("star", "director"):
        value = item.meta.get(key) or []
        names += value if isinstance(value, list) else [value]
    return [n for n in names if n]


def _keywords(plot: str, document_frequency: Counter[str]) -> list[str]:
    """Rarest plot words first: the ones a person would remember."""
    words = {w for w in _WORD.findall(plot.lower()) if w not in _STOP}
    return sorted(words, key=lambda w: (document_frequency[w], w))


def load_plots() -> dict[str, str]:
    """What the simulated user remembers of the plot (the catalog text holds it too)."""
    info = json.loads((DATA / "redial-ievalm" / "id2info.json").read_text())
    return {movie_id: record.get("plot") or "" for movie_id, record in info.items()}


def messages_for(item: CatalogItem, plot: str, document_frequency: Counter[str]) -> list[str]:
    """Turn 1 is vague; then genre, person, keyword, second person or genre, second keyword."""
    genres, people, keywords = item.genres, _people(item), _keywords(plot, document_frequency)
    said = ["Can you recommend a movie?"]
    if genres:
        said.append(f"I'm in the mood for a {genres[0]} movie")
    if people:
        said.append(f"something with {people[0]}")
    if keywords:
        said.append(f"I think it's about {keywords[0]}")
    if len(people) > 1:
        said.append(f"maybe {people[1]} is in it")
    elif len(genres) > 1:
        said.append(f"it's also {genres[1]}")
    if len(keywords) > 1:
        said.append(f"something with {keywords[1]} in it")
    return said[:MAX_TURNS]


def pick_targets(catalog: StoredCatalog, plots: dict[str, str], n: int, seed: int = 7) -> list[CatalogItem]:
    return pick_targets_from(catalog.items, plots, n, seed)


def pick_targets_from(items: list[CatalogItem], plots: dict[str, str], n: int, seed: int = 7) -> list[CatalogItem]:
    usable = [i for i in items if i.genres and _people(i) and len(plots.get(i.id, "")) > 40]
    return random.Random(seed).sample(usable, min(n, len(usable)))


def simulate(engine: Engine, target: CatalogItem, said: list[str], remember: bool, index: int) -> int | None:
    """The turn (1-based) at which the target was shown, or None."""
    for turn, text in enumerate(said, start=1):
        user = f"sim{index}" if remember else f"sim{index}-turn{turn}"
        result = engine.turn(user, text)
        shown = [r.item.id for r in result.items]
        if target.id in shown:
            return turn
        if remember:
            for item_id in shown:
                engine.feedback(user, item_id, "dislike")
    return None


def summarize(turns: list[int | None]) -> dict[str, float]:
    n = len(turns)
    hits = [t for t in turns if t is not None]
    return {
        "success@1": round(sum(t <= 1 for t in hits) / n, 4),
        "success@3": round(sum(t <= 3 for t in hits) / n, 4),
        "success@5": round(sum(t <= 5 for t in hits) / n, 4),
        "mean_turns_when_found": round(sum(hits) / len(hits), 2) if hits else math.nan,
        "mean_turns_failures_as_6": round((sum(hits) + (n - len(hits)) * (MAX_TURNS + 1)) / n, 2),
        "n": n,
    }


def run(n_targets: int = 300, out_dir: Path | None = None, smoke: bool = False, encoder: Encoder | None = None) -> dict:
    out_dir = out_dir or RESULTS
    require_data()
    started = time.perf_counter()
    encoder = encoder or Encoder()
    plots = load_plots()
    if smoke:  # the targets plus a few hundred others, so CI ingests seconds, not minutes
        everything = redial_items()
        wanted = {i.id for i in pick_targets_from(everything, plots, n_targets)}
        catalog = stored(encoder, [i for i in everything if i.id in wanted] + everything[:300], "sim-smoke")
    else:
        catalog = load_redial_catalog(encoder)
    document_frequency: Counter[str] = Counter()
    for plot in plots.values():
        document_frequency.update(set(_WORD.findall(plot.lower())))
    targets = pick_targets(catalog, plots, n_targets)
    home = Path(tempfile.mkdtemp(prefix="recochat-sim-"))
    settings = {}
    for name, remember in (("with_profile", True), ("without_profile", False)):
        engine = make_engine(catalog, encoder, CoOccurrence(), home, ScoringWeights())
        turns = [
            simulate(engine, t, messages_for(t, plots[t.id], document_frequency), remember, i)
            for i, t in enumerate(targets)
        ]
        settings[name] = summarize(turns)
    result = {
        "protocol": __doc__.strip(),
        "date": date.today().isoformat(),
        "targets": len(targets),
        "items_per_reply": 5,
        "catalog_items": len(catalog),
        "example_messages": messages_for(targets[0], plots[targets[0].id], document_frequency),
        "settings": settings,
        "target": "success@5 >= 0.60 with profile updates",
        "seconds": round(time.perf_counter() - started, 1),
    }
    name = "simulated_smoke" if smoke else "simulated"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"{name}.json").write_text(json.dumps(result, indent=2, ensure_ascii=False))
    (out_dir / f"{name}.md").write_text(markdown(result))
    return result


def markdown(result: dict) -> str:
    lines = [
        f"Simulated users on the ReDial catalog ({result['date']}, {result['targets']} targets, "
        f"{result['catalog_items']} items, 5 shown per turn)",
        "",
        "| setting | success@1 | success@3 | success@5 | mean turns (found) | mean turns (fail = 6) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, s in result["settings"].items():
        lines.append(
            f"| {name} | {s['success@1']:.3f} | {s['success@3']:.3f} | {s['success@5']:.3f} | "
            f"{s['mean_turns_when_found']} | {s['mean_turns_failures_as_6']} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="recochat bench simulated")
    parser.add_argument("--targets", type=int, default=300)
    parser.add_argument("--smoke", action="store_true", help="10 targets (for CI)")
    parser.add_argument("--out", type=Path, help=f"results folder (default {RESULTS})")
    args = parser.parse_args(argv)
    result = run(10 if args.smoke else args.targets, out_dir=args.out, smoke=args.smoke)
    print(markdown(result))
    return 0
