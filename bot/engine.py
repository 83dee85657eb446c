"""The synchronous turn pipeline: understand → update profile → retrieve → score → plan.

Everything a front end can do goes through here (via the async `Conversations` API). Each
profile change is also appended to the event log, so a profile can be rebuilt from it:
'turn' events carry the text (aspects and constraints), 'mention'/'feedback' events carry
item-level signals, 'shown' events the items shown.
"""

from __future__ import annotations

import copy
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from recochat.profiles.collaborative import CoOccurrence
from recochat.profiles.model import Constraints, Profile, UpdateWeights, update_vector
from recochat.profiles.store import Event, ProfileStore
from recochat.retrieval.catalog import CatalogItem
from recochat.retrieval.encoder import TextEncoder
from recochat.retrieval.recommender import RankRequest, Recommendation, Recommender
from recochat.retrieval.store import StoredCatalog
from recochat.retrieval.titles import TitleIndex

from .errors import UnknownItem
from .understanding import Understanding, understand

TurnKind = Literal["recommend", "cold_start", "about", "why", "smalltalk", "empty", "noted"]
RANKED_KINDS: frozenset[TurnKind] = frozenset({"recommend", "cold_start", "empty"})
"""Turns that ranked the catalog: only these report a "total" (the turn latency the benchmarks read)."""
FEEDBACK_WEIGHT = {"like": 1.0, "dislike": 1.0, "strong": 1.5, "weak": 0.5}
DEFAULT_UPDATE = UpdateWeights()


@contextmanager
def timed(timings: dict[str, float], name: str) -> Iterator[None]:
    """Time the block into `timings[name]` in milliseconds, so the steps of a turn read as steps
    rather than as pairs of perf_counter calls."""
    started = time.perf_counter()
    yield
    timings[name] = (time.perf_counter() - started) * 1000


@dataclass
class TurnResult:
    user_id: str
    message: str
    kind: TurnKind
    items: list[Recommendation] = field(default_factory=list)
    subject: CatalogItem | None = None
    """The item an 'about'/'why' turn talks about."""
    subject_why: str | None = None
    question: str | None = None
    notes: list[str] = field(default_factory=list)
    """Short acknowledgements of what was understood ("no horror from now on")."""
    timings_ms: dict[str, float] = field(default_factory=dict)


class Engine:
    def __init__(
        self,
        catalog: StoredCatalog,
        encoder: TextEncoder,
        profiles: ProfileStore,
        recommender: Recommender | None = None,
        collaborative: CoOccurrence | None = None,
        update: UpdateWeights = DEFAULT_UPDATE,
        items_per_reply: int = 5,
        learn: bool = True,
    ) -> None:
        """learn=False freezes the collaborative component (evaluation on held-out users)."""
        self.catalog = catalog
        self.encoder = encoder
        self.profiles = profiles
        self.recommender = recommender or Recommender(catalog)
        self._collaborative_seed = copy.deepcopy(collaborative) if collaborative else CoOccurrence()
        """What was learned before this store's events (e.g. logged conversations); kept on rebuilds."""
        self.collaborative = self._collaborative_seed
        self.update = update
        self.k = items_per_reply
        self.learn = learn
        self.titles = TitleIndex(catalog.items)
        self.people = self.recommender.people
        self.genres = {g for item in catalog.items for g in item.genres}
        self.newest_year = max((item.year or 0 for item in catalog.items), default=2025)
        self._collab_lock = threading.Lock()
        self._why: dict[tuple[str, str], str] = {}
        self._replay_collaborative()

    # -- items -----------------------------------------------------------------------------
    def item(self, item_id: str) -> CatalogItem | None:
        row = self.catalog.row_of.get(item_id)
        return None if row is None else self.catalog.items[row]

    def _vector(self, item_id: str) -> np.ndarray | None:
        row = self.catalog.row_of.get(item_id)
        return None if row is None else self.catalog.embeddings[row]

    def item_at(self, profile: Profile, rank: int) -> str | None:
        shown = profile.last_shown
        if not shown:
            return None
        index = len(shown) - 1 if rank == -1 else rank - 1
        return shown[index] if 0 <= index < len(shown) else None

    # -- the turn ----------------------------------------------------------------------------
    def turn(self, user_id: str, text: str, recommend: bool = True) -> TurnResult:
        """One user message. recommend=False learns from it without recommending ("noted"),
        e.g. to import a past conversation.

        Steps: understand → log the turn → respond (learn, then rank) → save the profile once.
        `timings_ms` holds understand/encode/profile_update/retrieve/score for the steps that ran,
        and "total" for turns that ranked."""
        timings: dict[str, float] = {}
        started = time.perf_counter()
        with timed(timings, "understand"):
            understood = understand(text, self.titles, self.genres, self.newest_year, self.people)
        profile = self._start_turn(user_id, text)
        result = self._respond(profile, understood, recommend, timings)
        self.profiles.save(profile)
        result.timings_ms = timings
        if result.kind in RANKED_KINDS:
            timings["total"] = (time.perf_counter() - started) * 1000
        return result

    def _start_turn(self, user_id: str, text: str) -> Profile:
        """Load the profile and log the text first: every turn counts, whatever it turns out to be."""
        profile = self.profiles.load(user_id)
        profile.note_turn(text)
        self.profiles.append(Event(user_id, "turn", text=text))
        return profile

    def _respond(
        self, profile: Profile, understood: Understanding, recommend: bool, timings: dict[str, float]
    ) -> TurnResult:
        """Pick the answer for the intent; changes `profile` in place (the caller saves it)."""
        if understood.intent == "smalltalk":
            return TurnResult(profile.user_id, understood.text, "smalltalk")
        if understood.intent in ("about", "why"):
            return self._about(profile, understood)
        notes = self._learn(profile, understood, timings)
        if not recommend:
            return TurnResult(profile.user_id, understood.text, "noted", notes=notes)
        return self._recommend(profile, understood, notes, timings)

    def _learn(self, profile: Profile, understood: Understanding, timings: dict[str, float]) -> list[str]:
        """Update the profile from the turn; returns the acknowledgements for the reply."""
        with timed(timings, "encode"):
            positive, negative = self._encode_aspects(understood)
        with timed(timings, "profile_update"):
            # text first, then items: the same order as the event log, so a replay is exact
            notes = self._apply_text(profile, understood, positive, negative)
            notes = self._apply_items(profile, understood) + notes
        return notes

    def _recommend(
        self, profile: Profile, understood: Understanding, notes: list[str], timings: dict[str, float]
    ) -> TurnResult:
        """Rank for the updated profile and remember what was shown (for "#2" and "why?")."""
        items = self.recommender.rank(self._request(profile, understood.positive, understood.allow_repeats))
        timings.update(self.recommender.timings_ms)
        kind: TurnKind = "recommend"
        question = None
        if not items:
            kind = "empty"
        elif profile.is_cold:
            kind = "cold_start"
            question = self._splitting_question(items)
        if items:  # an empty reply keeps the last list, so "#1" still means what the user saw
            profile.record_shown([r.item.id for r in items])
            self.profiles.append(Event(profile.user_id, "shown", text=json.dumps(profile.last_shown)))
        for r in items:
            self._why[(profile.user_id, r.item.id)] = r.why
        return TurnResult(profile.user_id, understood.text, kind, items=items, question=question, notes=notes)

    def _about(self, profile: Profile, understood: Understanding) -> TurnResult:
        item_id = understood.about_item
        if understood.about_rank is not None:
            item_id = self.item_at(profile, understood.about_rank)
        item = self.item(item_id) if item_id else None
        why = self._why.get((profile.user_id, item_id)) if item_id else None
        return TurnResult(profile.user_id, understood.text, understood.intent, subject=item, subject_why=why)

    def _apply_items(self, profile: Profile, understood: Understanding) -> list[str]:
        """Titles the user named and feedback in words ('the second one looks great')."""
        notes = []
        for mention in understood.titles:
            item = self.item(mention.item_id)
            assert item is not None
            if mention.polarity == "seen":
                self._record(profile, "seen", item.id, 0.0)
                notes.append(f"you've seen {item.title}")
            else:
                value = 1.0 if mention.polarity == "like" else -1.0
                self._record(profile, "mention", item.id, value)
                notes.append(f"you {'liked' if value > 0 else 'disliked'} {item.title}")
        for feedback in understood.rank_feedback:
            item_id = self.item_at(profile, feedback.rank)
            if item_id is None:
                continue
            value = 1.0 if feedback.value == "like" else -1.0
            weight = FEEDBACK_WEIGHT["strong"] if feedback.strong else 1.0
            self._record(profile, "feedback", item_id, value * weight)
        if understood.reject_all_shown:
            for item_id in profile.last_shown:
                self._record(profile, "feedback", item_id, -FEEDBACK_WEIGHT["weak"])
        return notes

    def _record(self, profile: Profile, kind: str, item_id: str, value: float) -> None:
        """Log an item-level signal, then apply it: the log is what `rebuild` replays."""
        self.profiles.append(Event(profile.user_id, kind, item_id=item_id, value=value))
        self._apply_item_signal(profile, kind, item_id, value)

    def _apply_item_signal(
        self, profile: Profile, kind: str, item_id: str, value: float, learn: bool = True
    ) -> None:
        """A liked item pulls the interest vector toward it, a disliked one the aversion vector;
        'seen' only keeps it out of replies. learn=False when replaying: the collaborative
        component already holds the event."""
        if kind in ("seen", "mention"):
            profile.mark_seen(item_id)
        if kind == "seen" or value == 0:
            return
        vector = self._vector(item_id)
        if vector is None:
            return
        weight = self.update.item * abs(value)
        if value > 0:
            profile.like(item_id)
            profile.interest = update_vector(profile.interest, self.update.decay, [(weight, vector)])
            if learn and self.learn:
                with self._collab_lock:
                    self.collaborative.observe(profile.user_id, item_id)
        else:
            profile.dislike(item_id)
            profile.aversion = update_vector(profile.aversion, self.update.negative_decay, [(weight, vector)])

    def _encode_aspects(self, understood: Understanding) -> tuple[np.ndarray | None, np.ndarray | None]:
        """One encoder pass for the turn's positive and negative phrases together."""
        positive, negative = understood.positive, understood.negative
        vectors = self.encoder.encode_queries(positive + negative)

        def mean(part: list[np.ndarray]) -> np.ndarray | None:
            return np.mean(part, axis=0) if part else None

        return mean(vectors[: len(positive)]), mean(vectors[len(positive) :])

    def _apply_text(
        self, profile: Profile, understood: Understanding, positive: np.ndarray | None, negative: np.ndarray | None
    ) -> list[str]:
        """What the user said: the phrase vectors move interest and aversion, the words become
        aspects, people and constraints. Returns the notes worth acknowledging."""
        if positive is not None:
            profile.interest = update_vector(profile.interest, self.update.decay, [(self.update.text, positive)])
        if negative is not None:
            profile.aversion = update_vector(
                profile.aversion, self.update.negative_decay, [(self.update.text, negative)]
            )
        profile.add_aspects(understood.positive, understood.negative)
        profile.add_people(understood.liked_people, understood.disliked_people)
        return _apply_constraints(profile.constraints, understood)

    def _request(self, profile: Profile, aspects: list[str], allow_repeats: bool = False) -> RankRequest:
        """Everything the recommender needs from the profile; nothing the user has liked,
        disliked, seen or (unless they ask for repeats) been shown comes back."""
        exclude = set(profile.disliked) | set(profile.seen) | set(profile.liked)
        if not allow_repeats:
            exclude |= set(profile.shown)
        texts = aspects or profile.liked_aspects[-3:]
        with self._collab_lock:
            collab = self.collaborative.scores(profile.liked[-20:])
            counts = dict(self.collaborative.counts)
        c = profile.constraints
        return RankRequest(
            interest=profile.interest,
            aversion=profile.aversion,
            k=self.k,
            exclude=exclude,
            year_min=c.year_min,
            year_max=c.year_max,
            include_genres=c.include_genres,
            exclude_genres=c.exclude_genres,
            liked=profile.liked,
            aspects=[(t, self.encoder.encode_query(t)) for t in texts],
            collaborative=collab,
            popularity_counts=counts,
            liked_people=profile.liked_people,
            disliked_people=profile.disliked_people,
        )

    def ranking(
        self, user_id: str, k: int, exclude: set[str] | None = None, diversify: bool = False
    ) -> list[Recommendation]:
        """A plain top-k over the whole catalog for this profile (no diversification, nothing
        excluded but `exclude` and the hard constraints): for evaluation and exports."""
        request = self._request(self.profiles.load(user_id), [])
        request.k, request.exclude, request.diversify, request.explain = k, set(exclude or ()), diversify, False
        return self.recommender.rank(request)

    @staticmethod
    def _splitting_question(items: list[Recommendation]) -> str:
        """Ask about the genre that splits the seed set most evenly, against the next best."""
        counts = Counter(g for r in items for g in r.item.genres)
        if len(counts) < 2:
            return "What kind of thing are you in the mood for?"
        half = len(items) / 2
        first = min(counts, key=lambda g: (abs(counts[g] - half), g))
        rest = Counter(g for r in items if first not in r.item.genres for g in r.item.genres)
        second = rest.most_common(1)[0][0] if rest else next(g for g in counts if g != first)
        return f"To narrow it down: are you more in the mood for {first} or {second}? Or name a title you loved."

    # -- explicit feedback and profile management ------------------------------------------
    def _known_item(self, item_id: str) -> CatalogItem:
        """The catalog item, or UnknownItem with a message the front end can show as is."""
        item = self.item(item_id)
        if item is None:
            raise UnknownItem(f"no item {item_id!r} in catalog {self.catalog.name!r}")
        return item

    def feedback(self, user_id: str, item_id: str, value: Literal["like", "dislike"]) -> CatalogItem:
        """A 👍/👎 on an item; raises UnknownItem for an id not in the catalog."""
        item = self._known_item(item_id)
        profile = self.profiles.load(user_id)
        self._record(profile, "feedback", item_id, 1.0 if value == "like" else -1.0)
        self.profiles.save(profile)
        return item

    def mark_seen(self, user_id: str, item_id: str) -> CatalogItem:
        """The user has seen the item: logged and applied exactly like "I've seen X" in a message,
        so it is never recommended back (and a rebuild agrees). Raises UnknownItem for an unknown id."""
        item = self._known_item(item_id)
        profile = self.profiles.load(user_id)
        self._record(profile, "seen", item.id, 0.0)
        self.profiles.save(profile)
        return item

    def undo_feedback(self, user_id: str, item_id: str) -> Profile:
        """Cancel the latest 👍/👎 on an item: log an 'undo', rebuild the profile from the log."""
        self.profiles.append(Event(user_id, "undo", item_id=item_id))
        profile = self.rebuild(user_id)
        self.profiles.save(profile)
        self._replay_collaborative()
        return profile

    def why(self, user_id: str, item_id: str) -> str | None:
        return self._why.get((user_id, item_id))

    def reset(self, user_id: str) -> None:
        self.profiles.append(Event(user_id, "reset"))
        self.profiles.clear_profile(user_id)
        with self._collab_lock:
            self.collaborative.end_session(user_id)

    def forget(self, user_id: str) -> int:
        gone = self.profiles.forget(user_id)
        self._why = {k: v for k, v in self._why.items() if k[0] != user_id}
        self._replay_collaborative()
        return gone

    def rebuild(self, user_id: str) -> Profile:
        """Replay the event log into a fresh profile (same rule as online, same result)."""
        profile = Profile(user_id=user_id)
        for event in _without_undone(list(self.profiles.events(user_id))):
            if event.kind == "reset":
                profile = Profile(user_id=user_id)
            elif event.kind == "turn" and event.text is not None:
                understood = understand(event.text, self.titles, self.genres, self.newest_year, self.people)
                profile.note_turn(event.text)
                if understood.intent == "recommend":
                    positive, negative = self._encode_aspects(understood)
                    self._apply_text(profile, understood, positive, negative)
            elif event.kind == "shown" and event.text:
                profile.record_shown(json.loads(event.text))
            elif event.kind in ("mention", "feedback", "seen") and event.item_id:
                self._apply_item_signal(profile, event.kind, event.item_id, event.value or 0.0, learn=False)
        return profile

    def _replay_collaborative(self) -> None:
        """Rebuild the collaborative component: the seed plus every user's logged positive signals."""
        fresh = copy.deepcopy(self._collaborative_seed)
        for event in _without_undone(list(self.profiles.events())):
            if event.kind == "reset":
                fresh.end_session(event.user_id)
            elif _is_positive_item_signal(event) and event.item_id in self.catalog.row_of:
                fresh.observe(event.user_id, event.item_id)
        with self._collab_lock:
            self.collaborative = fresh


def _without_undone(events: list[Event]) -> list[Event]:
    """Drop each 'undo' and the latest earlier feedback of that user on that item."""
    cancelled: set[int] = set()
    for index, event in enumerate(events):
        if event.kind != "undo":
            continue
        cancelled.add(index)
        for earlier in range(index - 1, -1, -1):
            other = events[earlier]
            if (earlier not in cancelled and other.kind == "feedback" and other.user_id == event.user_id
                    and other.item_id == event.item_id):
                cancelled.add(earlier)
                break
    return [e for i, e in enumerate(events) if i not in cancelled]


def _apply_constraints(c: Constraints, understood: Understanding) -> list[str]:
    """Years and genres from the turn: a new range or genre list replaces the old one, an
    excluded genre is added for good (and wins over an included one). Returns the notes."""
    notes = []
    if understood.clear_years:
        c.year_min = c.year_max = None
    if understood.year_min is not None or understood.year_max is not None:
        c.year_min, c.year_max = understood.year_min, understood.year_max
        notes.append("years " + "–".join(str(y) if y else "…" for y in (c.year_min, c.year_max)))
    if understood.clear_genres:
        c.include_genres = []
    if understood.include_genres:
        c.include_genres = list(understood.include_genres)
        c.exclude_genres = [g for g in c.exclude_genres if g not in understood.include_genres]
    for genre in understood.exclude_genres:
        if genre not in c.exclude_genres:
            c.exclude_genres.append(genre)
            notes.append(f"no {genre} from now on")
    c.include_genres = [g for g in c.include_genres if g not in c.exclude_genres]
    return notes


def _is_positive_item_signal(event: Event) -> bool:
    """A liked title or a 👍: what the collaborative component learns from."""
    return event.kind in ("mention", "feedback") and (event.value or 0) > 0
