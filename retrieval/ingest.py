"""Ingest: encode only new or changed items, upsert them, optionally prune vanished ones."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .catalog import CatalogItem
from .encoder import TextEncoder
from .store import ChromaStore


@dataclass
class IngestReport:
    collection: str
    total: int
    encoded: int
    unchanged: int
    removed: int
    seconds: float

    @property
    def items_per_s(self) -> float:
        return self.encoded / self.seconds if self.seconds > 0 else 0.0


def ingest(
    store: ChromaStore,
    encoder: TextEncoder,
    name: str,
    items: list[CatalogItem],
    prune: bool = False,
    chunk_size: int = 512,
    progress: Callable[[int], None] | None = None,
) -> IngestReport:
    """Upsert items whose content hash changed.

    Each chunk is encoded then upserted, so a failure half way keeps every item already
    stored (old versions of the rest included); pruning happens only after all upserts.
    """
    started = time.perf_counter()
    stored = store.hashes(name)
    changed = [item for item in items if stored.get(item.id) != item.content_hash()]
    for start in range(0, len(changed), chunk_size):
        chunk = changed[start : start + chunk_size]
        vectors = encoder.encode_texts([item.text for item in chunk])
        store.upsert(name, chunk, np.asarray(vectors))
        if progress:
            progress(len(chunk))
    removed = 0
    if prune:
        keep = {item.id for item in items}
        gone = [item_id for item_id in stored if item_id not in keep]
        store.delete_items(name, gone)
        removed = len(gone)
    store.mark_ingested(name)
    return IngestReport(
        collection=name,
        total=len(items),
        encoded=len(changed),
        unchanged=len(items) - len(changed),
        removed=removed,
        seconds=time.perf_counter() - started,
    )
