"""Learning from other users: popularity and item-to-item co-occurrence, updated per event.

Every positive signal (a 👍, a liked title, an accepted recommendation) is one observation.
Items a user liked together co-occur; the score of a candidate for a user sums its
cosine-normalized co-occurrence with the user's liked items.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable


class CoOccurrence:
    def __init__(self, history_per_user: int = 50) -> None:
        self.counts: Counter[str] = Counter()
        self.pairs: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self._recent: defaultdict[str, list[str]] = defaultdict(list)
        self._history = history_per_user

    def observe(self, user_id: str, item_id: str) -> None:
        """One positive event; co-occurs with the user's earlier positives."""
        recent = self._recent[user_id]
        if item_id in recent:
            return
        self.counts[item_id] += 1
        for other in recent:
            self.pairs[item_id][other] += 1
            self.pairs[other][item_id] += 1
        recent.append(item_id)
        del recent[: -self._history]

    def end_session(self, user_id: str) -> None:
        self._recent.pop(user_id, None)

    def popularity(self, item_id: str) -> int:
        return self.counts.get(item_id, 0)

    def scores(self, liked: Iterable[str]) -> dict[str, float]:
        """Candidate → Σ_l cooc(l, c) / sqrt(count(l)·count(c))."""
        out: defaultdict[str, float] = defaultdict(float)
        for source in liked:
            neighbours = self.pairs.get(source)
            if not neighbours:
                continue
            source_count = self.counts[source]
            for target, together in neighbours.items():
                out[target] += together / math.sqrt(source_count * self.counts[target])
        return dict(out)
