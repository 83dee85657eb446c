"""The collections `recochat serve` answers for: one OpenAI "model" per collection in the store.

The runtime's own collection is served by the runtime's `Conversations`; another collection gets its own
`Conversations` on first use, built as `runtime.build` builds one (same encoder, profile store and model, its own
engine, writer and catalog watch), and kept until the server stops.
"""

from __future__ import annotations

import asyncio
import functools

from recochat.retrieval.snapshot import SnapshotCache, load_with_snapshot

from ...conversation import Conversations, Writer
from ...engine import Engine
from ...runtime import _NAME, SNAPSHOTS, CatalogWatch, Runtime, _engine, _noun, _swap_catalog
from ...writer import LLMWriter, TemplateWriter

ALIAS = "recochat"
"""A model name that always means the collection the server started on."""


class UnknownCollection(LookupError):
    pass


class Catalogs:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.default = runtime.conversations.catalog_name
        self._open: dict[str, Conversations] = {self.default: runtime.conversations}
        self._opening = asyncio.Lock()

    def names(self) -> list[str]:
        return sorted(set(self.runtime.store.names()) | set(self._open))

    async def get(self, model: str | None) -> Conversations:
        name = self.default if model in (None, "", ALIAS) else model
        assert name is not None
        if name in self._open:
            return self._open[name]
        async with self._opening:  # one load per collection, however many requests ask at once
            if name not in self._open:
                self._open[name] = await asyncio.to_thread(self._build, name)
        return self._open[name]

    def _build(self, name: str) -> Conversations:
        runtime = self.runtime
        if not _NAME.match(name) or name not in runtime.store.names():
            raise UnknownCollection(name)
        load = functools.partial(
            load_with_snapshot, runtime.store, snapshots=SnapshotCache(runtime.settings.home / SNAPSHOTS)
        )
        catalog = load(name)
        if len(catalog) == 0:
            raise UnknownCollection(name)
        engine = _engine(runtime.settings, runtime.store, runtime.encoder, runtime.engine.profiles, catalog)
        conversations = Conversations(engine, _writer_for(runtime.conversations.writer, engine, _noun(catalog)), name)
        watch = CatalogWatch(
            runtime.store,
            name,
            catalog.version,
            functools.partial(_swap_catalog, runtime.settings, runtime.store, conversations),
            load=load,
        )
        conversations.refresh = watch.check
        return conversations

    def close(self) -> None:
        """Stop the engines this registry opened (the runtime closes its own)."""
        for name, conversations in self._open.items():
            if name != self.default:
                conversations.engine.close()


def _writer_for(writer: Writer, engine: Engine, noun: str) -> Writer:
    """The runtime's writer, for another catalog: the same model, this catalog's titles and noun."""
    if isinstance(writer, LLMWriter):
        return LLMWriter(
            writer.model,
            engine.reader.titles,
            writer.name,
            first_sentence_s=writer.first_sentence_s,
            total_s=writer.total_s,
            domain=noun,
            max_sentences=writer.max_sentences,
            server=writer.server,
        )
    if isinstance(writer, TemplateWriter):
        return TemplateWriter(noun)
    return writer
