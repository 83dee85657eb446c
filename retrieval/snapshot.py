"""Catalog snapshots on local disk, so a second start skips reading the catalog back out of Chroma.

Reading a whole collection out of Chroma (items, metadata and embeddings, page by page) is most of
a start at scale: 263 s at 1M items. A snapshot is that same `StoredCatalog` written once, after a
full read, to `ROOT/<collection>/<version>.npz`. A later start asks the collection for its head
(version and item count: one metadata read and one count, never the items) and loads the snapshot
of that version instead when there is one with that many items. The version changes with every
ingest (see `ChromaStore.version`), so a re-ingest makes the snapshot stale by construction; the
version includes the ingest time, so two stores (an embedded one, a server) with a collection of
the same name do not share a snapshot by accident either.

A snapshot is a cache, never the truth: one that is missing, stale, truncated or unreadable is
logged and replaced after a full read, and one that cannot be written costs only the next start's
speed. Every write goes to a temporary file that is renamed into place, so a reader never sees a
half-written snapshot under the final name.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import threading
from pathlib import Path
from typing import Any

import numpy as np

from .catalog import CatalogItem
from .store import CatalogHead, ChromaStore, StoredCatalog

FORMAT = 1
"""Bumped when the file layout changes: a snapshot of another format is ignored and rewritten."""
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
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
        return self.root / _safe(name) / f"{_safe(version)}.npz"

    def read(self, name: str, head: CatalogHead) -> StoredCatalog | None:
        """The snapshot of this collection at `head`'s version and count, or None (none there, stale
        or unreadable: all mean "read the store"). An unreadable one is logged, never raised: a
        start must not fail on a cache."""
        path = self.path(name, head.version)
        if not path.is_file():
            return None
        try:
            catalog = _read(path)
        except Exception as error:  # noqa: BLE001  # truncated zip, bad JSON, wrong arrays: all mean "rebuild"
            log.warning("catalog snapshot %s cannot be read (%s); reading the catalog from the store", path, error)
            return None
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
        catalog.noun = head.noun
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
                header, items, embeddings = _arrays(catalog)
                np.savez(handle, header=header, items=items, embeddings=embeddings)
            os.replace(temporary, path)
        except (OSError, TypeError, ValueError) as error:  # a full disk, or meta JSON cannot hold
            log.warning("cannot write catalog snapshot %s (%s); the next start reads the store again", path, error)
            with contextlib.suppress(OSError):
                temporary.unlink(missing_ok=True)
            return None
        for old in path.parent.glob("*.npz"):
            if old != path:
                with contextlib.suppress(OSError):  # another process removed it first, or may not
                    old.unlink(missing_ok=True)
        log.info("catalog snapshot %s written: %d items", path, len(catalog))
        return path


def _arrays(catalog: StoredCatalog) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Header and items as UTF-8 JSON bytes beside the matrix: no pickle, so loading a file from
    disk never runs code."""
    header = {"format": FORMAT, "name": catalog.name, "version": catalog.version, "noun": catalog.noun}
    rows = [[item.id, item.title, item.text, item.meta] for item in catalog.items]
    return (
        np.frombuffer(json.dumps(header).encode(), dtype=np.uint8),
        np.frombuffer(json.dumps(rows, ensure_ascii=False).encode(), dtype=np.uint8),
        np.ascontiguousarray(catalog.embeddings, dtype=np.float32),
    )


def _read(path: Path) -> StoredCatalog:
    with np.load(path, allow_pickle=False) as data:
        header: dict[str, Any] = json.loads(data["header"].tobytes())
        if header.get("format") != FORMAT:
            raise ValueError(f"format {header.get('format')!r}, expected {FORMAT}")
        rows = json.loads(data["items"].tobytes())
        embeddings = data["embeddings"]
    if embeddings.ndim != 2 or len(embeddings) != len(rows):
        raise ValueError(f"{len(rows)} items but an embedding matrix of shape {embeddings.shape}")
    items = [CatalogItem(id=row[0], title=row[1], text=row[2], meta=row[3]) for row in rows]
    return StoredCatalog(
        name=str(header["name"]),
        items=items,
        embeddings=embeddings,
        noun=header.get("noun"),
        version=str(header["version"]),
    )


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
