"""Speed and scale: per-turn time split, ingest throughput, concurrency, memory.

Protocol (also written into the results):
- Catalogs of 10k, 100k and 1M items: the 346 demo movies (real embeddings) plus synthetic
  items "Item N" whose vectors are made from the demo movies' (`Generator`, `GENERATOR`): a
  blend of two demo movies, plus noise drawn from the demo movies' own covariance (so it
  stays on the films' directions), a little isotropic noise and a pull toward their mean,
  normalized; the item has the main parent's genres and a nearby year. The generator's
  settings were fitted so that the cosines of an item's 1st, 10th and 50th nearest
  neighbours match ReDial's 6,583 real films at the same size, within 0.04 (`bench scale-hnsw`,
  results/scale_hnsw.md); the earlier generator (one parent plus isotropic noise, cosine
  ≈ 0.7 to it) gave far steeper neighbourhoods than real films have. Items are written
  straight into Chroma with `ChromaStore.upsert` (nothing to encode), cached under
  `benchmarks/.cache/scale/`, and built resumably: a rerun reuses or finishes them, and a
  catalog built by another generator or with other HNSW build settings (`store.HNSW`) is built
  again.
- Turns: every message is distinct (no turn hits the encoder's LRU cache as a whole; a
  clause that recurs, such as "no horror", may, as it would in real use). Each size runs in
  its own subprocess (so peak RSS is that size's), through `bot.runtime.build` with the template
  writer, timing `Engine.turn`. In the same loop, on the same texts, alternating order:
  the encoder pass alone (`Encoder.encode_texts([text])`) and a naive LangChain
  `Chroma.similarity_search(text, k=5)` over the same collection.
- Ingest: ~2,000 distinct real texts (the demo catalog, reworded) through `ingest()` into a
  fresh collection against raw `encode_texts` on the same texts, alternating which goes first.
- Encoder backends: the same model exported to ONNX, fp32 and int8 (dynamic quantization),
  against torch on 1,000 of those texts: items/s, one-query latency, and agreement of the
  top-10 neighbours of 60 requests (each backend encodes both sides).
- Concurrency: at 10k items, 50 users send at once through `Conversations.send` (several
  rounds), against one user alone; time is measured around `send`, so it includes waiting.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from recochat.retrieval.catalog import CatalogItem, demo_catalog_path, load_catalog
from recochat.retrieval.onnx_encoder import OnnxEncoder, export, export_path, max_length_of

from .settings import SETTINGS

ROOT = Path(__file__).resolve().parent.parent
CACHE = SETTINGS.bench_cache / "scale"
RESULTS = ROOT / "benchmarks" / "results"
SIZES = (10_000, 100_000, 1_000_000)
STEPS = ("understand", "encode", "profile_update", "retrieve", "score")
TARGETS = {100_000: 1.3, 1_000_000: 1.6}
"""p95 of a turn (LLM excluded) ≤ this × p95 of the encoder pass alone."""
INGEST_TARGET = 0.85
BUILD_CHUNK = 5000


@dataclass(frozen=True)
class Generator:
    """How a synthetic item's vector is made from its parents' (the demo movies' unit vectors):
    `(1 - w)·parent + w·other + s·(covariance noise + isotropic noise) + common·mean`, normalized, with a
    second random parent `other`, `w` uniform in [0, blend] (the main parent keeps at least half), and `s`
    log-normal around 1 (sd `jitter`), so some items sit close to a film and some far, as sequels and
    loose genre peers do."""

    name: str
    covariance: float
    """Norm (on average) of noise drawn from the parents' own covariance: random mixes of their deviations from
    their mean, so the noise stays in the span real films occupy."""
    isotropic: float
    """Norm of noise in a uniformly random direction."""
    blend: float = 0.0
    common: float = 0.0
    """Weight of the parents' mean direction: real film vectors share a large common part."""
    jitter: float = 0.0


ISOTROPIC = Generator("isotropic", covariance=0.0, isotropic=1.0)
"""The generator until 2026-12-05: one parent plus isotropic noise of norm 1 (cosine ≈ 1/√2 to it). At ReDial's
size its items' 1st/50th neighbour cosines were 0.71/0.28 (median) against ReDial's 0.57/0.42."""
REALISTIC = Generator("realistic-2026-12-05", covariance=1.2, isotropic=0.2, blend=0.5, common=0.2, jitter=0.4)
"""Fitted on grids (covariance 0.8-1.7, isotropic 0-0.5, blend 0.3-0.5, common 0-0.6, jitter 0-0.5) to ReDial's
6,583 films: at that size, the 10th, 50th and 90th percentiles of the 1st, 10th and 50th neighbour cosines and of
the 1st-to-50th gap (800 sampled items, two catalog seeds) are each within 0.04 of ReDial's, the medians of the
three cosines within 0.03 (`bench scale-hnsw` measures both again, results/scale_hnsw.md). No setting of these
five came closer than 0.036: the real catalog's gap is a little narrower at the median and wider at the top."""
GENERATOR = REALISTIC


def collection_name(size: int) -> str:
    return f"scale-{size // 1000}k" if size < 1_000_000 else f"scale-{size // 1_000_000}m"


# -- catalogs -----------------------------------------------------------------------------------


def demo_items() -> list[CatalogItem]:
    return load_catalog(demo_catalog_path()).items


def demo_vectors(encoder: Any | None, cache: Path = CACHE) -> np.ndarray:
    """The demo catalog's embeddings, encoded once and cached."""
    items = demo_items()
    path = cache / "demo_vectors.npy"
    if path.exists():
        vectors = np.load(path)
        if len(vectors) == len(items):
            return vectors
    cache.mkdir(parents=True, exist_ok=True)
    if encoder is None:
        from recochat.retrieval.encoder import Encoder

        encoder = Encoder()
    vectors = encoder.encode_texts([i.text for i in items])
    np.save(path, vectors)
    return vectors


def synthetic_chunk(
    start: int,
    count: int,
    parents: list[CatalogItem],
    parent_vectors: np.ndarray,
    generator: Generator | None = None,
) -> tuple[list[CatalogItem], np.ndarray]:
    """Items start..start+count-1, the same on every run (seeded by the chunk's start); `GENERATOR` unless given.
    The draws that `ISOTROPIC` makes come first and in its order, so it gives the catalogs it always gave."""
    generator = generator or GENERATOR
    rng = np.random.default_rng([20261128, start])
    which = rng.integers(0, len(parents), size=count)
    isotropic = rng.standard_normal((count, parent_vectors.shape[1])).astype(np.float32)
    isotropic *= generator.isotropic / np.linalg.norm(isotropic, axis=1, keepdims=True)
    shifts = rng.integers(-6, 7, size=count)
    items = []
    for offset in range(count):
        parent = parents[int(which[offset])]
        number = start + offset
        year = min(2025, max(1920, (parent.year or 2000) + int(shifts[offset])))
        genres = parent.genres
        text = f"Item {number} ({year}). {', '.join(genres)}. Synthetic item near {parent.title}."
        items.append(
            CatalogItem(
                id=f"syn-{number:07d}",
                title=f"Item {number}",
                text=text,
                meta={"year": year, "genres": genres, "popularity": int(rng.integers(0, 100))},
            )
        )
    parent_vectors = parent_vectors.astype(np.float32)
    noise = isotropic
    vectors = parent_vectors[which]
    if generator.blend:
        other = rng.integers(0, len(parents), size=count)
        share = rng.uniform(0.0, generator.blend, size=(count, 1)).astype(np.float32)
        vectors = (1 - share) * vectors + share * parent_vectors[other]
    mean = parent_vectors.mean(axis=0)
    if generator.covariance:
        deviations = parent_vectors - mean
        mixes = rng.standard_normal((count, len(parents))).astype(np.float32) / np.sqrt(len(parents))
        rms = float(np.sqrt((deviations**2).sum(axis=1).mean())) or 1.0
        noise = noise + mixes @ deviations * (generator.covariance / rms)
    if generator.jitter:
        noise = noise * np.exp(generator.jitter * rng.standard_normal((count, 1))).astype(np.float32)
    vectors = vectors + noise
    if generator.common:
        vectors = vectors + generator.common * mean / max(float(np.linalg.norm(mean)), 1e-9)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return items, vectors.astype(np.float32)


def _build_log(cache: Path) -> dict:
    path = cache / "build.json"
    return json.loads(path.read_text()) if path.exists() else {}


def build_catalog(
    size: int, encoder: Any | None, cache: Path = CACHE, budget_s: float | None = None, progress: bool = False
) -> dict:
    """Create or finish the collection of `size` items; returns its build record.

    Resumable: synthetic chunks are deterministic, so a killed build restarts at the last
    whole chunk. `budget_s` stops (unfinished) after that many seconds of this call.
    """
    from recochat.retrieval.store import HNSW, ChromaStore

    name = collection_name(size)
    log = _build_log(cache)
    hnsw = {key: HNSW[key] for key in ("max_neighbors", "ef_construction")}  # what a collection keeps from creation
    fresh = {"items": 0, "seconds": 0.0, "done": False, "generator": GENERATOR.name, "hnsw": hnsw}
    record = log.get(name, fresh)
    stale = record.get("generator", ISOTROPIC.name) != GENERATOR.name or record.get("hnsw") != hnsw
    if record["done"] and not stale:
        return record
    parents = demo_items()
    parent_vectors = demo_vectors(encoder, cache)
    store = ChromaStore.persistent(cache / "chroma")
    if stale:  # built by another generator, or with other HNSW build settings: start again
        if store.exists(name):
            store.drop(name)
        record = fresh
    started = time.perf_counter()
    step = started
    have = store.count(name) if store.exists(name) else 0
    if have < len(parents):
        store.upsert(name, parents, parent_vectors)
        have = len(parents)
    synthetic = size - len(parents)
    done = max(0, (have - len(parents)) // BUILD_CHUNK * BUILD_CHUNK)

    def save(items: int, finished: bool) -> dict:
        nonlocal step
        now = time.perf_counter()
        log[name] = {
            "items": items,
            "seconds": record["seconds"] + now - step,
            "done": finished,
            "generator": GENERATOR.name,
            "hnsw": hnsw,
        }
        step = now
        (cache / "build.json").write_text(json.dumps(log, indent=2))
        return log[name]

    while done < synthetic:
        count = min(BUILD_CHUNK, synthetic - done)
        items, vectors = synthetic_chunk(done, count, parents, parent_vectors)
        store.upsert(name, items, vectors)
        done += count
        record = save(len(parents) + done, False)
        elapsed = time.perf_counter() - started
        if progress:
            print(
                f"  {name}: {len(parents) + done:,}/{size:,} items, {record['seconds']:.0f} s "
                f"({done / elapsed:,.0f}/s this run)",
                file=sys.stderr,
                flush=True,
            )
        if budget_s is not None and elapsed > budget_s and done < synthetic:
            return record
    store.mark_ingested(name)
    return save(size, True)


# -- messages -----------------------------------------------------------------------------------

_MOODS = [
    "funny",
    "dark",
    "mind-bending",
    "feel-good",
    "slow-burn",
    "tense",
    "heartwarming",
    "quirky",
    "epic",
    "cozy",
    "gritty",
    "romantic",
    "thoughtful",
    "stylish",
    "offbeat",
    "uplifting",
    "eerie",
    "fast-paced",
    "bittersweet",
    "clever",
    "moody",
    "lighthearted",
    "sweeping",
    "intimate",
]
_KINDS = ["movie", "film", "story", "watch", "pick", "classic", "hidden gem", "crowd-pleaser"]
_ABOUT = [
    "about friendship",
    "set in space",
    "with a twist ending",
    "about a heist",
    "with a great soundtrack",
    "set in a small town",
    "about growing up",
    "with strong female leads",
    "about revenge",
    "set at sea",
    "about family secrets",
    "with great dialogue",
    "about an unlikely team",
    "set in the future",
    "about first love",
    "with stunning visuals",
    "about a road trip",
    "set during a war",
    "about artificial intelligence",
    "with a lot of heart",
    "about survival",
    "with sharp satire",
]
_OCCASIONS = [
    "for a rainy Sunday",
    "for date night",
    "to watch with my dad",
    "for a long flight",
    "for a night in",
    "to unwind after work",
    "for movie night with friends",
    "for the weekend",
]
_OPENERS = [
    "something {m} {k} {a}",
    "I'd love a {m} {g} {k} {a}",
    "can you suggest a {m} {g} {k} {o}",
    "in the mood for something {m} {a}",
    "looking for a {m} {g} {k} {o}",
    "any ideas for a {m} {k} {a} {o}",
    "recommend me a {m} {g} {k}, {a}",
]
_FOLLOWUPS = [
    "I loved {t}, something similar but more {m}",
    "{t} was great, now something {m} {a}",
    "no {g} please, more {m} and {m2}",
    "something from the {d}s, {m} {g} {a}",
    "more {m} {a}, not {g}",
    "I hated {t}, something {m} instead {o}",
    "maybe a {g} {k} {a}, {m} but not too {m2}",
    "got anything {m} like {t}?",
    "after {y}, a {m} {g} {k}",
    "less {m2}, more {m} {a}",
]


def messages(count: int, seed: int, follow_up: bool = True) -> list[str]:
    """Distinct, realistic requests (first turns, or follow-ups that name demo titles)."""
    rng = random.Random(seed)
    items = demo_items()
    genres = sorted({g for i in items for g in i.genres})
    out: list[str] = []
    seen: set[str] = set()
    while len(out) < count:
        pattern = rng.choice(_FOLLOWUPS if follow_up else _OPENERS)
        m, m2 = rng.sample(_MOODS, 2)
        text = pattern.format(
            m=m,
            m2=m2,
            k=rng.choice(_KINDS),
            a=rng.choice(_ABOUT),
            o=rng.choice(_OCCASIONS),
            g=rng.choice(genres),
            t=rng.choice(items).title,
            d=rng.choice(range(1950, 2030, 10)),
            y=rng.choice(range(1970, 2021, 5)),
        )
        if text not in seen:
            seen.add(text)
            out.append(text)
    return out


def conversations(users: int, turns: int, seed: int) -> list[tuple[str, str]]:
    """(user, text) in round-robin order: every user's first turn, then every second turn…"""
    firsts = messages(users, seed, follow_up=False)
    rest = messages(users * (turns - 1), seed + 1, follow_up=True)
    plan = []
    for turn in range(turns):
        for user in range(users):
            text = firsts[user] if turn == 0 else rest[user * (turns - 1) + turn - 1]
            plan.append((f"user{seed}-{user}", text))
    return plan


# -- helpers ------------------------------------------------------------------------------------


def peak_rss_mb() -> float:
    """This process's peak RSS. On Linux VmHWM, not ru_maxrss: ru_maxrss survives exec, so a
    worker spawned by a parent that had grown (building the 1M catalog) reported the parent's peak."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1024 * 1024 if sys.platform == "darwin" else 1024)


def summary(values: list[float]) -> dict:
    if not values:
        return {"p50": None, "p95": None, "mean": None, "n": 0}
    return {
        "p50": float(np.percentile(values, 50)),
        "p95": float(np.percentile(values, 95)),
        "mean": float(statistics.fmean(values)),
        "n": len(values),
    }


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def _langchain_embeddings(encoder: Any) -> Any:
    """A LangChain `Embeddings` over our `Encoder`, without its cache: the naive baseline."""
    from langchain_core.embeddings import Embeddings

    class EncoderEmbeddings(Embeddings):
        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return encoder.encode_texts(texts).tolist()

        def embed_query(self, text: str) -> list[float]:
            return encoder.encode_texts([text])[0].tolist()

    return EncoderEmbeddings()


def _runtime(size: int, encoder: Any, cache: Path) -> tuple[Any, float]:
    """The real wiring (`bot.runtime.build`, template writer) over the cached collection, with a
    fresh profiles database. Returns (runtime, seconds to start)."""
    from recochat.bot.runtime import build
    from recochat.bot.settings import Settings

    for leftover in cache.glob("profiles.sqlite3*"):
        leftover.unlink()
    started = time.perf_counter()
    runtime = build(Settings(home=cache, llm="template"), collection=collection_name(size), encoder=encoder)
    return runtime, time.perf_counter() - started


def _count_encoder_calls(encoder: Any) -> list[int]:
    """Wrap `encoder.encode_texts` on the instance to count forward passes."""
    calls = [0]
    original = encoder.encode_texts

    def counted(texts: Any, *args: Any, **kwargs: Any) -> np.ndarray:
        calls[0] += 1
        return original(texts, *args, **kwargs)

    encoder.encode_texts = counted
    return calls


# -- workers (each normally in its own process) -------------------------------------------------


def _timed_row(
    index: int, user: str, text: str, engine: Any, raw_encode: Any, vectorstore: Any, calls: list[int], profiler: Any
) -> dict[str, Any]:
    """One message: the engine's turn, the encoder pass alone and LangChain's search, in an order that rotates so no
    step always goes first."""
    row: dict[str, Any] = {"user": user, "text": text}
    steps = ["turn", "encode", "langchain"]
    for step in steps[index % 3 :] + steps[: index % 3]:
        started = time.perf_counter()
        if step == "turn":
            before = calls[0]
            if profiler:
                profiler.enable()
            turn = engine.turn(user, text)
            if profiler:
                profiler.disable()
            row.update(kind=turn.kind, timings_ms=turn.timings_ms, encoder_calls=calls[0] - before)
        elif step == "encode":
            raw_encode([text])
            row["encoder_ms"] = (time.perf_counter() - started) * 1000
        else:
            vectorstore.similarity_search(text, k=5)
            row["langchain_ms"] = (time.perf_counter() - started) * 1000
    return row


def _write_profile(profiler: Any, path: Path) -> None:
    import io
    import pstats

    stream = io.StringIO()
    pstats.Stats(profiler, stream=stream).sort_stats("cumulative").print_stats(40)
    path.write_text(stream.getvalue())


def turn_split(timed: list[dict]) -> dict[str, dict]:
    """Per step, the summary over the ranked turns that timed it (`n`: how many did; a step a turn skipped is not
    counted as 0 ms), the whole turn, and "other": the turn less its timed steps."""
    split = {
        step: summary([r["timings_ms"][step] for r in timed if step in r["timings_ms"]]) for step in (*STEPS, "total")
    }
    split["other"] = summary(
        [r["timings_ms"]["total"] - sum(r["timings_ms"].get(s, 0.0) for s in STEPS) for r in timed]
    )
    return split


def measure_turns(
    size: int, turns: int, users: int, cache: Path, encoder: Any | None = None, profile_to: Path | None = None
) -> dict:
    """Per-turn split at one catalog size, with the encoder pass and LangChain on the same texts."""
    from recochat.retrieval.candidates import EXACT_LIMIT
    from recochat.retrieval.encoder import Encoder

    rss = {"start": peak_rss_mb()}
    encoder = encoder or Encoder()
    raw_encode = encoder.encode_texts
    rss["encoder_loaded"] = peak_rss_mb()
    runtime, startup_s = _runtime(size, encoder, cache)
    rss["catalog_loaded"] = peak_rss_mb()
    engine, name = runtime.engine, collection_name(size)
    from langchain_chroma import Chroma

    vectorstore = Chroma(
        client=runtime.store.client, collection_name=name, embedding_function=_langchain_embeddings(encoder)
    )
    per_user = max(1, turns // users)
    plan = conversations(users, per_user, seed=size % 9973)
    warm = messages(6, seed=7, follow_up=False)
    for index, text in enumerate(warm):  # first calls pay one-off costs (HNSW index load, lazy imports)
        engine.turn(f"warm{index}", text)
        raw_encode([text])
        vectorstore.similarity_search(text, k=5)
    calls = _count_encoder_calls(encoder)
    profiler = None
    if profile_to is not None:
        import cProfile

        profiler = cProfile.Profile()
    rows = [
        _timed_row(index, user, text, engine, raw_encode, vectorstore, calls, profiler)
        for index, (user, text) in enumerate(plan)
    ]
    setattr(encoder, "encode_texts", raw_encode)  # noqa: B010 - undo the per-instance counting wrapper
    if profiler and profile_to:
        _write_profile(profiler, profile_to)
    rss["peak"] = peak_rss_mb()

    timed = [r for r in rows if "total" in r["timings_ms"]]
    split = turn_split(timed)
    encoder_ms = summary([r["encoder_ms"] for r in rows])
    langchain_ms = summary([r["langchain_ms"] for r in rows])
    result: dict[str, Any] = {
        "size": size,
        "items": len(engine.catalog),
        "collection": name,
        "retrieval": "exact" if len(engine.catalog) <= EXACT_LIMIT else "ann",
        "startup_s": startup_s,
        "turns": len(rows),
        "timed_turns": len(timed),
        "kinds": dict(sorted({k: sum(r["kind"] == k for r in rows) for k in {r["kind"] for r in rows}}.items())),
        "encoder_calls_per_turn": statistics.fmean(r["encoder_calls"] for r in rows),
        "split_ms": split,
        "encoder_ms": encoder_ms,
        "langchain_ms": langchain_ms,
        "ratio_p50": _ratio(split["total"]["p50"], encoder_ms["p50"]),
        "ratio_p95": _ratio(split["total"]["p95"], encoder_ms["p95"]),
        "langchain_ratio_p95": _ratio(langchain_ms["p95"], encoder_ms["p95"]),
        "target_ratio_p95": TARGETS.get(size),
        "rss_mb": rss,
        "rows": rows,
    }
    if result["target_ratio_p95"] is not None and result["ratio_p95"] is not None:
        result["target_met"] = result["ratio_p95"] <= result["target_ratio_p95"]
    if result["retrieval"] == "ann":
        result["ann_recall@50"] = _ann_recall(runtime, name, [user for user, _ in plan[:users]])
    return result


def _ann_recall(runtime: Any, name: str, users: list[str], top: int = 50) -> float:
    """Share of the exact top-50 (by cos(interest, c)) that the recommender's ANN over-fetch returns."""
    engine = runtime.engine
    fetch = max(engine.recommender.weights.mmr_pool * 8, 400)
    found = []
    for user in users:
        interest = engine.profiles.load(user).interest
        if interest is None:
            continue
        exact = np.argsort(-(engine.catalog.embeddings @ interest))[:top]
        ann = set(runtime.store.query(name, interest, fetch))
        found.append(sum(engine.catalog.items[row].id in ann for row in exact) / top)
    return float(statistics.fmean(found)) if found else float("nan")


def measure_concurrency(
    size: int, users: int, rounds: int, solo_turns: int, cache: Path, encoder: Any | None = None
) -> dict:
    """`users` send at once through `Conversations.send`, `rounds` times, against one user alone."""
    from recochat.retrieval.encoder import Encoder

    encoder = encoder or Encoder()
    runtime, _ = _runtime(size, encoder, cache)
    conversations_api = runtime.conversations
    solo_texts = messages(solo_turns, seed=11, follow_up=False)
    crowd_plan = conversations(users, rounds, seed=13)

    async def timed_send(user: str, text: str) -> dict:
        started = time.perf_counter()
        reply = await conversations_api.send(user, text)
        return {"ms": (time.perf_counter() - started) * 1000, "engine_ms": reply.timings_ms.get("total")}

    busy: dict[str, float] = {}

    async def scenario() -> tuple[list[dict], list[dict], float]:
        for index, text in enumerate(messages(4, seed=17, follow_up=False)):
            await conversations_api.send(f"warm{index}", text)
        cpu, wall = time.process_time(), time.perf_counter()
        solo = [await timed_send("solo", text) for text in solo_texts]
        busy["solo"] = (time.process_time() - cpu) / (time.perf_counter() - wall)
        crowd: list[dict] = []
        cpu, started = time.process_time(), time.perf_counter()
        for round_ in range(rounds):
            batch = crowd_plan[round_ * users : (round_ + 1) * users]
            crowd += await asyncio.gather(*(timed_send(user, text) for user, text in batch))
        busy["concurrent"] = (time.process_time() - cpu) / (time.perf_counter() - started)
        return solo, crowd, time.perf_counter() - started

    solo, crowd, crowd_s = asyncio.run(scenario())
    solo_ms = summary([r["ms"] for r in solo])
    crowd_ms = summary([r["ms"] for r in crowd])
    engine_ms = summary([r["engine_ms"] for r in crowd if r["engine_ms"] is not None])
    return {
        "size": size,
        "users": users,
        "rounds": rounds,
        "solo_ms": solo_ms,
        "concurrent_ms": crowd_ms,
        "concurrent_engine_ms": engine_ms,
        "p95_ratio": _ratio(crowd_ms["p95"], solo_ms["p95"]),
        "solo_turns_per_s": 1000 / solo_ms["mean"] if solo_ms["mean"] else None,
        "concurrent_turns_per_s": len(crowd) / crowd_s,
        "worker_threads": min(32, (os.cpu_count() or 1) + 4),
        # CPU cores one user's turns keep busy (this process's CPU time over wall time), and the most that many
        # users at once could gain over one on this machine's cores if nothing serialized them
        "solo_cores_busy": round(busy["solo"], 2),
        "concurrent_cores_busy": round(busy["concurrent"], 2),
        "throughput_ceiling": round((os.cpu_count() or 1) / busy["solo"], 2) if busy["solo"] else None,
        "rows": {"solo": solo, "concurrent": crowd},
    }


def ingest_items(count: int) -> list[CatalogItem]:
    """Distinct real texts: the demo catalog reworded (sentence order, a lead-in) until `count`."""
    leads = [
        "",
        "Staff pick.",
        "From the archive.",
        "Catalog entry.",
        "Editor's note:",
        "Late-night favourite.",
        "Critics' choice.",
        "Family shelf.",
    ]
    out: list[CatalogItem] = []
    base = demo_items()
    copy = 0
    while len(out) < count:
        for item in base:
            sentences = [s for s in item.text.split(". ") if s]
            shift = copy % max(1, len(sentences))
            body = ". ".join(sentences[shift:] + sentences[:shift])
            lead = leads[copy % len(leads)]
            text = f"{lead} {body}".strip() + (f" (copy {copy})" if copy >= len(leads) else "")
            out.append(CatalogItem(id=f"{item.id}~{copy}", title=item.title, text=text, meta=item.meta))
            if len(out) == count:
                break
        copy += 1
    return out


def measure_ingest(count: int, rounds: int, cache: Path, encoder: Any | None = None, onnx: bool = True) -> dict:
    """ingest() items/s against raw encode_texts on the same texts, alternating which goes first."""
    from recochat.retrieval.encoder import Encoder
    from recochat.retrieval.ingest import ingest
    from recochat.retrieval.store import ChromaStore

    encoder = encoder or Encoder()
    items = ingest_items(count)
    texts = [i.text for i in items]
    assert len(set(texts)) == len(texts)
    scratch = Path(tempfile.mkdtemp(prefix="recochat-scale-ingest-"))
    store = ChromaStore.persistent(scratch / "chroma")
    encoder.encode_texts(texts[:64])  # warm-up
    ingest_s: list[float] = []
    raw_s: list[float] = []
    try:
        for round_ in range(rounds):
            for step in ("ingest", "raw") if round_ % 2 == 0 else ("raw", "ingest"):
                started = time.perf_counter()
                if step == "ingest":
                    report = ingest(store, encoder, f"ingest-{round_}", items)
                    assert report.encoded == len(items)
                    ingest_s.append(time.perf_counter() - started)
                else:
                    encoder.encode_texts(texts)
                    raw_s.append(time.perf_counter() - started)
        # where the gap goes: the same encoding in ingest's chunks of 512, and the upserts alone
        started = time.perf_counter()
        vectors = np.concatenate([encoder.encode_texts(texts[i : i + 512]) for i in range(0, len(texts), 512)])
        chunked_s = time.perf_counter() - started
        started = time.perf_counter()
        store.upsert("ingest-upsert-only", items, vectors)
        upsert_s = time.perf_counter() - started
        result: dict[str, Any] = {
            "items": len(items),
            "rounds": rounds,
            "ingest_s": ingest_s,
            "raw_encode_s": raw_s,
            "ingest_items_per_s": len(items) / statistics.median(ingest_s),
            "raw_items_per_s": len(items) / statistics.median(raw_s),
            "chunked_encode_items_per_s": len(items) / chunked_s,
            "upsert_only_items_per_s": len(items) / upsert_s,
            "target": INGEST_TARGET,
        }
        result["ratio"] = result["ingest_items_per_s"] / result["raw_items_per_s"]
        result["target_met"] = result["ratio"] >= INGEST_TARGET
        if onnx:
            try:
                result["backends"] = measure_backends(encoder, texts[:1000], cache)
            except Exception as error:  # an optional extra: report, don't fail the benchmark
                result["backends"] = {"error": f"{type(error).__name__}: {error}"}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return result


# -- faster encoder backends ----------------------------------------------------------------------


def export_onnx(encoder: Any, cache: Path) -> dict[str, Path]:
    """The app's fp32 export (`retrieval/onnx_encoder.py`), then an int8 dynamic quantization of it. Cached."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    fp32 = export(encoder.model_path, export_path(encoder.model_path, cache / "onnx"))
    files = {"onnx-fp32": fp32, "onnx-int8": fp32.with_name("model_int8.onnx")}
    if not files["onnx-int8"].exists():
        quantize_dynamic(str(fp32), str(files["onnx-int8"]), weight_type=QuantType.QInt8)
    return files


def measure_backends(encoder: Any, corpus: list[str], cache: Path, queries: int = 60) -> dict:
    """Throughput and agreement of ONNX fp32 / int8 against the torch backend: top-10
    neighbours of `queries` turn-like messages among `corpus`, each backend encoding both."""
    files = export_onnx(encoder, cache)
    if getattr(encoder, "backend", "torch") != "torch":  # the reference is torch, whatever the app's default
        from recochat.retrieval.encoder import Encoder

        encoder = Encoder(encoder.model_path, backend="torch", batch_size=encoder.batch_size)
    asked = messages(queries, seed=23, follow_up=False)

    def throughput(backend: Any) -> tuple[float, np.ndarray]:
        started = time.perf_counter()
        vectors = backend.encode_texts(corpus)
        return len(corpus) / (time.perf_counter() - started), vectors

    def single_ms(backend: Any) -> dict:
        times = []
        for text in asked:
            started = time.perf_counter()
            backend.encode_texts([text])
            times.append((time.perf_counter() - started) * 1000)
        return summary(times)

    out: dict[str, Any] = {}
    torch_rate, reference_corpus = throughput(encoder)
    reference_top = np.argsort(-(encoder.encode_texts(asked) @ reference_corpus.T), axis=1)[:, :10]
    out["torch"] = {"items_per_s": torch_rate, "single_ms": single_ms(encoder), "recall@10": 1.0, "cosine": 1.0}
    max_length = max_length_of(encoder.model_path)
    for label, path in files.items():  # torch is measured again after, and the two averaged
        backend = OnnxEncoder(path, encoder.model_path, max_length, batch_size=encoder.batch_size)
        backend.encode_texts(corpus[:64])
        rate, vectors = throughput(backend)
        queries_vectors = backend.encode_texts(asked)
        top = np.argsort(-(queries_vectors @ vectors.T), axis=1)[:, :10]
        recall = statistics.fmean(len(set(a) & set(b)) / 10 for a, b in zip(top, reference_top, strict=True))
        out[label] = {
            "items_per_s": rate,
            "speedup": rate / torch_rate,
            "single_ms": single_ms(backend),
            "recall@10": recall,
            "cosine": float(np.mean(np.sum(vectors * reference_corpus, axis=1))),
        }
    again, _ = throughput(encoder)
    out["torch"]["items_per_s"] = torch_rate = (torch_rate + again) / 2
    for label in files:
        out[label]["speedup"] = out[label]["items_per_s"] / torch_rate
    return out


# -- the whole benchmark --------------------------------------------------------------------------


def _in_subprocess(kind: str, options: dict, cache: Path) -> dict:
    """Run one worker in a fresh interpreter, so its peak RSS is its own."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        out = Path(handle.name)
    command = [
        sys.executable,
        "-m",
        "recochat.benchmarks",
        "scale",
        "--worker",
        kind,
        "--worker-out",
        str(out),
        "--cache",
        str(cache),
        "--worker-options",
        json.dumps(options),
    ]
    try:
        subprocess.run(command, check=True)
        return json.loads(out.read_text())
    finally:
        out.unlink(missing_ok=True)


def _worker(kind: str, options: dict, cache: Path, encoder: Any | None = None) -> dict:
    if kind == "turns":
        profile = options.get("profile_to")
        return measure_turns(
            options["size"], options["turns"], options["users"], cache, encoder, Path(profile) if profile else None
        )
    if kind == "concurrency":
        return measure_concurrency(
            options["size"], options["users"], options["rounds"], options["solo_turns"], cache, encoder
        )
    if kind == "ingest":
        return measure_ingest(options["items"], options["rounds"], cache, encoder, options["onnx"])
    raise ValueError(f"unknown worker {kind!r}: turns, concurrency or ingest")


def run(
    sizes: tuple[int, ...] = SIZES,
    turns: int = 120,
    users: int = 20,
    crowd: int = 50,
    crowd_rounds: int = 4,
    solo_turns: int = 20,
    ingest_count: int = 2000,
    ingest_rounds: int = 3,
    onnx: bool = True,
    build_budget_s: float = 3600,
    cache: Path = CACHE,
    out: Path | None = None,
    encoder: Any | None = None,
    profile: bool = False,
) -> dict:
    """Build (or reuse) the catalogs, then measure. With `encoder` given, the workers run in this
    process and share it (for the smoke test): fast, but peak RSS is then the whole run's."""
    cache = cache.resolve()
    cache.mkdir(parents=True, exist_ok=True)
    inline = encoder is not None

    def work(kind: str, options: dict) -> dict:
        return _worker(kind, options, cache, encoder) if inline else _in_subprocess(kind, options, cache)

    builds: dict[str, dict] = {}
    for size in sizes:
        started = time.perf_counter()
        record = dict(build_catalog(size, encoder, cache, budget_s=build_budget_s, progress=not inline))
        record["this_run_s"] = time.perf_counter() - started
        record["items_per_s"] = record["items"] / record["seconds"] if record["seconds"] else None
        if not record["done"] and record["items_per_s"]:
            record["extrapolated_total_s"] = size / record["items_per_s"]
        builds[collection_name(size)] = record
    built = [s for s in sizes if builds[collection_name(s)]["done"]]
    per_size = []
    for size in built:
        options: dict[str, Any] = {"size": size, "turns": turns, "users": users}
        if profile:
            options["profile_to"] = str(RESULTS / f"scale_profile_{collection_name(size)}.txt")
        per_size.append(work("turns", options))
    concurrency = (
        work("concurrency", {"size": min(built), "users": crowd, "rounds": crowd_rounds, "solo_turns": solo_turns})
        if built
        else None
    )
    ingest_result = work("ingest", {"items": ingest_count, "rounds": ingest_rounds, "onnx": onnx})
    result = {
        "date": date.today().isoformat(),
        "machine": machine(),
        "inline": inline,
        "protocol": __doc__,
        "generator": asdict(GENERATOR),
        "builds": builds,
        "sizes": per_size,
        "concurrency": concurrency,
        "ingest": ingest_result,
    }
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2))
        out.with_suffix(".md").write_text(markdown(result))
        plot(result, out.parent / out.stem)
    return result


def run_large(size: int = 1_000_000, repeats: int = 3, turns: int = 120, users: int = 20, cache: Path = CACHE) -> dict:
    """`scale --large`: startup with no snapshot, then with one, and the turn ÷ encoder ratio over `repeats` runs
    (one subprocess each, the same turns) at one size; the median ratio is the figure (one run varies ±10%)."""
    cache = cache.resolve()
    build = build_catalog(size, None, cache, progress=True)
    if not build["done"]:
        raise SystemExit(f"the {size}-item catalog is not built yet ({build['items']} items); run again to resume")
    shutil.rmtree(cache / "snapshots", ignore_errors=True)  # the first start reads Chroma and writes the snapshot
    runs = []
    for _ in range(repeats):
        result = _in_subprocess("turns", {"size": size, "turns": turns, "users": users}, cache)
        result["slowest"] = sorted(result.pop("rows"), key=lambda r: -r["timings_ms"].get("total", 0))[:8]
        runs.append(result)
    ratios = [r["ratio_p95"] for r in runs]
    return {
        "date": date.today().isoformat(),
        "machine": machine(),
        "size": size,
        "startup_s": {
            "first (no snapshot)": runs[0]["startup_s"],
            "later (snapshot)": [r["startup_s"] for r in runs[1:]],
        },
        "ratio_p95": ratios,
        "median_ratio_p95": statistics.median(ratios),
        "target_ratio_p95": TARGETS.get(size),
        "runs": runs,
    }


def machine() -> dict:
    import torch

    from recochat.bot.settings import Settings

    try:
        load = os.getloadavg()
    except OSError:
        load = None
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "encoder_backend": Settings().encoder_backend,
        "load_average": load,
    }


# -- report ---------------------------------------------------------------------------------------


def _ms(value: float | None) -> str:
    return "—" if value is None else (f"{value:.1f}" if value < 100 else f"{value:.0f}")


def _x(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}×"


def _size_label(size: int) -> str:
    return f"{size // 1000:,}k" if size < 1_000_000 else f"{size // 1_000_000}M"


def markdown(result: dict) -> str:
    lines = [
        (
            f"Speed and scale, {result['date']}, {result['machine']['cpus']} CPUs "
            f"({result['machine']['processor']}), torch {result['machine']['torch']}, "
            f"app encoder backend: {result['machine'].get('encoder_backend', 'torch')} (auto is ONNX on a CPU)."
        ),
        "",
    ]
    lines += [
        "Per turn, LLM excluded (ms, p50 / p95):",
        "",
        "| items | retrieval | " + " | ".join(STEPS) + " | other | turn total | encoder pass alone | "
        "LangChain `similarity_search` | turn ÷ encoder (p95) | target | peak RSS |",
        "| --- " * (len(STEPS) + 10) + "|",
    ]
    for row in result["sizes"]:
        split = row["split_ms"]
        cells = [f"{_ms(split[s]['p50'])} / {_ms(split[s]['p95'])}" for s in (*STEPS, "other", "total")]
        target = row.get("target_ratio_p95")
        verdict = "—" if target is None else f"≤ {target}× {'met' if row.get('target_met') else 'missed'}"
        lines.append(
            f"| {_size_label(row['size'])} | {row['retrieval']} | "
            + " | ".join(cells)
            + f" | {_ms(row['encoder_ms']['p50'])} / {_ms(row['encoder_ms']['p95'])}"
            + f" | {_ms(row['langchain_ms']['p50'])} / {_ms(row['langchain_ms']['p95'])}"
            + f" | {_x(row['ratio_p95'])} | {verdict} | {row['rss_mb']['peak']:,.0f} MB |"
        )
    lines.append("")
    lines += [
        (
            "| items | build (s) | build items/s | startup (s) | RSS after encoder | RSS with catalog | "
            "encoder calls per turn | ANN recall@50 | turns with no items |"
        ),
        "| --- " * 9 + "|",
    ]
    by_name = {collection_name(row["size"]): row for row in result["sizes"]}
    for name, build in result["builds"].items():
        built = f"{build['seconds']:,.0f}"
        if not build["done"]:
            built += f" (stopped at {build['items']:,}; ≈{build.get('extrapolated_total_s', 0):,.0f} for all)"
        cells = [name, built, f"{build['items_per_s'] or 0:,.0f}"]
        row = by_name.get(name)
        if row:
            recall = row.get("ann_recall@50")
            cells += [
                f"{row['startup_s']:.1f}",
                f"{row['rss_mb']['encoder_loaded']:,.0f} MB",
                f"{row['rss_mb']['catalog_loaded']:,.0f} MB",
                f"{row['encoder_calls_per_turn']:.2f}",
                "exact" if recall is None else f"{recall:.3f}",
                f"{row['kinds'].get('empty', 0)} of {row['turns']}",
            ]
        else:
            cells += ["—"] * 6
        lines.append("| " + " | ".join(cells) + " |")
    c = result.get("concurrency")
    if c:
        lines += [
            "",
            f"Concurrency at {_size_label(c['size'])} items, template writer (ms):",
            "",
            "| scenario | p50 | p95 | turns/s |",
            "| --- | --- | --- | --- |",
            f"| 1 user alone | {_ms(c['solo_ms']['p50'])} | {_ms(c['solo_ms']['p95'])} | {c['solo_turns_per_s']:.1f} |",
            (
                f"| {c['users']} users at once ({c['rounds']} rounds), time around `send` | "
                f"{_ms(c['concurrent_ms']['p50'])} | {_ms(c['concurrent_ms']['p95'])} | {c['concurrent_turns_per_s']:.1f} |"
            ),
            (
                f"| the same, engine time inside the turn | {_ms(c['concurrent_engine_ms']['p50'])} | "
                f"{_ms(c['concurrent_engine_ms']['p95'])} | |"
            ),
            "",
            f"p95 with {c['users']} users ÷ p95 alone: {_x(c['p95_ratio'])}.",
        ]
        if c.get("solo_cores_busy"):
            lines.append(
                f"CPU cores busy (process CPU time ÷ wall time): {c['solo_cores_busy']:.2f} with one user, "
                f"{c['concurrent_cores_busy']:.2f} with {c['users']}; so at most {_x(c['throughput_ceiling'])} one "
                "user's turns/s on this machine's cores, however many users."
            )
    g = result["ingest"]
    lines += [
        "",
        f"Ingest of {g['items']:,} real texts (median of {g['rounds']} rounds, alternating order):",
        "",
        "| path | items/s |",
        "| --- | --- |",
        f"| raw `encode_texts` (one call) | {g['raw_items_per_s']:.1f} |",
        f"| `ingest()` (hash check, 512-item chunks, upsert) | {g['ingest_items_per_s']:.1f} |",
        f"| `encode_texts` in 512-item chunks | {g['chunked_encode_items_per_s']:.1f} |",
        f"| `ChromaStore.upsert` alone | {g['upsert_only_items_per_s']:.0f} |",
        "",
        (f"ingest ÷ raw: {g['ratio']:.1%} (target ≥ {g['target']:.0%}: {'met' if g['target_met'] else 'missed'})."),
    ]
    backends = g.get("backends")
    if backends and "error" not in backends:
        lines += [
            "",
            (
                "| encoder backend | items/s | × torch | single query p50 (ms) | top-10 agreement with torch | "
                "mean cosine to torch |"
            ),
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for label, b in backends.items():
            lines.append(
                f"| {label} | {b['items_per_s']:.1f} | {_x(b.get('speedup', 1.0))} | "
                f"{_ms(b['single_ms']['p50'])} | {b['recall@10']:.3f} | {b['cosine']:.4f} |"
            )
    elif backends:
        lines += ["", f"ONNX backends not measured: {backends['error']}"]
    return "\n".join(lines) + "\n"


def plot(result: dict, stem: Path) -> list[Path]:
    """PNGs: the turn split per size beside the encoder pass and LangChain; latency with 50 users."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    written = []
    if result["sizes"]:
        fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
        labels = [_size_label(r["size"]) for r in result["sizes"]]
        bottom = np.zeros(len(labels))
        for step in (*STEPS, "other"):
            values = np.array([r["split_ms"][step]["p50"] or 0 for r in result["sizes"]])
            left.bar(labels, values, bottom=bottom, label=step)
            bottom += values
        left.set_title("turn time split, p50 (ms)")
        left.set_xlabel("catalog items")
        left.legend(fontsize=8)
        x = np.arange(len(labels))
        for offset, (key, label) in zip(
            (-0.27, 0, 0.27),
            (
                ("total", "turn (LLM excluded)"),
                ("encoder", "encoder pass alone"),
                ("langchain", "LangChain similarity_search"),
            ),
            strict=True,
        ):
            p95s = [(r["split_ms"]["total"] if key == "total" else r[f"{key}_ms"])["p95"] for r in result["sizes"]]
            right.bar(x + offset, p95s, width=0.27, label=label)
        right.set_xticks(x, labels)
        right.set_title("p95 (ms)")
        right.set_xlabel("catalog items")
        right.legend(fontsize=8)
        fig.tight_layout()
        path = stem.parent / f"{stem.name}_turns.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    c = result.get("concurrency")
    if c:
        fig, axis = plt.subplots(figsize=(6, 4))
        for label, rows in (
            ("1 user alone", c["rows"]["solo"]),
            (f"{c['users']} users at once", c["rows"]["concurrent"]),
        ):
            values = np.sort([r["ms"] for r in rows])
            axis.plot(values, np.arange(1, len(values) + 1) / len(values), label=label)
        axis.set_xscale("log")
        axis.set_xlabel("turn time around send() (ms, log)")
        axis.set_ylabel("share of turns")
        axis.legend()
        fig.tight_layout()
        path = stem.parent / f"{stem.name}_concurrency.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m recochat.benchmarks scale")
    parser.add_argument("--sizes", default=",".join(str(s) for s in SIZES), help="catalog sizes, comma-separated")
    parser.add_argument("--turns", type=int, default=120, help="timed turns per size")
    parser.add_argument("--users", type=int, default=20, help="users the timed turns are spread over")
    parser.add_argument("--crowd", type=int, default=50, help="users talking at once")
    parser.add_argument("--crowd-rounds", type=int, default=4)
    parser.add_argument("--ingest-items", type=int, default=2000)
    parser.add_argument("--ingest-rounds", type=int, default=3)
    parser.add_argument("--no-onnx", action="store_true", help="skip the ONNX fp32/int8 encoder comparison")
    parser.add_argument(
        "--build-budget-s",
        type=float,
        default=3600,
        help="stop building a catalog after this long (resumes on the next run)",
    )
    parser.add_argument("--profile", action="store_true", help="cProfile the turns, write results/scale_profile_*.txt")
    parser.add_argument(
        "--large",
        type=int,
        metavar="SIZE",
        help="only this size: first start vs snapshot start, and the median of 3 runs' turn ÷ encoder p95",
    )
    parser.add_argument("--cache", type=Path, default=CACHE)
    parser.add_argument("--out", type=Path, default=RESULTS / "scale.json")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--worker-out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--worker-options", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        result = _worker(args.worker, json.loads(args.worker_options), args.cache)
        args.worker_out.write_text(json.dumps(result))
        return 0
    if args.large:
        large = run_large(args.large, turns=args.turns, users=args.users, cache=args.cache)
        out = args.out.with_name(f"scale_{collection_name(args.large)}.json")
        out.write_text(json.dumps(large, indent=2))
        print(json.dumps({k: v for k, v in large.items() if k != "runs"}, indent=2))
        return 0
    result = run(
        tuple(int(s) for s in args.sizes.split(",")),
        args.turns,
        args.users,
        args.crowd,
        args.crowd_rounds,
        ingest_count=args.ingest_items,
        ingest_rounds=args.ingest_rounds,
        onnx=not args.no_onnx,
        build_budget_s=args.build_budget_s,
        cache=args.cache,
        out=args.out,
        profile=args.profile,
    )
    print(markdown(result))
    return 0
