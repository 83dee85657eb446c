"""How often the LLM's prose passes grounding validation, and how fast it starts streaming.

Runs scripted conversations on the demo catalog through the real conversation API with a
real LLM writer (embedded SmolLM2, or an OpenAI-compatible endpoint) and counts reply
statuses: ok (passed unrepaired), repaired (sentences dropped), replaced (template used).
"""

from __future__ import annotations

import asyncio
import json
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path

CONVERSATIONS = [
    ["hi", "something funny but smart, no horror, I loved Hot Fuzz", "the second one looks great", "what else?",
     "what is #1 about?", "something from the 90s", "not that one", "more like #2", "thanks!", "meh",
     "any year, a thriller", "I've seen Heat already", "why #1?"],
    ["recommend me something", "animated, for the kids", "more like #1", "nothing scary", "what is #3 about?",
     "something after 2010", "the first one sounds good", "another one", "no musicals", "what else?",
     "tell me about Toy Story", "thanks", "bye"],
    ["I want a mind-bending science fiction movie like Inception", "not too long and not violent",
     "the third one looks interesting", "what else?", "from the 80s", "not that one", "what is #2 about?",
     "a romantic comedy instead", "more like #1", "any year", "meh", "something I haven't seen", "thank you"],
    ["a dark crime drama", "I loved The Godfather and Pulp Fiction", "no westerns", "more like #1", "what else?",
     "who directed #2?", "something recent", "the second one", "no horror ever", "more please", "hello",
     "what is #1 about?", "one more"],
]


def run(writer: str = "embedded", base_url: str | None = None, out: Path | None = None,
        conversations: list[list[str]] = CONVERSATIONS) -> dict:
    from recochat.bot.app import build
    from recochat.bot.settings import Settings

    home = Path(tempfile.mkdtemp(prefix="recochat-bench-"))
    overrides = {"llm": "openai", "llm_base_url": base_url, "llm_model": "smollm2"} if base_url else {"llm": writer}
    runtime = build(Settings(home=home, llm_timeout_s=30, **overrides))

    async def converse() -> list[dict]:
        rows = []
        for index, turns in enumerate(conversations):
            for text in turns:
                started = time.perf_counter()
                stream = runtime.conversations.stream(f"user{index}", text)
                first_chunk_ms = None
                async for _ in stream:
                    if first_chunk_ms is None:
                        first_chunk_ms = (time.perf_counter() - started) * 1000
                reply = stream.reply
                assert reply is not None
                rows.append({"text": text, "kind": reply.kind, "status": reply.status,
                             "first_chunk_ms": first_chunk_ms, "llm_first_sentence_ms": reply.first_token_ms,
                             "total_ms": (time.perf_counter() - started) * 1000})
        return rows

    rows = asyncio.run(converse())
    llm_rows = [r for r in rows if r["status"] != "template"]
    counts = Counter(r["status"] for r in llm_rows)
    total = len(llm_rows) or 1
    result = {
        "writer": runtime.writer_label,
        "turns": len(rows),
        "llm_turns": len(llm_rows),
        "share_ok": counts["ok"] / total,
        "share_repaired": counts["repaired"] / total,
        "share_replaced": counts["replaced"] / total,
        "median_first_chunk_ms": statistics.median(r["first_chunk_ms"] for r in llm_rows) if llm_rows else None,
        "median_total_ms": statistics.median(r["total_ms"] for r in llm_rows) if llm_rows else None,
        "rows": rows,
    }
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2))
    return result


def main(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m recochat.benchmarks llm")
    parser.add_argument("--writer", default="embedded", choices=["embedded", "template"])
    parser.add_argument("--base-url", help="an OpenAI-compatible endpoint instead of the embedded model")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    name = "llm_server" if args.base_url else f"llm_{args.writer}"
    out = args.out or Path(__file__).parent / "results" / f"{name}.json"
    result = run(args.writer, args.base_url, out)
    summary = {k: v for k, v in result.items() if k != "rows"}
    print(json.dumps(summary, indent=2))
    return 0
