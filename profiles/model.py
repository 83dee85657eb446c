"""A user's profile and the real-time update rule.

Seed formula: interest = Σ_j w_j·c_j over everything the user said or liked. Online it becomes

    interest ← normalize(λ·interest + α·Σ e(positive text) + β·Σ c(liked items))
    aversion ← normalize(λₙ·aversion + α·Σ e(negative text) + β·Σ c(disliked items))

(The README's formula writes these as u and n.)

Constants (see `UpdateWeights`) and why:
- λ = 0.8: after normalization the newest turn weighs about as much as all history, so a
  conversation can change direction within a turn or two, while earlier turns still count.
- λₜ = 0.4 instead of λ for the text of a turn that asks for something new ("a heist movie with
  a twist" after three turns of comedies): the new request leads its own reply, and the history
  still colours it.
- λₙ = 0.9: rejections are remembered longer than interests (people rarely un-dislike).
- α = 1.0 for turn text, β = 1.5 for items: naming or 👍-ing an item is a sharper signal than
  free text, whose embedding mixes content with phrasing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np


@dataclass(frozen=True)
class UpdateWeights:
    decay: float = 0.8
    topic_decay: float = 0.4
    negative_decay: float = 0.9
    text: float = 1.0
    item: float = 1.5


@dataclass(frozen=True)
class AttributeAsk:
    """An ask about one of the catalog's numbers, by role ("for 4 players", "under an hour", "cheap").

    `role` is a `retrieval.schema.Role` value ("range" for a range pair's quantity); the bounds are absolute
    (`low`, `high`, in the column's unit), or `part` says which part of the catalog's own values fits: "low"
    (its lower third: "cheap", "quick", "light"), "not high" (all but its upper third: "nothing too heavy"),
    "high" (its upper third: "highly rated", "a long one")."""

    role: str
    said: str
    low: float | None = None
    high: float | None = None
    part: str | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AttributeAsk:
        return cls(str(data["role"]), str(data["said"]), data.get("low"), data.get("high"), data.get("part"))


@dataclass
class Constraints:
    """Hard filters (years, insisted genres, exclusions) and soft genre preferences.

    A genre said in passing ("something funny") only leans the ranking (`preferred_genres`);
    one the user insists on ("only comedies") filters (`required_genres`). Exclusions are
    always hard: "no horror" means none."""

    year_min: int | None = None
    year_max: int | None = None
    required_genres: list[str] = field(default_factory=list)
    """Hard: an item must have one of these ("only comedies", "it has to be animated")."""
    request_genres: list[str] = field(default_factory=list)
    """The `required_genres` that hold until a request of its own ("like The Matrix but funnier": comedy)."""
    preferred_genres: list[str] = field(default_factory=list)
    """Soft: items with these are boosted, others still qualify (the latest genres said in passing)."""
    exclude_genres: list[str] = field(default_factory=list)
    preferred_people: list[str] = field(default_factory=list)
    """Soft: the people the current request asked for ("something with Tom Hanks"): their items lead, the others
    still qualify. People liked in passing only add `ScoringWeights.person`, for as long as they are remembered."""
    standing: str | None = None
    """'popular' or 'obscure': how well known the request's picks should be, held like the soft genres (a request
    of its own that does not say it drops it)."""
    others_than_people: bool = False
    """The request asked for works like the `preferred_people`'s by others ("other directors like Christopher
    Nolan"): theirs are left out, and their best known are what the ranking leans to."""
    attributes: list[AttributeAsk] = field(default_factory=list)
    """Hard: asks about the catalog's numbers ("for 4 players", "under an hour"), one per role, held as the years
    are: a refinement ("cheaper") replaces the ask of its role; a request of its own keeps only what it says."""

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Constraints:
        """Loads stored constraints, also those saved before genres were split into hard and soft:
        the old `include_genres` (or `genres`) did not record whether the user insisted, so they
        become soft preferences: a reply then leans to them instead of filtering."""
        old = [str(g) for key in ("include_genres", "genres") for g in data.get(key) or []]
        known = {f.name for f in fields(cls)}
        loaded = cls(**{k: v for k, v in data.items() if k in known})
        loaded.preferred_genres = list(dict.fromkeys([*loaded.preferred_genres, *old]))
        loaded.attributes = [AttributeAsk.from_dict(a) for a in data.get("attributes") or []]
        return loaded

    @property
    def has_years(self) -> bool:
        return self.year_min is not None or self.year_max is not None

    def years_text(self) -> str:
        """'1980–1989', '1995 or later', '1975 or earlier': the range as replies and the profile panel say it."""
        if self.year_min is not None and self.year_max is not None:
            return f"{self.year_min}–{self.year_max}"
        if self.year_min is not None:
            return f"{self.year_min} or later"
        return f"{self.year_max} or earlier"

    def describe(self) -> list[str]:
        """Hard constraints as they are, soft preferences marked as such (profile panel, `profile show`)."""
        out = []
        if self.has_years:
            out.append(f"years {self.years_text()}")
        if self.required_genres:
            out.append("only " + " or ".join(self.required_genres))
        if self.exclude_genres:
            out.append("no " + ", ".join(self.exclude_genres))
        if self.preferred_genres:
            out.append("leaning " + ", ".join(self.preferred_genres) + " (soft)")
        out.extend(ask.said for ask in self.attributes)
        return out


@dataclass(eq=False)
class TurnSignal:
    """What one turn was understood to say, as the event log keeps it.

    A rebuild (and an undo) replays this instead of the text: no encoder pass, and a profile
    does not change when the understanding rules do. Item-level signals ("loved X", "#2 looks
    great") are separate 'mention'/'feedback' events; `titles` is kept for the record.
    """

    intent: str = "recommend"
    """Only 'recommend' turns teach the profile; 'about', 'why' and 'smalltalk' only count."""
    positive: list[str] = field(default_factory=list)
    negative: list[str] = field(default_factory=list)
    titles: list[tuple[str, str]] = field(default_factory=list)
    """(item id, polarity) of the titles the turn named."""
    include_genres: list[str] = field(default_factory=list)
    """Genres the turn asked for; soft unless also in `insisted_genres`."""
    exclude_genres: list[str] = field(default_factory=list)
    liked_people: list[str] = field(default_factory=list)
    disliked_people: list[str] = field(default_factory=list)
    others_like_people: bool = False
    """'other directors like Christopher Nolan': works like theirs by others (`Constraints.others_than_people`)."""
    instead: bool = False
    """'a white instead': a new request that swaps only what it names; the years, asks and people hold."""
    standing: str | None = None
    """'popular' ("the best movies of all time") or 'obscure' ("a hidden gem"), said this turn."""
    blend: bool = False
    """'something between Alien and Toy Story', 'Die Hard meets Home Alone': the titles it likes are met together."""
    year_min: int | None = None
    year_max: int | None = None
    clear_years: bool = False
    clear_genres: bool = False
    other_kind: bool = False
    """'not those kind of movies': the request's words so far and the interest they set are dropped, so a "more"
    after it does not go back to them (the picks turned down stay in the aversion); the reply leans away from the
    genres on screen."""
    released_genres: list[str] = field(default_factory=list)
    """Held genres let go of ("forget the kids, just for me"): no longer hard filters, the others held."""
    insisted_genres: list[str] = field(default_factory=list)
    """Genres the user insisted on ("only comedies"): hard filters until lifted."""
    contrast_genres: list[str] = field(default_factory=list)
    """The `insisted_genres` said as a contrast ("like The Matrix but funnier"): hard for this request only."""
    attributes: list[AttributeAsk] = field(default_factory=list)
    """Asks about the catalog's numbers ("for 4 players"): hard filters, held as the years are."""
    new_topic: bool = False
    """The turn asks for something new (its own words, a liked title): earlier years, soft genres and
    anchors do not carry over. False in turns logged before it existed, which replay as they did."""
    anchored: bool = False
    """'more like #2': the anchor sets the direction, so earlier soft genres do not carry over."""
    positive_vector: np.ndarray | None = None
    """Mean embedding of `positive` (float32), the exact vector the turn added to the interest."""
    negative_vector: np.ndarray | None = None

    VECTORS = ("positive_vector", "negative_vector")

    @property
    def teaches(self) -> bool:
        return self.intent == "recommend"

    def __eq__(self, other: object) -> bool:
        """Field by field, the vectors by value (a dataclass's own == fails on arrays)."""
        if not isinstance(other, TurnSignal):
            return NotImplemented
        return self.to_json() == other.to_json() and all(
            _same_vector(getattr(self, key), getattr(other, key)) for key in self.VECTORS
        )

    __hash__ = None  # type: ignore[assignment]  # mutable, like any dataclass with eq

    def to_json(self) -> str:
        """Everything but the vectors, which the store keeps as BLOBs."""
        data = {k: v for k, v in asdict(self).items() if k not in self.VECTORS}
        return json.dumps(data, ensure_ascii=False)

    @classmethod
    def from_json(
        cls, text: str, positive_vector: np.ndarray | None = None, negative_vector: np.ndarray | None = None
    ) -> TurnSignal:
        data = json.loads(text)
        known = {f.name for f in fields(cls)} - set(cls.VECTORS)
        data = {k: v for k, v in data.items() if k in known}  # fields a later version added are skipped
        data["titles"] = [tuple(t) for t in data.get("titles", [])]
        data["attributes"] = [AttributeAsk.from_dict(a) for a in data.get("attributes", [])]
        return cls(**data, positive_vector=positive_vector, negative_vector=negative_vector)


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
    anchors: list[str] = field(default_factory=list)
    """The items the next rankings are built around ('more like #2', 'like X but…', a 👍): their
    neighbours lead and their whys name them, until a new topic or a new anchor."""
    anchors_shown: bool = False
    """A ranking has used the anchors: the next liked item starts a new set instead of joining them."""
    anchors_blended: bool = False
    """The anchors are to be met together ("something between Alien and Toy Story"): a pick must be close to each,
    not to one of them."""

    RECENT = 10
    ASPECTS = 12
    ANCHORS = 3

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

    def anchor(self, item_id: str) -> None:
        """Items liked together (one message, 👍s between two replies) anchor together."""
        if self.anchors_shown:
            self.anchors, self.anchors_shown, self.anchors_blended = [], False, False
        self.anchors = _push(self.anchors, [item_id], self.ANCHORS)

    def drop_anchors(self) -> None:
        self.anchors, self.anchors_shown, self.anchors_blended = [], False, False

    def dislike(self, item_id: str) -> None:
        self.anchors = [i for i in self.anchors if i != item_id]
        self.disliked = _push(self.disliked, [item_id], 1000)
        self.liked = [i for i in self.liked if i != item_id]

    def mark_seen(self, item_id: str) -> None:
        self.seen = _push(self.seen, [item_id], 1000)

    def liked_or_seen(self, limit: int = 20) -> list[str]:
        """The items that tell what this user watches, the latest `limit` (liked ones last, so they stay when the
        list is cut): every item liked, named or seen, except the disliked ones. What the collaborative component
        is asked with: it learns from every title a conversation names, liked or not, and asked with the liked
        items alone it ranked ReDial's next recommendation lower (held-out R@10 .168 against .175; tuning half
        .204 against .213, `recochat bench redial`)."""
        liked, disliked = set(self.liked), set(self.disliked)
        named = [i for i in self.seen if i not in liked and i not in disliked]
        return (named + self.liked)[-limit:]

    def record_shown(self, item_ids: list[str]) -> None:
        self.last_shown = list(item_ids)
        self.shown = _push(self.shown, item_ids, 5000)
        self.anchors_shown = bool(self.anchors)


def _same_vector(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    return a is b or (a is not None and b is not None and np.array_equal(a, b))


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
