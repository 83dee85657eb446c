"""Why an item was picked: at most two reasons specific to it, and whether anything ties it to the request."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

import numpy as np

from .candidates import text_of
from .catalog import CatalogItem
from .explain import anchor_reason, content_words, denies, mood_reason, request_reason, specific_detail
from .neighbours import CREATOR_FIELDS, DIRECTOR_FIELDS, NeighbourIndex
from .people import people_of
from .request import RankRequest
from .schema import measured_columns, number_facts
from .store import StoredCatalog
from .titles import normalize

ASPECT_FIT = 0.45
"""Cosine above which an item is said to fit a phrase it does not contain; below it (0.25 was
tried) the read-through found "fits 'animated'" on Gravity and "fits 'dark crime drama'" on Booksmart."""
CLOSE = 0.45
"""Cosine above which an item may be called "close to" a liked one even when the catalog shows nothing they share."""
LIKED_TOGETHER = 0.6
"""Co-occurrence with the liked items (scaled to the reply's best) from which a pick is said to be here because
people who liked one of them liked it too, ahead of how it fits the request."""
NEAR_ANCHOR = 0.45
"""`NeighbourIndex.closeness` (cosine plus links) above which an item may be called close to its anchor with no link
to name: Past Lives to Lost in Translation (0.5), not Saw (0.1)."""


class Whys:
    """Setup: the catalog, its neighbour index and its genre vocabulary. Use: `why(row, request, collab, prior)`."""

    def __init__(self, catalog: StoredCatalog, neighbours: NeighbourIndex, genres: Iterable[str]) -> None:
        self.catalog = catalog
        self.neighbours = neighbours
        self.genres = frozenset(genres)
        self.schema = catalog.catalog_schema()
        self.measured = measured_columns(self.schema)
        """Columns of numbers a person weighs (players, minutes, price): a catalog with some names its items' kinds
        and numbers in their whys ("cooperative, 2–5 players, 20 min")."""

    def why(self, row: int, request: RankRequest, collab: float, prior: float) -> tuple[str, bool]:
        """At most two reasons specific to this item, strongest first (see `explain.py`).

        A liked person it has, the anchor or liked item it is closest to and their strongest link, the words of
        the request its own text contains; else how well it fits the request, what people with the
        same favourites liked, or what the item itself is. The flag: whether anything ties it to the request
        or the taste (a genre asked for counts); a pick with nothing is a wildcard (`Recommender`)."""
        item = self.catalog.items[row]
        vector = self.catalog.embeddings[row]
        reasons = [r for r in (self._attribute_reason(item, request), _person_reason(item, request)) if r]
        near_anchor = self.anchor_link(row, request)
        closest = None if near_anchor else self.closest_liked(vector, request)
        if near_anchor is not None:
            reasons.append(near_anchor)
        elif closest is not None:
            anchor, similarity = closest
            reason = anchor_reason(item, anchor, close=similarity > CLOSE)
            reasons += [reason] if reason else []
        texts = [text for text, _ in request.aspects]
        matched = request_reason(item, texts, self.neighbours.asked_tags(item, texts))
        matched = matched or mood_reason(item, request.mood_words)
        fit = matched or _aspect_reason(item, vector, request, self.genres)
        reasons = self._with_together(reasons, fit, item, request, collab)
        if reasons:
            return "; ".join(reasons[:2]), True
        asked = {*request.preferred_genres, *request.include_genres}
        # the asked genre first: Parasite is "drama, thriller, comedy", and for "something funny" it is a comedy
        shown = sorted(item.genres, key=lambda genre: genre not in asked)[:2]
        genres = "/".join(shown) or "pick"
        lead = f"a widely loved {genres}" if prior > 0.6 else f"{_article(genres)} {genres}"
        return f"{lead}: {specific_detail(item)}", bool(asked & set(item.genres))

    def anchor_link(self, row: int, request: RankRequest) -> str | None:
        """'close to Pulp Fiction, which you liked: also directed by Quentin Tarantino': the anchor this item is
        closest to by `NeighbourIndex.closeness`, and the strongest real link between them, when there is one."""
        anchors = [self.catalog.row_of[i] for i in request.built_around if i in self.catalog.row_of]
        if not anchors:
            return None
        one, matrix = np.array([row], dtype=np.int64), self.catalog.embeddings
        closeness = [float(self.neighbours.anchor_closeness(a, one, matrix[one], matrix)[0]) for a in anchors]
        best = int(np.argmax(closeness))
        anchor = self.catalog.items[anchors[best]]
        item = self.catalog.items[row]
        link = self.neighbours.link(item, anchor) or self._kind_link(item, anchor)
        if not link and closeness[best] >= NEAR_ANCHOR:
            link = self.neighbours.shared_kind(item, anchor)
        elif not link:
            return None
        if request.blend_anchors:  # the link is to the nearer of them, and says which
            lead = "between " + " and ".join(self.catalog.items[a].title for a in anchors)
            lead += f"; close to {anchor.title}"
        elif request.anchors:
            lead = f"close to {anchor.title}, which you liked"
        elif (person := _liked_person_of(anchor, request)) is None:
            return None
        elif normalize(person) in {normalize(p) for p in people_of(item)}:
            return None  # their own work: `_person_reason` names them
        else:
            lead = f"like {person}'s {anchor.title}"
        return f"{lead}: {link}" if link else lead

    def _attribute_reason(self, item: CatalogItem, request: RankRequest) -> str | None:
        """'cooperative, 2–5 players, 20 min': for a request that bounds the catalog's numbers, the item's values of
        them, after the asked kinds it has (alone, a kind the whole reply was asked for is no reason)."""
        if not request.bounds:
            return None
        kinds = [g for g in dict.fromkeys([*request.include_genres, *request.preferred_genres]) if g in item.genres]
        facts = number_facts(item.meta, self.schema, [b.column for b in request.bounds])
        return ", ".join([*kinds, *facts]) or None

    def _kind_link(self, item: CatalogItem, anchor: CatalogItem) -> str | None:
        """'also cooperative, 2–5 players, 20 min': in a catalog with measured numbers, the kinds two items share
        (a board game's 'cooperative' is its whole kind, however many games have it) and the item's numbers."""
        shared = [g for g in anchor.genres if g in item.genres][:2]
        if not (self.measured and shared):
            return None
        return "also " + ", ".join([*shared, *number_facts(item.meta, self.schema)[:2]])

    def closest_liked(self, vector: np.ndarray, request: RankRequest) -> tuple[CatalogItem, float] | None:
        """(item, similarity): the anchor this item is near (the ranking was built around it, so the why names
        it when they share something), else the latest liked item nearest to it, when near enough to say so."""
        for ids, threshold in ((request.anchors, 0.3), (request.liked[-20:], CLOSE)):
            liked_rows = [self.catalog.row_of[i] for i in ids if i in self.catalog.row_of]
            if not liked_rows:
                continue
            sims = self.catalog.embeddings[liked_rows] @ vector
            best = int(np.argmax(sims))
            if sims[best] > threshold:
                return self.catalog.items[liked_rows[best]], float(sims[best])
        return None

    def near_liked(self, item: CatalogItem, request: RankRequest) -> bool:
        """It is close to an anchor or a liked item by the whys' own test (something shared, or very near), when
        the user has liked anything: the read-through found WALL-E "closer" to a crime fan than recent films."""
        if not (request.anchors or request.liked):
            return True
        closest = self.closest_liked(self.catalog.embeddings[self.catalog.row_of[item.id]], request)
        return closest is not None and anchor_reason(item, closest[0], close=closest[1] > CLOSE) is not None

    def _with_together(
        self, reasons: list[str], fit: str | None, item: CatalogItem, request: RankRequest, collab: float
    ) -> list[str]:
        """The reasons with the request's fit and what people liked together: a pick that is here mostly because
        people who liked one of the user's titles liked it too (`LIKED_TOGETHER`) says so before the fit; a
        weaker tie only fills a free place."""
        together = self._collaborative_reason(request, item.id) if collab > 0.3 else None
        if together and collab >= LIKED_TOGETHER:
            return [*reasons[:1], together, *([fit] if fit else []), *reasons[1:]]
        return [*reasons, *([fit] if fit else []), *([together] if together else [])]

    def _collaborative_reason(self, request: RankRequest, item_id: str) -> str | None:
        """'people who liked Hot Fuzz often liked it too': the liked item it was most often liked together with.
        None for an item no liked one was liked together with: its collaborative score is EASE's indirect weight
        (liked by the people who liked what fans of Hot Fuzz liked), which no person said."""
        source = request.collaborative_because.get(item_id)
        row = self.catalog.row_of.get(source) if source else None
        if row is None:
            return None
        return f"people who liked {self.catalog.items[row].title} often liked it too"


def _aspect_reason(item: CatalogItem, vector: np.ndarray, request: RankRequest, genres: frozenset[str]) -> str | None:
    """Quote the asked-for phrase the item matches best, if it matches well enough and has every genre the phrase
    names (the read-through found Men in Black "fits 'dark crime drama'")."""
    if not request.aspects:
        return None
    sims = [float(v @ vector) for _, v in request.aspects]
    best = int(np.argmax(sims))
    phrase = request.aspects[best][0]
    if sims[best] <= ASPECT_FIT or not genres_named(phrase, genres) <= set(item.genres):
        return None
    # not where the item's own text denies it ("No noise cancelling, but fine for the gym"): the encoder reads that
    # as a match, and the why said the earbuds fit "noise cancelling headphones"
    return None if denies(text_of(item).lower(), content_words(phrase)) else f"fits “{phrase}”"


@functools.lru_cache(maxsize=4096)
def genres_named(phrase: str, genres: frozenset[str]) -> frozenset[str]:
    """The genres a phrase names ("dark crime drama": crime, drama), kept per phrase: a turn asks for each of its
    picks, and a pattern per genre each time was 2% of a 10k-item turn."""
    return frozenset(g for g in genres if re.search(rf"\b{re.escape(g)}s?\b", phrase.lower()))


def _person_reason(item: CatalogItem, request: RankRequest) -> str | None:
    """'directed by <person>', 'by <author>' or 'with <actor>': the latest liked person the item has (names compared
    normalized). "with Agatha Christie" said an author was in her own book."""
    named = _liked_person_of(item, request)
    if named is None:
        return None
    person = normalize(named)
    if person in {normalize(p) for p in people_of(item, DIRECTOR_FIELDS)}:
        return f"directed by {named}"
    if person in {normalize(p) for p in people_of(item, CREATOR_FIELDS)}:
        return f"by {named}"
    return f"with {named}"


def _liked_person_of(item: CatalogItem, request: RankRequest) -> str | None:
    """The latest liked person, as the user named them, who made or is in `item`."""
    present = {normalize(p) for p in people_of(item)}
    return next((p for p in reversed(request.liked_people) if normalize(p) in present), None)


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"
