"""What the learned ranker adds to a turn at 100k items, side by side with the formula and the encoder pass.

Protocol: the scale benchmark's catalog of SIZE items (benchmarks/scale.py: the demo movies plus noisy copies, ANN
candidates from Chroma past 50k items), through `bot.runtime.build` with the template writer. For each message of
the scale benchmark's conversations, in rotating order: the encoder pass alone, the turn with the formula, and the
same turn with the learned ranker for a twin user who has said the same things; the encoder's query cache is
cleared before each twin's turn, so neither finds the other's text encoded. The ratio is a turn's p95 over the
encoder pass's p95, as in the scale benchmark (target: ≤ 1.3 at 100k items).
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import date
from pathlib import Path
from typing import Any

from recochat.retrieval.ranker import read_ranker

from . import scale

RESULTS = scale.RESULTS
TARGET = 1.3


def run(
    ranker: Path,
    size: int = 100_000,
    turns: int = 120,
    users: int = 20,
    cache: Path = scale.CACHE,
    encoder: Any | None = None,
) -> dict:
    from recochat.retrieval.encoder import Encoder

    model = read_ranker(ranker)
    cache = cache.resolve()
    build = scale.build_catalog(size, encoder, cache, progress=encoder is None)
    if not build["done"]:
        raise SystemExit(f"the {size}-item catalog is not built yet ({build['items']} items); run again to resume")
    encoder = encoder or Encoder()
    runtime, _ = scale._runtime(size, encoder, cache)
    engine = runtime.engine
    engine.recommender.ranker = None
    for index, text in enumerate(scale.messages(6, seed=7, follow_up=False)):  # one-off costs (index load, imports)
        engine.turn(f"warm{index}", text)
        encoder.encode_texts([text])
    rows = []
    plan = scale.conversations(users, max(1, turns // users), seed=size % 9973)
    for index, (user, text) in enumerate(plan):
        row: dict[str, Any] = {}
        steps = ["encode", "formula", "learned"]
        for step in steps[index % 3 :] + steps[: index % 3]:
            started = time.perf_counter()
            if step == "encode":
                encoder.encode_texts([text])
            else:
                engine.recommender.ranker = model if step == "learned" else None
                clear = getattr(encoder, "clear_cache", None)
                if clear is not None:  # the twin that went first must not leave the text cached for the other
                    clear()
                started = time.perf_counter()
                turn = engine.turn(f"{user}~{step}", text)
                row[f"{step}_kind"] = turn.kind
            row[f"{step}_ms"] = (time.perf_counter() - started) * 1000
        rows.append(row)
    engine.recommender.ranker = None
    runtime.close()
    timed = [r for r in rows if r["formula_kind"] == "recommend" and r["learned_kind"] == "recommend"]
    encode, formula, learned = (scale.summary([r[f"{s}_ms"] for r in rows]) for s in ("encode", "formula", "learned"))
    return {
        "benchmark": "ranker cost",
        "protocol": __doc__.strip(),
        "date": date.today().isoformat(),
        "machine": scale.machine(),
        "size": size,
        "ranker": str(ranker),
        "first_stage": model.first_stage,
        "turns": len(rows),
        "recommending_turns": len(timed),
        "encoder_ms": encode,
        "formula_turn_ms": formula,
        "learned_turn_ms": learned,
        "learned_over_formula_p95": scale._ratio(learned["p95"], formula["p95"]),
        "formula_ratio_p95": scale._ratio(formula["p95"], encode["p95"]),
        "learned_ratio_p95": scale._ratio(learned["p95"], encode["p95"]),
        "target_ratio_p95": TARGET,
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="recochat bench ranker-cost")
    parser.add_argument("--ranker", type=Path, default=RESULTS / "redial_ranker.json", help="the model file to time")
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--turns", type=int, default=120)
    parser.add_argument("--out", type=Path, default=RESULTS / "ranker_cost.json")
    args = parser.parse_args(argv)
    result = run(args.ranker, args.size, args.turns)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps({k: v for k, v in result.items() if k != "protocol"}, indent=2))
    return 0
