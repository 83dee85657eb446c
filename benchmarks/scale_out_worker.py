"""One recochat process of `recochat bench scale-out`, driven by JSON lines.

    python -m recochat.benchmarks.scale_out_worker HOME COLLECTION {real,hashing}

Configured the way a deployed process is: RECOCHAT_DATABASE_URL, RECOCHAT_CHROMA_HOST and
RECOCHAT_CHROMA_PORT from the environment, the template writer, `bot.runtime.build`. It warms up
(two turns of its own), writes {"ready": true, ...}, then reads one line, {"users": {USER: STEPS}},
and serves all those users at once through the conversation API, each user's steps in order. A
step is ["turn", TEXT] or ["feedback", RANK, "like"|"dislike"]. After each step *returns* it
writes an ack ({"ack": "turn"|"feedback", "user", "s", ...}): a turn or 👍 returns only after its
transaction commits, so every ack must be in the shared log even if this process is then killed
with SIGKILL. A step that fails writes {"error": ...} instead; the end is {"done": true}.

It is a module of its own (not tests/pg_worker.py) because that one runs the tests' fake encoder
and tiny catalog; this one runs the real encoder, or for `--smoke` the hashing encoder (`benchmarks/hashing_encoder.py`, the
one the tests use).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from recochat.benchmarks.hashing_encoder import HashingEncoder

SMOKE_DIM = 64
"""The hashing encoder's width in `--smoke` runs: the worker and the catalog it ingests must agree."""


def say(**fields: Any) -> None:
    """One JSON line on stdout, flushed at once: the parent counts acks as they come."""
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


async def serve_user(conversations: Any, user: str, steps: list[list[Any]]) -> None:
    """One user's steps in order, an ack (or an error) after each one returns."""
    for step in steps:
        started = time.perf_counter()
        try:
            if step[0] == "turn":
                await conversations.send(user, step[1])
                say(ack="turn", user=user, s=time.perf_counter() - started)
            else:
                found = await conversations.feedback(user, int(step[1]), step[2])
                say(ack="feedback", user=user, item=found.item_id, value=step[2], s=time.perf_counter() - started)
        except Exception as error:  # noqa: BLE001  # the parent counts and reports it
            say(error=f"{type(error).__name__}: {error}", user=user, step=step[0])


async def session(conversations: Any, label: str, started: float) -> None:
    """Warm up, say ready, wait for the users, serve them: one event loop for all of it, so the
    conversation API's per-user locks are made and used on the same loop."""
    for n, text in enumerate(("a funny movie for tonight", "something dark set in space")):
        await conversations.send(f"warm-{label}-{n}", text)  # one-off costs (HNSW load, lazy imports) before the clock
    say(ready=True, startup_s=time.perf_counter() - started, items=len(conversations.engine.catalog.items))
    line = await asyncio.to_thread(sys.stdin.readline)
    if not line:
        return
    users: dict[str, list[list[Any]]] = json.loads(line)["users"]
    await asyncio.gather(*(serve_user(conversations, user, steps) for user, steps in users.items()))
    say(done=True)


def main(argv: list[str]) -> int:
    from recochat.bot.runtime import build
    from recochat.bot.settings import Settings

    home, collection, which = Path(argv[0]), argv[1], argv[2]
    started = time.perf_counter()
    if which == "hashing":
        encoder: Any = HashingEncoder(dim=SMOKE_DIM)
    else:
        from recochat.retrieval.encoder import Encoder

        encoder = Encoder()
    runtime = build(Settings(home=home, llm="template"), collection=collection, encoder=encoder)
    try:
        asyncio.run(session(runtime.conversations, home.name, started))
    finally:
        runtime.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
