"""One recochat process for the multi-process tests (tests/test_shared_learning.py): a runtime
over PostgreSQL and the tiny catalog with the hashing encoder, driven by JSON lines on stdin.

    python tests/pg_worker.py HOME DATABASE_URL

HOME must hold the tiny catalog's Chroma store (`chroma/`). Each request is one JSON object per
line ({"op": ..., ...}); each answer is one JSON line, {"ok": ...} or {"error": "..."}. The first
line written is {"ready": true}, once the runtime is built. "load" answers once per acknowledged
write ({"acked": n}) and then {"ok": n}, so a test can kill the process mid-run and know which
writes returned.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from fakes import HashingEncoder

from recochat.bot.runtime import Runtime, build
from recochat.bot.settings import Settings


def answer(**fields: Any) -> None:
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


def load(runtime: Runtime, user: str, n: int) -> int:
    """n writes of one user, alternating 👍 on a catalog item and a turn; one ack line per write."""
    engine = runtime.engine
    items = [item.id for item in engine.catalog.items]
    for i in range(n):
        if i % 2 == 0:
            engine.feedback(user, items[i % len(items)], "like")
        else:
            engine.turn(user, "something funny")
        answer(acked=i + 1)
    return n


def serve(runtime: Runtime, request: dict[str, Any]) -> Any:
    """One request's result (JSON-ready)."""
    engine = runtime.engine
    op = request["op"]
    if op == "turn":
        result = engine.turn(request["user"], request["text"])
        return [r.item.id for r in result.items]
    if op == "feedback":
        return engine.feedback(request["user"], request["item"], request["value"]).id
    if op == "scores":
        return {"scores": engine.collaborative.scores(request["liked"]), "counts": dict(engine.collaborative.counts)}
    if op == "forget":
        return engine.forget(request["user"])
    if op == "load":
        return load(runtime, request["user"], request["n"])
    raise ValueError(f"unknown op {op!r}")


def main() -> None:
    home, url = Path(sys.argv[1]), sys.argv[2]
    runtime = build(Settings(home=home, database_url=url, llm="template"), collection="tiny", encoder=HashingEncoder())
    answer(ready=True)
    try:
        for line in sys.stdin:
            request = json.loads(line)
            if request["op"] == "quit":
                return
            try:
                answer(ok=serve(runtime, request))
            except Exception as error:  # noqa: BLE001  # the test reads it
                answer(error=f"{type(error).__name__}: {error}")
    finally:
        runtime.close()


if __name__ == "__main__":
    main()
