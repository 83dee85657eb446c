"""`recochat bench serve`: the HTTP API under load, its overhead over `Conversations.send`, isolation and durability.

Protocol (also written into the results):
- One runtime in this process (template writer, the real encoder, the demo catalog in a fresh home) serves C users
  at once through `Conversations.send` ("direct") and, through the app on a real uvicorn on a loopback port in a
  thread of the same process, C concurrent HTTP clients streaming (`stream: true`). The two alternate by quarters
  (direct turns 1..T/4, HTTP turns 1..T/4, direct the next quarter…), so a change of load on the machine hits both. Every other turn likes #1 (`Conversations.feedback`, `POST /v1/feedback`). Each user says the same messages
  in both (same seeds). The HTTP clients are a minimal keep-alive HTTP/1.1 client (httpx spent more CPU per turn
  than the server), one connection per client; half use key A and half key B, with the same user names in both
  namespaces. Per turn: the time to the items (direct: `items_ms`; HTTP: to the first SSE chunk, which must carry
  the items and no prose) and to the end (`data: [DONE]`). HTTP overhead = HTTP turn p50 / direct turn p50 - 1, and
  the same for the CPU time per turn (the clients' CPU left out, measured apart), which other load moves less.
- In the same quarters, the same HTTP load against `recochat serve` (the CLI command, in its own process, on the
  same home) with other user names: what a deployment sees (the load generator out of the server's process), with
  its overhead over direct computed the same way.
- Leaks: after each server's run, each client reads its own export with its own key: its logged turns must be
  exactly the messages it sent, its likes all there; a user that only key A has is a 404 for key B (GET and DELETE).
- kill -9: R rounds; each starts `recochat serve`, 8 clients send like/dislike on random items through
  `/v1/feedback` and note each 200, and the server is killed with SIGKILL 1-3 s in. Then the profile store is opened
  and each client's acknowledged events must be the start of its logged feedback events (none lost), and
  `PRAGMA integrity_check` must say ok.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
KEYS = {"a": "sk-bench-alpha-0123456789", "b": "sk-bench-bravo-0123456789"}
COLLECTION = "demo-movies"
WORDS = ["funny", "dark", "clever", "space", "heist", "romantic", "scary", "family", "war", "music"]
KILL_CLIENTS = 8
WARM_UP = ["something funny", "I loved Heat, more like that", "more like #1"]
"""Turns of a warm-up user before each timed run."""


def _messages(seed: int, turns: int, titles: list[str]) -> list[str]:
    """A user's turns: genres, moods, titles they loved, exclusions and follow-ups, the same for both runs."""
    rng = random.Random(seed)
    shapes = [
        lambda: f"something {rng.choice(WORDS)} and {rng.choice(WORDS)}",
        lambda: f"I loved {rng.choice(titles)}, more like that",
        lambda: "no horror please, something lighter",
        lambda: "more like #1",
        lambda: f"a {rng.choice(WORDS)} movie from the {rng.choice(['80s', '90s', '2000s'])}",
    ]
    return [rng.choice(shapes)() for _ in range(turns)]


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1) if ordered else 0.0


def _stats(values: list[float]) -> dict[str, float]:
    return {"p50": _pct(values, 0.5), "p95": _pct(values, 0.95), "max": round(max(values, default=0.0), 1)}


# -- direct: Conversations.send --------------------------------------------------------------------------------------
@dataclass
class _Tally:
    """The measurements of one kind of run, over its blocks."""

    turn_ms: list[float] = field(default_factory=list)
    first_ms: list[float] = field(default_factory=list)
    """Direct: `items_ms` (message → items); HTTP: request → the first SSE chunk (which carries the items)."""
    feedback_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    cpu_s: float = 0.0
    """CPU time of the work, the clients' excluded: less sensitive to other load on the machine than latency."""
    client_cpu_s: float = 0.0

    def report(self) -> dict[str, Any]:
        return {
            "turns": len(self.turn_ms),
            "turns_per_s": round(len(self.turn_ms) / self.seconds, 1) if self.seconds else 0.0,
            "turn_ms": _stats(self.turn_ms),
            "first_chunk_ms": _stats(self.first_ms),
            "feedback_ms": _stats(self.feedback_ms),
            "cpu_ms_per_turn": round(self.cpu_s * 1000 / len(self.turn_ms), 2) if self.turn_ms else 0.0,
            "client_cpu_ms_per_turn": round(self.client_cpu_s * 1000 / len(self.turn_ms), 2) if self.turn_ms else 0.0,
            "errors": self.errors,
        }


async def _direct(conversations: Any, clients: int, turns: range, titles: list[str], tally: _Tally) -> None:
    """Turns `turns` of every direct user through `Conversations.send`, C users at once."""

    async def user(n: int) -> None:
        messages = _messages(n, turns.stop, titles)
        for turn in turns:
            started = time.perf_counter()
            try:
                reply = await conversations.send(f"direct-{n}", messages[turn])
                tally.turn_ms.append((time.perf_counter() - started) * 1000)
                tally.first_ms.append(reply.timings_ms["items_ms"])
                if turn % 2 and reply.items:
                    started = time.perf_counter()
                    await conversations.feedback(f"direct-{n}", reply.items[0].id, "like")
                    tally.feedback_ms.append((time.perf_counter() - started) * 1000)
            except Exception as error:  # noqa: BLE001  # counted, reported
                tally.errors.append(f"direct-{n} turn {turn}: {error!r}")

    started = time.perf_counter()
    await asyncio.gather(*(user(n) for n in range(clients)))
    tally.seconds += time.perf_counter() - started


# -- the server process ----------------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_server(home: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = {
        **os.environ,
        "RECOCHAT_HOME": str(home),
        "RECOCHAT_LLM": "template",
        "RECOCHAT_API_KEYS": ",".join(f"{name}:{key}" for name, key in KEYS.items()),
        "RECOCHAT_API_RATE_PER_MINUTE": "0",
        "RECOCHAT_ENV_FILE": str(home / "absent.env"),
        "RECOCHAT_CONFIG": str(home / "absent.toml"),
    }
    command = [
        sys.executable,
        "-m",
        "recochat.bot.frontends.cli",
        "serve",
        "--port",
        str(port),
        "--collection",
        COLLECTION,
    ]
    process = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    import httpx

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"recochat serve exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    process.kill()
    raise RuntimeError("recochat serve did not answer /healthz in 120 s")


def _cpu_s(pid: int) -> float:
    """User and system CPU seconds of a process so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- HTTP: the same turns through the server -------------------------------------------------------------------------
class _Client:
    def __init__(self, n: int, clients: int, prefix: str = "u") -> None:
        self.n = n
        self.key = "a" if n < clients // 2 else "b"
        self.user = f"{prefix}{n % (clients // 2) if clients > 1 else 0}"  # the same names in both namespaces
        self.headers = {"Authorization": f"Bearer {KEYS[self.key]}"}
        self.liked: list[str] = []
        """Items this client liked through /v1/feedback and got a 200 for."""
        self.said: list[str] = []
        """The messages of its turns that got a whole answer."""


class _Connection:
    """A minimal HTTP/1.1 keep-alive client: the load generator shares the 2 cores with the server, and httpx spent
    more CPU per turn than the server did (3.3 s against 2.9 s for 300 turns), which measured the client, not the API.
    Reads Content-Length and chunked bodies; calls `on_data` with each SSE `data:` payload as it arrives."""

    def __init__(self, url: str) -> None:
        host, port = url.removeprefix("http://").split(":")
        self.host, self.port = host, int(port)
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(
        self, method: str, path: str, body: dict[str, Any], headers: dict[str, str], on_data: Any = None
    ) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        payload = json.dumps(body).encode()
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.writer.write(f"{head}Content-Length: {len(payload)}\r\n\r\n".encode() + payload)
        status = int((await self.reader.readline()).split()[1])
        fields: dict[str, str] = {}
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            fields[name.strip().lower()] = value.strip()
        if "content-length" in fields:
            return status, await self.reader.readexactly(int(fields["content-length"]))
        return status, await self._chunked(on_data)

    async def _chunked(self, on_data: Any) -> bytes:
        assert self.reader is not None
        body, pending = b"", b""
        while size := int((await self.reader.readline()).strip(), 16):
            data = await self.reader.readexactly(size + 2)
            body += data[:-2]
            pending += data[:-2]
            *events, pending = pending.split(b"\n\n")
            for event in events:
                if on_data is not None and event.startswith(b"data: "):
                    on_data(event[6:])
        await self.reader.readline()
        return body

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def _turn_body(user: str, text: str) -> dict[str, Any]:
    return {"model": COLLECTION, "user": user, "messages": [{"role": "user", "content": text}]}


async def _stream_turn(
    connection: _Connection, client: _Client, text: str, errors: list[str]
) -> tuple[float, float, list[dict]]:
    """One streamed turn: (ms to the first chunk, ms to [DONE], the items of the first chunk)."""
    body = _turn_body(client.user, text) | {"stream": True}
    started = time.perf_counter()
    seen: dict[str, Any] = {}

    def on_data(data: bytes) -> None:
        if data == b"[DONE]":
            return
        chunk = json.loads(data)
        if "error" in chunk:
            errors.append(f"{client.key}/{client.user}: stream error {chunk['error']}")
        elif "first_ms" not in seen:
            seen["first_ms"] = (time.perf_counter() - started) * 1000
            extra = chunk.get("recochat") or {}
            seen["items"] = extra.get("items")
            if seen["items"] is None or chunk["choices"][0]["delta"].get("content"):
                errors.append(f"{client.key}/{client.user}: the first chunk did not carry the items alone")
            if extra.get("user") != client.user:
                errors.append(f"{client.key}/{client.user}: the first chunk names user {extra.get('user')!r}")

    status, answer = await connection.request("POST", "/v1/chat/completions", body, client.headers, on_data)
    if status != 200 or not answer.endswith(b"data: [DONE]\n\n"):
        errors.append(f"{client.key}/{client.user}: HTTP {status} {answer[:200]!r}")
        return 0.0, 0.0, []
    return seen.get("first_ms", 0.0), (time.perf_counter() - started) * 1000, seen.get("items") or []


async def _http(url: str, everyone: list[_Client], turns: range, titles: list[str], tally: _Tally) -> None:
    """Turns `turns` of every HTTP client, streamed, all clients at once, one keep-alive connection each."""

    async def run(client: _Client) -> None:
        connection = _Connection(url)
        messages = _messages(client.n, turns.stop, titles)
        try:
            for turn in turns:
                first_ms, total_ms, items = await _stream_turn(connection, client, messages[turn], tally.errors)
                if total_ms:
                    client.said.append(messages[turn])
                    tally.first_ms.append(first_ms)
                    tally.turn_ms.append(total_ms)
                if turn % 2 and items:
                    started = time.perf_counter()
                    body = {"user": client.user, "item": items[0]["id"], "action": "like", "model": COLLECTION}
                    status, _ = await connection.request("POST", "/v1/feedback", body, client.headers)
                    tally.feedback_ms.append((time.perf_counter() - started) * 1000)
                    if status == 200:
                        client.liked.append(items[0]["id"])
                    else:
                        tally.errors.append(f"{client.key}/{client.user}: feedback HTTP {status}")
        except (OSError, ValueError, asyncio.IncompleteReadError) as error:
            tally.errors.append(f"{client.key}/{client.user}: {error!r}")
        finally:
            connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(run(c) for c in everyone))
    tally.seconds += time.perf_counter() - started


async def _warm_up(url: str, headers: dict[str, str]) -> None:
    """The first turns of a process load lazily built parts: not what is measured."""
    connection = _Connection(url)
    for text in WARM_UP:
        await connection.request("POST", "/v1/chat/completions", _turn_body("warm-up", text), headers)
    connection.close()


async def _leaks(url: str, everyone: list[_Client]) -> list[str]:
    """Each client's profile, read with its own key, holds exactly its own turns and likes."""
    import httpx

    leaks: list[str] = []
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        for client in everyone:
            answer = await http.get(f"/v1/profile/{client.user}/export", headers=client.headers)
            if answer.status_code != 200:
                leaks.append(f"{client.key}/{client.user}: export HTTP {answer.status_code}")
                continue
            data = answer.json()
            said = [e.get("text") for e in data["events"] if e["kind"] == "turn"]
            liked = iter(e["item_id"] for e in data["events"] if e["kind"] == "feedback" and e.get("value", 0) > 0)
            # the turns are exactly this client's messages; its likes are among the logged ones, in order ("more
            # like #1" logs a like of its own)
            if said != client.said or data["profile"]["turns"] != len(client.said):
                leaks.append(f"{client.key}/{client.user}: logged turns {said} differ from the ones sent {client.said}")
            if not all(item in liked for item in client.liked):
                leaks.append(f"{client.key}/{client.user}: its likes {client.liked} are not all in its log")
        a, b = {"Authorization": f"Bearer {KEYS['a']}"}, {"Authorization": f"Bearer {KEYS['b']}"}
        only = f"only-in-a-{everyone[0].user}"
        await http.post("/v1/chat/completions", json=_turn_body(only, "hello"), headers=a)
        for method in ("GET", "DELETE"):
            if (await http.request(method, f"/v1/profile/{only}", headers=b)).status_code != 404:
                leaks.append(f"key b could {method} key a's user")
    return leaks


# -- kill -9 during feedback -----------------------------------------------------------------------------------------
async def _feedback_until_killed(
    url: str, round_id: int, ids: list[str], acked: dict[str, list[tuple[str, str]]]
) -> None:
    import httpx

    headers = {"Authorization": f"Bearer {KEYS['a']}"}

    async def client(n: int) -> None:
        rng = random.Random(round_id * 100 + n)
        user = f"k{round_id}-u{n}"
        acked[user] = []
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            while True:
                item, action = rng.choice(ids), rng.choice(("like", "dislike"))
                body = {"user": user, "item": item, "action": action}
                try:
                    answer = await http.post("/v1/feedback", json=body, headers=headers)
                except httpx.HTTPError:
                    return  # the server is gone
                if answer.status_code == 200:
                    acked[user].append((item, action))

    await asyncio.gather(*(client(n) for n in range(KILL_CLIENTS)))


def _kill_round(home: Path, round_id: int, ids: list[str], rng: random.Random) -> dict[str, Any]:
    from recochat.profiles.store import ProfileStore

    process, url = _start_server(home)
    acked: dict[str, list[tuple[str, str]]] = {}

    async def go() -> None:
        task = asyncio.create_task(_feedback_until_killed(url, round_id, ids, acked))
        await asyncio.sleep(rng.uniform(1.0, 3.0))
        process.send_signal(signal.SIGKILL)
        await task

    asyncio.run(go())
    process.wait()
    store = ProfileStore(home / "profiles.sqlite3")
    lost = 0
    try:
        for user, sent in acked.items():
            logged = [
                (e.item_id, "like" if (e.value or 0) > 0 else "dislike")
                for e in store.events(f"api:a:{user}", kinds=["feedback"])
            ]
            lost += sum(1 for i, event in enumerate(sent) if i >= len(logged) or logged[i] != event)
    finally:
        store.close()
    with sqlite3.connect(home / "profiles.sqlite3") as db:
        integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
    return {"acknowledged": sum(map(len, acked.values())), "lost": lost, "integrity": integrity}


# -- the run ---------------------------------------------------------------------------------------------------------
async def _alternate(
    runtime: Any,
    urls: tuple[str, str],
    process: subprocess.Popen[bytes],
    clients: int,
    parts: list[range],
    titles: list[str],
) -> tuple[dict[str, _Tally], list[str]]:
    """Direct, HTTP in this process, HTTP to the `recochat serve` process, by quarters, so a change of load on the
    machine hits all three; then the leak checks on both servers."""
    tallies = {"direct": _Tally(), "http": _Tally(), "serve_process": _Tally()}
    here = [_Client(n, clients) for n in range(clients)]
    there = [_Client(n, clients, prefix="p") for n in range(clients)]
    for text in WARM_UP:
        await runtime.conversations.send("warm-up-direct", text)
    await _warm_up(urls[0], here[0].headers)
    await _warm_up(urls[1], there[0].headers)
    for part in parts:
        direct, http, served = tallies["direct"], tallies["http"], tallies["serve_process"]
        started = time.process_time()
        await _direct(runtime.conversations, len(here), part, titles, direct)
        direct.cpu_s += time.process_time() - started
        started, client = time.process_time(), time.thread_time()  # this thread runs the clients only
        await _http(urls[0], here, part, titles, http)
        http.client_cpu_s += time.thread_time() - client
        http.cpu_s += time.process_time() - started - (time.thread_time() - client)
        started, client = _cpu_s(process.pid), time.process_time()
        await _http(urls[1], there, part, titles, served)
        served.cpu_s += _cpu_s(process.pid) - started
        served.client_cpu_s += time.process_time() - client
    return tallies, await _leaks(urls[0], here) + await _leaks(urls[1], there)


def _overhead(of: dict[str, Any], over: dict[str, Any], key: str, sub: str | None = None) -> float:
    a, b = (of[key][sub], over[key][sub]) if sub else (of[key], over[key])
    return round(a / b - 1, 3) if b else 0.0


def run(clients: int, turns: int, kill_rounds: int, out: Path | None) -> dict[str, Any]:
    from recochat.bot.frontends.http_api import ServerThread, create_app
    from recochat.bot.frontends.http_api.access import Keys, parse_keys
    from recochat.bot.runtime import build
    from recochat.bot.settings import Settings
    from recochat.retrieval.catalog import demo_catalog_path, load_catalog

    items = load_catalog(demo_catalog_path()).items
    titles, ids = [i.title for i in items], [i.id for i in items]
    cuts = [turns * i // 4 for i in range(5)]
    parts = [range(a, b) for a, b in zip(cuts, cuts[1:], strict=False) if b > a]
    with tempfile.TemporaryDirectory(prefix="recochat-bench-serve-") as folder:
        home = Path(folder) / "home"
        runtime = build(Settings(home=home, llm="template"), COLLECTION)  # ingests the demo catalog
        keys = Keys(parse_keys(",".join(f"{name}:{key}" for name, key in KEYS.items())))
        process, served_url = _start_server(home)  # the same home: other users, one SQLite file
        try:
            with ServerThread(create_app(runtime, keys, rate_per_minute=0)) as url:
                tallies, leaks = asyncio.run(_alternate(runtime, (url, served_url), process, clients, parts, titles))
        finally:
            process.terminate()
            process.wait(30)
            runtime.close()
        rng = random.Random(27)
        kills = [_kill_round(home, r, ids, rng) for r in range(kill_rounds)]
    d, h, p = (tallies[k].report() for k in ("direct", "http", "serve_process"))
    result = {
        "date": date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "protocol": (__doc__ or "").strip(),
        "clients": clients,
        "turns_per_client": turns,
        "direct": d,
        "http": h,
        "serve_process": p,
        "http_overhead_of_turn_p50": _overhead(h, d, "turn_ms", "p50"),
        "http_overhead_of_cpu_per_turn": _overhead(h, d, "cpu_ms_per_turn"),
        "serve_overhead_of_turn_p50": _overhead(p, d, "turn_ms", "p50"),
        "serve_overhead_of_cpu_per_turn": _overhead(p, d, "cpu_ms_per_turn"),
        "leaks": leaks,
        "kill9": kills,
        "kill9_lost": sum(k["lost"] for k in kills),
    }
    if out is not None:
        out.write_text(json.dumps(result, indent=2) + "\n")
    return result


def _line(name: str, run: dict[str, Any]) -> str:
    turn, first, feedback = run["turn_ms"], run["first_chunk_ms"], run["feedback_ms"]
    return (
        f"{name}: {run['turns_per_s']} turns/s; turn p50 {turn['p50']} ms, p95 {turn['p95']} ms; items p50 "
        f"{first['p50']} ms, p95 {first['p95']} ms; feedback p50 {feedback['p50']} ms; "
        f"CPU {run['cpu_ms_per_turn']} ms/turn; {len(run['errors'])} errors"
    )


def summary(result: dict[str, Any]) -> str:
    kills = result["kill9"]
    return "\n".join(
        [
            f"{result['clients']} clients × {result['turns_per_client']} turns ({result['machine']})",
            _line("direct Conversations.send (items = items_ms)", result["direct"]),
            _line("HTTP, same process (items = first SSE chunk)", result["http"]),
            f"  overhead over direct: turn p50 {result['http_overhead_of_turn_p50']:+.1%}, "
            f"CPU per turn {result['http_overhead_of_cpu_per_turn']:+.1%}",
            _line("HTTP to `recochat serve` in its own process", result["serve_process"]),
            f"  overhead over direct: turn p50 {result['serve_overhead_of_turn_p50']:+.1%}, "
            f"CPU per turn {result['serve_overhead_of_cpu_per_turn']:+.1%}",
            f"cross-user leaks: {len(result['leaks'])}",
            f"kill -9: {len(kills)} rounds, {sum(k['acknowledged'] for k in kills)} acknowledged feedback events, "
            f"{result['kill9_lost']} lost, integrity {', '.join(sorted({k['integrity'] for k in kills})) or '-'}",
        ]
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="recochat bench serve")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument("--kill-rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS / "serve.json")
    args = parser.parse_args(argv)
    result = run(args.clients, args.turns, args.kill_rounds, args.out)
    print(summary(result))
    problems = (
        result["direct"]["errors"] + result["http"]["errors"] + result["serve_process"]["errors"] + result["leaks"]
    )
    return 1 if problems or result["kill9_lost"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
