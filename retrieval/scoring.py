"""Scoring: score(c) = cos(interest,c) − γ·cos⁺(aversion,c) + δ·prior(c) + ε·collab(c), hard filters, then MMR.

Pure functions over numpy arrays, so the math is testable by hand.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DEFAULT_DEBIAS = 0.0
"""The `debias` setting's default: see the ReDial curve in benchmarks/README.md."""


@dataclass(frozen=True)
class ScoringWeights:
    negative: float = 0.5
    """γ: how hard a match with the aversion vector pushes an item down."""
    popularity: float = 0.1
    """δ: the prior only breaks near-ties between similar items."""
    collaborative: float = 0.3
    """ε: co-occurrence with the user's liked items, learned from other users."""
    person: float = 0.3
    """Added for each liked person (cast, director, author) an item has; subtracted for disliked ones."""
    asked_person: float = 0.6
    """Added for an item with a person the request asks for ("something with Tom Hanks"), as much as an anchor's
    closest neighbour gets: 3 of 5 picks had him at 0.3 alone, the rest lifted by what an earlier liked film's fans
    liked."""
    anchor: float = 0.6
    """Times cos(anchor, c): 'more like #2' makes #2's neighbours lead that ranking, whatever else the profile holds."""
    standing: float = 0.5
    """Times the popularity prior, added for a request that asks for the best known ("the best movies of all time")
    and taken off for one that asks for lesser-known picks ("a hidden gem")."""
    people_anchor: float = 0.3
    """Times the closeness to the nearest of the asked people's works (`Scorer.anchor_rows`): half an anchor's pull,
    since the people's own items lead by `asked_person` and their neighbours only fill the rest."""
    genre: float = 0.25
    """Added for a soft genre an item has ('something funny'): it leans the ranking, it never filters."""
    genre_flavour: float = 0.8
    """The share of `genre` for an item that has the soft genre only as a flavour, not as its first genre (what it
    is): "a funny movie for tonight" gave Toy Story and Parasite (comedy third) beside Superbad at 1.0; at 0.8 The
    Hangover and What We Do in the Shadows; over five bare genre asks the picks whose first genre is the one asked
    went from 8 of 25 to 18. A catalog whose genre lists follow one order of its own (ReDial's alphabetical IMDb
    genres, INSPIRED's drama before sci-fi before action) has no first genre that says what an item is, and gets no
    discount there (`NeighbourIndex.what_it_is`, `genres_ranked`)."""
    tagged: float = 0.25
    """Times the rarity of a tag an item has that shares a word with the user's asked-for phrases ("a heist movie":
    'heist'): a lean, like a soft genre, for what a one-word ask gives the encoder too little to find."""
    mood: float = 0.15
    """Added for an item whose own text says the mood asked for (`RankRequest.mood_words`; a tag `tagged` lifts counts
    once). Less than a soft genre: in "a feel-good animated film" the genre is what is asked, the mood how."""
    mood_alone: float = 0.3
    """The same when the mood is the whole ask (`RankRequest.mood_alone`): "something darker" after "something funny,
    I loved Hot Fuzz" led with The 40-Year-Old Virgin at 0.15, the comedy lean and Hot Fuzz's neighbours outweighing
    it; at 0.3 Dr. Strangelove ("deeply unsettling") and Trainspotting ("grimly funny and harrowing")."""
    closeness: float = 0.3
    """Times 1 / (1 + |value − prefer|), averaged over a request's bounds with a `Bound.prefer`: a range ask leans
    to the items whose range is closest to it ("for 2 players": 2–2 games before 2–8 ones)."""
    mmr_lambda: float = 0.75
    """Relevance vs. novelty in MMR (1.0 = no diversification)."""
    debias: float = DEFAULT_DEBIAS
    """Subtracted times the popularity prior, after everything else (a learned ranker's score too): trades relevance
    for exposure of the catalog's long tail. The app takes it from the `debias` setting."""
    anchored_mmr_lambda: float = 0.9
    """MMR's λ for a ranking built around anchors: a fan of X expects X's closest neighbours, which are alike."""
    mmr_pool: int = 50
    cold_mmr_lambda: float = 0.5


class DenseRows:
    """`matrix[rows]` without the copy, for rows that are most of the matrix (a small catalog less the shown and
    excluded items): a product is taken over the whole matrix and its rows picked, since gathering 10k rows of
    384 floats took 1.4 ms a turn against 0.25 ms for the product (2 cores), and 5× that at 50k
    (`candidates.EXACT_LIMIT`). It answers the two things scoring asks of row embeddings: `@` and `[positions]`."""

    def __init__(self, matrix: np.ndarray, rows: np.ndarray) -> None:
        self.matrix = matrix
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __matmul__(self, other: np.ndarray) -> np.ndarray:
        return (self.matrix @ other)[self.rows]

    def __getitem__(self, positions: np.ndarray | list[int]) -> np.ndarray:
        return self.matrix[self.rows[positions]]


RowEmbeddings = np.ndarray | DenseRows
"""Candidate rows' embeddings: gathered (a few hundred ANN candidates) or `DenseRows` (most of a small catalog)."""


def row_embeddings(matrix: np.ndarray, rows: np.ndarray, gather_cost: float) -> RowEmbeddings:
    """`matrix[rows]` (sorted, unique rows): the matrix itself for all of it, a view for most of it (when a row
    gathered costs more than `gather_cost` rows of a product), else the gathered rows."""
    if len(rows) == len(matrix):
        return matrix
    if len(rows) * gather_cost > len(matrix):
        return DenseRows(matrix, rows)
    return matrix[rows]


def base_scores(
    embeddings: RowEmbeddings,
    interest: np.ndarray | None,
    aversion: np.ndarray | None,
    prior: np.ndarray,
    collaborative: np.ndarray,
    weights: ScoringWeights,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Returns (score, cos(interest,c), cos⁺(aversion,c)) for each row of `embeddings` (rows normalized).

    The aversion term is clipped at 0 so that being unlike what the user rejects never lifts an item."""

    def zeros() -> np.ndarray:
        return np.zeros(len(embeddings), dtype=np.float32)

    similarity = embeddings @ interest if interest is not None else zeros()
    negative = np.maximum(embeddings @ aversion, 0.0) if aversion is not None else zeros()
    score = (
        similarity - weights.negative * negative + weights.popularity * prior + weights.collaborative * collaborative
    )
    return score, similarity, negative


def mmr(embeddings: np.ndarray, scores: np.ndarray, k: int, lam: float) -> list[int]:
    """Greedy maximal marginal relevance; returns positions into `scores`."""
    if len(scores) == 0:
        return []
    chosen: list[int] = [int(np.argmax(scores))]
    max_sim = embeddings @ embeddings[chosen[0]]
    available = np.ones(len(scores), dtype=bool)
    available[chosen[0]] = False
    while len(chosen) < min(k, len(scores)):
        value = lam * scores - (1 - lam) * max_sim
        value[~available] = -np.inf
        pick = int(np.argmax(value))
        chosen.append(pick)
        available[pick] = False
        max_sim = np.maximum(max_sim, embeddings @ embeddings[pick])
    return chosen


def popularity_prior(values: np.ndarray, top: float | None = None) -> np.ndarray:
    """log-scaled to [0, 1] so a blockbuster is not 1000× a cult film. `top` is the largest value
    over the whole catalog when `values` covers only some of its rows."""
    values = np.maximum(np.asarray(values, dtype=np.float32), 0)
    if top is None:
        top = float(values.max()) if len(values) else 0.0
    return np.log1p(values) / np.log1p(top) if top > 0 else np.zeros_like(values)


def top_positions(scores: np.ndarray, k: int) -> np.ndarray:
    """Positions of the k best scores, best first (ties by position); a partial sort, since a
    cold start at 1M items would otherwise sort a million scores for fifty."""
    if len(scores) > k:
        candidates = np.argpartition(-scores, k)[:k]
    else:
        candidates = np.arange(len(scores))
    return candidates[np.lexsort((candidates, -scores[candidates]))]
