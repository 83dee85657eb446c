"""The synchronous turn pipeline: understand → update profile → retrieve → score → plan.

Everything a front end can do goes through here (via the async `Conversations` API). Each
profile change is also appended to the event log, so a profile can be rebuilt from it:
'turn' events carry the text and what it was understood to say (`TurnSignal`: aspects,
constraints, the phrase vectors), 'mention'/'feedback' events carry item-level signals,
'shown' events the items shown. A rebuild replays the signals, never the text.

Writes: a turn's events, the "why" of each item shown and the profile row are one
transaction, written at the end of the turn; an error anywhere leaves nothing of the turn.
Each user's writes are serialized by a per-user lock, so the engine is safe to call from
many threads (different users run concurrently).
"""

from __future__ import annotations

import copy
import itertools
import json
import logging
import re
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from recochat.profiles.collaborative import COLLABORATIVE_KINDS, CoOccurrence, Signal, signals_of
from recochat.profiles.learning import SharedLearning, scope_of
from recochat.profiles.model import Constraints, Profile, TurnSignal, UpdateWeights, update_vector
from recochat.profiles.store import Event, ProfileStorage, without_undone
from recochat.retrieval.catalog import CatalogItem
from recochat.retrieval.encoder import TextEncoder
from recochat.retrieval.ingest import plural
from recochat.retrieval.recommender import RankRequest, Recommendation, Recommender
from recochat.retrieval.store import StoredCatalog
from recochat.retrieval.titles import TitleIndex

from .errors import NothingToUndo, UnknownItem
from .polarity import model_for
from .understanding import GENRE_SYNONYMS, Understanding, apply_polarity, understand

TurnKind = Literal["recommend", "cold_start", "about", "why", "smalltalk", "empty", "noted"]
RANKED_KINDS: frozenset[TurnKind] = frozenset({"recommend", "cold_start", "empty"})
"""Turns that ranked the catalog: only these report a "total" (the turn latency the benchmarks read)."""
FEEDBACK_WEIGHT = {"like": 1.0, "dislike": 1.0, "strong": 1.5, "weak": 0.5}
DEFAULT_UPDATE = UpdateWeights()
MAX_ITEMS = 10
"""The most items one reply shows, however many are asked for: a longer list is no longer a recommendation."""
_MISSING: dict[str | tuple[str, str], str] = {
    "length": "runtime",
    ("length", "book"): "page counts",
    ("length", "recipe"): "cooking times",
    "price": "prices",
    "language": "languages",
    "rating": "ratings",
    "age rating": "age ratings",
    "streaming service": "streaming services",
}
"""What the catalog lacks, said when an ask needs it ("I can't filter on length: this catalog has no runtime.")."""

log = logging.getLogger("recochat.engine")


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
    caveats: list[str] = field(default_factory=list)
    """Whole sentences on what this reply could not do as asked ("I can't filter on length: this catalog has no
    runtime."): said before the picks, so a request is never quietly half-honoured."""
    loosened: str | None = None
    """One sentence when the filters left too few items: which constraint the rest of the reply breaks ("That's
    every crime movie I have left for you; the rest are the closest mystery and thriller movies."), or, when
    nothing is left at all, what to drop. Said once for the reply, never per item."""
    timings_ms: dict[str, float] = field(default_factory=dict)
    liked: list[CatalogItem] = field(default_factory=list)
    """What the profile holds as liked after the turn: prose may say "you loved X" only of these."""
    anchors: list[CatalogItem] = field(default_factory=list)
    """The items a ranked reply was built around ("more like #2", a 👍): prose may say the picks follow them."""
    excluded: list[str] = field(default_factory=list)
    """What the user ruled out, as words (excluded genres, "violent"): prose never offers a pick as one of them."""


@dataclass
class _Pending:
    """One write's changes to a user, kept in memory until `_commit` stores them in one transaction."""

    profile: Profile
    events: list[Event] = field(default_factory=list)
    whys: dict[str, str] = field(default_factory=dict)
    """item id → why it was recommended, for "why #1" (also after a restart)."""

    def log(self, kind: str, **fields: object) -> None:
        self.events.append(Event(self.profile.user_id, kind, **fields))  # type: ignore[arg-type]


class Engine:
    def __init__(
        self,
        catalog: StoredCatalog,
        encoder: TextEncoder,
        profiles: ProfileStorage,
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
        """What was learned before this store's events (e.g. logged conversations)."""
        self._collaborative_seed.end_sessions()  # a live user's share must depend on their own events only
        self.update = update
        self.k = items_per_reply
        self.learn = learn
        self.titles = TitleIndex(catalog.items)
        self.people = self.recommender.people
        columns = catalog.column_arrays()  # per-row arrays, not a walk over every item (seconds at 1M items)
        self.genres = set(columns.genres)
        self.newest_year = int(columns.years.max()) if len(columns.years) else 2025
        self.fields = set(columns.fields)
        """The catalog's meta keys: what a request can be filtered on ("runtime", "price")."""
        self.polarity = model_for(encoder)
        """The learned reader of named titles' polarity (bot/polarity.py); None: the rules' reading."""
        self._understand_old_turns()
        self.shared = self._shared_learning()
        """Where several processes share the log (PostgreSQL): the component follows it, every
        process's events included. None on SQLite: this process learns from its own writes."""
        self.collaborative = self.shared.model if self.shared else self.collaborative_from_log()

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
            understood = self._understand(text)
        with self.profiles.locked(user_id):
            pending = _Pending(self.profiles.load(user_id))
            result = self._respond(pending, understood, recommend, timings)
            self._commit(pending)
        result.liked = [item for i in pending.profile.liked if (item := self.item(i)) is not None]
        result.timings_ms = timings
        if result.kind in RANKED_KINDS:
            timings["total"] = (time.perf_counter() - started) * 1000
        return result

    def _understand(self, text: str) -> Understanding:
        return understand(text, self.titles, self.genres, self.newest_year, self.people, fields=self.fields)

    def named_items(self, text: str) -> list[str]:
        """The catalog items a message names, as a turn would link them (checks and tools)."""
        return [m.item_id for m in self._understand(text).titles]

    def _respond(
        self, pending: _Pending, understood: Understanding, recommend: bool, timings: dict[str, float]
    ) -> TurnResult:
        """Pick the answer for the intent; changes `pending` in place (the caller commits it).
        Every turn is logged and counted, whatever it turns out to be."""
        profile = pending.profile
        if understood.intent != "recommend":
            self._log_turn(pending, understood.text, TurnSignal(intent=understood.intent))
            if understood.intent == "smalltalk":
                return TurnResult(profile.user_id, understood.text, "smalltalk")
            return self._about(profile, understood)
        self._anchor_years(profile, understood)
        with timed(timings, "encode"):
            signal = self._signal(understood)
        with timed(timings, "profile_update"):
            # text first, then items: the same order as the event log, so a replay is exact
            notes = self._log_turn(pending, understood.text, signal)
            notes = self._apply_items(pending, understood) + notes
        if not recommend:
            return TurnResult(profile.user_id, understood.text, "noted", notes=notes)
        result = self._recommend(pending, understood, notes, timings)
        result.caveats = self._caveats(understood)
        return result

    def _anchor_years(self, profile: Profile, understood: Understanding) -> None:
        """'more like X but older' / '#2 but newer': a year range strictly before or after the anchor's year. The
        anchor is the title liked in this message, else the rank it likes, else the current anchor."""
        if understood.relative_years is None:
            return
        named = [m.item_id for m in understood.titles if m.polarity == "like"]
        shown = profile.last_shown
        ranked = [shown[f.rank - 1 if f.rank > 0 else -1] for f in understood.rank_feedback
                  if f.value == "like" and shown and f.rank <= len(shown)]  # fmt: skip
        ids = named or ranked or profile.anchors[-1:]
        anchor = self.item(ids[0]) if ids else None
        if anchor is None or not anchor.year:
            return
        if understood.relative_years == "older":  # within any range the message also says ("older, from the 80s")
            understood.year_max = min(understood.year_max or anchor.year, anchor.year - 1)
        else:
            understood.year_min = max(understood.year_min or anchor.year, anchor.year + 1)

    def _log_turn(self, pending: _Pending, text: str, signal: TurnSignal) -> list[str]:
        pending.log("turn", text=text, signal=signal)
        return self._apply_turn(pending.profile, text, signal)

    def _signal(self, understood: Understanding) -> TurnSignal:
        """What the log keeps of a turn; one encoder pass for a turn that teaches, none otherwise."""
        u = understood
        if u.intent != "recommend":
            return TurnSignal(intent=u.intent)
        positive, negative = self._encode_aspects(u)
        return TurnSignal(
            intent=u.intent,
            positive=list(u.positive),
            negative=list(u.negative),
            titles=[(m.item_id, m.polarity) for m in u.titles],
            include_genres=list(u.include_genres),
            exclude_genres=list(u.exclude_genres),
            liked_people=list(u.liked_people),
            disliked_people=list(u.disliked_people),
            year_min=u.year_min,
            year_max=u.year_max,
            clear_years=u.clear_years,
            clear_genres=u.clear_genres,
            insisted_genres=list(u.insisted_genres),
            new_topic=u.new_topic,
            anchored=any(f.strong and f.value == "like" for f in u.rank_feedback),
            positive_vector=positive,
            negative_vector=negative,
        )

    def _commit(self, pending: _Pending) -> None:
        """Store the events, whys and profile in one transaction; only then does the
        collaborative component learn from them (a failed write teaches nothing)."""
        stored = self.profiles.write(pending.events, pending.profile, pending.whys)
        self._observe(pending.profile.user_id, stored)

    def _recommend(
        self, pending: _Pending, understood: Understanding, notes: list[str], timings: dict[str, float]
    ) -> TurnResult:
        """Rank for the updated profile and remember what was shown (for "#2" and "why?")."""
        profile = pending.profile
        learned = self.recommender.ranker is not None
        request = self._request(profile, understood.positive, understood.allow_repeats, features=learned)
        request = self._sized(request, understood)
        request.years_in_passing = understood.year_min is None and understood.year_max is None
        items = self.recommender.rank(request)
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
            pending.log("shown", text=json.dumps(profile.last_shown))
        pending.whys.update((r.item.id, r.why) for r in items)
        loosened = self._loosened(request, items) if items else self._dead_end(request)
        return TurnResult(
            profile.user_id,
            understood.text,
            kind,
            items=items,
            question=question,
            notes=notes,
            loosened=loosened,
            anchors=[item for i in profile.anchors if (item := self.item(i)) is not None],
            excluded=[*request.exclude_genres, *request.exclude_words],
        )

    def _loosened(self, request: RankRequest, items: list[Recommendation]) -> str | None:
        """One sentence for a reply filled past its filters: what ran out, and what the rest are instead
        ("That's every crime movie I have left for you; the rest are the closest mystery and thriller movies.")."""
        stages = list(dict.fromkeys(r.loosened for r in items if r.loosened))
        if not stages:
            return None
        noun = self.catalog.noun or "title"
        soft = any("soft genres" in stage for stage in stages)  # a soft genre is no filter unless it was given up
        asked = [*request.include_genres, *(request.preferred_genres if soft else [])]
        years = request.year_min is not None or request.year_max is not None
        span = Constraints(year_min=request.year_min, year_max=request.year_max).years_text() if years else ""
        if any(r.for_fit for r in items):
            if len(items) == 1:
                which = "this one is from another year"
            elif all(r.for_fit for r in items):  # not "some of these" over five picks all from other years
                which = "these are from other years"
            else:
                which = "some of these are from other years"
            return f"Little else from {span} is close to what you like, so {which}."
        within = f" from {span}"
        rest = ", then ".join(
            _closest(stage, [r for r in items if r.loosened == stage], asked, request.include_genres, noun, soft)
            for stage in stages
        )
        hard = request.include_genres
        leaning = [g for g in asked if g not in hard]
        # hard genres are the kind, a soft one only narrows it: "every family movie with animation", never
        # "every family or animation movie" (an animated film without family was never a candidate)
        kind = " or ".join(hard) if hard else " or ".join(leaning)
        narrowed = f" with {' or '.join(leaning)}" if hard and leaning else ""
        when = within if years else ""
        if all(r.loosened for r in items):  # none of it fits any more
            none = f"no {kind} {plural(noun)}{narrowed}" if asked else "nothing"
            return f"I have {none}{when} left for you; these are the closest {rest}."
        every = f"every {kind} {noun}{narrowed}" if asked else "everything"
        return f"That's {every}{when} I have left for you; the rest are the closest {rest}."

    def _dead_end(self, request: RankRequest) -> str:
        """Nothing is left even with genres and years loosened: say what to drop (an exclusion, or the
        rule against showing an item twice); exclusions, dislikes and seen items are never loosened."""
        blocking = self.recommender.blocking_genres(request)
        if blocking:
            genre = blocking[0]
            said = " or ".join(blocking)
            return (
                f"Everything I haven't shown you is {said}, which you ruled out: say '{genre} is fine' to drop "
                "that, or 'show them again' to see earlier picks."
            )
        return (
            "I've shown you everything I have that you haven't seen or turned down: "
            "say 'show them again' to see earlier picks."
        )

    def _about(self, profile: Profile, understood: Understanding) -> TurnResult:
        item_id = understood.about_item
        if understood.about_rank is not None:
            item_id = self.item_at(profile, understood.about_rank)
        item = self.item(item_id) if item_id else None
        why = self.profiles.why(profile.user_id, item_id) if item_id else None
        return TurnResult(profile.user_id, understood.text, understood.intent, subject=item, subject_why=why)

    def _apply_items(self, pending: _Pending, understood: Understanding) -> list[str]:
        """Titles the user named and feedback in words ('the second one looks great')."""
        profile = pending.profile
        notes = []
        for mention in understood.titles:
            item = self.item(mention.item_id)
            assert item is not None
            if mention.polarity == "seen":
                self._record(pending, "seen", item.id, 0.0)
                notes.append(f"you've seen {item.title}")
            else:
                value = 1.0 if mention.polarity == "like" else -1.0
                self._record(pending, "mention", item.id, value)
                notes.append(f"you {'liked' if value > 0 else 'disliked'} {item.title}")
        for feedback in understood.rank_feedback:
            item_id = self.item_at(profile, feedback.rank)
            if item_id is None:
                continue
            value = 1.0 if feedback.value == "like" else -1.0
            weight = FEEDBACK_WEIGHT["strong"] if feedback.strong else 1.0
            self._record(pending, "feedback", item_id, value * weight)
            if (item := self.item(item_id)) is not None:
                said = "more like" if feedback.strong and value > 0 else "you liked" if value > 0 else "you disliked"
                notes.append(f"{said} {item.title}")
        if understood.reject_all_shown:
            for item_id in profile.last_shown:
                self._record(pending, "feedback", item_id, -FEEDBACK_WEIGHT["weak"])
        return notes

    def _record(self, pending: _Pending, kind: str, item_id: str, value: float) -> None:
        """Log an item-level signal, then apply it: the log is what `rebuild` replays."""
        pending.log(kind, item_id=item_id, value=value)
        self._apply_item_signal(pending.profile, kind, item_id, value)

    def _apply_item_signal(self, profile: Profile, kind: str, item_id: str, value: float) -> None:
        """A liked item pulls the interest vector toward it, a disliked one the aversion vector;
        'seen' only keeps it out of replies. The collaborative component learns from the
        stored events (`_observe`), not here: a replay must not teach it twice."""
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
            profile.anchor(item_id)  # the next ranking is built around it: its neighbours lead
            profile.interest = update_vector(profile.interest, self.update.decay, [(weight, vector)])
        else:
            profile.dislike(item_id)
            profile.aversion = update_vector(profile.aversion, self.update.negative_decay, [(weight, vector)])

    def _encode_aspects(self, understood: Understanding) -> tuple[np.ndarray | None, np.ndarray | None]:
        """One encoder pass for the turn's positive and negative phrases together, and for the texts the learned
        polarity reader reads the named titles from (which then settles their polarity); float32, as the log
        stores them, so the live update and a replay add the very same vectors."""
        phrases = understood.positive + understood.negative
        reading = self.polarity.texts(understood.titles) if self.polarity and understood.titles else []
        texts = phrases + reading
        vectors = self.encoder.encode_queries(texts) if texts else []
        if self.polarity and reading:
            # may move a clause's phrase from positive to negative ("The Hobbit was too tedious")
            apply_polarity(understood, self.polarity.read(understood.titles, vectors[len(phrases) :]))
        vector_of = dict(zip(phrases, vectors, strict=False))

        def mean(part: list[str]) -> np.ndarray | None:
            found = [vector_of[text] for text in part]
            return np.asarray(np.mean(found, axis=0), dtype=np.float32) if found else None

        return mean(understood.positive), mean(understood.negative)

    def _apply_turn(self, profile: Profile, text: str, signal: TurnSignal) -> list[str]:
        """What the user said: every turn counts; one that teaches moves interest and aversion
        by its phrase vectors, and its words become aspects, people and constraints. Returns
        the notes worth acknowledging. The same code runs live and in a replay."""
        profile.note_turn(text)
        if not signal.teaches:
            return []
        if signal.positive_vector is not None:
            decay = self.update.topic_decay if signal.new_topic else self.update.decay
            profile.interest = update_vector(profile.interest, decay, [(self.update.text, signal.positive_vector)])
        if signal.negative_vector is not None:
            profile.aversion = update_vector(
                profile.aversion, self.update.negative_decay, [(self.update.text, signal.negative_vector)]
            )
        profile.add_aspects(signal.positive, signal.negative)
        profile.add_people(signal.liked_people, signal.disliked_people)
        if signal.new_topic:  # a title it names anchors again: items are applied after the text
            profile.drop_anchors()
        return _apply_constraints(profile.constraints, signal)

    def _request(
        self, profile: Profile, aspects: list[str], allow_repeats: bool = False, features: bool = False
    ) -> RankRequest:
        """Everything the recommender needs from the profile; nothing the user has liked,
        disliked, seen or (unless they ask for repeats) been shown comes back. `features`: also what only a learned
        ranker reads (co-occurrence with the seen items), which a turn ranked by the formula need not compute."""
        exclude = set(profile.disliked) | set(profile.seen) | set(profile.liked)
        if not allow_repeats:
            exclude |= set(profile.shown)
        texts = aspects or profile.liked_aspects[-3:]
        collab, counts = self.collaborative.scores_and_counts(profile.liked[-20:])
        liked = set(profile.liked)
        seen = [i for i in profile.seen if i not in liked][-20:]
        c = profile.constraints
        return RankRequest(
            interest=profile.interest,
            aversion=profile.aversion,
            k=self.k,
            exclude=exclude,
            year_min=c.year_min,
            year_max=c.year_max,
            include_genres=c.required_genres,
            preferred_genres=c.preferred_genres,
            exclude_genres=c.exclude_genres,
            exclude_words=_exclusion_words(c.exclude_genres, profile.disliked_aspects),
            liked=profile.liked,
            anchors=profile.anchors,
            aspects=[(t, self.encoder.encode_query(t)) for t in texts],
            collaborative=collab,
            seen=seen,
            collaborative_seen=self.collaborative.scores(seen) if seen and features else {},
            popularity_counts=counts,
            liked_people=profile.liked_people,
            disliked_people=profile.disliked_people,
        )

    def ranking(
        self, user_id: str, k: int, exclude: set[str] | None = None, diversify: bool = False
    ) -> list[Recommendation]:
        """A plain top-k over the whole catalog for this profile (no diversification, nothing
        excluded but `exclude` and the hard constraints): for evaluation and exports."""
        return self.recommender.rank(self.ranking_request(user_id, k, exclude, diversify))

    def ranking_request(
        self, user: str | Profile, k: int, exclude: set[str] | None = None, diversify: bool = False
    ) -> RankRequest:
        """What `ranking` asks the recommender for a user id or a profile (a learned ranker trains on it)."""
        request = self._request(self.profiles.load(user) if isinstance(user, str) else user, [], features=True)
        request.k, request.exclude, request.diversify, request.explain = k, set(exclude or ()), diversify, False
        request.loosen = False
        return request

    def _splitting_question(self, items: list[Recommendation]) -> str:
        """Ask about the genre that splits the seed set most evenly, against the next best."""
        counts = Counter(g for r in items for g in r.item.genres)
        if len(counts) < 2:
            return f"What kind of {self.catalog.noun or 'item'} are you in the mood for?"
        half = len(items) / 2
        first = min(counts, key=lambda g: (abs(counts[g] - half), g))
        rest = Counter(g for r in items if first not in r.item.genres for g in r.item.genres)
        second = rest.most_common(1)[0][0] if rest else next(g for g in counts if g != first)
        return f"To narrow it down: are you more in the mood for {first} or {second}? Or name a title you loved."

    def _sized(self, request: RankRequest, understood: Understanding) -> RankRequest:
        """As many items as the user asked for ("just one", "give me ten"), up to `MAX_ITEMS`."""
        if understood.count is not None:
            request.k = min(understood.count, MAX_ITEMS)
        return request

    def _caveats(self, understood: Understanding) -> list[str]:
        """What the reply cannot do as asked, in words a person can act on."""
        noun = self.catalog.noun or "item"
        said = [
            f"I can't filter on {topic}: this catalog has no {_MISSING.get((topic, noun)) or _MISSING[topic]}."
            for topic in dict.fromkeys(understood.unsupported)
        ]
        if understood.count is not None and understood.count > MAX_ITEMS:
            said.append(f"I can show at most {MAX_ITEMS} at a time.")
        return said

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
        self._record_alone(user_id, "feedback", item.id, 1.0 if value == "like" else -1.0)
        return item

    def mark_seen(self, user_id: str, item_id: str) -> CatalogItem:
        """The user has seen the item: logged and applied exactly like "I've seen X" in a message,
        so it is never recommended back (and a rebuild agrees). Raises UnknownItem for an unknown id."""
        item = self._known_item(item_id)
        self._record_alone(user_id, "seen", item.id, 0.0)
        return item

    def _record_alone(self, user_id: str, kind: str, item_id: str, value: float) -> None:
        with self.profiles.locked(user_id):
            pending = _Pending(self.profiles.load(user_id))
            self._record(pending, kind, item_id, value)
            self._commit(pending)

    def undo_feedback(self, user_id: str, item_id: str) -> Profile:
        """Cancel the latest 👍/👎 on an item: log an 'undo', rebuild the profile from this
        user's log, and swap this user's share of the collaborative component; O(their events)."""
        with self.profiles.locked(user_id):
            before = list(self.profiles.events(user_id))
            if not _has_live_feedback(before, item_id):
                item = self.item(item_id)
                raise NothingToUndo(f"there is no 👍/👎 on {item.title if item else item_id} to take back")
            after = [*before, Event(user_id, "undo", item_id=item_id)]
            profile = self._replay(user_id, after)
            self.profiles.write(after[-1:], profile)
            self._relearn(user_id, before, after)
        return profile

    def why(self, user_id: str, item_id: str) -> str | None:
        """Why the item was recommended to this user, if it was (kept in the store: survives restarts)."""
        return self.profiles.why(user_id, item_id)

    def reset(self, user_id: str) -> None:
        with self.profiles.locked(user_id):
            self.profiles.write([Event(user_id, "reset")], clear=user_id)
            if self.shared is not None:
                self.shared.sync()
            else:
                self.collaborative.end_session(user_id)

    def forget(self, user_id: str) -> int:
        """Delete everything about the user (one transaction) and unlearn their share of the
        collaborative component; O(their events). Returns how many events went."""
        with self.profiles.locked(user_id):
            gone = self.profiles.remove_user(user_id)
            self._relearn(user_id, gone, [])
        return len(gone)

    def rebuild(self, user_id: str) -> Profile:
        """Replay the event log into a fresh profile (same rule as online, same result)."""
        return self._replay(user_id, list(self.profiles.events(user_id)))

    def _replay(self, user_id: str, events: list[Event]) -> Profile:
        """The profile these events make. Turns replay their logged signal: no encoder pass."""
        profile = Profile(user_id=user_id)
        for event in without_undone(events):
            profile = self.replay_event(profile, event)
        return profile

    def replay_event(self, profile: Profile, event: Event) -> Profile:
        """The profile after one more event of the log as it counts (`without_undone`); a reset starts anew."""
        if event.kind == "reset":
            return Profile(user_id=profile.user_id)
        if event.kind == "turn" and event.text is not None:
            # a turn logged before schema 1 that no engine has migrated yet: understood now
            signal = event.signal or self._signal(self._understand(event.text))
            self._apply_turn(profile, event.text, signal)
        elif event.kind == "shown" and event.text:
            profile.record_shown(json.loads(event.text))
        elif event.kind in ("mention", "feedback", "seen") and event.item_id:
            self._apply_item_signal(profile, event.kind, event.item_id, event.value or 0.0)
        return profile

    def _understand_old_turns(self) -> None:
        """Migration: turn events logged before schema 1 hold only their text. Each is
        understood and encoded once, here, and its signal stored; from then on it replays like
        any other. (Understood against this catalog, as every rebuild used to do.)"""
        old = self.profiles.pending_turns()
        if old:
            self.profiles.set_signals({e.id: self._signal(self._understand(e.text or "")) for e in old if e.id})
            log.info("understood %d turn events logged before profile schema 1", len(old))

    # -- the collaborative component --------------------------------------------------------
    def _shared_learning(self) -> SharedLearning | None:
        log = self.profiles.shared_log()
        if log is None or not self.learn:
            return None
        seed = self._collaborative_seed
        scope = scope_of(self.catalog.name, self.catalog.row_of, seed.history_per_user)
        return SharedLearning(log, seed, self.catalog.row_of, scope)

    def close(self) -> None:
        """Stop following the shared log (nothing to do on SQLite); the engine still answers."""
        if self.shared is not None:
            self.shared.close()

    def _signals(self, events: list[Event]) -> list[Signal]:
        """One user's events as the collaborative component learns them: liked items of this
        catalog, None at each reset."""
        return signals_of(events, self.catalog.row_of)

    def _observe(self, user_id: str, stored: list[Event]) -> None:
        """Teach the collaborative component the positives just stored. Should this user's
        window have been dropped (LRU), it is rebuilt from their events before these. With a
        shared log, the log itself is read up to these events: other processes' events first,
        in order, each learned once (a write with nothing to learn reads nothing: the follower
        thread brings the rest within half a second)."""
        if not self.learn or not any(e.kind in COLLABORATIVE_KINDS for e in stored):
            return
        if self.shared is not None:
            self.shared.sync()
            return
        items = [s for s in self._signals(stored) if s is not None]
        if not items:
            return
        first = stored[0].id

        def history() -> list[Signal]:
            return self._signals(list(self.profiles.events(user_id, COLLABORATIVE_KINDS, before=first)))

        self.collaborative.observe_all(user_id, items, history)

    def _relearn(self, user_id: str, old: list[Event], new: list[Event]) -> None:
        """After an undo or a forget: swap this user's share (their events as learned before,
        and as they stand now). With a shared log, read it instead: an undo is an event like any
        other, and a forget makes every process reload from the checkpoint it was taken out of."""
        if not self.learn:
            return
        if self.shared is not None:
            self.shared.sync()
            return
        self.collaborative.replace_user(user_id, self._signals(old), self._signals(new))

    def collaborative_from_log(self) -> CoOccurrence:
        """The seed plus every user's share from the whole log: O(all events), so for start-up
        and for checks; undo and forget update the live component per user instead. With
        learn=False the component is frozen at the seed."""
        fresh = copy.deepcopy(self._collaborative_seed)
        if self.learn:
            fresh.learn_log(self.profiles.events(kinds=COLLABORATIVE_KINDS), self.catalog.row_of)
        return fresh


def _has_live_feedback(events: list[Event], item_id: str) -> bool:
    """A 👍/👎 on the item since the last reset that no undo has taken back yet."""
    live = without_undone(events)
    since = max((i for i, e in enumerate(live) if e.kind == "reset"), default=-1) + 1
    return any(e.kind == "feedback" and e.item_id == item_id for e in live[since:])


def _apply_constraints(c: Constraints, signal: TurnSignal) -> list[str]:
    """Years and genres from the turn; returns the notes (hard constraints are said once, here).

    A request of its own (a new topic) replaces the earlier years and soft genres rather than piling
    onto them, so "a heist movie" after "from the 80s" is not held to the 80s; "more like #2" replaces
    the soft genres (the anchor sets the direction). Insisted genres and exclusions carry until lifted."""
    notes = []
    stated = signal.year_min is not None or signal.year_max is not None
    if signal.clear_years or (signal.new_topic and not stated):
        if c.year_min is not None or c.year_max is not None:
            notes.append(f"any year again, not just {c.years_text()}")  # a reader took the range as still held
        c.year_min = c.year_max = None
    if stated:
        c.year_min, c.year_max = signal.year_min, signal.year_max
        notes.append(f"years {c.years_text()}")
    return notes + _apply_genres(c, signal)


def _apply_genres(c: Constraints, signal: TurnSignal) -> list[str]:
    """A genre said in passing becomes the soft preference; one insisted on, the hard filter; an
    excluded genre is added for good, and naming it again lifts the exclusion."""
    notes = []
    if signal.clear_genres:
        c.required_genres, c.preferred_genres = [], []
    if signal.include_genres or (signal.new_topic and not signal.anchored):
        # a liked pick ("the first one sounds good") refines the request: "animated, for the kids" stays animated
        c.preferred_genres = [g for g in signal.include_genres if g not in signal.insisted_genres]
    if signal.insisted_genres:
        c.required_genres = list(signal.insisted_genres)
        notes.append(f"only {' or '.join(c.required_genres)} from now on")
    c.exclude_genres = [g for g in c.exclude_genres if g not in signal.include_genres]
    for genre in signal.exclude_genres:
        if genre not in c.exclude_genres:
            c.exclude_genres.append(genre)
            said = [w for w in signal.negative if w in _SAME_IN_TEXT and GENRE_SYNONYMS.get(w, ()) == (genre,)]
            # "not violent" is read as no horror too: say both, not only "no horror", which the user never said
            notes.append(f"nothing {said[0]} and no {genre} from now on" if said else f"no {genre} from now on")
    c.required_genres = [g for g in c.required_genres if g not in c.exclude_genres]
    c.preferred_genres = [g for g in c.preferred_genres if g not in c.exclude_genres]
    return notes


def _closest(
    stage: tuple[str, ...],
    fillers: list[Recommendation],
    asked: list[str],
    hard: list[str],
    noun: str,
    soft_given_up: bool = False,
) -> str:
    """What one loosening step's items are: 'mystery and thriller movies' (the genres most of them share, else
    'other movies'), 'comedy movies from other years' (a year range given up keeps the insisted genres), 'family
    movies without animation' (a soft genre given up under an insisted one). `soft_given_up`: a later step gave
    up the soft genre, so this step's items all have it ('family movies with animation from other years')."""
    leaning = [g for g in asked if g not in hard]
    if "years" in stage and "genres" not in stage and "soft genres" not in stage:
        kind = f"{' or '.join(hard)} " if hard else ""
        narrowed = f" with {' or '.join(leaning)}" if soft_given_up and leaning else ""
        if not hard and narrowed:
            kind, narrowed = f"{' or '.join(leaning)} ", ""
        what = f"{kind}{plural(noun)}{narrowed}"
    elif "soft genres" in stage and "genres" not in stage and hard and leaning:
        what = f"{' or '.join(hard)} {plural(noun)} without {' or '.join(leaning)}"
    else:
        what = f"{' and '.join(_covering_genres(fillers, asked)) or 'other'} {plural(noun)}"
    return what + (" from other years" if "years" in stage else "")


def _covering_genres(fillers: list[Recommendation], asked: list[str]) -> list[str]:
    """One or two genres (not asked for) that every filler has one of, most common first; none when no two cover
    them all: "the closest action movies" was said of Ghostbusters and Cinema Paradiso."""
    others = [g for g, _ in Counter(g for r in fillers for g in r.item.genres if g not in asked).most_common(6)]
    for size in (1, 2):
        for kinds in itertools.combinations(others, size):
            if all(set(kinds) & set(r.item.genres) for r in fillers):
                return list(kinds)
    return []


_SAME_IN_TEXT: dict[str, tuple[str, ...]] = {
    "violent": ("violent", "kill", "kills", "killer", "killing", "murder", "brutal", "bloody", "gory", "massacre"),
    "scary": ("scary", "frightening", "terrifying", "terror", "creepy", "horror", "nightmare"),
}
"""What an item's text says when it is the thing ruled out: "not violent" rules out "sent back in time to kill",
"nothing scary" a fairy tale with "a truly frightening witch" (both in the read-through)."""
_SAME_IN_TEXT["gory"] = _SAME_IN_TEXT["violent"]
_SAME_IN_TEXT["creepy"] = _SAME_IN_TEXT["scary"]


def _exclusion_words(genres: list[str], disliked: list[str]) -> list[str]:
    """What an item's own text must not say: an excluded genre's name ("no musicals" rules out a film described as
    a musical) and a one-word thing the user ruled out ("not violent"), with the words that say the same."""
    said = [a for a in disliked if re.fullmatch(r"[a-z]{4,}", a)]
    words = [g for g in genres if " " not in g] + [w for a in said for w in _SAME_IN_TEXT.get(a, (a,))]
    return list(dict.fromkeys(words))
