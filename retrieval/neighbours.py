"""How close an item is to an anchor ("more like X", "I loved X"), by the links a fan would name.

An embedding alone calls Blade Runner close to Pulp Fiction ("both thriller") and misses Reservoir
Dogs. A fan names the people first (the same director, then the same cast), then how much of the
anchor's kind of film the item is: the genres they share, weighted by how rare each genre is in
the catalog and how central it is to both (a film's first genre is what it is; its third is a
flavour), then the tags they share, weighted by rarity too. The embedding of the two items' own
texts carries the rest. One shared common genre weighs little ("both comedy" over a 30%-comedy
catalog is about a fifth of a rare shared genre), so it never makes an item close on its own.

`NeighbourIndex.closeness` scores candidate rows against one anchor (vectorized; the tag index is
built on first use, so a catalog that is never asked "more like X" never pays for it);
`NeighbourIndex.link` names the strongest real link for the why.
"""

from __future__ import annotations

import functools
import math
import threading
from collections import Counter, OrderedDict, defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from . import candidates
from .catalog import CatalogItem
from .explain import fold_word, listing, tags_of
from .people import PeopleIndex, people_of
from .schema import MADE_BY
from .scoring import RowEmbeddings
from .titles import normalize

DIRECTOR_FIELDS = ("director", "directors")
CREATOR_FIELDS = tuple(MADE_BY)
"""Who made it: the strongest link ('also directed by Quentin Tarantino', 'also hosted by Tom Blake')."""
CAST_FIELDS = ("stars", "star", "cast", "actors")
FIRST_GENRE = 1.0
"""Weight of an item's first genre: what the item is."""
OTHER_GENRE = 0.6
"""Weight of its later genres: flavours of it."""


@dataclass(frozen=True)
class NeighbourWeights:
    """What each link adds to the cosine of the two items' vectors (each link is scaled to 0–1 first)."""

    creator: float = 0.5
    cast: float = 0.1
    """Per shared cast member, at most two."""
    genres: float = 1.0
    tags: float = 0.2
    foreign_kind: float = 0.15
    """Taken off a row whose first genre, what it is, the anchor has none of: a romance that shares only "comedy"
    and a Los Angeles tag is no neighbour of a crime comedy. On the taste lists (`bench taste`, hits@5 over both
    prompts) 0, 0.1, 0.15, 0.2 and 0.3 gave movies 3.35, 3.35, 3.35, 3.34, 3.31 and books 3.85, 4.05, 4.13, 4.15,
    4.13: chosen on the lists that measure it, so read the gain as an upper bound."""
    numbers: float = 0.5
    """How alike their measured numbers are (players, minutes, price, weight), each scaled by its column's spread:
    a catalog whose kinds are few (board games: 'cooperative') tells its neighbours apart by them."""


def _tags(item: CatalogItem) -> list[str]:
    """The item's tags, normalized so 'Neo-Noir' meets 'neo noir' and plurals folded so 'con artists' meets 'con
    artist' (Parasite and Catch Me If You Can shared no tag)."""
    return [_tag_key(t) for t in tags_of(item)]


def _tag_key(tag: str) -> str:
    return " ".join(fold_word(w) for w in normalize(tag).split())


_TAG_STOP = frozenset(
    "and the for with from about into like some something anything that this one ones movie movies film films book "
    "books game games show shows story stories plot scene scenes character characters".split()
)


@functools.lru_cache(maxsize=65536)
def _tag_words(text: str) -> frozenset[str]:
    """The words of a tag or an asked-for phrase that `tagged` matches on: 3+ letters, plurals folded, the few
    words every ask has dropped ('time' is a stop word for the whys' themes, but 'time travel' needs it). Kept per
    text: the whys ask it of every pick's tags (`asked_tags`), 16 µs a pick uncached."""
    return frozenset(fold_word(w) for w in normalize(text).split() if len(w) >= 3 and w not in _TAG_STOP)


def _meets(tag: frozenset[str], phrases: Sequence[frozenset[str]], genres: Collection[frozenset[str]] = ()) -> bool:
    """A tag's words lie all within one phrase's words, or hold all of them and add no genre's name
    (`NeighbourIndex.tagged`): "dark" meets 'dark fairy tale' but not 'dark comedy', which is a kind of comedy
    ("something dark" gave four dark comedies and no Seven)."""
    return any(tag <= phrase or (phrase <= tag and not any(g <= tag - phrase for g in genres)) for phrase in phrases)


def _positions_in(rows: np.ndarray, found: np.ndarray) -> np.ndarray:
    """The positions in sorted `rows` of those of `found` (sorted rows) that are there."""
    if not len(rows):
        return np.zeros(0, dtype=np.int64)
    at = np.minimum(np.searchsorted(rows, found), len(rows) - 1)
    return at[rows[at] == found]


def rarity(count: int, total: int) -> float:
    """0–1: log-inverse document frequency, scaled by the rarest possible (a value only one item has)."""
    return math.log((1 + total) / (1 + count)) / math.log((1 + total) / 2) if total > 1 and count else 0.0


KEPT_ANCHORS = 32
"""Anchors whose closeness to every row is kept, least recently used dropped first."""


class NeighbourIndex:
    def __init__(
        self,
        items: Sequence[CatalogItem],
        genre_matrix: np.ndarray,
        genre_column: dict[str, int],
        people: PeopleIndex,
        row_of: dict[str, int],
        weights: NeighbourWeights | None = None,
        numbers: Mapping[str, np.ndarray] | None = None,
    ) -> None:
        """`numbers`: the measured columns (`schema.measured_columns`) by meta key, values by row (NaN unknown)."""
        self.items = items
        self._numbers = {c: v for c, v in (numbers or {}).items() if np.isfinite(v).sum() > 1}
        self._spread = {c: _spread(v) for c, v in self._numbers.items()}
        self.weights = weights or NeighbourWeights()
        self._genres = genre_matrix
        self._column = genre_column
        self._genre_words = frozenset(_tag_words(genre) for genre in genre_column)
        """Each genre's name as `_tag_words` reads it."""
        self._people = people
        self._row_of = row_of
        total = len(items)
        counts = genre_matrix.sum(axis=0) if len(genre_matrix) else np.zeros(len(genre_column))
        self.genre_rarity = np.array([rarity(int(c), total) for c in counts], dtype=np.float32)
        self._genre_share = counts / max(total, 1)
        self._lock = threading.Lock()
        self._first: np.ndarray | None = None
        self._ranked = True
        self._tag_rows: dict[str, np.ndarray] | None = None
        self._tags_by_word: dict[str, list[tuple[str, frozenset[str]]]] | None = None
        """A tag word → the tags with that word, each with all its words (`tagged`)."""
        self._tag_rarity: dict[str, float] = {}
        self._kept: OrderedDict[tuple[int, NeighbourWeights], np.ndarray] = OrderedDict()
        """(anchor row, weights) → its closeness to every row (`anchor_closeness`)."""

    # -- built on first use ------------------------------------------------------------------
    def warm(self) -> None:
        """Build now what is otherwise built on first use: at 1M items the first anchor turn spent ~1 s here."""
        self.first_genres()
        self._tag_words()

    def first_genres(self) -> np.ndarray:
        """Per row, the column of its first genre (-1 when it has none)."""
        with self._lock:
            if self._first is None:
                column = self._column
                self._first = np.array(
                    [column.get(item.genres[0], -1) if item.genres else -1 for item in self.items], dtype=np.int32
                )
                self._ranked = genres_ranked(self.items)
            return self._first

    @property
    def ranked(self) -> bool:
        """Whether the catalog's genre lists put what an item is first (`genres_ranked`)."""
        self.first_genres()
        return self._ranked

    def what_it_is(self, rows: np.ndarray, columns: Sequence[int]) -> np.ndarray:
        """Per sorted row, whether one of the genre `columns` is what it is: its first genre, or any of its genres
        in a catalog whose lists follow one order of its own (`genres_ranked`: an IMDb-style "adventure, comedy,
        sci-fi" ranks nothing)."""
        if self.ranked:
            return np.isin(self.first_genres()[rows], columns)
        if not columns:
            return np.zeros(len(rows), dtype=bool)
        return np.asarray(self._genres[np.ix_(rows, np.asarray(columns, dtype=np.int64))].any(axis=1))

    def _tag_index(self) -> dict[str, np.ndarray]:
        with self._lock:
            if self._tag_rows is None:
                rows: defaultdict[str, list[int]] = defaultdict(list)
                for row, item in enumerate(self.items):
                    if item.meta.get("tags"):
                        for tag in dict.fromkeys(_tags(item)):
                            rows[tag].append(row)
                total = len(self.items)
                self._tag_rarity = {tag: rarity(len(found), total) for tag, found in rows.items()}
                self._tag_rows = {tag: np.array(found, dtype=np.int64) for tag, found in rows.items()}
            return self._tag_rows

    def _tag_words(self) -> dict[str, list[tuple[str, frozenset[str]]]]:
        index = self._tag_index()
        with self._lock:
            if self._tags_by_word is None:
                by_word: defaultdict[str, list[tuple[str, frozenset[str]]]] = defaultdict(list)
                genres = self._genre_words
                for tag in index:
                    words = _tag_words(tag)
                    if words in genres:  # a tag that repeats a genre ('mystery') is no theme: the genre leans already
                        continue
                    for word in words:
                        by_word[word].append((tag, words))
                self._tags_by_word = dict(by_word)
            return self._tags_by_word

    def tagged(self, rows: np.ndarray, texts: Sequence[str]) -> np.ndarray:
        """0–1 per sorted row: the rarity of the rarest tag it has whose words hold all of one of `texts` (the
        user's own phrases) or lie all within one: "a heist movie" meets 'heist' and 'heist gone wrong', "time
        travel" meets 'time travel' but neither 'space travel' nor 'air travel'. The encoder reads a word or two
        badly: "heist" put Heat, tagged 'heist', below WALL-E and Deadpool. Costs the phrases' words, never a pass
        over all tags."""
        out = np.zeros(len(rows), dtype=np.float32)
        phrases = [words for words in (_tag_words(t) for t in texts) if words]
        if not phrases or not len(rows):
            return out
        index, by_word = self._tag_index(), self._tag_words()
        near = dict(pair for phrase in phrases for word in phrase for pair in by_word.get(word, []))
        for tag, words in near.items():
            if _meets(words, phrases, self._genre_words):
                hit = _positions_in(rows, index[tag])
                out[hit] = np.maximum(out[hit], self._tag_rarity[tag])
        return out

    def has_tags(self) -> bool:
        """Whether any item has tags: the catalog's own words for its themes."""
        return bool(self._tag_index())

    def has_tag_for(self, text: str) -> bool:
        """Whether some item has a tag that `tagged` lifts for the phrase: the catalog's own word for a theme
        ("heist"), by which a pick without it is no fit however near its vector is."""
        phrase = _tag_words(text)
        by_word = self._tag_words()
        genres = self._genre_words
        return any(_meets(words, [phrase], genres) for word in phrase for _, words in by_word.get(word, []))

    def asked_tags(self, item: CatalogItem, texts: Sequence[str]) -> list[str]:
        """The item's tags, as written, that `tagged` lifts it by for these phrases ("feel-good" for "a feel-good
        movie": its words are too short to be content words, so the why said nothing of the tag)."""
        phrases = [words for words in (_tag_words(t) for t in texts) if words]
        genres = self._genre_words
        return [t for t in tags_of(item) if phrases and (words := _tag_words(t)) and _meets(words, phrases, genres)]

    # -- scores ------------------------------------------------------------------------------
    def anchor_closeness(
        self, anchor_row: int, rows: np.ndarray, embeddings: RowEmbeddings, matrix: np.ndarray
    ) -> np.ndarray:
        """`closeness` of sorted `rows` (their `embeddings`) to an anchor, `matrix` being the catalog's. In a catalog
        scored whole (`candidates.EXACT_LIMIT` items at most) the anchor's closeness to every row is computed once
        and kept: the anchor stays for the next turns, and the whys ask it of each pick (a turn at 10k items spent
        ~1 ms on it)."""
        if len(self.items) > candidates.EXACT_LIMIT:
            return self.closeness(anchor_row, rows, embeddings @ matrix[anchor_row])
        key = (anchor_row, self.weights)
        with self._lock:
            whole = self._kept.pop(key, None)
        if whole is None:
            whole = self.closeness(anchor_row, np.arange(len(self.items)), matrix @ matrix[anchor_row])
            whole.setflags(write=False)
        with self._lock:
            self._kept[key] = whole  # most recently used last
            while len(self._kept) > KEPT_ANCHORS:
                self._kept.popitem(last=False)
        return whole if len(rows) == len(whole) else whole[rows]

    def closeness(self, anchor_row: int, rows: np.ndarray, cosine: np.ndarray) -> np.ndarray:
        """cos(anchor, row) plus the weighted links, for sorted `rows` (`cosine` aligned with them)."""
        anchor = self.items[anchor_row]
        w = self.weights
        score = cosine.astype(np.float32, copy=True)
        genres = self._genre_overlap(anchor, rows)
        score += w.genres * genres
        # the same director counts in full for the same kind of film, a third for another kind (Spielberg's
        # Schindler's List is no neighbour of Raiders of the Lost Ark)
        kind = np.minimum(genres / max(self._genre_overlap(anchor, self._own_row(anchor))[0], 1e-6), 1.0)
        score += w.creator * self._shared_people(anchor, rows, CREATOR_FIELDS, cap=1) * (1 + 2 * kind) / 3
        score += w.cast * 2 * self._shared_people(anchor, rows, CAST_FIELDS, cap=2)
        score -= w.foreign_kind * self._foreign_kind(anchor, rows)
        if anchor.meta.get("tags"):
            score += w.tags * self._tag_overlap(anchor, rows)
        if self._numbers:
            score += w.numbers * self.number_likeness(anchor_row, rows)
        return score

    def number_likeness(self, anchor_row: int, rows: np.ndarray) -> np.ndarray:
        """0–1 per row: the mean over the measured columns of 1 − |difference| / the column's spread (a value
        either lacks counts as unlike)."""
        total = np.zeros(len(rows), dtype=np.float32)
        for column, values in self._numbers.items():
            gap = np.abs(values[rows] - values[anchor_row]) / self._spread[column]
            total += np.nan_to_num(np.clip(1 - gap, 0, 1), nan=0.0).astype(np.float32)
        return total / len(self._numbers)

    def _own_row(self, item: CatalogItem) -> np.ndarray:
        return np.array([self._row_of[item.id]], dtype=np.int64)

    def _genre_overlap(self, anchor: CatalogItem, rows: np.ndarray) -> np.ndarray:
        """Σ over the anchor's genres a row has: rarity × centrality in the anchor × centrality in the row (≤ 1)."""
        out = np.zeros(len(rows), dtype=np.float32)
        if not anchor.genres or not len(rows):
            return out
        first = self.first_genres()[rows]
        for position, genre in enumerate(anchor.genres):
            column = self._column.get(genre)
            if column is None:
                continue
            has = self._genres[rows, column]
            centrality = np.where(first == column, FIRST_GENRE, OTHER_GENRE) * has
            out += self.genre_rarity[column] * (FIRST_GENRE if position == 0 else OTHER_GENRE) * centrality
        return np.minimum(out, 1.0)

    def _foreign_kind(self, anchor: CatalogItem, rows: np.ndarray) -> np.ndarray:
        """1 for a row whose first genre (what it is) the anchor does not have at all, else 0."""
        own = [self._column[g] for g in anchor.genres if g in self._column]
        if not own:
            return np.zeros(len(rows), dtype=np.float32)
        first = self.first_genres()[rows]
        return ((first >= 0) & ~np.isin(first, own)).astype(np.float32)

    def _shared_people(self, anchor: CatalogItem, rows: np.ndarray, fields: Sequence[str], cap: int) -> np.ndarray:
        """How many of the anchor's people in `fields` each row has in the same role (at most `cap`), / cap."""
        out = np.zeros(len(rows), dtype=np.float32)
        for name in dict.fromkeys(people_of(anchor, fields)):
            key = normalize(name)
            for item_id in self._people.items_with(name):
                row = self._row_of.get(item_id)
                if row is None:
                    continue
                at = int(np.searchsorted(rows, row))
                if (
                    at < len(rows)
                    and rows[at] == row
                    and key in {normalize(n) for n in people_of(self.items[row], fields)}
                ):
                    out[at] += 1
        return np.minimum(out, cap) / cap

    def _tag_overlap(self, anchor: CatalogItem, rows: np.ndarray) -> np.ndarray:
        """Σ of the rarity of the anchor's tags a row has too (≤ 1)."""
        index = self._tag_index()
        out = np.zeros(len(rows), dtype=np.float32)
        for tag in dict.fromkeys(_tags(anchor)):
            found = index.get(tag)
            if found is None or not len(found):
                continue
            out[_positions_in(rows, found)] += self._tag_rarity[tag]
        return np.minimum(out, 1.0)

    # -- the why -----------------------------------------------------------------------------
    def link(self, item: CatalogItem, anchor: CatalogItem) -> str | None:
        """The strongest real link, as a fan would say it, or None when they share nothing worth naming:
        'also directed by Quentin Tarantino', 'also with Bill Murray', 'also a western and a war film'
        (rare genres), 'both heist and con artists' (tags)."""
        makers = [normalize(n) for n in people_of(anchor, CREATOR_FIELDS)]
        for field in CREATOR_FIELDS:  # in the field's own words: directed, written, hosted, designed
            theirs = {normalize(n): n for n in people_of(item, (field,))}
            shared = [theirs[n] for n in makers if n in theirs]
            if shared:
                return f"also {MADE_BY[field]} {listing(shared)}"
        cast = {normalize(n): n for n in people_of(item, CAST_FIELDS)}
        shared = [cast[normalize(n)] for n in people_of(anchor, CAST_FIELDS) if normalize(n) in cast]
        if shared:
            return f"also with {listing(shared)}"
        rare = [g for g in anchor.genres if g in item.genres and self._is_rare(g)]
        their_tags = set(_tags(item))
        tags = [t for t in dict.fromkeys(tags_of(anchor)) if _tag_key(t) in their_tags]  # as the anchor writes them
        if tags and (not rare or self._tag_weight(tags) >= sum(self._genre_rarity(g) for g in rare)):
            return f"both {listing(tags)}"
        if rare:
            return f"both {listing(rare)}"
        return None

    @staticmethod
    def shared_kind(item: CatalogItem, anchor: CatalogItem) -> str | None:
        """'both 1980s action': the anchor's kind (its first genre, and its second, that the item has, else the
        item's first genre that the anchor has), with the decade when both are from the same one; None when they
        share no first genre. Weaker than `link`, so only said of an item already close to the anchor: what "close to
        Die Hard" rests on, where the why went on with the item's own tags ("time travel and killer robot") as if
        they were the link."""
        if anchor.genres and anchor.genres[0] in item.genres:  # and its second, when the item has both
            kind = listing([g for g in anchor.genres[:2] if g in item.genres])
        elif item.genres and item.genres[0] in anchor.genres:
            kind = item.genres[0]
        else:
            return None
        if item.year and anchor.year and item.year // 10 == anchor.year // 10:
            return f"both {item.year // 10 * 10}s {kind}"
        return f"both {kind}"

    def _is_rare(self, genre: str) -> bool:
        column = self._column.get(genre)
        return column is not None and float(self._genre_share[column]) <= RARE_GENRE

    def _genre_rarity(self, genre: str) -> float:
        column = self._column.get(genre)
        return float(self.genre_rarity[column]) if column is not None else 0.0

    def _tag_weight(self, tags: list[str]) -> float:
        self._tag_index()
        return sum(self._tag_rarity.get(_tag_key(t), 0.0) for t in tags)


ALPHABETICAL = 0.8
"""A catalog whose genre lists (of two or more) are in alphabetical order this often ranks nothing by the order:
ReDial's IMDb genres are 92% alphabetical ("adventure, comedy, sci-fi" for Back to the Future), the demo's 40%,
the books' 16% (chance: a half for two genres, a sixth for three). Only the soft-genre lean reads it (`what_it_is`):
the closeness to an anchor keeps the first genre's weight on such a catalog, as counting every genre alike measured
worse on the ReDial tuning folds (R@50 .4132 → .4076, R@10 .2152 → .2147)."""
ONE_ORDER = 0.9
"""A catalog whose genre lists put two genres in the same order this often, whichever items hold them, lists them
in one order of its own, not by what each item is: INSPIRED's put drama before sci-fi before action (Bloodshot is
"drama, sci-fi, action"; 94.5% of its 2,520 pairs agree), ReDial's alphabetical ones 99.6%; the demo's 76% and the
books' 76%, written per item. Read only over `ONE_ORDER_PAIRS` pairs or more: a small catalog agrees by chance."""
ONE_ORDER_PAIRS = 200
GENRE_ORDER_SAMPLE = 20_000


def genres_ranked(items: Sequence[CatalogItem]) -> bool:
    """Whether the catalog's genre lists put what an item is first: not when they are alphabetical (`ALPHABETICAL`)
    or in one order of the catalog's own (`ONE_ORDER`); read from an even sample of `GENRE_ORDER_SAMPLE` items."""
    step = max(1, len(items) // GENRE_ORDER_SAMPLE)
    lists = [genres for row in range(0, len(items), step) if len(genres := items[row].genres) > 1]
    if not lists:
        return True
    if sum(g == sorted(g) for g in lists) / len(lists) >= ALPHABETICAL:
        return False
    before = Counter((a, b) for genres in lists for i, a in enumerate(genres) for b in genres[i + 1 :])
    pairs = sum(before.values())
    agreeing = sum(max(n, before.get((b, a), 0)) for (a, b), n in before.items() if a < b or (b, a) not in before)
    return pairs < ONE_ORDER_PAIRS or agreeing / pairs < ONE_ORDER


def _spread(values: np.ndarray) -> float:
    """The width of the middle 90% of a column's known values (at least a hair, so a constant column divides)."""
    known = values[np.isfinite(values)]
    return max(float(np.quantile(known, 0.95) - np.quantile(known, 0.05)), 1e-6)


RARE_GENRE = 0.12
"""A shared genre worth naming on its own: one that at most this share of the catalog has (in the demo, mystery,
war and western are; comedy, drama, thriller, crime, horror and romance are not)."""
