"""The collections `recochat serve` answers for: one OpenAI "model" per collection in the store.

The runtime's own collection is served by the runtime's `Conversations`; another collection gets its own
`Conversations` on first use, built as `runtime.build` builds one (same encoder, profile store and model, its own
engine, writer and catalog watch), and kept until the server stops.
"""

from __future__ import annotations

import asyncio

from ...conversation import Conversations
from ...errors import SetupError
from ...runtime import Runtime

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
        if name not in self.runtime.store.names():
            raise UnknownCollection(name)
        try:
            return self.runtime.open_collection(name)
        except SetupError:  # emptied since it was listed
            raise UnknownCollection(name) from None

    def close(self) -> None:
        """Stop the engines this registry opened (the runtime closes its own)."""
        for name, conversations in self._open.items():
            if name != self.default:
                conversations.engine.close()
