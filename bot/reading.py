"""Reading a message against one catalog: what it says (`Understanding`), and the `TurnSignal` the event log
keeps of it (the understood fields plus the phrase vectors, from one encoder pass)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import fields

import numpy as np

from recochat.profiles.model import TurnSignal
from recochat.retrieval.encoder import TextEncoder
from recochat.retrieval.people import PeopleIndex
from recochat.retrieval.store import StoredCatalog
from recochat.retrieval.titles import TitleIndex

from .attributes import supported_topics
from .polarity import model_for
from .understanding import Understanding, apply_polarity, understand

_DERIVED = ("titles", "anchored", *TurnSignal.VECTORS)
_SAID: tuple[str, ...] = tuple(
    sorted({f.name for f in fields(TurnSignal)} & {f.name for f in fields(Understanding)} - set(_DERIVED))
)
"""The fields a signal keeps as the understanding has them; the others it derives (`TurnReader.signal`)."""


class TurnReader:
    """Understands messages against a catalog's titles, genres, years, people and fields, and encodes what a
    turn teaches."""

    def __init__(
        self,
        catalog: StoredCatalog,
        encoder: TextEncoder,
        people: PeopleIndex,
        said_in_catalog: Callable[[str], bool] | None = None,
        occasions_said: bool = False,
    ) -> None:
        """`said_in_catalog`: whether any item's text says a word (`CandidateIndex.saying`), so a name the catalog
        says ("Studio Ghibli") is never called unknown; None calls no name unknown. `occasions_said`: the catalog
        has no tags, so its texts say what an item is for ("fine for the gym"): an occasion asked for keeps its word;
        a tagged one's themes would meet it ('vacation': Us)."""
        self.encoder = encoder
        self.said_in_catalog = said_in_catalog
        self.titles = TitleIndex(catalog.items)
        self.people = people
        columns = catalog.column_arrays()  # per-row arrays, not a walk over every item (seconds at 1M items)
        self.genres = set(columns.genres)
        self.newest_year = int(columns.years.max()) if len(columns.years) else 2025
        self.schema = catalog.catalog_schema()
        """What the catalog's columns are: asks about its numbers are read by their roles."""
        prose = {c.lower() for c in self.schema.text if c not in self.schema.facets}
        self.fields = (set(columns.fields) - prose) | supported_topics(self.schema)
        """What a request can be filtered on: the catalog's meta keys that are not free text (a `rating` column of
        words answers no "highly rated") and the roles of its numbers ("duration", "price")."""
        self.occasions_said = occasions_said
        self.polarity = model_for(encoder)
        """The learned reader of named titles' polarity (bot/polarity.py); None: the rules' reading."""

    def understand(self, text: str) -> Understanding:
        return understand(
            text,
            self.titles,
            self.genres,
            self.newest_year,
            self.people,
            fields=self.fields,
            schema=self.schema,
            said_in_catalog=self.said_in_catalog,
            occasions_said=self.occasions_said,
        )

    def named_items(self, text: str) -> list[str]:
        """The catalog items a message names, as a turn would link them (checks and tools)."""
        return [m.item_id for m in self.understand(text).titles]

    def read(self, text: str) -> TurnSignal:
        """The signal of a message read on its own (a turn logged before schema 1, migrated or replayed)."""
        return self.signal(self.understand(text))

    def signal(self, understood: Understanding) -> TurnSignal:
        """What the log keeps of a turn; one encoder pass for a turn that teaches, none otherwise. The pass comes
        first: the learned polarity reader may move a phrase from one side to the other."""
        if understood.intent != "recommend":
            return TurnSignal(intent=understood.intent)
        positive, negative = self._encode(understood)
        return TurnSignal(
            **{name: copy.copy(getattr(understood, name)) for name in _SAID},
            titles=[(m.item_id, m.polarity) for m in understood.titles],
            anchored=any(f.strong and f.value == "like" for f in understood.rank_feedback),
            positive_vector=positive,
            negative_vector=negative,
        )

    def _encode(self, understood: Understanding) -> tuple[np.ndarray | None, np.ndarray | None]:
        """One encoder pass for the turn's positive and negative phrases together, and for the texts the learned
        polarity reader reads the named titles from (which then settles their polarity); float32, as the log
        stores them, so the live update and a replay add the very same vectors."""
        phrases = understood.positive + understood.negative
        reading = self.polarity.texts(understood.titles) if self.polarity and understood.titles else []
        texts = phrases + reading
        vectors = self.encoder.encode_queries(texts) if texts else []
        if self.polarity and reading:
            # may move a clause's phrase from positive to negative ("The Hobbit was too tedious")
            apply_polarity(understood, self.polarity.read(understood.titles, vectors[len(phrases) :]))
        vector_of = dict(zip(phrases, vectors, strict=False))

        def mean(part: list[str]) -> np.ndarray | None:
            found = [vector_of[text] for text in part]
            return np.asarray(np.mean(found, axis=0), dtype=np.float32) if found else None

        return mean(understood.positive), mean(understood.negative)
