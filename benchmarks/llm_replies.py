"""What a person waits for with a real LLM writer: items, then the first prose sentence.

Runs 52 scripted turns (4 conversations) on the demo catalog through the real conversation
API, timed the way a front end sees them:

- time to items: from `stream()` to `await stream.items()` returning (the cards show then);
- time to the first prose sentence (the writer's own clock) and to the whole reply;
- where the prose came from: the model (ok, repaired) or the template (replaced), and why;
- which grounding rule dropped how many of the model's sentences (`dropped_by_rule`, bot/grounding.py), with
  the drops that ended an attempt (unfinished, past_budget, llm_failed, writer_error).

`--concurrency 4` runs the four conversations at once, so most turns rank while the model
server is generating for another user; `--concurrency 1` runs them one after another.

`--compare` runs each concurrency twice, back to back, each with a fresh server: first as before
the prompt cache (`--no-prompt-cache`: no kept states, no prefill) and the pace rule for retries
(`--no-retry-pace`: retries start until 85% of the first-sentence budget whatever a sample takes),
then with both, so one invocation on one machine gives the before and after side by side.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from recochat.bot.conversation import Writer
    from recochat.bot.engine import TurnResult
    from recochat.bot.writer import WriteOutcome

CONVERSATIONS = [
    [
        "hi",
        "something funny but smart, no horror, I loved Hot Fuzz",
        "the second one looks great",
        "what else?",
        "what is #1 about?",
        "something from the 90s",
        "not that one",
        "more like #2",
        "thanks!",
        "meh",
        "any year, a thriller",
        "I've seen Heat already",
        "why #1?",
    ],
    [
        "recommend me something",
        "animated, for the kids",
        "more like #1",
        "nothing scary",
        "what is #3 about?",
        "something after 2010",
        "the first one sounds good",
        "another one",
        "no musicals",
        "what else?",
        "tell me about Toy Story",
        "thanks",
        "bye",
    ],
    [
        "I want a mind-bending science fiction movie like Inception",
        "not too long and not violent",
        "the third one looks interesting",
        "what else?",
        "from the 80s",
        "not that one",
        "what is #2 about?",
        "a romantic comedy instead",
        "more like #1",
        "any year",
        "meh",
        "something I haven't seen",
        "thank you",
    ],
    [
        "a dark crime drama",
        "I loved The Godfather and Pulp Fiction",
        "no westerns",
        "more like #1",
        "what else?",
        "who directed #2?",
        "something recent",
        "the second one",
        "no horror ever",
        "more please",
        "hello",
        "what is #1 about?",
        "one more",
    ],
]


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def dropped_by_rule(rows: list[dict[str, Any]]) -> dict[str, int]:
    """Drops over all rows by the rule (or cause) that dropped them, most first."""
    total: Counter[str] = Counter()
    for row in rows:
        total.update(row.get("dropped_by") or {})
    return dict(total.most_common())


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    llm_rows = [r for r in rows if r["status"] != "template"]
    counts = Counter(r["status"] for r in llm_rows)
    total = len(llm_rows) or 1
    items = [r["items_ms"] for r in rows]
    first = [r["first_sentence_ms"] for r in llm_rows if r["status"] in ("ok", "repaired")]
    return {
        "turns": len(rows),
        "llm_turns": len(llm_rows),
        "share_model_prose": (counts["ok"] + counts["repaired"]) / total,
        "share_ok": counts["ok"] / total,
        "share_repaired": counts["repaired"] / total,
        "share_replaced": counts["replaced"] / total,
        "replaced_because": dict(Counter(r["cause"] for r in llm_rows if r["status"] == "replaced").most_common()),
        "cut_short": sum(r["cause"] == "cut_short" for r in llm_rows),
        "attempts_mean": sum(r["attempts"] for r in llm_rows) / total,
        "items_ms_p50": percentile(items, 0.5),
        "items_ms_p95": percentile(items, 0.95),
        "first_sentence_ms_p50": percentile(first, 0.5),
        "first_sentence_ms_p95": percentile(first, 0.95),
        "turn_ms_p50": percentile([r["total_ms"] for r in llm_rows], 0.5),
        "turn_ms_p95": percentile([r["total_ms"] for r in llm_rows], 0.95),
        "dropped": sum(sum((r.get("dropped_by") or {}).values()) for r in rows),
        "dropped_by_rule": dropped_by_rule(rows),
        "retitled": sum(r.get("retitled", 0) for r in rows),
    }


class DropRecorder:
    """The runtime's writer, unchanged, keeping each user's last turn's drops by rule, why the prose is missing or
    cut (`WriteOutcome.cause`) and the samples asked for: a reply carries its status and note, not these."""

    def __init__(self, writer: Writer) -> None:
        self.writer = writer
        self.name = writer.name
        self.last: dict[str, dict[str, Any]] = {}

    async def stream(self, result: TurnResult, outcome: WriteOutcome) -> AsyncIterator[str]:
        try:
            async for chunk in self.writer.stream(result, outcome):
                yield chunk
        finally:
            self.last[result.user_id] = {
                "dropped_by": dict(outcome.dropped_by),
                "retitled": outcome.retitled,
                "cause": outcome.cause,
                "attempts": outcome.attempts,
            }

    def take(self, user: str) -> dict[str, Any]:
        return self.last.pop(user, {"dropped_by": {}, "retitled": 0, "cause": None, "attempts": 0})


async def _converse(conversations: Any, user: str, turns: list[str], drops: DropRecorder) -> list[dict[str, Any]]:
    rows = []
    for text in turns:
        started = time.perf_counter()
        stream = conversations.stream(user, text)
        await stream.items()
        items_ms = (time.perf_counter() - started) * 1000
        async for _ in stream:
            pass
        reply = stream.reply
        assert reply is not None
        rows.append(
            {
                "user": user,
                "text": text,
                "kind": reply.kind,
                "status": reply.status,
                "note": reply.note,
                "items_ms": items_ms,
                "first_sentence_ms": reply.first_sentence_ms,
                "total_ms": (time.perf_counter() - started) * 1000,
                "prose": reply.prose,
                "items": [i.label for i in reply.items],
                "whys": [i.why for i in reply.items],
                **drops.take(user),
            }
        )
    return rows


def run(
    writer: str = "embedded",
    base_url: str | None = None,
    concurrency: int = 4,
    conversations: list[list[str]] = CONVERSATIONS,
    prompt_cache: bool = True,
    retry_pace: bool = True,
    **budgets: Any,
) -> dict[str, Any]:
    from recochat.bot.runtime import build
    from recochat.bot.settings import Settings

    load_before = os.getloadavg()
    home = Path(tempfile.mkdtemp(prefix="recochat-bench-"))
    fields: dict[str, Any] = (
        {"llm": "openai", "llm_base_url": base_url, "llm_model": "smollm2"} if base_url else {"llm": writer}
    )
    runtime = build(Settings(home=home, **fields, **budgets, llm_prompt_cache=prompt_cache))
    writer_ = runtime.conversations.writer
    if hasattr(writer_, "predict_retries"):
        writer_.predict_retries = retry_pace
    drops = DropRecorder(writer_)
    runtime.conversations.writer = drops
    try:
        if runtime.llm_server is not None:
            runtime.llm_server.wait_ready(120)

        async def everyone() -> list[dict[str, Any]]:
            rows: list[dict[str, Any]] = []
            for start in range(0, len(conversations), concurrency):
                batch = list(enumerate(conversations))[start : start + concurrency]
                results = await asyncio.gather(
                    *(_converse(runtime.conversations, f"user{i}", t, drops) for i, t in batch)
                )
                rows += [row for result in results for row in result]
            return rows

        rows = asyncio.run(everyone())
    finally:
        runtime.close()
    settings = runtime.settings
    return {
        "writer": runtime.writer_label,
        "concurrency": concurrency,
        "prompt_cache": prompt_cache and runtime.llm_server is not None,
        "retry_pace": retry_pace,
        "load_avg": {"before": list(load_before), "after": list(os.getloadavg()), "cpus": os.cpu_count()},
        "budgets_s": {"first_sentence": settings.llm_first_sentence_s, "total": settings.llm_total_s},
        **summarize(rows),
        "rows": rows,
    }


def main(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="recochat bench llm")
    parser.add_argument("--writer", default="embedded", choices=["embedded", "template"])
    parser.add_argument("--base-url", help="an OpenAI-compatible endpoint instead of the embedded model")
    parser.add_argument(
        "--concurrency",
        type=int,
        nargs="+",
        default=[1, 4],
        help="conversations at once; several values run one after another (default: 1 4)",
    )
    parser.add_argument("--first-sentence-s", type=float, help="override RECOCHAT_LLM_FIRST_SENTENCE_S")
    parser.add_argument("--total-s", type=float, help="override RECOCHAT_LLM_TOTAL_S")
    parser.add_argument(
        "--no-prompt-cache", action="store_true", help="the embedded server keeps no prompt states and prefills none"
    )
    parser.add_argument(
        "--no-retry-pace", action="store_true", help="retries start until 85%% of the budget, however long one takes"
    )
    parser.add_argument(
        "--compare", action="store_true", help="each concurrency without the prompt cache and pace rule, then with"
    )
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    budgets = {k: v for k, v in (("llm_first_sentence_s", args.first_sentence_s), ("llm_total_s", args.total_s)) if v}
    name = "llm_server" if args.base_url else f"llm_{args.writer}"
    out = args.out or Path(__file__).parent / "results" / f"{name}.json"
    configs = [(False, False), (True, True)] if args.compare else [(not args.no_prompt_cache, not args.no_retry_pace)]
    runs = [
        run(args.writer, args.base_url, c, prompt_cache=cache, retry_pace=pace, **budgets)
        for c in args.concurrency
        for cache, pace in configs
    ]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(runs, indent=2, ensure_ascii=False))
    print(json.dumps([{k: v for k, v in r.items() if k != "rows"} for r in runs], indent=2))
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
