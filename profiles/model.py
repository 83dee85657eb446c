"""A user's profile and the real-time update rule.

Seed formula: interest = Σ_j w_j·c_j over everything the user said or liked. Online it becomes

    interest ← normalize(λ·interest + α·Σ e(positive text) + β·Σ c(liked items))
    aversion ← normalize(λₙ·aversion + α·Σ e(negative text) + β·Σ c(disliked items))

(The README's formula writes these as u and n.)

Constants (see `UpdateWeights`) and why:
- λ = 0.8: after normalization the newest turn weighs about as much as all history, so a
  conversation can change direction within a turn or two, while earlier turns still count.
- λₙ = 0.9: rejections are remembered longer than interests (people rarely un-dislike).
- α = 1.0 for turn text, β = 1.5 for items: naming or 👍-ing an item is a sharper signal than
  free text, whose embedding mixes content with phrasing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class UpdateWeights:
    decay: float = 0.8
    negative_decay: float = 0.9
    text: float = 1.0
    item: float = 1.5


@dataclass
class Constraints:
    year_min: int | None = None
    year_max: int | None = None
    include_genres: list[str] = field(default_factory=list)
    """An item must have one of these (the latest genres the user asked for)."""
    exclude_genres: list[str] = field(default_factory=list)

    def describe(self) -> list[str]:
        out = []
        if self.year_min is not None or self.year_max is not None:
            lo = self.year_min if self.year_min is not None else "…"
            hi = self.year_max if self.year_max is not None else "…"
            out.append(f"years {lo}–{hi}")
        if self.include_genres:
            out.append("genres: " + ", ".join(self.include_genres))
        if self.exclude_genres:
            out.append("no " + ", ".join(self.exclude_genres))
        return out


@dataclass
class Profile:
    user_id: str
    interest: np.ndarray | None = None
    """What the user is after: a unit vector in the catalog's embedding space (None until the first signal)."""
    aversion: np.ndarray | None = None
    """What the user rejects, same space; scoring only ever pushes items down with it."""
    liked: list[str] = field(default_factory=list)
    disliked: list[str] = field(default_factory=list)
    seen: list[str] = field(default_factory=list)
    """Items the user says they have seen (or named): never recommended back."""
    shown: list[str] = field(default_factory=list)
    last_shown: list[str] = field(default_factory=list)
    constraints: Constraints = field(default_factory=Constraints)
    liked_aspects: list[str] = field(default_factory=list)
    disliked_aspects: list[str] = field(default_factory=list)
    liked_people: list[str] = field(default_factory=list)
    disliked_people: list[str] = field(default_factory=list)
    recent_turns: list[str] = field(default_factory=list)
    turns: int = 0

    RECENT = 10
    ASPECTS = 12

    @property
    def is_cold(self) -> bool:
        return self.interest is None

    def note_turn(self, text: str) -> None:
        self.turns += 1
        self.recent_turns = (self.recent_turns + [text])[-self.RECENT :]

    def add_aspects(self, positive: Iterable[str], negative: Iterable[str]) -> None:
        self.liked_aspects = _push(self.liked_aspects, positive, self.ASPECTS)
        self.disliked_aspects = _push(self.disliked_aspects, negative, self.ASPECTS)

    def add_people(self, liked: Iterable[str], disliked: Iterable[str]) -> None:
        liked, disliked = list(liked), list(disliked)
        self.liked_people = [p for p in _push(self.liked_people, liked, 5) if p not in disliked]
        self.disliked_people = [p for p in _push(self.disliked_people, disliked, 20) if p not in liked]

    def like(self, item_id: str) -> None:
        self.liked = _push(self.liked, [item_id], 1000)
        self.disliked = [i for i in self.disliked if i != item_id]

    def dislike(self, item_id: str) -> None:
        self.disliked = _push(self.disliked, [item_id], 1000)
        self.liked = [i for i in self.liked if i != item_id]

    def mark_seen(self, item_id: str) -> None:
        self.seen = _push(self.seen, [item_id], 1000)

    def record_shown(self, item_ids: list[str]) -> None:
        self.last_shown = list(item_ids)
        self.shown = _push(self.shown, item_ids, 5000)


def _push(existing: list[str], new: Iterable[str], limit: int) -> list[str]:
    """Append keeping first-seen order unique, most recent last."""
    out = [x for x in existing]
    for value in new:
        if value in out:
            out.remove(value)
        out.append(value)
    return out[-limit:]


def normalize(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector


def update_vector(
    current: np.ndarray | None, decay: float, additions: Iterable[tuple[float, np.ndarray]]
) -> np.ndarray | None:
    """normalize(decay·current + Σ w·v); unchanged when there is nothing to add."""
    additions = list(additions)
    if not additions:
        return current
    total = sum(w * v for w, v in additions)
    if current is not None:
        total = decay * current + total
    result = normalize(np.asarray(total, dtype=np.float32))
    return result if np.linalg.norm(result) > 0 else current
