"""Scores of candidate rows for one request: the formula (`scoring.py`), or a learned ranker over its best rows.

The formula's parts that the whys and the wildcard rule read are kept beside the score (`Scored`); the
`FEATURES` columns a learned ranker is trained on are computed here too.
"""

from __future__ import annotations

import functools
from collections.abc import Hashable
from dataclasses import dataclass

import numpy as np

from .candidates import GATHER_COST, CandidateIndex
from .explain import content_words, denies, fold_word
from .neighbours import NeighbourIndex, rarity
from .people import PeopleIndex
from .ranker import FEATURES, RankerModel, first_stage_rank
from .request import RankRequest
from .scoring import RowEmbeddings, ScoringWeights, base_scores, popularity_prior, row_embeddings, top_positions
from .titles import chat_words

DENIED = 2.0
"""`Scorer.described` of an item whose own text denies what was asked ("No noise cancelling" for "noise cancelling
headphones"), against 0–1 for one that says it: the encoder reads the denial as a match (cosine 0.49 against 0.33
for the other headphones), and the item should fall below those that do not mention it at all."""


@dataclass
class Scored:
    """Rows with their scores and the parts the whys need, aligned."""

    rows: np.ndarray
    embeddings: RowEmbeddings
    score: np.ndarray
    collab: np.ndarray
    """Co-occurrence with the liked items, scaled to the best row's."""
    prior: np.ndarray
    similarity: np.ndarray
    """cos(interest, row); zeros on a cold start."""
    negative: np.ndarray
    collab_raw: np.ndarray
    leaning: np.ndarray
    """What goes on top of a learned score: the request's leanings (the anchors' vector pull, soft genres) and
    `ScoringWeights.debias` away from popularity (the formula's own score has the anchors' links too)."""

    def at(self, positions: np.ndarray, score: np.ndarray) -> Scored:
        """These positions only, with a new score."""
        parts = (self.collab, self.prior, self.similarity, self.negative, self.collab_raw, self.leaning)
        return Scored(self.rows[positions], self.embeddings[positions], score, *(p[positions] for p in parts))


class Scorer:
    """Setup: the catalog's candidate index (rows, genres, years), people and neighbours. Construct with the
    weights and, optionally, a learned ranker; both may be replaced later (benchmarks tune them). Score:
    `scored(rows, request)`."""

    def __init__(
        self,
        index: CandidateIndex,
        people: PeopleIndex,
        neighbours: NeighbourIndex,
        weights: ScoringWeights,
        ranker: RankerModel | None = None,
    ) -> None:
        self.index = index
        self.catalog = index.catalog
        self.people = people
        self.neighbours = neighbours
        self.weights = weights
        self.ranker = ranker
        meta_popularity = self.catalog.column_arrays().prior_popularity
        self.has_meta_popularity = bool(meta_popularity.any())
        self.meta_prior = popularity_prior(meta_popularity)
        """The catalog's own popularity prior of every row (meta `popularity`, else `nbmentions`)."""
        self._learned: tuple[Hashable, np.ndarray] | None = None
        """The learned prior of every row and the `RankRequest.popularity_version` it was built from."""

    def scored(self, rows: np.ndarray, request: RankRequest) -> Scored:
        """The formula's score of every row; with a learned ranker (and an interest vector: a cold start has
        nothing to learn from), only the formula's `first_stage` best rows, scored by the model plus the
        request's leanings, which the training data has no examples of."""
        formula = self.formula(rows, request)
        if self.ranker is None or request.interest is None:
            return formula
        first, features = self.first_stage(formula, request, self.ranker.first_stage)
        learned = self.ranker.score(features) + formula.leaning[first]
        return formula.at(first, learned)

    def formula(self, rows: np.ndarray, request: RankRequest, embeddings: RowEmbeddings | None = None) -> Scored:
        """embeddings: the rows' (gathered here when not given); a cold start's pool (`cold.py`) passes no
        columns when nothing reads them (no interest, aversion or anchor)."""
        if embeddings is None:  # never a copy of most of the matrix: at 1M rows that would be 1.5 GB
            embeddings = row_embeddings(self.catalog.embeddings, rows, GATHER_COST)
        collab_raw = self.index.on_rows(request.collaborative, rows)
        collab = collab_raw / collab_raw.max() if collab_raw.max() > 0 else collab_raw
        prior = self.prior(rows, request.popularity_counts, request.popularity_version)
        score, similarity, negative = base_scores(
            embeddings, request.interest, request.aversion, prior, collab, self.weights
        )
        debias = self.weights.debias * prior
        if request.standing:
            debias = debias - self.weights.standing * self.standing(rows, prior, request.standing)
        leaning = self.leaning(rows, embeddings, request) - debias
        score = score + leaning
        if request.liked_people or request.disliked_people:
            score = score + self.weights.person * self.people_boost(request, rows)
        # on top of a learned score: the anchors' vector pull only, since the ranker weighs people and genres itself
        on_top = leaning if self.ranker is None else self.leaning(rows, embeddings, request, links=False) - debias
        return Scored(rows, embeddings, score, collab, prior, similarity, negative, collab_raw, on_top)

    def first_stage(self, formula: Scored, request: RankRequest, size: int) -> tuple[np.ndarray, np.ndarray]:
        """(positions, `FEATURES` columns) of the formula's `size` best rows, in the formula's order."""
        first = top_positions(formula.score, size)
        features = self.features(
            formula.rows[first],
            formula.embeddings[first],
            request,
            formula.similarity[first],
            formula.negative[first],
            formula.collab_raw[first],
        )
        return first, features

    def features(
        self,
        rows: np.ndarray,
        embeddings: np.ndarray,
        request: RankRequest,
        similarity: np.ndarray,
        aversion: np.ndarray,
        collab_raw: np.ndarray,
    ) -> np.ndarray:
        """The `FEATURES` columns (see ranker.py) of `rows`, given in the formula's order."""
        n = len(rows)
        zeros = np.zeros(n, dtype=np.float32)
        row_of = self.catalog.row_of
        years, all_years, genre_matrix = self.index.years[rows], self.index.years, self.index.genres
        liked = [row_of[i] for i in request.liked[-20:] if i in row_of]
        if liked:
            to_liked = embeddings @ self.catalog.embeddings[liked].T
            liked_max, liked_mean = to_liked.max(axis=1), to_liked.mean(axis=1)
            liked_genres = genre_matrix[liked].mean(axis=0)
            genres = genre_matrix[rows]
            genre_match = (genres @ liked_genres) / np.maximum(genres.sum(axis=1), 1)
            known = all_years[liked][all_years[liked] > 0]
            if len(known):
                year_distance = np.minimum(np.abs(years - float(np.median(known))) / 10.0, 5.0) * (years > 0)
            else:
                year_distance = zeros
        else:
            liked_max = liked_mean = genre_match = year_distance = zeros
        seen = [row_of[i] for i in request.seen[-20:] if i in row_of]
        seen_max = (embeddings @ self.catalog.embeddings[seen].T).max(axis=1) if seen else zeros
        counts = request.popularity_counts
        learned_popularity = self.learned_prior(rows, counts, request.popularity_version) if counts else zeros
        people = self.people_boost(request, rows) if request.liked_people or request.disliked_people else zeros
        collab = collab_raw / collab_raw.max() if n and collab_raw.max() > 0 else collab_raw
        aspects = [v for _, v in request.aspects]
        columns = {
            "interest": similarity,
            "aversion": aversion,
            "liked_max": liked_max,
            "liked_mean": liked_mean,
            "collaborative": collab,
            "co_occurrence": np.log1p(np.maximum(collab_raw, 0)),
            "seen_max": seen_max,
            "co_seen": np.log1p(np.maximum(self.index.on_rows(request.collaborative_seen, rows), 0)),
            "learned_popularity": learned_popularity,
            "catalog_popularity": self.meta_prior[rows],
            "people": people,
            "genre_match": genre_match,
            "year_distance": year_distance,
            "recency": np.maximum(years - 1950, 0) / 50.0 * (years > 0),
            "aspect_match": (embeddings @ np.stack(aspects).T).max(axis=1) if aspects else zeros,
            "first_stage_rank": first_stage_rank(n),
        }
        return np.column_stack([np.asarray(columns[name], dtype=np.float32) for name in FEATURES])

    def leaning(
        self, rows: np.ndarray, embeddings: RowEmbeddings, request: RankRequest, links: bool = True
    ) -> np.ndarray:
        """What the request leans to without filtering: the anchors' neighbours (by `NeighbourIndex.closeness` to the
        nearest anchor; with `links` False by the item vectors alone), items with a person asked for, items with a
        soft genre (more when they have every one asked for, less when it is only a flavour of theirs) and items whose
        text says the mood asked for."""
        extra = np.zeros(len(rows), dtype=np.float32)
        anchors = self.anchor_rows(request)
        if anchors:
            matrix = self.catalog.embeddings
            weight = self.weights.anchor if request.anchors else self.weights.people_anchor
            nearest = np.min if request.blend_anchors else np.max  # "between X and Y": the farther one counts
            if links:
                closeness = [self.neighbours.anchor_closeness(a, rows, embeddings, matrix) for a in anchors]
                extra += weight * nearest(closeness, axis=0)
            else:
                extra += weight * nearest(embeddings @ matrix[anchors].T, axis=1)
        if request.people_items:
            extra += self.weights.asked_person * self.index.on_rows(dict.fromkeys(request.people_items, 1.0), rows)
        if request.preferred_genres:
            has, what_it_is, every = self.genre_lean(rows, request.preferred_genres)
            extra += self.weights.genre * (has * np.where(what_it_is, 1.0, self.weights.genre_flavour) + 0.5 * every)
        extra += self.said(rows, request)
        preferred = [b for b in request.bounds if b.prefer is not None]
        if preferred:
            closeness = [1.0 / (1.0 + np.abs(self.index.numbers(b.column)[rows] - b.prefer)) for b in preferred]
            extra += self.weights.closeness * np.nan_to_num(np.mean(closeness, axis=0)).astype(np.float32)
        return extra

    def said(self, rows: np.ndarray, request: RankRequest) -> np.ndarray:
        """What the rows' own genres, tags and texts say of the asked words: a tag or a rare word of the asked
        phrases (`described`), the mood asked for, and what the mood leans away from."""
        extra = np.zeros(len(rows), dtype=np.float32)
        if request.avoid_genres:
            extra -= self.weights.genre * (self.index.genre_counts(rows, request.avoid_genres) > 0)
        if request.avoid_words:
            extra -= self.weights.mood * self.index.says(request.avoid_words, rows)
        # a phrase that names a genre leans through the genre: as a tag word it lifted every "<x> romance" tag (each
        # one rare) for "she likes romance, I hate cheesy stuff": Titanic, Dirty Dancing, Pretty Woman
        genres = self.index.genre_column
        phrases = [phrase for phrase, _ in request.aspects if phrase not in genres and fold_word(phrase) not in genres]
        said: np.ndarray = np.zeros(len(rows), dtype=np.float32)
        if phrases:
            # one or the other: `described` reads a catalog without tags only (and may be negative: a denial)
            themes = self.neighbours.tagged(rows, phrases) + self.described(rows, phrases, request.mood_words)
            said = self.weights.tagged * themes
        if request.mood_words and request.mood_alone:  # the user's own word as a tag ('feel-good') leads its kin
            said = said + self.weights.mood_alone * self.index.says(request.mood_words, rows)
        elif request.mood_words:  # a 'feel-good' tag in "a feel-good animated film" counts once
            said = np.maximum(said, self.weights.mood * self.index.says(request.mood_words, rows))
        return extra + said

    def described(self, rows: np.ndarray, phrases: list[str], mood_words: list[str]) -> np.ndarray:
        """0–1 per sorted row, for a catalog without tags: the mean rarity of an asked phrase's words, when its own
        description says every one of them. "A wine to go with steak" is the Cabernet whose text says "pair it with
        a thick steak", which the encoder put fourth. A catalog that tags its items has said its themes there: in
        the demo's texts "great dialogue" met Dunkirk, "with minimal dialogue". Every word, or "wireless earbuds"
        leans to a wireless charger. Not a phrase that says a mood, which leans by the mood ("a romantic dinner
        spot" gave the burger joint whose text says "a fast, cheap dinner": "romantic" is a chat word), nor a
        genre's name, nor a word for an item (the catalog's noun, `ITEM_NOUNS`: a Riesling whose text says "an easy
        party wine" led), nor a word people chat with (`chat_words`: "appreciate your time" and "will need to" are
        junk phrases a chat leaves)."""
        out = np.zeros(len(rows), dtype=np.float32)
        if self.neighbours.has_tags():
            return out
        skip = {
            fold_word(w) for w in [*self.index.genre_column, self.catalog.noun or ""]
        }  # items' words: never content
        total = len(self.catalog)
        moods = {fold_word(w) for w in mood_words}
        for phrase in phrases:
            said = content_words(phrase)
            words = sorted(w for w in said if w not in chat_words() and w not in skip)
            if not words or said & moods:  # a phrase that says a mood leans by it ("a romantic dinner spot")
                continue
            masks = {word: self.index.says([word], rows) for word in words}
            says = np.logical_and.reduce(list(masks.values()))
            if says.any():
                lean = float(np.mean([rarity(self._saying_count(word, mask), total) for word, mask in masks.items()]))
                plainly = self._said_plainly(rows, says, words)
                out = np.maximum(out, plainly * lean)
                out[says & ~plainly] = -DENIED  # its text says them only after a negation: "No noise cancelling"
        return out

    def _said_plainly(self, rows: np.ndarray, says: np.ndarray, words: list[str]) -> np.ndarray:
        """Of the rows whose texts say all `words` (`says`), those that say each not only after a negation
        (`explain.denies`): earbuds described "No noise cancelling, but fine for the gym" led the reply for
        "noise cancelling headphones", quoted as the why."""
        plainly = says.copy()
        plainly[says] = [not denies(text, words) for text in self.index.texts(rows[says])]
        return plainly

    def _saying_count(self, word: str, mask: np.ndarray) -> int:
        """How many items of the catalog say `word`, whose `mask` over the scored rows is known: counted in a
        catalog scored whole, estimated from the candidate rows in a large one (whose texts only are read)."""
        total = len(self.catalog)
        if len(mask) == total or self.index.exact(total):
            return int(self.index.saying(word).sum())
        return max(1, round(float(mask.mean()) * total))

    def genre_lean(self, rows: np.ndarray, genres: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per sorted row, for soft genres: has one of them; has one as its first genre (what it is, not a flavour);
        has every one of several. What `leaning` adds, and the levels a cold start proves its pool by."""
        counts = self.index.genre_counts(rows, genres)
        columns = [self.index.genre_column[g] for g in genres if g in self.index.genre_column]
        what_it_is = self.neighbours.what_it_is(rows, columns)
        return counts > 0, what_it_is, (counts == len(genres)) & (len(genres) > 1)

    def standing(self, rows: np.ndarray, prior: np.ndarray, standing: str) -> np.ndarray:
        """0–1 for `rows`, how far up the catalog's own popularity they stand (the prior, when the catalog has
        none), spread over the whole range (the log prior puts a catalog's items within 0.75–1.0), turned around
        for 'obscure'. The catalog's own, not the crowd's counts: those lean to the years the crowd chatted in."""
        if not self.has_meta_popularity:
            return prior if standing == "popular" else -prior
        low, high = self._meta_range
        spread = (self.meta_prior[rows] - low) / (high - low) if high > low else np.zeros(len(rows), dtype=np.float32)
        return spread if standing == "popular" else -spread

    @functools.cached_property
    def _meta_range(self) -> tuple[float, float]:
        """The catalog's lowest and highest popularity prior, read once (a pass over 1M rows)."""
        return float(self.meta_prior.min()), float(self.meta_prior.max())

    def anchor_rows(self, request: RankRequest) -> list[int]:
        """The rows a ranking is built around: the anchors ("more like #2"), else the asked people's best known
        works (`RankRequest.people_anchors`)."""
        row_of = self.catalog.row_of
        return [row_of[i] for i in request.built_around if i in row_of]

    def best_known(self, items: frozenset[str], count: int) -> list[str]:
        """The `count` of `items` the catalog's popularity ranks first (ties by catalog order)."""
        row_of = self.catalog.row_of
        rows = sorted((row_of[i] for i in items if i in row_of), key=lambda row: (-self.meta_prior[row], row))
        return [self.catalog.items[row].id for row in rows[:count]]

    def prior(self, rows: np.ndarray, counts: dict[str, float], version: Hashable | None = None) -> np.ndarray:
        """The popularity prior of `rows`: the catalog's, the event log's counts, or the mean of both."""
        if not counts:
            return self.meta_prior[rows]
        learned = self.learned_prior(rows, counts, version)
        return (self.meta_prior[rows] + learned) / 2 if self.has_meta_popularity else learned

    def learned_prior(self, rows: np.ndarray, counts: dict[str, float], version: Hashable | None = None) -> np.ndarray:
        """The event log's counts of `rows`, log-scaled against the catalog's most counted item. With a `version`
        the prior of every row is built once per version and kept (counts change with feedback, not per turn)."""
        if version is None:
            top = max((c for i, c in counts.items() if i in self.catalog.row_of), default=0)
            return popularity_prior(self.index.on_rows(counts, rows), top=top)
        kept = self._learned
        if kept is None or kept[0] != version:
            every_row = self.index.on_rows(counts, np.arange(len(self.catalog)))
            kept = (version, popularity_prior(every_row))
            self._learned = kept  # one assignment: a thread reading the old pair still reads a matching pair
        return kept[1][rows]

    def people_boost(self, request: RankRequest, rows: np.ndarray) -> np.ndarray:
        """+1 for each liked person a row has, −1 for each disliked one."""
        boost: dict[str, float] = {}
        for sign, names in ((1.0, request.liked_people), (-1.0, request.disliked_people)):
            for name in names:
                for item_id in self.people.items_with(name):
                    boost[item_id] = boost.get(item_id, 0.0) + sign
        return self.index.on_rows(boost, rows)


def top_by_position(scores: np.ndarray, k: int) -> np.ndarray:
    """`top_positions`, with the ties at the k-th score taken lowest position first (its partial sort takes any of
    them): a cold start's pool from a few rows (`cold.py`) is then the pool of all of them."""
    top = top_positions(scores, k)
    if len(scores) <= k or not len(top):
        return top
    last = scores[top[-1]]
    above = top[scores[top] > last]
    tied = np.flatnonzero(scores == last)  # ascending
    return np.concatenate([above, tied[: k - len(above)]]) if len(tied) > k - len(above) else top
