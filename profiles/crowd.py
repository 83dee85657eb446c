"""A crowd: what people outside this deployment liked together, learned from their conversations, and how
it is weighed against the deployment's own users.

Why a crowd of its own, not events in the log: the log is per user (a forget deletes a user's events and
takes their share out of the counts), and a crowd has no users. Each imported conversation is one session
of nobody in particular: its liked titles (linked to the catalog, in order) co-occur as one user's would
(`CoOccurrence`, the same window), and nothing of who said them is kept. So `profile forget` never touches
a crowd, and removing an import (`recochat import remove NAME`) takes out exactly its conversations.

How it is weighed (`crowd_weight`): one crowd conversation counts `base` (0.5) of a real user's session,
and that share halves again as the deployment's own likes reach `CROWD_HALF` (1,000), so it keeps
shrinking as the deployment's own users arrive: ``w = base · HALF / (HALF + own likes)``. Counts and pairs
are summed as ``own + w · crowd`` before the cosine normalisation, so a pair that four real users liked
outweighs the same pair seen in eight crowd conversations on a fresh install, and in far more later
(tests/test_import.py shows real users overtaking a crowd prior).

The demo catalog ships such a crowd, built from ReDial (`prior_path`, bot/training/crowd_prior.py):
counts and pairs over its own titles only, with the licence attribution.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
import weakref
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from . import item_weights
from .collaborative import CoOccurrence
from .item_weights import ItemWeights

log = logging.getLogger(__name__)

CROWD_WEIGHT = 0.5
"""What one crowd conversation counts, as a share of one real user's session, on a fresh install."""
CROWD_HALF = 1000
"""Own likes (the deployment's positive signals) at which the crowd's weight has halved again."""
MIN_TOGETHER = 3
"""Crowd conversations that must have liked two titles together before the crowd says people "often" like
them together: the cosine is scaled to a reply's best pick, so a pair from one or two strangers' conversations
would otherwise lead a reply (Airplane! for Hot Fuzz, from 2 of ReDial's 26 Hot Fuzz conversations). The
shipped prior keeps no thinner pair either, so none of its pairs points at one or two conversations."""
REFIT_SECONDS = 1.0
"""The least time between two refits of the collaborative weights (`item_weights`) when the counts change; a refit
also waits `REFIT_SHARE`. Meanwhile rankings read the last fit, so other users' likes reach a ranking within about
max(1 s, 10 × a fit's time): ~16 s with a ReDial-sized crowd (a 1.6 s fit). A user's own likes count at once (a
ranking sums the rows of what they liked)."""
REFIT_SHARE = 0.1
"""At most this share of one core goes to refits: the next one waits ten times the last one's time."""


def crowd_weight(own_likes: float, base: float = CROWD_WEIGHT, half: int = CROWD_HALF) -> float:
    """The weight of one crowd observation next to one of the deployment's own: `base` at first, then
    shrinking as the deployment's own likes grow (half of `base` at `half` likes, a tenth at 9·`half`)."""
    return base * half / (half + max(own_likes, 0.0)) if base > 0 else 0.0


@dataclass(frozen=True)
class CrowdConversation:
    """One imported conversation as the crowd keeps it: no text, no user, only what was liked."""

    key: str
    """The conversation's id in its source (ReDial's conversationId, the JSONL's `id`)."""
    digest: str
    """A hash of what the conversation says (titles, likes, dislikes): the same content counts once."""
    items: list[str]
    """The catalog items it liked, in the order they were mentioned."""


def crowd_model(conversations: Iterable[CrowdConversation], known: Collection[str] | None = None) -> CoOccurrence:
    """The co-occurrence of these conversations, each one session (the same window as a real user's),
    counting a conversation that two imports share (same key, same content) once; only `known` items
    when given (the catalog may have lost some since the import)."""
    model = CoOccurrence()
    allowed = known
    done: set[tuple[str, str]] = set()
    for conversation in conversations:
        if (conversation.key, conversation.digest) in done:
            continue
        done.add((conversation.key, conversation.digest))
        items = [i for i in conversation.items if allowed is None or i in allowed]
        model.observe_all("crowd", items)
        model.end_session("crowd")
    return model


@dataclass
class Blended:
    """Collaborative scores of candidates for some liked items, the deployment's own users and the crowd
    together (what one ranking reads)."""

    scores: dict[str, float] = field(default_factory=dict)
    """Candidate → Σ over the liked items l of EASE's weight from l to it (`item_weights`), over the blended counts
    and pairs: what ranks."""
    counts: dict[str, float] = field(default_factory=dict)
    """Item → own count + w · crowd count: the learned popularity."""
    because: dict[str, str] = field(default_factory=dict)
    """Candidate → the liked item it was most often liked together with, by cooc(l, c) / sqrt(count(l)·count(c)):
    what the why names. Only a pair actually seen together is named, never EASE's indirect weights."""
    weight: float = 0.0
    """The crowd's weight this ranking used."""
    own_likes: int = 0
    """The deployment's own positive signals so far (what the weight shrinks with)."""
    counts_version: tuple[int, ...] | None = None
    """Which `counts` these are (the models' `CoOccurrence.version`s and the weight): equal versions mean equal
    counts, so the scorer turns them into a prior over the catalog once, not on every ranking."""


@dataclass
class _Fit:
    """The collaborative weights last fitted over one live component, and when (`Crowd.weights`)."""

    weights: ItemWeights | None = None
    version: tuple[int, ...] | None = None
    """The counts' version the last fit read (its weights are None when fewer than two items were liked)."""
    fitted_at: float = -math.inf
    seconds: float = 0.0
    refitting: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)
    """Held while fitting: a second ranking that must fit the same version waits for the first, then reads it."""


class Crowd:
    """The crowd of one catalog beside the deployment's live component.

    Setup: `crowd_model` of the stored conversations, plus the shipped prior for the demo catalog.
    Construct: `Crowd(model, base, min_together)`; base 0 turns every crowd off. Use: `blend(own, liked)`, which
    also keeps the collaborative weights fitted to the blended counts (`weights`, refitted as `REFIT_SECONDS` says;
    `refit_seconds=0` refits before any ranking that would read changed counts, as training and tests need)."""

    def __init__(
        self,
        model: CoOccurrence | None = None,
        base: float = CROWD_WEIGHT,
        min_together: int = MIN_TOGETHER,
        refit_seconds: float = REFIT_SECONDS,
    ) -> None:
        self.model = model or CoOccurrence()
        self.base = base
        self.min_together = min_together
        self.refit_seconds = refit_seconds
        self._fits: weakref.WeakKeyDictionary[CoOccurrence, _Fit] = weakref.WeakKeyDictionary()
        """The last fit over each live component (one in the app; one per fold in the benchmark, which swaps them)."""
        self._fits_lock = threading.Lock()

    @property
    def empty(self) -> bool:
        return not self.model.counts or self.base <= 0

    def blend(self, own: CoOccurrence, liked: Sequence[str]) -> Blended:
        """The scores, counts and sources of one ranking: own + w · crowd, counts and pairs alike (a crowd pair
        seen in fewer than `min_together` conversations left out), the scores from the weights fitted to them
        (`weights`). With no crowd, the live component's counts as they are (no copy of them). `liked`: what the
        ranking is for, the user's `Profile.liked_or_seen`."""
        own_counts, own_rows, own_version = own.neighbourhood(liked)
        own_likes = sum(own_counts.values())
        w = 0.0 if self.empty else crowd_weight(own_likes, self.base)
        counts = cast("dict[str, float]", own_counts)
        crowd_rows: dict[str, dict[str, int]] = {}
        version: tuple[int, ...] = (own_version,)
        if w > 0:
            crowd_counts, crowd_rows, crowd_version = self.model.neighbourhood(liked)
            counts = dict(counts)
            for item_id, n in crowd_counts.items():
                counts[item_id] = counts.get(item_id, 0) + w * n
            version = (own_version, crowd_version, hash(w))
        out = Blended(counts=counts, weight=w, own_likes=own_likes, counts_version=version)
        best: dict[str, float] = {}
        for source in dict.fromkeys(liked):
            source_count = counts.get(source, 0)
            if source_count <= 0:
                continue
            row = self._row(own_rows.get(source, {}), crowd_rows.get(source), w)
            for target, together in row.items():
                target_count = counts.get(target, 0)
                if target_count <= 0 or together <= 0:
                    continue
                part = together / math.sqrt(source_count * target_count)
                if part > best.get(target, 0.0):
                    best[target], out.because[target] = part, source
        if best:  # no liked item was liked with anything: EASE has nothing to add either
            fitted = self.weights(own, w, version)
            out.scores = fitted.scores(liked) if fitted is not None else {}
        return out

    def warm(self, own: CoOccurrence) -> None:
        """Fit now what the first ranking that reads collaborative scores would (a ReDial-sized crowd: ~2 s of
        the first turn otherwise): the blend of the most liked item triggers it."""
        counts = own.counts or self.model.counts
        if counts:
            self.blend(own, [max(counts, key=counts.__getitem__)])

    def weights(self, own: CoOccurrence, w: float, version: tuple[int, ...]) -> ItemWeights | None:
        """The collaborative weights for counts at `version`. A fit made now when there is none yet for `own` or
        `refit_seconds` is 0; else the last fit, and a refit in the background once it is due (`REFIT_SECONDS`,
        `REFIT_SHARE`): a fit over thousands of items takes seconds, which no turn should wait for."""
        with self._fits_lock:
            last = self._fits.get(own)
            if last is not None and last.version == version:
                return last.weights
            if last is None or last.weights is None or self.refit_seconds <= 0:  # no weights yet: a quick fit
                last = self._fits.setdefault(own, _Fit())
                due = False
            else:
                wait = max(self.refit_seconds, last.seconds / REFIT_SHARE)
                due = not last.refitting and time.monotonic() - last.fitted_at >= wait
                last.refitting = last.refitting or due
                if not due:
                    return last.weights
        if due:
            threading.Thread(target=self._refit, args=(own, last, w, version), name="crowd-refit", daemon=True).start()
            return last.weights
        with last.lock:
            return self._fit(own, last, w, version)

    def _refit(self, own: CoOccurrence, last: _Fit, w: float, version: tuple[int, ...]) -> None:
        try:
            with last.lock:
                self._fit(own, last, w, version)
        except Exception:  # a failed refit keeps the last weights; the next change tries again
            log.exception("refitting the collaborative weights failed; ranking with the last ones")
        finally:
            last.refitting = False

    def _fit(self, own: CoOccurrence, last: _Fit, w: float, version: tuple[int, ...]) -> ItemWeights | None:
        """Fit on own + w · crowd (the crowd's pairs seen in at least `min_together` conversations) into `last`,
        unless another thread just did for this version. Called holding `last.lock`."""
        if last.version == version:
            return last.weights
        started = time.monotonic()
        counts, pairs = own.snapshot()
        blended_counts: dict[str, float] = dict(counts)
        blended_pairs: dict[str, dict[str, float]] = {a: dict(row) for a, row in pairs.items()}
        if w > 0:
            crowd_counts, crowd_pairs = self.model.snapshot()
            for item, n in crowd_counts.items():
                blended_counts[item] = blended_counts.get(item, 0) + w * n
            for a, row in crowd_pairs.items():
                mine = blended_pairs.setdefault(a, {})
                for b, n in row.items():
                    if n >= self.min_together:
                        mine[b] = mine.get(b, 0) + w * n
        weights = item_weights.fit(blended_counts, blended_pairs)
        last.weights, last.version, last.fitted_at = weights, version, time.monotonic()
        last.seconds = last.fitted_at - started
        log.debug(
            "collaborative weights fitted over %d items in %.3f s", len(weights.ids) if weights else 0, last.seconds
        )
        return weights

    def _row(self, own: dict[str, int], crowd: dict[str, int] | None, w: float) -> dict[str, float]:
        """One liked item's pairs: its own, plus w times the crowd's that enough conversations share."""
        if not crowd:
            return cast("dict[str, float]", own)
        row: dict[str, float] = dict(own)
        for target, n in crowd.items():
            if n >= self.min_together:
                row[target] = row.get(target, 0) + w * n
        return row


def learned_popularity(blended: Blended, catalog_has_popularity: bool) -> dict[str, float]:
    """The learned popularity a ranking reads: own likes plus the crowd's, weighed. A catalog with a popularity
    of its own (the demo's) keeps it alone until the deployment has likes of its own, as before there were
    crowds: a crowd stands in for users in "liked together", not for the catalog's own word on what is popular
    (the scorer mixes learned counts half and half with the catalog's, whatever their weight)."""
    return blended.counts if blended.own_likes or not catalog_has_popularity else {}


PRIOR_FORMAT = "recochat-crowd-prior/1"


def prior_json(model: CoOccurrence, about: dict[str, Any], min_together: int = MIN_TOGETHER) -> str:
    """A crowd as a small JSON file: `about` (source, licence, attribution, how it was made), then the
    counts and the pairs seen at least `min_together` times (each pair once, a < b), sorted, so a rebuild
    from the same data is byte-identical."""
    counts, pairs = model.snapshot()
    once = {
        a: {b: n for b, n in sorted(row.items()) if a < b and n >= min_together} for a, row in sorted(pairs.items())
    }
    data = {
        "format": PRIOR_FORMAT,
        **about,
        "min_together": min_together,
        "counts": dict(sorted(counts.items())),
        "pairs": {a: row for a, row in once.items() if row},
    }
    return json.dumps(data, indent=1, ensure_ascii=False) + "\n"


def load_prior(path: Path) -> CoOccurrence:
    """The crowd a prior file holds (`prior_json`); a ValueError naming the file when it is not one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != PRIOR_FORMAT:
            raise ValueError(f"format is {data.get('format')!r}, not {PRIOR_FORMAT!r}")
        model = CoOccurrence()
        model.counts.update({str(k): int(v) for k, v in data["counts"].items()})
        for a, row in data["pairs"].items():
            for b, n in row.items():
                model.pairs[a][b] += int(n)
                model.pairs[b][a] += int(n)
    except (OSError, ValueError, KeyError, AttributeError, TypeError) as error:
        raise ValueError(f"{path}: not a crowd prior file ({error})") from None
    return model
