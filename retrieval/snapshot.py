"""Catalog snapshots on local disk, so a second start skips reading the catalog back out of Chroma.

Reading a whole collection out of Chroma (items, metadata and embeddings, page by page) is most of
a start at scale: 263 s at 1M items. A snapshot is that same `StoredCatalog` written once, after a
full read, to `ROOT/<collection>/<version>.snapshot`. A later start asks the collection for its head
(version and item count: one metadata read and one count, never the items) and loads the snapshot
of that version instead when there is one with that many items. (The count is 3 s of a 1M-item
start; it cannot run beside the snapshot's read: Chroma's binding holds the GIL while it counts.) The
version changes with every ingest (see `ChromaStore.version`), so a re-ingest makes the snapshot
stale by construction; the version includes the ingest time, so two stores (an embedded one, a
server) with a collection of the same name do not share a snapshot by accident either.

The file: a magic line, a JSON header (name, version, noun, count, and where each block starts), then
raw blocks at 64-byte boundaries, each read straight into its array (the large ones mapped copy-on-write
instead, `_mapped`): the float32 matrix, the per-row
columns a start would otherwise derive from every item (`CatalogColumns`), and ids, titles, texts and
metadata as UTF-8 JSON arrays, one per field. No pickle, so loading a file from disk never runs code.

A snapshot is a cache, never the truth: one that is missing, stale, truncated or unreadable is
logged and replaced after a full read, and one that cannot be written costs only the next start's
speed. Every write goes to a temporary file that is renamed into place, so a reader never sees a
half-written snapshot under the final name.
"""

from __future__ import annotations

import contextlib
import gc
import io
import json
import logging
import math
import mmap
import os
import re
import struct
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from .catalog import CatalogItem
from .store import CatalogColumns, CatalogHead, ChromaStore, StoredCatalog

FORMAT = 2
"""Bumped when the file layout changes: a snapshot of another format is ignored and rewritten (format 1 was one
.npz with the items as one JSON array: 11 s to read at 1M items, against 3-4 s now)."""
SUFFIX = ".snapshot"
MAGIC = b"recochat catalog snapshot\n"
_LENGTH = struct.Struct("<Q")
_ALIGN = 64
_TEXT_FIELDS = ("ids", "titles", "texts", "metas")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_MAP_FROM = 64 << 20
"""Blocks from this size up are mapped from the file, not read (`_mapped`): in practice the embedding matrix of a
catalog of ~40k items or more."""
log = logging.getLogger("recochat.snapshot")


def _safe(part: str) -> str:
    """A path component from a collection name or version ('3@1732870000.5'): no separators, no
    leading dot (temporary files start with one)."""
    return _UNSAFE.sub("_", part).lstrip(".") or "_"


class SnapshotCache:
    """Snapshots of catalogs under one folder (the runtime uses `RECOCHAT_HOME/snapshots`).

    Setup: nothing beyond numpy; the folder is created on first write.
    Construct: `SnapshotCache(folder)`.
    Use: `read(name, head)` for the snapshot matching a collection's head (or None), `write(catalog)`
    after a full read; or `load_with_snapshot(store, name, cache)`, which does both.
    """

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, name: str, version: str) -> Path:
        return self.root / _safe(name) / f"{_safe(version)}{SUFFIX}"

    def read(self, name: str, head: CatalogHead) -> StoredCatalog | None:
        """The snapshot of this collection at `head`'s version and count, or None (none there, stale
        or unreadable: all mean "read the store"). An unreadable one is logged, never raised: a
        start must not fail on a cache."""
        return self.matching(name, self.read_version(name, head.version), head)

    def read_version(self, name: str, version: str) -> StoredCatalog | None:
        """The snapshot written at `version`, unchecked against the store's count (see `matching`), or None."""
        path = self.path(name, version)
        if not path.is_file():
            return None
        try:
            return _read(path)
        except Exception as error:  # noqa: BLE001  # truncated, bad JSON, wrong arrays: all mean "rebuild"
            log.warning("catalog snapshot %s cannot be read (%s); reading the catalog from the store", path, error)
            return None

    def matching(self, name: str, catalog: StoredCatalog | None, head: CatalogHead) -> StoredCatalog | None:
        """`catalog` when it is collection `name` at `head`'s version with `head`'s count, else None (logged)."""
        if catalog is None:
            return None
        path = self.path(name, head.version)
        if catalog.name != name or catalog.version != head.version or len(catalog) != head.count:
            log.warning(
                "catalog snapshot %s is %r at %s with %d items, the store has %s with %d; reading the store",
                path,
                catalog.name,
                catalog.version,
                len(catalog),
                head.version,
                head.count,
            )
            return None
        catalog.noun, catalog.schema = head.noun, head.schema
        return catalog

    def write(self, catalog: StoredCatalog) -> Path | None:
        """Write the snapshot of `catalog` (at its version) and remove the collection's older ones;
        None when there is nothing worth keeping or the disk refused (logged: the next start reads
        the store again). No fsync: a snapshot torn by a power cut fails to read and is rebuilt."""
        if catalog.version is None or len(catalog) == 0:
            return None
        path = self.path(catalog.name, catalog.version)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with temporary.open("wb") as handle:
                _write(handle, catalog)
            os.replace(temporary, path)
        except (OSError, TypeError, ValueError) as error:  # a full disk, or meta JSON cannot hold
            log.warning("cannot write catalog snapshot %s (%s); the next start reads the store again", path, error)
            with contextlib.suppress(OSError):
                temporary.unlink(missing_ok=True)
            return None
        for old in [*path.parent.glob(f"*{SUFFIX}"), *path.parent.glob("*.npz")]:  # .npz: format 1
            if old != path:
                with contextlib.suppress(OSError):  # another process removed it first, or may not
                    old.unlink(missing_ok=True)
        log.info("catalog snapshot %s written: %d items", path, len(catalog))
        return path


def _write(handle: BinaryIO, catalog: StoredCatalog) -> None:
    """Header, then each block at the next 64-byte boundary (see the module docstring)."""
    columns = catalog.column_arrays()
    items = catalog.items
    texts = {
        "ids": [item.id for item in items],
        "titles": [item.title for item in items],
        "texts": [item.text for item in items],
        "metas": _meta_columns([item.meta for item in items]),
    }
    blocks: dict[str, np.ndarray] = {
        name: np.frombuffer(json.dumps(values, ensure_ascii=False).encode(), dtype=np.uint8)
        for name, values in texts.items()
    }
    blocks.update(
        embeddings=np.ascontiguousarray(catalog.embeddings, dtype=np.float32),
        years=columns.years,
        popularity=columns.popularity,
        prior_popularity=columns.prior_popularity,
        genre_matrix=np.ascontiguousarray(columns.genre_matrix),
    )
    layout: dict[str, dict[str, Any]] = {}
    header = b""
    while True:  # the header's own length moves the blocks, whose offsets are in it: lay out until it settles
        offset = len(MAGIC) + _LENGTH.size + len(header)
        for name, array in blocks.items():
            offset = -(-offset // _ALIGN) * _ALIGN
            layout[name] = {"offset": offset, "dtype": array.dtype.str, "shape": list(array.shape)}
            offset += array.nbytes
        meta = {"format": FORMAT, "name": catalog.name, "version": catalog.version, "noun": catalog.noun}
        laid = json.dumps({**meta, "count": len(items), "genres": columns.genres, "blocks": layout}).encode()
        laid += b" " * (-(len(MAGIC) + _LENGTH.size + len(laid)) % _ALIGN)
        settled, header = len(laid) == len(header), laid
        if settled:  # the offsets in `laid` were computed for a header of its own length
            break
    handle.write(MAGIC + _LENGTH.pack(len(header)) + header)
    position = len(MAGIC) + _LENGTH.size + len(header)
    for name, array in blocks.items():
        start = layout[name]["offset"]
        if start < position:
            raise ValueError(f"snapshot layout error: block {name!r} at {start}, after {position} bytes were written")
        handle.write(b"\0" * (start - position))
        if array.nbytes:  # an empty block (a catalog without genres) has nothing to write, and no byte view
            handle.write(array.data.cast("B"))
        position = start + array.nbytes


def _meta_columns(metas: list[dict[str, Any]]) -> list[Any]:
    """Metadata by key set (keys sorted: a store gives them back in any order), a column per key:
    [[keys, rows, [column, ...]], ...], rows null when one key set covers every row. A million small dicts
    parse in 3.3 s as JSON objects, and in ~1 s as a few long lists."""
    groups: dict[tuple[str, ...], list[int]] = {}
    for row, meta in enumerate(metas):
        groups.setdefault(tuple(sorted(meta)), []).append(row)
    out: list[Any] = []
    for keys, rows in groups.items():
        columns = [[metas[row][key] for row in rows] for key in keys]
        out.append([list(keys), None if len(rows) == len(metas) else rows, columns])
    return out


def _metas(groups: list[Any], count: int) -> list[dict[str, Any]]:
    """The inverse of `_meta_columns`."""
    if len(groups) == 1 and groups[0][1] is None:
        keys, _, columns = groups[0]
        return (
            [dict(zip(keys, values, strict=True)) for values in zip(*columns, strict=True)]
            if keys
            else [{} for _ in range(count)]
        )
    metas: list[dict[str, Any]] = [{}] * count
    for keys, rows, columns in groups:
        for row, values in zip(rows, zip(*columns, strict=True) if keys else ((),) * len(rows), strict=True):
            metas[row] = dict(zip(keys, values, strict=True))
    return metas


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection inside: building a million items' objects (dicts, lists, strings, none of
    them cyclic) sets off collection after collection, ~2/3 of the time it takes. Nested uses are fine."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _read(path: Path) -> StoredCatalog:
    with gc_paused():
        return _read_blocks(path)


def _read_blocks(path: Path) -> StoredCatalog:
    with path.open("rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if handle.read(len(MAGIC)) != MAGIC:
            raise ValueError("not a catalog snapshot (or format 1)")
        (length,) = _LENGTH.unpack(handle.read(_LENGTH.size))
        header: dict[str, Any] = json.loads(handle.read(length))
        if header.get("format") != FORMAT:
            raise ValueError(f"format {header.get('format')!r}, expected {FORMAT}")
        arrays = {name: _block(handle, size, name, spec) for name, spec in header["blocks"].items()}
    count = int(header["count"])
    ids, titles, texts, columns_of_metas = (json.loads(arrays.pop(name).tobytes()) for name in _TEXT_FIELDS)
    metas = _metas(columns_of_metas, count)
    fields = sorted({key for keys, _, _ in columns_of_metas for key in keys})
    embeddings = arrays["embeddings"]
    if embeddings.ndim != 2 or {len(embeddings), len(ids), len(titles), len(texts), len(metas)} != {count}:
        raise ValueError(f"{count} items but an embedding matrix of shape {embeddings.shape} and {len(ids)} ids")
    columns = CatalogColumns(
        years=arrays["years"],
        popularity=arrays["popularity"],
        prior_popularity=arrays["prior_popularity"],
        genres=[str(g) for g in header["genres"]],
        genre_matrix=arrays["genre_matrix"],
        fields=fields,
    )
    columns.check(count)
    items = list(map(CatalogItem, ids, titles, texts, metas))
    return StoredCatalog(
        name=str(header["name"]),
        items=items,
        embeddings=embeddings,
        noun=header.get("noun"),
        version=str(header["version"]),
        columns=columns,
    )


def _block(handle: io.BufferedReader, size: int, name: str, spec: dict[str, Any]) -> np.ndarray:
    """One block as an array: a large one mapped copy-on-write from the file (`_mapped`), a small one read into
    new memory."""
    shape, dtype = [int(n) for n in spec["shape"]], np.dtype(spec["dtype"])
    offset, nbytes = int(spec["offset"]), math.prod(shape) * dtype.itemsize
    if offset < 0 or offset + nbytes > size:
        raise ValueError(f"block {name!r} runs past the end of the file ({size} bytes)")
    if nbytes and nbytes >= _MAP_FROM:  # a map cannot be empty
        return _mapped(handle, offset, shape, dtype)
    array = np.empty(shape, dtype=dtype)
    handle.seek(offset)
    if nbytes and handle.readinto(array.data.cast("B")) != nbytes:
        raise ValueError(f"block {name!r} is short")
    return array


def _mapped(handle: io.BufferedReader, offset: int, shape: list[int], dtype: np.dtype[Any]) -> np.ndarray:
    """The block as a private, copy-on-write map of the file: writable, and a write never reaches the file.

    Why: reading the 1.5 GB matrix of a 1M catalog into new memory took 7-15 s of a 20-30 s start on this kind of
    virtual machine, where the first touch of each fresh 4 KiB page costs microseconds; the map shares the pages
    the page cache already holds. It stays valid when a newer snapshot replaces the file (`os.replace` gives the
    new file a new inode; this one lives on until the map goes), which is why a snapshot is never rewritten in
    place."""
    start = offset - offset % mmap.ALLOCATIONGRANULARITY
    count = math.prod(shape)
    region = mmap.mmap(handle.fileno(), offset - start + count * dtype.itemsize, offset=start, access=mmap.ACCESS_COPY)
    return np.frombuffer(region, dtype=dtype, count=count, offset=offset - start).reshape(shape)


def load_with_snapshot(store: ChromaStore, name: str, snapshots: SnapshotCache | None = None) -> StoredCatalog:
    """The catalog from its snapshot when one matches the collection's version and count, else
    from the store (a full read), written as the new snapshot. With `snapshots` None, always the
    store. The snapshot is keyed by the version the full read saw before its items, so an ingest
    that lands during the read leaves a snapshot that the next check finds stale."""
    if snapshots is None:
        return store.load(name)
    catalog = snapshots.read(name, store.head(name))
    if catalog is not None:
        log.info("catalog %r loaded from its snapshot at version %s: %d items", name, catalog.version, len(catalog))
        return catalog
    catalog = store.load(name)
    snapshots.write(catalog)
    return catalog
