"""A blind read-through of replies: are they fine for a person, or off, and why.

Step 1, `recochat bench readthrough run [--writers template embedded] [--base-url URL]`: runs
the 52 scripted turns of `bench llm` (one conversation at a time) for each writer and writes
the replies, shuffled, to results/readthrough_blind.jsonl (what a reader sees: the user's
message, the prose and the item lines, no writer) and results/readthrough_key.json (which writer
wrote which reply, and each reply's status and whys).

Step 2, a person reads readthrough_blind.jsonl and writes results/readthrough_labels.jsonl, one
line per reply: {"id": ..., "label": "fine" | "off", "reason": "..."}, by the rubric in
benchmarks/README.md.

Step 3, `recochat bench readthrough score`: the share labelled fine per writer, the share of
LLM replies with at least one model-written sentence, the model sentences dropped per writer by the
grounding rule that dropped them, whys distinct within their reply, and whys that name the anchor in
turns that had one ("more like #N", "I loved X", "the second one looks great").
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from .llm_replies import CONVERSATIONS, dropped_by_rule, run

RESULTS = Path(__file__).parent / "results"
BLIND = RESULTS / "readthrough_blind.jsonl"
KEY = RESULTS / "readthrough_key.json"
LABELS = RESULTS / "readthrough_labels.jsonl"
_ANCHOR_TURN = re.compile(
    r"\bmore like #\d|\bloved\b|\blooks? (great|good|interesting)|sounds good|the (first|second|third) one\b", re.I
)


def collect(writers: list[str], base_url: str | None = None, seed: int = 7) -> list[dict[str, Any]]:
    replies: list[dict[str, Any]] = []
    for writer in writers:
        result = run(writer=writer, base_url=base_url if writer == "server" else None, concurrency=1)
        for row in result["rows"]:
            replies.append({"writer": result["writer"], **row})
    random.Random(seed).shuffle(replies)
    for index, reply in enumerate(replies, start=1):
        reply["id"] = f"r{index:03d}"
    return replies


def write_blind(replies: list[dict[str, Any]]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    with BLIND.open("w", encoding="utf-8") as out:
        for reply in sorted(replies, key=lambda r: r["id"]):
            lines = [
                f"{n}. {label} — {why}"
                for n, (label, why) in enumerate(zip(reply["items"], reply["whys"], strict=True), 1)
            ]
            out.write(
                json.dumps(
                    {"id": reply["id"], "user": reply["text"], "prose": reply["prose"], "items": lines},
                    ensure_ascii=False,
                )
                + "\n"
            )
    KEY.write_text(json.dumps({r["id"]: r for r in replies}, ensure_ascii=False, indent=1))


def score() -> dict[str, Any]:
    key: dict[str, dict[str, Any]] = json.loads(KEY.read_text())
    labels = {row["id"]: row for row in (json.loads(line) for line in LABELS.read_text().splitlines() if line.strip())}
    by_writer: dict[str, Counter[str]] = defaultdict(Counter)
    reasons: dict[str, Counter[str]] = defaultdict(Counter)
    for reply_id, reply in key.items():
        label = labels.get(reply_id)
        if label is None:
            continue
        by_writer[reply["writer"]][label["label"]] += 1
        if label["label"] == "off":
            reasons[reply["writer"]][label["reason"]] += 1
    llm = [r for r in key.values() if r["status"] != "template"]
    with_items = [r for r in key.values() if len(r["whys"]) > 1]
    anchored = [r for r in with_items if _ANCHOR_TURN.search(r["text"])]
    return {
        "labelled": sum(sum(c.values()) for c in by_writer.values()),
        "share_fine": {w: c["fine"] / sum(c.values()) for w, c in by_writer.items()},
        "counts": {w: dict(c) for w, c in by_writer.items()},
        "off_reasons": {w: dict(c) for w, c in reasons.items()},
        "share_llm_replies_with_model_sentence": (
            sum(r["status"] in ("ok", "repaired") for r in llm) / len(llm) if llm else None
        ),
        "dropped_by_rule": {
            w: dropped_by_rule([r for r in llm if r["writer"] == w]) for w in sorted({r["writer"] for r in llm})
        },
        "share_replies_with_distinct_whys": sum(len(set(r["whys"])) == len(r["whys"]) for r in with_items)
        / max(1, len(with_items)),
        "anchor_turns": len(anchored),
        "share_whys_naming_a_liked_item_in_anchor_turns": (
            sum(sum("which you liked" in w for w in r["whys"]) for r in anchored)
            / max(1, sum(len(r["whys"]) for r in anchored))
        ),
    }


def main(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="recochat bench readthrough")
    parser.add_argument("step", choices=["run", "score"])
    parser.add_argument(
        "--writers",
        nargs="+",
        default=["template", "embedded"],
        help="template, embedded, and/or server (with --base-url)",
    )
    parser.add_argument("--base-url", help="an OpenAI-compatible endpoint, read as the writer 'server'")
    args = parser.parse_args(argv)
    if args.step == "run":
        write_blind(collect(args.writers, args.base_url))
        print(f"wrote {BLIND} ({sum(len(c) for c in CONVERSATIONS) * len(args.writers)} replies) and {KEY}")
        return 0
    result = score()
    (RESULTS / "readthrough.json").write_text(json.dumps(result, indent=2, ensure_ascii=False))
    print(json.dumps(result, indent=2, ensure_ascii=False))
    return 0
