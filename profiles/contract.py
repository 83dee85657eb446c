"""What a profile store is, whatever holds it: the event, the core contract (`ProfileStorage`)
and the Discord cards' own small one (`PickStorage`).

Callers are typed against these: `recochat.profiles.store.ProfileStore` (SQLite, the default)
and `recochat.profiles.postgres.PostgresProfileStore` (several processes on one database)
implement both, and tests/test_profile_store_contract.py holds them to the same behaviour.

The event log is the source of truth: a profile can be rebuilt by replaying it, and `forget`
deletes everything about a user. A 'turn' event keeps what the turn was understood to say
(`TurnSignal`), so a replay needs neither the understanding rules of the day nor the encoder.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .model import Profile, TurnSignal

if TYPE_CHECKING:
    from .crowd import CrowdConversation
    from .learning import SharedLog


@dataclass(frozen=True)
class Event:
    user_id: str
    kind: str
    """'turn' (text + signal), 'mention'/'feedback' (item, value ±), 'seen' (item), 'shown'
    (text: JSON list of ids), 'undo' (item), 'reset'."""
    item_id: str | None = None
    value: float | None = None
    text: str | None = None
    time: float = 0.0
    signal: TurnSignal | None = None
    """What a 'turn' was understood to say; None only for a turn logged before schema 1 and not yet migrated."""
    id: int | None = None
    """Position in the log, set once stored."""


@dataclass(frozen=True)
class Picks:
    """What one posted message shows (a Discord card: one item) and to whom; kept in the store,
    not in a process, so a reaction is understood by whichever process receives it."""

    message_id: str
    user_id: str
    item_ids: list[str]
    held: list[str] = field(default_factory=list)
    """The owner's reactions still on the message, oldest first (removing one undoes it and
    replays the later ones)."""


@dataclass(frozen=True)
class CrowdChange:
    """What storing one import's conversations changed (or would change)."""

    added: int = 0
    updated: int = 0
    """Conversations this import held with another content: replaced."""
    unchanged: int = 0
    """Conversations this import already held with the same content hash: left as they were."""


def without_undone(events: list[Event]) -> list[Event]:
    """The log as it counts: each 'undo' and the latest earlier feedback of that user on that
    item are dropped (what a replay, an undo check and the collaborative component all read)."""
    cancelled: set[int] = set()
    for index, event in enumerate(events):
        if event.kind != "undo":
            continue
        cancelled.add(index)
        for earlier in range(index - 1, -1, -1):
            other = events[earlier]
            if (
                earlier not in cancelled
                and other.kind == "feedback"
                and other.user_id == event.user_id
                and other.item_id == event.item_id
            ):
                cancelled.add(earlier)
                break
    return [e for i, e in enumerate(events) if i not in cancelled]


class ProfileStorage(ABC):
    """What a profile store offers, whatever holds it: `ProfileStore` (SQLite, the default) or
    `PostgresProfileStore` (several processes sharing one database). tests/test_profile_store_contract.py
    holds every implementation to the same behaviour.

    Writes that belong together (a turn's events, whys and profile; a forget; a migration step)
    are one transaction each. A read-modify-write of one user (load, change, write) is safe only
    inside `locked(user_id)`: it keeps every other writer of that user out, in this process for
    SQLite and across processes for PostgreSQL."""

    # -- implemented by each backend ---------------------------------------------------------
    @property
    @abstractmethod
    def schema_version(self) -> int:
        """The schema version of the open database (SCHEMA_VERSION once opened)."""

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def locked(self, user_id: str) -> AbstractContextManager[None]:
        """While held, no other writer of this store changes this user: a load and the write
        made from it are one consistent update. Re-entrant in a thread."""

    @abstractmethod
    def load(self, user_id: str) -> Profile:
        """The saved profile, or a fresh (cold) one for a user never saved."""

    @abstractmethod
    def write(
        self,
        events: Iterable[Event],
        profile: Profile | None = None,
        whys: dict[str, str] | None = None,
        clear: str | None = None,
    ) -> list[Event]:
        """One transaction: append `events`, store the "why" of each item shown, then save
        `profile` (or delete the profile row of user `clear`). All or nothing: on any error
        nothing of it stays. Returns the events as stored (time and id set)."""

    @abstractmethod
    def events(
        self, user_id: str | None = None, kinds: Iterable[str] | None = None, before: int | None = None
    ) -> Iterator[Event]:
        """The log in order; only this user's, only these kinds, only ids below `before` when given."""

    @abstractmethod
    def pending_turns(self) -> list[Event]:
        """Turn events logged before schema 1, which still hold only their text."""

    @abstractmethod
    def set_signals(self, signals: dict[int, TurnSignal]) -> None:
        """Store what old turn events were understood to say (event id → signal), in one transaction."""

    @abstractmethod
    def users(self) -> list[str]:
        """Everyone with a profile row or an event, sorted by code point."""

    @abstractmethod
    def why(self, user_id: str, item_id: str) -> str | None:
        """Why `item_id` was recommended to this user (the latest time it was), if it was."""

    @abstractmethod
    def whys(self, user_id: str) -> dict[str, str]: ...

    @abstractmethod
    def remove_user(self, user_id: str) -> list[Event]:
        """Delete the profile, the whys, the picks and every event of this user in one transaction
        (all or nothing); returns the events that went, so in-memory models can unlearn them."""

    # -- imported crowds (profiles/crowd.py): no user's, so no forget touches them --------------
    @abstractmethod
    def crowd(self, catalog: str) -> list[tuple[str, CrowdConversation]]:
        """Every imported conversation linked to this catalog, with its import's name, in a stable order."""

    @abstractmethod
    def save_crowd(
        self, catalog: str, source: str, conversations: Sequence[CrowdConversation], dry_run: bool = False
    ) -> CrowdChange:
        """Store one import's conversations in one transaction: a conversation whose id this import already
        holds with the same content hash is left as it is, one with another hash replaced. dry_run: only
        say what would change."""

    @abstractmethod
    def remove_crowd(self, source: str) -> int:
        """Delete every conversation of the import named `source` (all catalogs); how many went."""

    @abstractmethod
    def crowd_sources(self) -> list[tuple[str, str, int]]:
        """(catalog, import name, conversations) of every import."""

    def shared_log(self) -> SharedLog | None:
        """The log as several processes append to it, for learning from each other's events
        (profiles/learning.py); None where this process is the log's only writer (SQLite)."""
        return None

    # -- the same on every backend -----------------------------------------------------------
    def save(self, profile: Profile) -> None:
        """Upsert one profile row on its own; a turn uses `write`, which also logs its events."""
        self.write([], profile)

    def clear_profile(self, user_id: str) -> None:
        """Reset: the profile row goes, the events stay (a 'reset' event marks the cut)."""
        self.write([], clear=user_id)

    def append(self, event: Event) -> Event:
        """One event on its own (a turn's events go through `write` with its profile)."""
        return self.write([event])[0]

    def forget(self, user_id: str) -> int:
        """Delete everything about this user; returns how many events went."""
        return len(self.remove_user(user_id))

    def export(self, user_id: str) -> dict[str, Any]:
        """Everything stored about this user, JSON-ready: the profile, the events, the whys."""
        profile = asdict(self.load(user_id))
        for key in ("interest", "aversion"):
            profile[key] = _floats(profile[key])
        events = []
        for event in self.events(user_id):
            record: dict[str, Any] = {
                k: v for k, v in asdict(event).items() if k != "signal" and v is not None and k != "user_id"
            }
            if event.signal is not None:
                understood = asdict(event.signal)
                for key in TurnSignal.VECTORS:
                    understood[key] = _floats(understood[key])
                record["understood"] = understood
            events.append(record)
        return {
            "user": user_id,
            "schema_version": self.schema_version,
            "profile": profile,
            "events": events,
            "whys": self.whys(user_id),
        }


class PickStorage(ABC):
    """Which items a posted message (a Discord card) shows to whom, and that person's reactions
    on it, kept where every process of the bot reads them. Only the Discord front end needs
    this; both stores offer it (`picks_kept_by` finds it on a `ProfileStorage`)."""

    @abstractmethod
    def save_picks(self, message_id: str, user_id: str, item_ids: Sequence[str]) -> None:
        """Remember that message `message_id` shows these items to this user, with no reactions
        yet (saving a message id again replaces it)."""

    @abstractmethod
    def picks(self, message_id: str) -> Picks | None:
        """What `save_picks` stored for this message, with its reactions; None for any other message."""

    @abstractmethod
    def set_held(self, message_id: str, held: Sequence[str]) -> None:
        """The owner's reactions now on the message, oldest first; nothing for an unknown message."""


def picks_kept_by(store: ProfileStorage) -> PickStorage:
    """The store as the keeper of posted messages; a TypeError for a store that keeps none."""
    if not isinstance(store, PickStorage):
        raise TypeError(f"{type(store).__name__} does not keep posted messages (no PickStorage)")
    return store


def _floats(vector: np.ndarray | None) -> list[float] | None:
    return None if vector is None else [float(x) for x in vector]
