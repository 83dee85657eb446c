"""Scale-out: K recochat processes sharing one PostgreSQL and one Chroma server.

Protocol (also written into the results):
- One throwaway PostgreSQL cluster (`benchmarks/pg_cluster.py`, fsync off: what is measured is a
  recochat process dying, not the database server) and one `chroma run` server on loopback. The
  catalog is ingested once into the server with `ChromaStore.upsert`: the scale benchmark's
  synthetic 10k catalog (the 346 demo movies with their real, cached embeddings, plus synthetic
  items near them, `scale.synthetic_chunk`). `--smoke`: 60 demo items and 40 synthetic ones,
  vectors from a model-free hashing encoder.
- Each round starts K fresh processes (`benchmarks/scale_out_worker.py`: `bot.runtime.build`
  configured by RECOCHAT_DATABASE_URL / RECOCHAT_CHROMA_HOST / _PORT, the template writer, the
  real encoder) on a fresh schema, and waits until every one has loaded and made two warm-up
  turns. Then the same fixed load is spread over them: U users × T turns (distinct, realistic
  messages from `scale.conversations`), 👍 on #1 after the second turn and 👎 (even users) or 👍
  (odd users) on #2 after the fourth. User u is served by process u mod K, each process serves
  all its users at once, each user's steps in order.
- turns/s = acknowledged turns / wall time from handing out the load to the last process done.
  Latency is measured around `Conversations.send` in the worker, waiting included.
- kill -9 round (K = the largest K): as the above, but process 0 gets SIGKILL once it has
  acknowledged half of its steps. Then every acknowledged turn must be a `turn` event of that
  user in the shared log, and every acknowledged 👍/👎 a `feedback` event of that user on that
  item with that sign; missing ones are "lost" (target 0). The other processes must finish all
  their steps with no error.
- The machine's cores cap throughput: K processes on 2 cores share them, so the ratios
  (K vs 1 from one run) say how well processes share one database and one Chroma server, not
  how a deployment with a machine per process would scale.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from recochat.benchmarks.chroma_server import chroma_server
from recochat.benchmarks.pg_cluster import Cluster, start_cluster
from recochat.benchmarks.scale import demo_items, demo_vectors, summary, synthetic_chunk

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
COLLECTION = "scaleout"
READY_TIMEOUT_S = 240.0
"""K processes loading the encoder and a 10k catalog at once on 2 cores take a while."""
QUIET_TIMEOUT_S = 120.0
"""A round fails when no process says anything for this long."""


@dataclass(frozen=True)
class Plan:
    ks: tuple[int, ...] = (1, 2, 4)
    users: int = 40
    turns: int = 6
    size: int = 10_000
    encoder: str = "real"
    kill: bool = True


SMOKE = Plan(ks=(1, 2), users=6, turns=3, size=100, encoder="hashing")


# -- servers and catalog ------------------------------------------------------------------------


def ingest_catalog(host: str, port: int, plan: Plan) -> dict[str, Any]:
    """The catalog into the server once: demo items (real cached vectors, or hashed for smoke) then
    the scale benchmark's deterministic synthetic items up to `plan.size`."""
    from recochat.benchmarks.hashing_encoder import HashingEncoder
    from recochat.benchmarks.scale_out_worker import SMOKE_DIM
    from recochat.retrieval.store import ChromaStore

    started = time.perf_counter()
    parents = demo_items()
    if plan.encoder == "hashing":
        parents = parents[:60]
        vectors = HashingEncoder(dim=SMOKE_DIM).encode_texts([item.text for item in parents])
    else:
        vectors = demo_vectors(None)
    store = ChromaStore.http(host, port)
    store.upsert(COLLECTION, parents, vectors)
    done = 0
    while len(parents) + done < plan.size:
        count = min(5000, plan.size - len(parents) - done)
        items, chunk = synthetic_chunk(done, count, parents, vectors)
        store.upsert(COLLECTION, items, chunk)
        done += count
    store.mark_ingested(COLLECTION, noun="movie")
    return {"items": store.count(COLLECTION), "dim": int(vectors.shape[1]), "ingest_s": time.perf_counter() - started}


# -- the load -----------------------------------------------------------------------------------


def user_steps(plan: Plan) -> dict[str, list[list[Any]]]:
    """Every user's steps: T turns with a 👍 after the second and a 👎/👍 after the fourth."""
    from recochat.benchmarks.scale import conversations

    steps: dict[str, list[list[Any]]] = {}
    for user, text in conversations(plan.users, plan.turns, seed=16):
        steps.setdefault(user, [])
        steps[user].append(["turn", text])
        n = sum(1 for s in steps[user] if s[0] == "turn")
        if n == 2:
            steps[user].append(["feedback", 1, "like"])
        elif n == 4:
            index = int(user.rsplit("-", 1)[1])
            steps[user].append(["feedback", 2, "dislike" if index % 2 == 0 else "like"])
    return steps


class Worker:
    """One recochat process and a thread that puts its JSON lines on the round's shared queue."""

    def __init__(self, index: int, home: Path, env: dict[str, str], plan: Plan, lines: queue.Queue) -> None:
        self.index = index
        home.mkdir(parents=True)
        self.stderr = (home / "stderr.log").open("w")
        self.stderr_path = home / "stderr.log"
        command = [sys.executable, "-m", "recochat.benchmarks.scale_out_worker", str(home), COLLECTION, plan.encoder]
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr, text=True, env=env
        )
        self.reader = threading.Thread(target=self._read, args=(lines,), daemon=True)
        self.reader.start()

    def _read(self, lines: queue.Queue) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.startswith("{"):
                lines.put((self.index, json.loads(line)))
        lines.put((self.index, {"exit": True}))

    def go(self, users: dict[str, list[list[Any]]]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"users": users}) + "\n")
        self.process.stdin.flush()

    def tail(self) -> str:
        return self.stderr_path.read_text(errors="replace")[-1500:]

    def stop(self) -> None:
        if self.process.poll() is None:
            if self.process.stdin is not None:
                with contextlib.suppress(OSError):
                    self.process.stdin.close()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.stderr.close()


@dataclass
class Tally:
    """What a round saw: acks (per process and per user), latencies, errors, who finished."""

    acks: Counter = field(default_factory=Counter)
    turn_s: list[float] = field(default_factory=list)
    feedback_s: list[float] = field(default_factory=list)
    turns: dict[str, int] = field(default_factory=dict)
    feedback: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    done: set[int] = field(default_factory=set)
    ended: set[int] = field(default_factory=set)

    def take(self, index: int, said: dict[str, Any]) -> None:
        if said.get("ack") == "turn":
            self.acks[index] += 1
            self.turn_s.append(said["s"])
            self.turns[said["user"]] = self.turns.get(said["user"], 0) + 1
        elif said.get("ack") == "feedback":
            self.acks[index] += 1
            self.feedback_s.append(said["s"])
            self.feedback.setdefault(said["user"], []).append((said["item"], said["value"]))
        elif "error" in said:
            self.errors.append(f"process {index}, {said['user']}: {said['error']}")
        elif said.get("done"):
            self.done.add(index)
        elif said.get("exit"):
            self.ended.add(index)


def _env(url: str, host: str, port: int) -> dict[str, str]:
    """A deployed process's configuration, and nothing from the caller's RECOCHAT_* settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECOCHAT_")}
    env.update(RECOCHAT_DATABASE_URL=url, RECOCHAT_CHROMA_HOST=host, RECOCHAT_CHROMA_PORT=str(port))
    env.update(RECOCHAT_CONFIG=os.devnull, RECOCHAT_ENV_FILE=os.devnull, TOKENIZERS_PARALLELISM="false")
    return env


def _wait_ready(workers: list[Worker], lines: queue.Queue) -> list[float]:
    startup: dict[int, float] = {}
    deadline = time.monotonic() + READY_TIMEOUT_S
    while len(startup) < len(workers):
        try:
            index, said = lines.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            raise RuntimeError(f"processes not ready after {READY_TIMEOUT_S:.0f} s") from None
        if said.get("ready"):
            startup[index] = said["startup_s"]
        elif said.get("exit"):
            raise RuntimeError(f"process {index} exited before it was ready:\n{workers[index].tail()}")
    return [startup[i] for i in range(len(workers))]


def _collect(workers: list[Worker], lines: queue.Queue, kill_after: int | None) -> tuple[Tally, float, int | None]:
    """Read every process's lines until each is done or dead; SIGKILL process 0 after `kill_after` acks."""
    tally = Tally()
    started = time.perf_counter()
    finished = started
    killed_at: int | None = None
    while len(tally.done | tally.ended) < len(workers):
        try:
            index, said = lines.get(timeout=QUIET_TIMEOUT_S)
        except queue.Empty:
            tails = "\n".join(w.tail() for w in workers)
            raise RuntimeError(f"no process said anything for {QUIET_TIMEOUT_S:.0f} s:\n{tails}") from None
        tally.take(index, said)
        if said.get("done"):
            finished = time.perf_counter()
        if kill_after is not None and killed_at is None and index == 0 and tally.acks[0] >= kill_after:
            workers[0].process.send_signal(signal.SIGKILL)
            killed_at = tally.acks[0]
    return tally, finished - started, killed_at


def _lost(url: str, tally: Tally) -> dict[str, int]:
    """Acknowledged turns and 👍/👎 missing from the shared log, and the rows the load wrote
    (events and whys, warm-up turns left out): what sizes the database on paper."""
    import psycopg

    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT user_id, kind, item_id, value FROM events WHERE kind IN ('turn', 'feedback')")
        logged_turns: Counter = Counter()
        logged_feedback: Counter = Counter()
        for user, kind, item, value in rows:
            if kind == "turn":
                logged_turns[user] += 1
            else:
                logged_feedback[(user, item, "like" if value > 0 else "dislike")] += 1
        written = conn.execute(
            "SELECT (SELECT COUNT(*) FROM events WHERE user_id NOT LIKE 'warm-%'), "
            "(SELECT COUNT(*) FROM whys WHERE user_id NOT LIKE 'warm-%')"
        ).fetchone()
    assert written is not None
    lost_turns = sum(max(0, n - logged_turns[user]) for user, n in tally.turns.items())
    acked_feedback = Counter((user, item, value) for user, pairs in tally.feedback.items() for item, value in pairs)
    lost_feedback = sum(max(0, n - logged_feedback[key]) for key, n in acked_feedback.items())
    return {"turns": lost_turns, "feedback": lost_feedback, "event_rows": written[0], "why_rows": written[1]}


def run_round(k: int, plan: Plan, cluster: Cluster, chroma: tuple[str, int], root: Path, kill: bool) -> dict[str, Any]:
    """K fresh processes on a fresh schema, the whole load, and (with `kill`) SIGKILL of process 0 midway."""
    from recochat.profiles.postgres import PostgresProfileStore

    url = cluster.fresh_schema_url()
    PostgresProfileStore(url).close()  # the schema's tables, made once before K processes race to make them
    steps = user_steps(plan)
    shares: list[dict[str, list[list[Any]]]] = [{} for _ in range(k)]
    for n, (user, user_plan) in enumerate(steps.items()):
        shares[n % k][user] = user_plan
    lines: queue.Queue = queue.Queue()
    label = f"k{k}{'-kill' if kill else ''}"
    workers = [Worker(i, root / label / f"p{i}", _env(url, *chroma), plan, lines) for i in range(k)]
    try:
        startup = _wait_ready(workers, lines)
        for worker in workers:
            worker.go(shares[worker.index])
        victim_steps = sum(len(s) for s in shares[0].values())
        tally, wall_s, killed_at = _collect(workers, lines, victim_steps // 2 if kill else None)
    finally:
        for worker in workers:
            worker.stop()
    planned = [sum(len(s) for s in share.values()) for share in shares]
    survivors = range(1, k) if kill else range(k)
    turns = len(tally.turn_s)
    return {
        "k": k,
        "kill": kill,
        "startup_s": startup,
        "wall_s": wall_s,
        "turns": turns,
        "feedback": len(tally.feedback_s),
        "turns_per_s": turns / wall_s if wall_s else None,
        "steps_per_s": (turns + len(tally.feedback_s)) / wall_s if wall_s else None,
        "turn_ms": {key: (v * 1000 if v is not None and key != "n" else v) for key, v in summary(tally.turn_s).items()},
        "feedback_ms": {
            key: (v * 1000 if v is not None and key != "n" else v) for key, v in summary(tally.feedback_s).items()
        },
        "errors": tally.errors[:20],
        "error_count": len(tally.errors),
        "planned_steps": planned,
        "acked_steps": [tally.acks[i] for i in range(k)],
        "killed_after_acks": killed_at,
        "survivors_finished": all(tally.acks[i] == planned[i] and i in tally.done for i in survivors),
        "lost": _lost(url, tally),
    }


# -- the run ------------------------------------------------------------------------------------


def _ratios(rounds: list[dict[str, Any]]) -> dict[str, float | None]:
    base = next((r for r in rounds if r["k"] == 1 and not r["kill"]), None)
    out: dict[str, float | None] = {}
    for r in rounds:
        if base is not None and not r["kill"] and r["k"] != 1:
            out[f"K={r['k']} vs K=1"] = r["turns_per_s"] / base["turns_per_s"] if base["turns_per_s"] else None
    return out


def run(plan: Plan, out: Path | None) -> dict[str, Any]:
    started = time.perf_counter()
    root = Path(tempfile.mkdtemp(prefix="recochat-scaleout-"))
    cluster = start_cluster()
    try:
        with chroma_server(root) as chroma:
            catalog = ingest_catalog(*chroma, plan)
            rounds = [run_round(k, plan, cluster, chroma, root, kill=False) for k in plan.ks]
            if plan.kill:
                rounds.append(run_round(max(plan.ks), plan, cluster, chroma, root, kill=True))
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)
    result = {
        "date": date.today().isoformat(),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "protocol": (__doc__ or "").split("Protocol (also written into the results):")[-1].strip(),
        "plan": asdict(plan),
        "catalog": catalog,
        "rounds": rounds,
        "ratios": _ratios(rounds),
        "seconds": time.perf_counter() - started,
    }
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n")
    return result


def table(result: dict[str, Any]) -> str:
    """The results as the Markdown table of benchmarks/README.md."""
    base = next((r["turns_per_s"] for r in result["rounds"] if r["k"] == 1 and not r["kill"]), None)
    lines = [
        "| K | round | turns/s | p50 turn ms | p95 turn ms | ratio to K=1 | errors | acknowledged events lost |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in result["rounds"]:
        comparable = base and r["turns_per_s"] and not r["kill"]  # a killed process leaves its users unserved
        ratio = f"{r['turns_per_s'] / base:.2f}" if comparable else "—"
        kind = f"kill -9 of 1 process after {r['killed_after_acks']} acks" if r["kill"] else "all finish"
        lost = r["lost"]["turns"] + r["lost"]["feedback"]
        lines.append(
            f"| {r['k']} | {kind} | {r['turns_per_s']:.1f} | {r['turn_ms']['p50']:.0f} | {r['turn_ms']['p95']:.0f} "
            f"| {ratio} | {r['error_count']} | {lost} |"
        )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m recochat.benchmarks scale-out")
    parser.add_argument("--ks", type=int, nargs="+", default=list(Plan.ks))
    parser.add_argument("--users", type=int, default=Plan.users)
    parser.add_argument("--turns", type=int, default=Plan.turns)
    parser.add_argument("--size", type=int, default=Plan.size)
    parser.add_argument("--no-kill", action="store_true", help="skip the kill -9 round")
    parser.add_argument("--smoke", action="store_true", help="K = 1, 2; 100 items, a hashing encoder, 6 users")
    parser.add_argument("--out", type=Path, default=RESULTS / "scale_out.json")
    args = parser.parse_args(argv)
    if args.smoke:
        plan = SMOKE
    else:
        plan = Plan(tuple(args.ks), args.users, args.turns, args.size, "real", not args.no_kill)
    result = run(plan, args.out)
    print(table(result))
    print(f"({result['seconds']:.0f} s; results in {args.out})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
