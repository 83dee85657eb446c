"""What a ranking is asked (`RankRequest`) and what it answers (`Ranking` of `Recommendation`s).

The value types shared by the candidate index, the scorer, the whys and the recommender's policy.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

from .catalog import CatalogItem


class Loosening(StrEnum):
    """A constraint a reply gives up to fill what its filters leave short (`Recommendation.loosened`).

    A `StrEnum`, so a member equals its text ("years" == Loosening.YEARS)."""

    SOFT_GENRES = "soft genres"
    """The genres said in passing: their items lead, the closest others follow."""
    YEARS = "years"
    """The year range."""
    GENRES = "genres"
    """The genres the user insisted on."""
    BOUNDS = "bounds"
    """The asks about the catalog's numbers ("for 4 players", "under an hour")."""


LOOSENING: tuple[tuple[Loosening, ...], ...] = (
    (Loosening.YEARS,),
    (Loosening.GENRES,),
    (Loosening.YEARS, Loosening.GENRES),
    (Loosening.BOUNDS,),
)
"""What a reply short of items gives up, in order, after the soft genres: the year range, then the genres the
user insisted on, then both, and last the bounds on the catalog's numbers (the reply says which). Exclusions,
dislikes, seen and shown items are never given up."""


@dataclass(frozen=True)
class Bound:
    """A hard filter on one numeric column: low ≤ value ≤ high (either end open); an item without the value fails."""

    column: str
    low: float | None
    high: float | None
    said: str
    """What the user said it for ("under an hour", "4 players"), which a reply that gives it up names."""
    relative: bool = False
    """Said as a word ("cheap", "heavy"), not a number: a reply short of items gives these up first."""
    prefer: float | None = None
    """Within the bound, items whose value is closer to this one lead (`ScoringWeights.closeness`): "a two-player
    game" passes every game whose range holds 2, and a fan expects the ones made for two before 2–12 party games."""

    @property
    def compared(self) -> bool:
        """Said as a comparative ("cheaper", "shorter", "more special"): it refines the picks shown, so items past
        it are no closer to the request (`Recommender._soft_past_words`)."""
        return self.relative and bool(_COMPARED.match(self.said))


_COMPARED = re.compile(r"(?:\w+er|more \w+|less \w+)$")


@dataclass(frozen=True)
class RankRequest:
    """Everything one ranking is asked; frozen: a changed request is a new one (`dataclasses.replace`)."""

    interest: np.ndarray | None
    """The profile's interest vector; None for a cold start (popularity and diversity decide)."""
    aversion: np.ndarray | None
    """The profile's aversion vector: items close to it are pushed down, never up."""
    k: int = 5
    exclude: set[str] = field(default_factory=set)
    year_min: int | None = None
    year_max: int | None = None
    include_genres: list[str] = field(default_factory=list)
    """Hard: an item must have one of these (genres the user insisted on)."""
    held_genres: list[str] = field(default_factory=list)
    """The `include_genres` a short reply never gives up (a children's audience, a diet): the reply stays short
    instead."""
    exclude_genres: list[str] = field(default_factory=list)
    exclude_words: list[str] = field(default_factory=list)
    """Hard too: an item whose description or tags say one of these ("musical", "violent") is out, whatever its
    genres (The Lion King, "an animated musical drama", has no musical genre)."""
    preferred_genres: list[str] = field(default_factory=list)
    """Soft: items with these get `ScoringWeights.genre`; they lead, the others still qualify."""
    standing: str | None = None
    """'popular' leans to the catalog's best known items, 'obscure' away from them (`ScoringWeights.standing`)."""
    lead_genres: list[str] = field(default_factory=list)
    """The `preferred_genres` this turn asked for with no anchor ("a western"): their items come first however many
    there are, then the others; said in an earlier turn, or beside an anchor ("something funny like The Godfather"),
    a soft genre only leans (a western asked for after liking The Matrix put John Wick second, by its fans)."""
    mood_words: list[str] = field(default_factory=list)
    """Soft too: an item whose description or tags say one of these (the words for a mood asked for: "a sad movie"
    gives heartbreaking, tearjerker, …) gets `ScoringWeights.mood`, and its why quotes them."""
    avoid_genres: list[str] = field(default_factory=list)
    """Soft: items with these lose `ScoringWeights.genre`, what a soft genre gains; the genres a mood asked for
    leans away from ("something cozy": horror)."""
    avoid_words: list[str] = field(default_factory=list)
    """Soft: an item whose description or tags say one of these loses `ScoringWeights.mood`; the words of the mood
    the asked one leans away from ("something cozy": bleak, grim, …)."""
    mood_alone: bool = False
    """The mood is the whole ask ("something darker", "a sad movie"): it weighs `ScoringWeights.mood_alone`."""
    bounds: tuple[Bound, ...] = ()
    """Hard: the catalog's numbers an item must fall within ("for 4 players": min_players ≤ 4 ≤ max_players)."""
    liked: list[str] = field(default_factory=list)
    anchors: list[str] = field(default_factory=list)
    """Items this ranking is built around ('more like #2'): their neighbours lead and their whys name them."""
    blend_anchors: bool = False
    """The anchors are met together ("between Alien and Toy Story"): a row's pull is its closeness to the farthest
    of them, not to the nearest."""
    aspects: list[tuple[str, np.ndarray]] = field(default_factory=list)
    """(text, vector) of what the user asked for, to explain matches."""
    collaborative: dict[str, float] = field(default_factory=dict)
    collaborative_because: dict[str, str] = field(default_factory=dict)
    """Candidate → the item (liked, named or seen) whose co-occurrence adds most to its `collaborative` score (what
    its why names)."""
    seen: list[str] = field(default_factory=list)
    """Items the user named without liking them ("I've seen X"): they still say something about taste. The
    collaborative scores are asked with them too (`Profile.liked_or_seen`); a learned ranker also weighs how close
    a candidate is to them (`ranker.FEATURES`)."""
    collaborative_seen: dict[str, float] = field(default_factory=dict)
    """Co-occurrence with `seen`, as `collaborative` is with the liked items."""
    popularity_counts: dict[str, float] = field(default_factory=dict)
    """Learned popularity: the deployment's own likes plus an imported crowd's, weighed (profiles/crowd.py)."""
    popularity_version: Hashable | None = None
    """Which `popularity_counts` these are (`Blended.counts_version`), or None when unknown: the scorer keeps the
    prior over the whole catalog that one version gives, since mapping ~5k counts to rows costs ~1 ms a ranking."""
    liked_people: list[str] = field(default_factory=list)
    disliked_people: list[str] = field(default_factory=list)
    people_items: frozenset[str] = frozenset()
    """Items with a person the request asked for ("something with Tom Hanks"): they get `ScoringWeights.asked_person`
    and are candidates however far the ANN search would put them (names embed poorly)."""
    people_anchors: list[str] = field(default_factory=list)
    """The best known of `people_items` (`Recommender.people_anchors`): a ranking with no anchors leans to their
    neighbours (`ScoringWeights.people_anchor`), so a reply for "something like Terry Pratchett" that runs out of his
    books goes on with books like his, not with the most popular of the rest."""
    diversify: bool = True
    explain: bool = True
    """False skips the per-item "why" (evaluation rankings of 50 items)."""
    years_in_passing: bool = False
    """The year range was said in an earlier turn: picks within it that fit the request poorly (`FIT_FLOOR`) give
    way to close ones from other years, so "something recent" three turns ago does not fill a reply with
    unrelated recent titles once the close ones are shown."""
    loosen: bool = True
    """Fill a reply the filters leave short with the nearest items that break one of them (see `LOOSENING`);
    False for evaluation rankings, which must not change meaning with the catalog's size."""

    @property
    def built_around(self) -> list[str]:
        """The items the ranking is built around: the anchors, else the asked people's best known works."""
        return self.anchors or self.people_anchors


@dataclass
class Recommendation:
    item: CatalogItem
    score: float
    why: str
    rank: int
    loosened: tuple[Loosening, ...] = ()
    """The constraints this item breaks to fill a short reply, in the order they were given up."""
    fit: float = 0.0
    """Cosine to the request (interest pulled toward the anchors); 0 on a cold start."""
    missed: tuple[str, ...] = ()
    """The asks about numbers it breaks, as said ("heavy"), when it breaks `Loosening.BOUNDS`."""
    for_fit: bool = False
    """It breaks the year range because what the range still holds fits poorly, not because it ran out."""
    linked: bool = True
    """Its why ties it to the request or the taste; False for a pick only its popularity put here."""


@dataclass(frozen=True)
class Ranking:
    """What `Recommender.rank` answers: the items, best first, and the time it spent (the engine reports it)."""

    items: list[Recommendation]
    timings_ms: Mapping[str, float] = field(default_factory=dict)
    """"retrieve" (the first candidates) and "score" (scoring, loosening, whys), in milliseconds."""
