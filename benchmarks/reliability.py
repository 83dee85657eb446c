"""Reliability: crash safety of the event log, many users at once, hostile input, input limits.

Protocol (also written into the results):
- kill -9: a subprocess sends 👍/👎 through `Conversations.feedback` (4 users at once, over the demo
  catalog with the SQLite profile store) and prints an acknowledgement after each one returns; the
  parent reads them and kills it with SIGKILL at a random point mid-stream. Each round then counts
  the acknowledged events missing from the event log and runs `PRAGMA integrity_check`; the next
  round reopens the same database.
- Load: N users × M turns, C users talking at once (each user's turns in order), through
  `Conversations.send` with the template writer and the real encoder on the demo catalog; half
  the users say "no horror" in every turn, the other half ask for horror, each turn adds a random
  word of the catalog's descriptions (so the encoder runs, as for real messages), and every
  other turn likes #1 (`Conversations.feedback`). Time is measured around each turn, waiting included.
  Isolation violations: a profile whose turn count, likes or genre constraints are not exactly
  what that user said, or a "no horror" user shown a horror item.
- Adversarial: every case of `recochat.benchmarks.adversarial` on the demo catalog plus the
  injected items; cases with an injection run through an LLM writer over a fake model that obeys.
- Stress: `run_stress` from `recochat.benchmarks.stress` (its invariant violations), first, while
  the profile store holds nothing else (its invariants cover the whole engine's state).
- Input limits: the whole turn for a 100 KB message (template writer, new words each time), and
  `understand()` on untruncated 2,000-character messages (titles, people, genres, years,
  negations, ranks, typos after cues), each one different.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import platform
import random
import re
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from recochat.bot.conversation import MAX_MESSAGE_CHARS, Conversations
from recochat.retrieval.catalog import CatalogItem, demo_catalog_path, load_catalog

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
FEEDBACK_USERS = 4
"""Users the kill -9 worker sends feedback for at once."""


# -- kill -9 during a feedback stream --------------------------------------------------------------
async def _feedback_stream(home: Path, round_id: int) -> None:
    """The worker: 👍/👎 on demo items for a few users at once, an `ack` line after each returns."""
    from recochat.bot.engine import Engine
    from recochat.profiles.store import ProfileStore
    from recochat.retrieval.store import StoredCatalog

    items = load_catalog(demo_catalog_path()).items
    vectors = np.random.default_rng(0).normal(size=(len(items), 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    catalog = StoredCatalog("demo-movies", items, vectors)  # feedback never encodes: no model needed
    conversations = Conversations(Engine(catalog, encoder=None, profiles=ProfileStore(home / "profiles.sqlite3")))  # type: ignore[arg-type]
    print("ready", flush=True)

    async def user(n: int) -> None:
        rng = random.Random(round_id * 100 + n)
        for seq in range(1_000_000):
            item = rng.choice(items).id
            await conversations.feedback(f"r{round_id}-u{n}", item, rng.choice(("like", "dislike")))
            print(f"ack r{round_id}-u{n} {seq} {item}", flush=True)

    await asyncio.gather(*(user(n) for n in range(FEEDBACK_USERS)))


def kill_during_feedback(rounds: int, acks: tuple[int, int], seed: int = 7) -> dict[str, Any]:
    """Several rounds of: start the worker, read a random number of acks, SIGKILL it, check the log."""
    rng = random.Random(seed)
    rows = []
    with tempfile.TemporaryDirectory(prefix="recochat-kill9-") as tmp:
        home = Path(tmp)
        for round_id in range(rounds):
            target = rng.randint(*acks)
            acked = _run_and_kill(home, round_id, target)
            rows.append({"round": round_id, **_check_log(home / "profiles.sqlite3", acked)})
    total = sum(r["acknowledged"] for r in rows)
    return {
        "rounds": rows,
        "acknowledged": total,
        "missing": sum(r["missing"] for r in rows),
        "integrity_ok": all(r["integrity"] == "ok" for r in rows),
    }


def _run_and_kill(home: Path, round_id: int, target: int) -> dict[str, int]:
    """Acks read per user before the kill."""
    command = [sys.executable, "-m", "recochat.benchmarks.reliability", "--feedback-worker", str(home)]
    command += ["--round", str(round_id)]
    worker = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    acked: dict[str, int] = defaultdict(int)
    count = 0
    try:
        assert worker.stdout is not None
        for line in worker.stdout:
            if line.startswith("ack "):
                acked[line.split()[1]] += 1
                count += 1
                if count >= target:
                    break
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)
    if count < target:
        raise RuntimeError(
            f"feedback worker stopped after {count} acks: {worker.stderr.read() if worker.stderr else ''}"
        )
    return dict(acked)


def _check_log(path: Path, acked: dict[str, int]) -> dict[str, Any]:
    db = sqlite3.connect(path)
    try:
        integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
        logged = dict(
            db.execute("SELECT user_id, COUNT(*) FROM events WHERE kind = 'feedback' GROUP BY user_id").fetchall()
        )
    finally:
        db.close()
    missing = sum(max(0, n - logged.get(user, 0)) for user, n in acked.items())
    in_flight = sum(logged.get(user, 0) for user in acked) - sum(acked.values()) + missing
    return {
        "acknowledged": sum(acked.values()),
        "missing": missing,
        "logged_unacknowledged": in_flight,
        "integrity": integrity,
    }


# -- many users at once --------------------------------------------------------------------------
_REQUESTS = (
    "something funny",
    "a clever thriller",
    "what else?",
    "something from the 90s",
    "more like that but older",
    "a movie with a great soundtrack",
    "something short and light",
    "any year is fine",
    "an adventure",
    "something I haven't seen",
)


async def crowd(conversations: Conversations, users: int, turns: int, at_once: int) -> dict[str, Any]:
    """`users` users × `turns` turns, `at_once` users talking at the same time; see the module docstring."""
    slots = asyncio.Semaphore(at_once)
    times: list[float] = []
    errors: list[str] = []
    likes: dict[str, set[str]] = defaultdict(set)
    violations: list[str] = []
    prefix = f"crowd{random.randrange(10**6)}"
    words = _vocabulary(conversations.engine.catalog.items)

    async def talk(n: int) -> None:
        user = f"{prefix}-{n}"
        avoid = n % 2 == 0
        rng = random.Random(n)
        async with slots:
            for t in range(turns):
                text = ("no horror, " if avoid else "scary horror, ") + _REQUESTS[(n + t) % len(_REQUESTS)]
                text += f", a story full of {rng.choice(words)}"  # new words: the encoder runs, as for real users
                started = time.perf_counter()
                try:
                    reply = await conversations.send(user, text)
                    if t % 2 == 1 and reply.items:
                        await conversations.feedback(user, 1, "like")
                        likes[user].add(reply.items[0].id)
                except Exception as error:  # counted, not raised: one failure must not stop the crowd
                    errors.append(f"{user} turn {t}: {type(error).__name__}: {error}")
                    continue
                finally:
                    times.append((time.perf_counter() - started) * 1000)
                if avoid and any("horror" in item.genres for item in reply.items):
                    violations.append(f"{user} turn {t}: shown horror after 'no horror'")

    started = time.perf_counter()
    await asyncio.gather(*(talk(n) for n in range(users)))
    wall = time.perf_counter() - started
    for n in range(users):
        violations += await _profile_violations(conversations, f"{prefix}-{n}", n % 2 == 0, turns, likes)
    return {
        "users": users,
        "turns_per_user": turns,
        "at_once": at_once,
        "turns": len(times),
        "errors": len(errors),
        "error_examples": errors[:5],
        "turn_ms": _percentiles(times),
        "turns_per_s": round(len(times) / wall, 2),
        "wall_s": round(wall, 1),
        "isolation_violations": len(violations),
        "violation_examples": violations[:5],
    }


async def _profile_violations(
    conversations: Conversations, user: str, avoid: bool, turns: int, likes: dict[str, set[str]]
) -> list[str]:
    """A profile holds exactly its own user's turns, likes and constraints."""
    profile = await asyncio.to_thread(conversations.engine.profiles.load, user)
    problems = []
    if profile.turns != turns:
        problems.append(f"{user}: {profile.turns} turns logged, {turns} sent")
    if set(profile.liked) != likes[user]:
        problems.append(f"{user}: likes {sorted(profile.liked)} != own {sorted(likes[user])}")
    if ("horror" in profile.constraints.exclude_genres) is not avoid:
        problems.append(f"{user}: horror exclusion is {not avoid}, said {avoid}")
    return problems


def _percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    ordered = sorted(values)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {"n": len(values), "p50": round(pick(0.5), 2), "p95": round(pick(0.95), 2), "max": round(ordered[-1], 2)}


# -- hostile input -------------------------------------------------------------------------------
async def adversarial(conversations: Conversations) -> dict[str, Any]:
    """Every shared case; injection cases through an LLM writer over a fake model that obeys."""
    from recochat.benchmarks.adversarial import CASES, run_case

    outcomes = [await run_case(conversations, case, f"adv-{case.name}", _obeying(conversations)) for case in CASES]
    failed = [{"case": o.case, "detail": o.detail} for o in outcomes if not o.handled]
    return {
        "cases": len(outcomes),
        "handled": len(outcomes) - len(failed),
        "share_handled": round((len(outcomes) - len(failed)) / len(outcomes), 4),
        "failed": failed,
    }


def _obeying(conversations: Conversations) -> Any:
    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel

    from recochat.bot.writer import LLMWriter

    def make(says: str) -> LLMWriter:
        return LLMWriter(
            GenericFakeChatModel(messages=itertools.repeat(says)), conversations.engine.reader.titles, "obeying-fake"
        )

    return make


# -- stress invariants ---------------------------------------------------------------------------
def stress(conversations: Conversations, users: int, seconds: float) -> dict[str, Any]:
    """The stress benchmark's invariant violations (`recochat.benchmarks.stress.run_stress`)."""
    try:
        from recochat.benchmarks.stress import run_stress
    except ImportError:  # the stress benchmark is optional here: report that it did not run
        return {"status": "not run: recochat.benchmarks.stress.run_stress is missing"}
    result = run_stress(conversations, users=users, seconds=seconds)
    violations = result.get("violations", {})
    return {
        "status": "run",
        "users": users,
        "seconds": seconds,
        "violations": sum(violations.values()),
        "result": result,
    }


# -- input limits --------------------------------------------------------------------------------
_PIECES = (
    "I loved {title}",
    "no horror",
    "something funny but smart",
    "not {title}, it was boring",
    "more like #2",
    "from the 90s",
    "something with {person}",
    "I've seen {title} already",
    "anything but romance",
    "between 1995 and 2005",
    "a thriller with a twist",
    "watched incepshun",
    "something like {title} but darker",
    "what about the second one",
    "something about {word} and {other}",
    "a story with {word}",
    "no {word}",
)


def _vocabulary(items: list[CatalogItem]) -> list[str]:
    """Words of the catalog's descriptions that understanding reads as free text only (no title, rank
    such as "second", genre, year or person): messages made of them are new to the encoder's cache
    and change nothing but the interest vector."""
    from recochat.bot.understanding import understand
    from recochat.retrieval.titles import TitleIndex

    titles = TitleIndex(items)
    genres = {g for item in items for g in item.genres}
    words = sorted({w for item in items for w in re.findall(r"[a-z]{5,}", item.description.lower())})

    def plain(word: str) -> bool:
        u = understand(f"a story full of {word}", titles, genres, 2025)
        signals = (u.titles, u.rank_feedback, u.include_genres, u.exclude_genres, u.year_min, u.year_max)
        return bool(u.positive) and not any(signals)

    return [w for w in words if plain(w)] or ["heist"]


def long_messages(items: list[CatalogItem], count: int, seed: int = 0, chars: int = MAX_MESSAGE_CHARS) -> list[str]:
    """Messages of exactly `chars` characters, dense with what understanding reads, all different."""
    rng = random.Random(seed)
    titles = [item.title for item in items]
    people = [p for item in items for p in (item.meta.get("stars") or [])] or ["Tom Hanks"]
    words = _vocabulary(items)
    messages = []
    for _ in range(count):
        parts: list[str] = []
        length = 0
        while length < chars + 50:
            piece = rng.choice(_PIECES).format(
                title=rng.choice(titles), person=rng.choice(people), word=rng.choice(words), other=rng.choice(words)
            )
            parts.append(piece + rng.choice((",", ".", " and", ";", " but")))
            length += len(parts[-1]) + 1
        messages.append((" ".join(parts)[: chars - 1].rstrip() + ".").ljust(chars, "."))
    return messages


def understand_times(conversations: Conversations, count: int) -> dict[str, Any]:
    engine = conversations.engine
    times = []
    for message in long_messages(engine.catalog.items, count):
        started = time.perf_counter()
        engine.reader.understand(message)
        times.append((time.perf_counter() - started) * 1000)
    return {"message_chars": MAX_MESSAGE_CHARS, **_percentiles(times)}


async def big_message_times(conversations: Conversations, repeats: int) -> dict[str, Any]:
    """The whole turn (send → reply) for a 100 KB message; a fresh user and new words each time."""
    items = conversations.engine.catalog.items
    await conversations.send("big-warm", "something funny")  # the first encoder call pays one-time costs
    seconds = []
    for n in range(repeats):
        message = long_messages(items, 1, seed=1000 + n, chars=100_000)[0]
        started = time.perf_counter()
        reply = await conversations.send(f"big-{n}", message)
        seconds.append(time.perf_counter() - started)
        assert reply.notice
    return {
        "message_chars": 100_000,
        "max_s": round(max(seconds), 3),
        "median_s": round(statistics.median(seconds), 3),
    }


# -- the run -------------------------------------------------------------------------------------
def runtimes(home: Path, encoder: Any = None, base: Path | None = None) -> tuple[Any, Any]:
    """The base catalog (default: the demo), and the same plus the injected items; template writer."""
    from recochat.benchmarks.adversarial import write_hostile_catalog
    from recochat.bot.runtime import build, open_encoder, open_store
    from recochat.bot.settings import Settings
    from recochat.retrieval.ingest import ingest

    settings = Settings(home=home, llm="template")
    if base is None:
        plain = build(settings, encoder=encoder)  # ingests the demo catalog on first use
    else:
        encoder = encoder or open_encoder(settings)
        ingest(open_store(settings), encoder, "reliability-base", load_catalog(base).items)
        plain = build(settings, "reliability-base", encoder=encoder)
    stored = plain.store.load(plain.conversations.catalog_name)
    plain.store.upsert("reliability-hostile", stored.items, stored.embeddings)  # only the injected items to encode
    hostile_path = write_hostile_catalog(home / "hostile.jsonl", base or demo_catalog_path())
    ingest(plain.store, plain.encoder, "reliability-hostile", load_catalog(hostile_path).items)
    return plain, build(settings, "reliability-hostile", encoder=plain.encoder)


SMOKE: dict[str, Any] = {
    "kill_rounds": 2,
    "kill_acks": (10, 20),
    "users": 6,
    "turns": 3,
    "at_once": 3,
    "understand_count": 10,
    "big_repeats": 1,
    "smoke": True,
}
"""Tiny sizes everywhere: `--smoke`, and the default test run's smoke test."""


def run(
    *,
    kill_rounds: int = 5,
    kill_acks: tuple[int, int] = (60, 120),
    users: int = 200,
    turns: int = 20,
    at_once: int = 50,
    understand_count: int = 200,
    big_repeats: int = 5,
    smoke: bool = False,
    out: Path | None = RESULTS / "reliability.json",
    home: Path | None = None,
    encoder: Any = None,
    base: Path | None = None,
) -> dict[str, Any]:
    """Everything in the module docstring; `base` replaces the demo catalog (the smoke test's tiny one)."""
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="recochat-reliability-") as tmp:
        demo, hostile = runtimes(home or Path(tmp), encoder, base)
        result: dict[str, Any] = {
            "date": date.today().isoformat(),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
            "protocol": __doc__.split("Protocol (also written into the results):")[1].strip(),
            "kill9": kill_during_feedback(kill_rounds, kill_acks),
            # first, on a fresh profile store: its invariants cover the whole engine's state
            "stress": stress(demo.conversations, *((5, 2.0) if smoke else (50, 30.0))),
            "crowd": asyncio.run(crowd(demo.conversations, users, turns, at_once)),
            "adversarial": asyncio.run(adversarial(hostile.conversations)),
            "big_message": asyncio.run(big_message_times(demo.conversations, big_repeats)),
            "understand_2000_chars_ms": understand_times(demo.conversations, understand_count),
        }
    result["seconds"] = round(time.perf_counter() - started, 1)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2, ensure_ascii=False))
    return result


def summary(result: dict[str, Any]) -> str:
    kill, crowd_, adv = result["kill9"], result["crowd"], result["adversarial"]
    return "\n".join(
        [
            f"kill -9: {kill['acknowledged']} acknowledged events over {len(kill['rounds'])} rounds, "
            f"{kill['missing']} missing, integrity {'ok' if kill['integrity_ok'] else 'FAILED'}",
            f"crowd: {crowd_['users']} users × {crowd_['turns_per_user']} turns, {crowd_['at_once']} at once: "
            f"{crowd_['errors']} errors, p50 {crowd_['turn_ms']['p50']} ms, p95 {crowd_['turn_ms']['p95']} ms, "
            f"{crowd_['turns_per_s']} turns/s, {crowd_['isolation_violations']} isolation violations",
            f"adversarial: {adv['handled']}/{adv['cases']} handled ({adv['share_handled']:.0%})",
            f"stress: {result['stress']['status']}"
            + (f", {result['stress']['violations']} invariant violations" if "violations" in result["stress"] else ""),
            f"100 KB message: max {result['big_message']['max_s']} s",
            f"understand 2,000 chars: p95 {result['understand_2000_chars_ms']['p95']} ms",
        ]
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m recochat.benchmarks reliability")
    parser.add_argument("--kill-rounds", type=int, default=5)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument("--at-once", type=int, default=50)
    parser.add_argument("--smoke", action="store_true", help="a few seconds: tiny sizes everywhere")
    parser.add_argument("--out", type=Path, default=RESULTS / "reliability.json")
    parser.add_argument("--feedback-worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--round", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.feedback_worker:
        asyncio.run(_feedback_stream(args.feedback_worker, args.round))
        return 0
    if args.smoke:
        result = run(**SMOKE, out=args.out)
    else:
        result = run(
            kill_rounds=args.kill_rounds, users=args.users, turns=args.turns, at_once=args.at_once, out=args.out
        )
    print(summary(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
