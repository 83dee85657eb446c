"""HNSW settings from a measured curve: ANN recall@50 against query latency over Chroma's HNSW settings.

Protocol (also written into the results):
- Neighbour structure: for 800 sampled items of a catalog, the cosine of their 1st, 10th and 50th nearest
  other item and the 1st-to-50th gap; 10th/50th/90th percentiles. ReDial's 6,583 films (the ReDial
  benchmark's catalog and cached store, the app's encoder; skipped without the data) against synthetic
  catalogs of the same size from the scale bench's earlier generator (`scale.ISOTROPIC`) and its current
  one (`scale.GENERATOR`), and the current one at the sweep's size.
- Queries: the vectors the app sends to the ANN index, with the over-fetch it asks for
  (`CandidateIndex.candidate_rows`: the interest pulled toward the anchors, 400 ids), recorded from
  `Engine.turn` (the real wiring, template writer) over the scale bench's catalog of that size: 20 users,
  6 turns each.
- Truth: the exact top 50 of each query by cosine over the same vectors (numpy, brute force). Recall@50:
  the share of it that the 400 ids hold, averaged over the queries.
- Indexes: embeddings-only collections of the same vectors (no documents or metadata, which HNSW does not
  see), one per (max_neighbors, ef_construction), created with `configuration={"hnsw": {...}}`, built
  once and cached with their build time.
- Sweep: for each index and ef_search, a fresh Chroma client (Chroma reads ef_search when it loads an
  index: `collection.modify` on an index already loaded in the process changes nothing until the next
  load), 10 warm-up queries, then every query timed alone, as `ChromaStore.query` (the app's call) sends it
  on a kept collection handle.
  Rounds interleave all the settings, so a change of load on the machine hits them all alike. hnswlib
  searches with max(ef_search, k): below 400, ef_search changes nothing for the app's 400-id query.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np

from . import scale

RESULTS = scale.RESULTS
CACHE = scale.CACHE
FETCH = 400
"""The app's over-fetch (`retrieval/candidates.py`: max(8 × the MMR pool of 50, 400)); checked against the
recorded queries."""
TOP = 50
EF_SEARCH = (100, 400, 500, 600, 800, 1000, 1500, 2000)
INDEXES = ((16, 100), (16, 200), (32, 100), (32, 200))
"""(max_neighbors, ef_construction); Chroma's default is (16, 100)."""
TARGET = {100_000: 0.95, 1_000_000: 0.90}
SAMPLE = 800
RANKS = (1, 10, 50)


# -- neighbour structure ------------------------------------------------------------------------


def neighbour_cosines(vectors: np.ndarray, sample: int = SAMPLE, seed: int = 0) -> dict[str, dict[str, float]]:
    """Percentiles (10/50/90) over `sample` items of the cosine of their 1st, 10th and 50th nearest other item,
    and of the 1st-to-50th gap."""
    rng = np.random.default_rng(seed)
    rows = rng.choice(len(vectors), size=min(sample, len(vectors)), replace=False)
    top = []
    for start in range(0, len(rows), 100):
        chunk = rows[start : start + 100]
        sims = vectors[chunk] @ vectors.T
        sims[np.arange(len(chunk)), chunk] = -np.inf  # not the item itself
        best = -np.partition(-sims, max(RANKS), axis=1)[:, : max(RANKS)]
        top.append(-np.sort(-best, axis=1))
    ranked = np.concatenate(top)
    columns = {f"cos@{k}": ranked[:, k - 1] for k in RANKS}
    columns[f"gap 1-{max(RANKS)}"] = ranked[:, 0] - ranked[:, max(RANKS) - 1]
    return {name: {f"p{q}": float(np.percentile(values, q)) for q in (10, 50, 90)} for name, values in columns.items()}


def redial_vectors() -> tuple[np.ndarray | None, str]:
    """ReDial's catalog vectors through the ReDial benchmark's cached store, or None and why not."""
    try:
        from recochat.retrieval.encoder import Encoder

        from .redial import redial_items, stored

        catalog = stored(Encoder(), redial_items(), "redial")
    except Exception as error:  # the evaluation data is optional: report, don't fail
        return None, f"{type(error).__name__}: {error}"
    return catalog.embeddings.astype(np.float32), f"ReDial, {len(catalog):,} films"


def synthetic_vectors(size: int, generator: scale.Generator | None = None) -> tuple[list[str], np.ndarray]:
    """The ids and vectors of the scale bench's catalog of `size` items, chunk by chunk as `build_catalog` makes
    them (so the same vectors)."""
    parents = scale.demo_items()
    parent_vectors = scale.demo_vectors(None)
    ids = [item.id for item in parents]
    parts = [parent_vectors.astype(np.float32)]
    done = 0
    while done < size - len(parents):
        count = min(scale.BUILD_CHUNK, size - len(parents) - done)
        items, vectors = scale.synthetic_chunk(done, count, parents, parent_vectors, generator)
        ids += [item.id for item in items]
        parts.append(vectors)
        done += count
    return ids, np.concatenate(parts)


def neighbour_report(sweep_size: int) -> dict[str, Any]:
    real, source = redial_vectors()
    size = len(real) if real is not None else 6_583
    out: dict[str, Any] = {"size": size, "sample": SAMPLE, "redial": source}
    if real is not None:
        out["ReDial films"] = neighbour_cosines(real)
    for generator in (scale.ISOTROPIC, scale.GENERATOR):
        out[f"synthetic, {generator.name}"] = neighbour_cosines(synthetic_vectors(size, generator)[1])
    if real is not None:
        out["max_abs_difference"] = {
            generator.name: max(
                abs(out[f"synthetic, {generator.name}"][column][q] - out["ReDial films"][column][q])
                for column in out["ReDial films"]
                for q in ("p10", "p50", "p90")
            )
            for generator in (scale.ISOTROPIC, scale.GENERATOR)
        }
    out[f"synthetic at {sweep_size:,}, {scale.GENERATOR.name}"] = neighbour_cosines(synthetic_vectors(sweep_size)[1])
    return out


# -- queries ----------------------------------------------------------------------------------------


def record_queries(size: int, users: int, turns: int, cache: Path) -> tuple[np.ndarray, list[int]]:
    """The ANN queries (vector, n) the app issues over `users` × `turns` scripted turns at `size` items."""
    from recochat.retrieval.encoder import Encoder

    build = scale.build_catalog(size, None, cache, progress=True)
    if not build["done"]:
        raise SystemExit(f"the {size:,}-item catalog is not built yet ({build['items']:,} items); run again")
    runtime, _ = scale._runtime(size, Encoder(), cache)
    asked: list[tuple[np.ndarray, int]] = []
    original = runtime.store.query

    def recorded(name: str, vector: np.ndarray, n: int) -> list[str]:
        asked.append((np.asarray(vector, dtype=np.float32).copy(), n))
        return original(name, vector, n)

    runtime.store.query = recorded
    for user, text in scale.conversations(users, turns, seed=size % 9973):
        runtime.engine.turn(user, text)
    if not asked:
        raise SystemExit("no ANN query was issued: is the catalog above EXACT_LIMIT?")
    return np.stack([v for v, _ in asked]), [n for _, n in asked]


# -- indexes ----------------------------------------------------------------------------------------


def index_name(size: int, max_neighbors: int, ef_construction: int) -> str:
    return f"hnsw-{scale.collection_name(size)}-m{max_neighbors}-efc{ef_construction}"


def build_indexes(
    size: int, ids: list[str], vectors: np.ndarray, indexes: tuple[tuple[int, int], ...], cache: Path
) -> dict[str, dict]:
    """One embeddings-only collection per (max_neighbors, ef_construction), built once; their build records."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    path = cache / "hnsw"
    path.mkdir(parents=True, exist_ok=True)
    log_path = path / "build.json"
    log = json.loads(log_path.read_text()) if log_path.exists() else {}
    client = chromadb.PersistentClient(path=str(path / "chroma"), settings=ChromaSettings(anonymized_telemetry=False))
    names = {c if isinstance(c, str) else c.name for c in client.list_collections()}
    for max_neighbors, ef_construction in indexes:
        name = index_name(size, max_neighbors, ef_construction)
        record = log.get(name)
        if record and record.get("generator") == scale.GENERATOR.name and name in names:
            continue
        if name in names:
            client.delete_collection(name)
        collection = client.create_collection(
            name,
            embedding_function=None,
            configuration={
                "hnsw": {"space": "cosine", "max_neighbors": max_neighbors, "ef_construction": ef_construction}
            },
        )
        batch = min(client.get_max_batch_size(), scale.BUILD_CHUNK)
        started = time.perf_counter()
        for start in range(0, len(ids), batch):
            collection.add(ids=ids[start : start + batch], embeddings=vectors[start : start + batch])
        seconds = time.perf_counter() - started
        log[name] = {
            "items": len(ids),
            "max_neighbors": max_neighbors,
            "ef_construction": ef_construction,
            "seconds": seconds,
            "load_average": _load(),
            "generator": scale.GENERATOR.name,
        }
        log_path.write_text(json.dumps(log, indent=2))
        print(f"  built {name} in {seconds:.0f} s", file=sys.stderr, flush=True)
    return {index_name(size, m, e): log[index_name(size, m, e)] for m, e in indexes}


# -- the sweep --------------------------------------------------------------------------------------


def exact_top(vectors: np.ndarray, ids: list[str], queries: np.ndarray, top: int = TOP) -> list[set[str]]:
    sims = queries @ vectors.T
    best = np.argpartition(-sims, top, axis=1)[:, :top]
    return [{ids[row] for row in rows} for rows in best]


def measure(
    path: Path, name: str, ef_search: int, queries: np.ndarray, fetch: list[int], truth: list[set[str]]
) -> dict[str, Any]:
    """One setting: a fresh client, ef_search set before the index loads, warm-up, then each query timed."""
    import chromadb
    from chromadb.api.shared_system_client import SharedSystemClient
    from chromadb.config import Settings as ChromaSettings

    SharedSystemClient.clear_system_cache()
    client = chromadb.PersistentClient(path=str(path), settings=ChromaSettings(anonymized_telemetry=False))
    collection = client.get_collection(name, embedding_function=None)
    collection.modify(configuration={"hnsw": {"ef_search": ef_search}})

    def nearest(vector: np.ndarray, n: int) -> list[str]:  # as `ChromaStore.query` asks, on a kept handle
        return list(collection.query(query_embeddings=[vector.tolist()], n_results=n, include=[])["ids"][0])

    for vector, n in zip(queries[:10], fetch[:10], strict=True):
        nearest(vector, n)
    times, found = [], []
    for vector, n, exact in zip(queries, fetch, truth, strict=True):
        started = time.perf_counter()
        got = nearest(vector, n)
        times.append((time.perf_counter() - started) * 1000)
        found.append(len(exact.intersection(got)) / len(exact))
    return {"ms": times, "recall": found}


def sweep(
    size: int,
    queries: np.ndarray,
    fetch: list[int],
    truth: list[set[str]],
    indexes: tuple[tuple[int, int], ...],
    efs: tuple[int, ...],
    rounds: int,
    cache: Path,
) -> list[dict[str, Any]]:
    path = cache / "hnsw" / "chroma"
    settings = [(m, e, ef) for m, e in indexes for ef in efs]
    raw: dict[tuple[int, int, int], dict[str, list[float]]] = {s: {"ms": [], "recall": []} for s in settings}
    loads: dict[tuple[int, int, int], list[float]] = {s: [] for s in settings}
    for round_ in range(rounds):
        order = settings if round_ % 2 == 0 else settings[::-1]
        for m, e, ef in order:
            result = measure(path, index_name(size, m, e), ef, queries, fetch, truth)
            raw[(m, e, ef)]["ms"] += result["ms"]
            raw[(m, e, ef)]["recall"] = result["recall"]  # the same every round: the search is deterministic
            loads[(m, e, ef)].append((_load() or [0.0])[0])
            print(
                f"  round {round_ + 1}: M={m} efc={e} ef_search={ef}: recall@50 "
                f"{statistics.fmean(result['recall']):.3f}, p50 {np.percentile(result['ms'], 50):.1f} ms",
                file=sys.stderr,
                flush=True,
            )
    rows = []
    for (m, e, ef), values in raw.items():
        rows.append(
            {
                "max_neighbors": m,
                "ef_construction": e,
                "ef_search": ef,
                "effective_ef": max(ef, max(fetch)),
                "recall@50": statistics.fmean(values["recall"]),
                "recall@50_low": _low(values["recall"]),
                "recall@50_p10": float(np.percentile(values["recall"], 10)),
                "queries_below_0.9": sum(r < 0.9 for r in values["recall"]),
                "ms": scale.summary(values["ms"]),
                "load_1min": loads[(m, e, ef)],
            }
        )
    return rows


def _low(values: list[float]) -> float:
    """The lower end of a 95% confidence interval of the mean (normal approximation)."""
    if len(values) < 2:
        return float("nan")
    return statistics.fmean(values) - 1.96 * statistics.stdev(values) / len(values) ** 0.5


def choose(rows: list[dict[str, Any]], target: float) -> dict[str, Any] | None:
    """The setting with the lowest p50 among those whose recall@50 reaches `target` even at the low end of its 95%
    confidence interval (a mean just at the target over ~100 queries is a coin toss); p95 breaks ties.

    Rows of one index whose ef_search values run the same search (all ≤ the query's k: hnswlib uses
    max(ef_search, k)) are one setting, timed by the mean of their p50s and p95s and named by the smallest
    ef_search, so that timing noise between identical searches picks nothing."""
    same: dict[tuple, list[dict[str, Any]]] = {}
    for row in rows:
        if row["recall@50_low"] >= target:
            same.setdefault((row["max_neighbors"], row["ef_construction"], row["effective_ef"]), []).append(row)
    if not same:
        return None
    merged = []
    for group in same.values():
        first = min(group, key=lambda r: r["ef_search"])
        ms = {q: statistics.fmean(r["ms"][q] for r in group) for q in ("p50", "p95")}
        merged.append({**first, "ms": {**first["ms"], **ms}, "same_search_as": sorted(r["ef_search"] for r in group)})
    return min(merged, key=lambda r: (r["ms"]["p50"], r["ms"]["p95"]))


def sweep_loads(rows: list[dict[str, Any]]) -> dict[str, float] | None:
    values = [x for r in rows for x in r["load_1min"]]
    return {"min": min(values), "median": statistics.median(values), "max": max(values)} if values else None


def _load() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def run(
    size: int = 100_000,
    indexes: tuple[tuple[int, int], ...] = INDEXES,
    efs: tuple[int, ...] = EF_SEARCH,
    rounds: int = 4,
    users: int = 20,
    turns: int = 6,
    cache: Path = CACHE,
    out: Path | None = None,
) -> dict[str, Any]:
    cache = cache.resolve()
    started = datetime.now().isoformat(timespec="minutes")
    load_at_start = _load()
    neighbours = neighbour_report(size)
    queries, fetch = record_queries(size, users, turns, cache)
    ids, vectors = synthetic_vectors(size)
    truth = exact_top(vectors, ids, queries)
    builds = build_indexes(size, ids, vectors, indexes, cache)
    rows = sweep(size, queries, fetch, truth, indexes, efs, rounds, cache)
    target = TARGET.get(size, 0.95)
    result = {
        "date": date.today().isoformat(),
        "started": started,
        "machine": scale.machine(),
        "load_average": {"start": load_at_start, "end": _load(), "during_sweep": sweep_loads(rows)},
        "protocol": __doc__,
        "size": size,
        "generator": scale.GENERATOR.name,
        "queries": len(queries),
        "fetch": sorted(set(fetch)),
        "rounds": rounds,
        "neighbours": neighbours,
        "builds": builds,
        "rows": rows,
        "target": target,
        "chosen": choose(rows, target),
        "chromadb": _chroma_version(),
    }
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2))
        out.with_suffix(".md").write_text(markdown(result))
        plot(result, out.with_suffix(".png"))
    return result


def _chroma_version() -> str:
    import chromadb

    return str(chromadb.__version__)


# -- report -----------------------------------------------------------------------------------------


def markdown(result: dict[str, Any]) -> str:
    m = result["machine"]
    load = result["load_average"]
    sweep = load["during_sweep"] or {"min": float("nan"), "median": float("nan"), "max": float("nan")}
    lines = [
        f"# HNSW recall@50 against latency, {result['date']}",
        "",
        (
            f"{m['cpus']} CPUs ({m['processor']}), chromadb {result['chromadb']}, run started {result['started']}; "
            f"load average (1/5/15 min) at the start {_loads(load['start'])}, at the end {_loads(load['end'])}; "
            f"1-minute load during the sweep {sweep['min']:.1f} to {sweep['max']:.1f} (median {sweep['median']:.1f}). "
            "Other jobs were running: compare rows with each other, not with other runs. ef_search 100 and 400 run "
            "the same search (hnswlib uses max(ef_search, k)), so the gap between their p50s shows the timing noise."
        ),
        "",
        "## Neighbour structure",
        "",
        (
            f"Cosine of the 1st, 10th and 50th nearest other item, and the 1st-to-50th gap, over "
            f"{result['neighbours']['sample']} sampled items (p10 / p50 / p90). Real: {result['neighbours']['redial']}."
        ),
        "",
    ]
    catalogs = [
        k
        for k in result["neighbours"]
        if isinstance(result["neighbours"][k], dict) and "cos@1" in result["neighbours"][k]
    ]
    columns = list(result["neighbours"][catalogs[0]])
    lines += ["| catalog | " + " | ".join(columns) + " |", "| --- " * (len(columns) + 1) + "|"]
    for name in catalogs:
        label = name if name.startswith("synthetic at") else f"{name} ({result['neighbours']['size']:,} items)"
        cells = [" / ".join(f"{result['neighbours'][name][c][q]:.3f}" for q in ("p10", "p50", "p90")) for c in columns]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    differences = result["neighbours"].get("max_abs_difference")
    if differences:
        lines += [
            "",
            "Largest difference from ReDial over those 12 percentiles: "
            + ", ".join(f"{name} {value:.3f}" for name, value in differences.items())
            + ".",
        ]
    lines += [
        "",
        f"## Recall@50 and query latency at {result['size']:,} items ({result['generator']})",
        "",
        (
            f"{result['queries']} ANN queries recorded from the app's turns (n = {result['fetch']}), each timed "
            f"{result['rounds']}× (rounds interleaved). Recall@50: share of the exact top 50 in the {FETCH} ids."
        ),
        "",
        "| max_neighbors | ef_construction | build (s) | ef_search | recall@50 | 95% low | recall@50 p10 | "
        "queries < 0.9 | query p50 (ms) | query p95 (ms) |",
        "| --- " * 10 + "|",
    ]
    for row in sorted(result["rows"], key=lambda r: (r["max_neighbors"], r["ef_construction"], r["ef_search"])):
        build = result["builds"][index_name(result["size"], row["max_neighbors"], row["ef_construction"])]
        lines.append(
            f"| {row['max_neighbors']} | {row['ef_construction']} | {build['seconds']:.0f} | {row['ef_search']}"
            + (f" (acts as {row['effective_ef']})" if row["effective_ef"] != row["ef_search"] else "")
            + f" | {row['recall@50']:.3f} | {row['recall@50_low']:.3f} | {row['recall@50_p10']:.2f} | {row['queries_below_0.9']} | "
            f"{row['ms']['p50']:.1f} | {row['ms']['p95']:.1f} |"
        )
    chosen = result["chosen"]
    lines += [""]
    if chosen:
        lines.append(
            f"Lowest p50 with recall@50 ≥ {result['target']} at the low end of its 95% interval: max_neighbors {chosen['max_neighbors']}, "
            f"ef_construction {chosen['ef_construction']}, ef_search {chosen['ef_search']} (recall@50 "
            f"{chosen['recall@50']:.3f}, p50 {chosen['ms']['p50']:.1f} ms, p95 {chosen['ms']['p95']:.1f} ms"
            + (
                f", the mean over ef_search {', '.join(map(str, chosen['same_search_as']))}, the same search"
                if len(chosen.get("same_search_as", [])) > 1
                else ""
            )
            + ")."
        )
    else:
        lines.append(f"No setting reached recall@50 ≥ {result['target']}.")
    return "\n".join(lines) + "\n"


def _loads(load: list[float] | None) -> str:
    return "unknown" if not load else " / ".join(f"{x:.1f}" for x in load)


def plot(result: dict[str, Any], path: Path) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, axis = plt.subplots(figsize=(7, 4.5))
    indexes = sorted({(r["max_neighbors"], r["ef_construction"]) for r in result["rows"]})
    for m, e in indexes:
        rows = sorted(
            (
                r
                for r in result["rows"]
                if (r["max_neighbors"], r["ef_construction"]) == (m, e) and r["ef_search"] >= FETCH
            ),
            key=lambda r: r["ef_search"],
        )
        x = [r["ms"]["p50"] for r in rows]
        y = [r["recall@50"] for r in rows]
        axis.plot(x, y, marker="o", label=f"max_neighbors {m}, ef_construction {e}")
        for r, xi, yi in zip(rows, x, y, strict=True):
            axis.annotate(str(r["ef_search"]), (xi, yi), fontsize=7, textcoords="offset points", xytext=(3, -9))
    axis.axhline(result["target"], color="grey", linestyle="--", linewidth=1)
    axis.set_xlabel("ANN query p50 (ms, 400 ids)")
    axis.set_ylabel("recall@50 of the 400-id over-fetch")
    axis.set_title(f"Chroma HNSW at {result['size']:,} items, labels: ef_search")
    axis.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def run_on_app_collection(
    size: int, efs: tuple[int, ...], users: int, turns: int, cache: Path, out: Path
) -> dict[str, Any]:
    """recall@50 and query time over ef_search on the app's own collection of the scale bench (`scale-1m`, as
    `bench scale` built it), for a size whose other index builds cost too much (1M: ~30 min each here)."""
    queries, fetch = record_queries(size, users, turns, cache)
    ids, vectors = synthetic_vectors(size)
    truth = exact_top(vectors, ids, queries)
    del vectors
    rows = []
    for ef in efs:
        found = measure(cache / "chroma", scale.collection_name(size), ef, queries, fetch, truth)
        rows.append(
            {
                "ef_search": ef,
                "recall@50": statistics.fmean(found["recall"]),
                "recall@50_low": _low(found["recall"]),
                "queries_below_0.9": sum(r < 0.9 for r in found["recall"]),
                "ms": scale.summary(found["ms"]),
            }
        )
    result = {"size": size, "queries": len(queries), "fetch": sorted(set(fetch)), "rows": rows}
    out.write_text(json.dumps(result, indent=2))
    return result


def app_collection_markdown(result: dict[str, Any]) -> str:
    lines = [
        f"recall@50 over ef_search on the app's {result['size']:,}-item collection, {result['queries']} recorded "
        f"queries of {result['fetch']} ids",
        "",
        "| ef_search | recall@50 | 95% low | queries < 0.9 | query p50 (ms) | query p95 (ms) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in result["rows"]:
        lines.append(
            f"| {row['ef_search']} | {row['recall@50']:.3f} | {row['recall@50_low']:.3f} | {row['queries_below_0.9']} "
            f"| {row['ms']['p50']:.1f} | {row['ms']['p95']:.1f} |"
        )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m recochat.benchmarks scale-hnsw")
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument(
        "--indexes",
        default=",".join(f"{m}:{e}" for m, e in INDEXES),
        help="MAX_NEIGHBORS:EF_CONSTRUCTION pairs, comma-separated",
    )
    parser.add_argument("--ef-search", default=",".join(str(e) for e in EF_SEARCH), help="comma-separated")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--turns", type=int, default=6, help="turns per user")
    parser.add_argument("--cache", type=Path, default=CACHE)
    parser.add_argument("--out", type=Path, default=None, help="default: results/scale_hnsw.json")
    parser.add_argument(
        "--app-collection",
        action="store_true",
        help="sweep --ef-search on the app's own collection of --size (built by `bench scale`), building nothing",
    )
    args = parser.parse_args(argv)
    if args.app_collection:
        out = args.out or RESULTS / f"scale_{scale.collection_name(args.size).removeprefix('scale-')}_ef_search.json"
        efs = tuple(int(e) for e in args.ef_search.split(","))
        print(app_collection_markdown(run_on_app_collection(args.size, efs, args.users, args.turns, args.cache, out)))
        return 0
    pairs = [pair.split(":") for pair in args.indexes.split(",")]
    indexes = tuple((int(m), int(e)) for m, e in pairs)
    result = run(
        args.size,
        indexes,
        tuple(int(e) for e in args.ef_search.split(",")),
        args.rounds,
        args.users,
        args.turns,
        args.cache,
        args.out or RESULTS / "scale_hnsw.json",
    )
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
