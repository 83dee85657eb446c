"""Rows to values and back, the same for every store: a vector is a float32 BLOB (BYTEA in
PostgreSQL), a profile is JSON plus its two vectors, a turn's signal is JSON plus its two
phrase vectors, a posted message's item ids and reactions are JSON lists."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, fields
from typing import Any

import numpy as np

from .contract import Event, Picks
from .crowd import CrowdConversation
from .model import Constraints, Profile, TurnSignal

EVENT_COLUMNS = "id, user_id, kind, item_id, value, text, time, understood, positive, negative"
"""The columns `event_of` reads, in its order."""


def vector_to_blob(vector: np.ndarray | None) -> bytes | None:
    return None if vector is None else np.asarray(vector, dtype=np.float32).tobytes()


def blob_to_vector(blob: bytes | None) -> np.ndarray | None:
    return None if blob is None else np.frombuffer(blob, dtype=np.float32).copy()


def signal_columns(signal: TurnSignal | None) -> tuple[str | None, bytes | None, bytes | None]:
    """(understood, positive, negative): what a turn was understood to say, all None for none."""
    if signal is None:
        return None, None, None
    return signal.to_json(), vector_to_blob(signal.positive_vector), vector_to_blob(signal.negative_vector)


def event_values(event: Event) -> tuple[Any, ...]:
    """The values of an event row to insert, in the order of `Statements.insert_event`."""
    return (
        event.user_id,
        event.kind,
        event.item_id,
        event.value,
        event.text,
        event.time,
        *signal_columns(event.signal),
    )


def event_of(row: Sequence[Any]) -> Event:
    """The event an `EVENT_COLUMNS` row holds."""
    event_id, user_id, kind, item_id, value, text, at, understood, positive, negative = row
    signal = None
    if understood is not None:
        signal = TurnSignal.from_json(understood, blob_to_vector(positive), blob_to_vector(negative))
    return Event(user_id, kind, item_id, value, text, at, signal, event_id)


def profile_columns(profile: Profile) -> tuple[str, bytes | None, bytes | None]:
    """The vectors go to their own BLOB columns (named u and n, older than the field names), the rest to JSON.
    Read field by field, not with `asdict`, whose deep copy of every list was 0.3 ms of a 7 ms turn (10k items)."""
    data = {f.name: getattr(profile, f.name) for f in fields(profile) if f.name not in _OWN_COLUMNS}
    data["constraints"] = asdict(profile.constraints)
    return json.dumps(data), vector_to_blob(profile.interest), vector_to_blob(profile.aversion)


_OWN_COLUMNS = frozenset({"user_id", "interest", "aversion"})


def profile_of(user_id: str, row: Sequence[Any] | None) -> Profile:
    """The profile a (data, u, n) row holds, or a fresh (cold) one where there is no row."""
    if row is None:
        return Profile(user_id=user_id)
    data = json.loads(row[0])
    data["constraints"] = Constraints.from_dict(data.get("constraints", {}))  # migrates old genre fields
    return Profile(user_id=user_id, interest=blob_to_vector(row[1]), aversion=blob_to_vector(row[2]), **data)


def ids_to_json(ids: Sequence[str]) -> str:
    """A posted message's item ids or reactions, as its JSON column holds them."""
    return json.dumps(list(ids))


def picks_of(row: Sequence[Any] | None) -> Picks | None:
    """The picks a (message_id, user_id, item_ids, held) row holds; None for no row."""
    if row is None:
        return None
    message_id, user_id, item_ids, held = row
    return Picks(str(message_id), str(user_id), list(json.loads(item_ids)), list(json.loads(held)))


def crowd_of(row: Sequence[Any]) -> CrowdConversation:
    """A `crowd` row (conversation, digest, items as a JSON list) as the conversation it stores."""
    return CrowdConversation(str(row[0]), str(row[1]), [str(i) for i in json.loads(row[2])])
