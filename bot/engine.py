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

The engine runs the steps; each step's rule lives in a module of its own: `reading` (a message understood and
its `TurnSignal`), `profile_update` (the update rule, pure: the same functions live and in a replay),
`event_log` (the log's migration at start-up, the collaborative component that follows the log) and
`phrasing` (the sentences a reply says about itself).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np

from recochat.profiles.collaborative import CoOccurrence
from recochat.profiles.crowd import Crowd, learned_popularity
from recochat.profiles.model import Profile, UpdateWeights
from recochat.profiles.store import Event, ProfileStorage, without_undone
from recochat.retrieval.catalog import CatalogItem
from recochat.retrieval.encoder import TextEncoder
from recochat.retrieval.recommender import Loosening, RankRequest, Recommendation, Recommender
from recochat.retrieval.schema import Role, number_facts
from recochat.retrieval.store import StoredCatalog

from . import phrasing
from .asks import MAX_ITEMS
from .attributes import bounds_of
from .errors import NothingToUndo, UnknownItem
from .event_log import CollaborativeLog
from .lexicon import GENRE_SYNONYMS, mood_alone, mood_avoids, mood_words
from .profile_update import DEFAULT_UPDATE, VectorOf, after_event, replay
from .reading import TurnReader
from .understanding import DIETS, KIDS_GENRES, RECENT_SPAN, SUPERLATIVES, Understanding

TurnKind = Literal["recommend", "cold_start", "about", "why", "smalltalk", "empty", "noted", "reset"]
RANKED_KINDS: frozenset[TurnKind] = frozenset({"recommend", "cold_start", "empty"})
"""Turns that ranked the catalog: only these report a "total" (the turn latency the benchmarks read)."""
FEEDBACK_WEIGHT = {"like": 1.0, "dislike": 1.0, "strong": 1.5, "weak": 0.5}


NOTHING_FITS_BELOW = 0.25
"""A reply whose picks all have no link in their whys and fit the request under this (`Recommendation.fit`) says that
nothing left fits. The demo's "a heist movie" once its heist films were gone: WALL-E and the rest at 0.14-0.22; the
test catalog's Desert Run ("a relentless chase") for "something tense and exciting", a fair pick with no link: 0.27."""


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
    compared: str | None = None
    """'shortest' for "which one is the shortest?": `subject` is the pick on screen that is, None when the catalog
    says it of none of them; `compared_value` what the catalog says ("113 min", "$$", "1999")."""
    compared_value: str | None = None
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
    """One write's changes to a user, kept in memory until `Engine._commit` stores them in one transaction."""

    profile: Profile
    events: list[Event] = field(default_factory=list)
    whys: dict[str, str] = field(default_factory=dict)
    """item id → why it was recommended, for "why #1" (also after a restart)."""

    def log(self, kind: str, **fields: object) -> Event:
        event = Event(self.profile.user_id, kind, **fields)  # type: ignore[arg-type]
        self.events.append(event)
        return event


class Engine:
    """A user's turns and item-level signals against one catalog, stored in the profile store.

    Setup: `runtime.build` makes one, and migrates the log once at start-up (`event_log.migrate_old_turns`).
    Construct: `Engine(catalog, encoder, profiles)`; `collaborative` seeds the collaborative component,
    learn=False freezes it (evaluation on held-out users); `crowd` is what imported conversations (and the
    demo's prior) add to it, weighed below the deployment's own users (profiles/crowd.py).
    Use: `turn`, `feedback`, `mark_seen`, `undo_feedback`, `reset`, `forget`, `rebuild`."""

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
        crowd: Crowd | None = None,
    ) -> None:
        self.catalog = catalog
        self.encoder = encoder
        self.profiles = profiles
        self.recommender = recommender or Recommender(catalog)
        self.update = update
        self.k = items_per_reply
        self.learn = learn
        index = self.recommender.index
        small = index.exact(len(catalog))

        def said_in_catalog(word: str) -> bool:
            """Whether any item's text says `word`; on a catalog too large to score whole, every word counts as said
            (a name is never called unknown there), as a scan of 1M texts costs a turn about a second a word."""
            return not small or bool(index.saying(word).any())

        # a catalog without tags is the one whose texts lean (`Scorer.described`) and say what items are for
        untagged = not self.recommender.neighbours.has_tags()
        self.reader = TurnReader(catalog, encoder, self.recommender.people, said_in_catalog, untagged)
        """Understands messages against this catalog, and encodes what a turn teaches."""
        self._vector = _vectors_of(catalog)
        self.learning = CollaborativeLog(profiles, catalog, collaborative, learn)
        self.collaborative = self.learning.start()
        self.crowd = crowd or Crowd()
        """Imported conversations: read beside `collaborative`, never learned into it (a forget never touches it)."""

    def close(self) -> None:
        """Stop following the shared log (nothing to do on SQLite); the engine still answers."""
        self.learning.close()

    # -- items -----------------------------------------------------------------------------
    def item(self, item_id: str) -> CatalogItem | None:
        row = self.catalog.row_of.get(item_id)
        return None if row is None else self.catalog.items[row]

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
            understood = self.reader.understand(text)
        if understood.intent == "reset" and recommend:  # "start over": what /reset does
            self.reset(user_id)
            return TurnResult(user_id, understood.text, "reset", timings_ms=timings)
        with self.profiles.locked(user_id):
            pending = _Pending(self.profiles.load(user_id))
            result = self._respond(pending, understood, recommend, timings)
            self._commit(pending)
        result.liked = [item for i in pending.profile.liked if (item := self.item(i)) is not None]
        result.timings_ms = timings
        if result.kind in RANKED_KINDS:
            timings["total"] = (time.perf_counter() - started) * 1000
        return result

    def _respond(
        self, pending: _Pending, understood: Understanding, recommend: bool, timings: dict[str, float]
    ) -> TurnResult:
        """Pick the answer for the intent; changes `pending` (the caller commits it). Every turn is logged
        and counted, whatever it turns out to be."""
        if understood.intent != "recommend":
            self._learn(pending, "turn", text=understood.text, signal=self.reader.signal(understood))
            return self._about(pending.profile, understood)
        on_screen = len(pending.profile.last_shown)  # "#7" with five shown points at nothing: the reply says so
        missing = [f.rank for f in understood.rank_feedback if self.item_at(pending.profile, f.rank) is None]
        _anchor_years(understood, pending.profile, self.item, self.reader.newest_year)
        _keep_kind_on_screen(understood, pending.profile, self.item)
        with timed(timings, "encode"):
            signal = self.reader.signal(understood)
        with timed(timings, "profile_update"):
            # text first, then items: the same order as the event log, so a replay is exact
            notes = self._learn(pending, "turn", text=understood.text, signal=signal)
            notes = self._learn_items(pending, understood) + notes
        if not recommend:
            return TurnResult(pending.profile.user_id, understood.text, "noted", notes=notes)
        result = self._recommend(pending, understood, notes, timings)
        result.caveats = phrasing.caveats(understood, self.catalog.noun or "item")
        result.caveats += phrasing.not_on_screen(missing, on_screen)
        return result

    def _about(self, profile: Profile, understood: Understanding) -> TurnResult:
        """A turn that ranks nothing: smalltalk, or what an item is ('tell me about #1') and why it was picked."""
        if understood.intent == "smalltalk":
            return TurnResult(profile.user_id, understood.text, "smalltalk")
        if understood.superlative is not None:
            winner, value = self._superlative(profile, understood.superlative)
            return TurnResult(
                profile.user_id,
                understood.text,
                "about",
                subject=winner,
                compared=understood.superlative,
                compared_value=value,
            )
        item_id = understood.about_item
        if understood.about_rank is not None:
            item_id = self.item_at(profile, understood.about_rank)
        item = self.item(item_id) if item_id else None
        why = self.profiles.why(profile.user_id, item_id) if item_id else None
        return TurnResult(profile.user_id, understood.text, understood.intent, subject=item, subject_why=why)

    def _superlative(self, profile: Profile, said: str) -> tuple[CatalogItem | None, str | None]:
        """The pick on screen that is `said` ("shortest": the least of the catalog's duration column), among those
        the catalog gives a value, and the value as the catalog writes it; None when it gives none of them one (or
        has no such column)."""
        field, end = SUPERLATIVES[said]
        column = None if field == "year" else self.reader.schema.column_for(Role(field))
        shown = [item for i in profile.last_shown if (item := self.item(i)) is not None]
        if column is not None:
            numbers = self.recommender.index.numbers(column)
            valued = [(float(numbers[self.catalog.row_of[item.id]]), item) for item in shown]
        else:
            valued = [(float(item.year), item) for item in shown if field == "year" and item.year]
        known = [(value, item) for value, item in valued if not np.isnan(value)]
        if not known:
            return None, None
        winner = (min if end == "min" else max)(known, key=lambda pair: pair[0])[1]
        if column is None:  # the year: the label says it ("Memento (2000)")
            return winner, None
        return winner, next(iter(number_facts(winner.meta, self.reader.schema, [column])), None)

    def _learn(self, pending: _Pending, kind: str, **fields: object) -> list[str]:
        """Log one event of this write, then apply it to the profile (`profile_update`), as a replay of the log
        does; returns the notes worth acknowledging."""
        event = pending.log(kind, **fields)
        pending.profile, notes = after_event(pending.profile, event, self._vector, self.reader.read, self.update)
        return notes

    def _learn_items(self, pending: _Pending, understood: Understanding) -> list[str]:
        """Titles the user named and feedback in words ('the second one looks great')."""
        notes = []
        for mention in understood.titles:
            item = self.item(mention.item_id)
            assert item is not None
            if mention.polarity == "seen":
                notes += self._learn_seen(pending, item.id)
            else:
                value = 1.0 if mention.polarity == "like" else -1.0
                self._learn(pending, "mention", item_id=item.id, value=value)
                notes.append(f"you {'liked' if value > 0 else 'disliked'} {item.title}")
        for feedback in understood.rank_feedback:
            item_id = self.item_at(pending.profile, feedback.rank)
            if item_id is None:
                continue
            if feedback.value == "seen":  # 'I've seen that one already'
                notes += self._learn_seen(pending, item_id)
                continue
            value = 1.0 if feedback.value == "like" else -1.0
            weight = FEEDBACK_WEIGHT["strong"] if feedback.strong else 1.0
            self._learn(pending, "feedback", item_id=item_id, value=value * weight)
            if (item := self.item(item_id)) is not None:
                said = "more like" if feedback.strong and value > 0 else "you liked" if value > 0 else "you disliked"
                notes.append(f"{said} {item.title}")
        if understood.reject_all_shown:
            for item_id in pending.profile.last_shown:
                self._learn(pending, "feedback", item_id=item_id, value=-FEEDBACK_WEIGHT["weak"])
        return phrasing.joined_notes(notes)

    def _learn_seen(self, pending: _Pending, item_id: str) -> list[str]:
        """A title the user has seen, named or pointed at: out of the next replies, and no taste either way."""
        self._learn(pending, "seen", item_id=item_id, value=0.0)
        item = self.item(item_id)
        return [f"you've seen {item.title}"] if item is not None else []

    def _commit(self, pending: _Pending) -> None:
        """Store the events, whys and profile in one transaction; only then does the
        collaborative component learn from them (a failed write teaches nothing)."""
        stored = self.profiles.write(pending.events, pending.profile, pending.whys)
        self.learning.observe(self.collaborative, pending.profile.user_id, stored)

    def _recommend(
        self, pending: _Pending, understood: Understanding, notes: list[str], timings: dict[str, float]
    ) -> TurnResult:
        """Rank for the updated profile and remember what was shown (for "#2" and "why?")."""
        profile = pending.profile
        learned = self.recommender.ranker is not None
        request = self._request(profile, understood.positive, understood.allow_repeats, features=learned)
        request = replace(
            request,
            # as many as asked for ("just one", "give me ten"), up to MAX_ITEMS
            k=request.k if understood.count is None else min(understood.count, MAX_ITEMS),
            years_in_passing=understood.year_min is None and understood.year_max is None,
            lead_genres=[]
            if request.anchors
            else [g for g in understood.include_genres if g in request.preferred_genres],
        )
        if understood.other_kind:
            request = self._other_kind(request, pending.profile.last_shown)
        ranking = self.recommender.rank(request)
        items = ranking.items
        timings.update(ranking.timings_ms)
        kind: TurnKind = "recommend" if items else "empty"
        question = None
        if items and profile.is_cold:
            kind = "cold_start"
            question = phrasing.splitting_question(items, self.catalog.noun or "item")
        elif items and understood.reject_all_shown:
            question = phrasing.after_rejection(self.catalog.noun or "title")
        if items:  # an empty reply keeps the last list, so "#1" still means what the user saw
            self._learn(pending, "shown", text=json.dumps([r.item.id for r in items]))
        pending.whys.update((r.item.id, r.why) for r in items)
        loosened = self._loosened(request, items) or (
            None if items else phrasing.dead_end(self.recommender.blocking_genres(request))
        )
        anchors = [item for i in request.anchors if (item := self.item(i)) is not None]
        if items and request.include_genres:
            held = phrasing.kept_to_genres(anchors, request.include_genres, self.catalog.noun or "title")
            loosened = " ".join(filter(None, [loosened, held])) or None
        asked, shown = profile.constraints.preferred_people, {r.item.id for r in items}
        theirs = len(shown & request.people_items)
        others = profile.constraints.others_than_people
        if items and asked and not others and theirs < len(items) and not self._people_items_left(request, shown):
            near = all(r.linked for r in items if r.item.id not in request.people_items)
            loosened = " ".join(filter(None, [loosened, phrasing.asked_people_left(asked, theirs, near)]))
        elif (
            items
            and request.aspects
            and not self._any_fits_aspects(items, request)
            # "I have no fantasy books left for you; these are the closest other books." says it already
            and not (loosened and all(Loosening.SOFT_GENRES in r.loosened for r in items))
        ):
            # "a heist movie", every heist seen; or a refinement ("not #1, too slow") of an ask nothing left fits
            loosened = " ".join(filter(None, [loosened, phrasing.nothing_fits(bool(request.exclude))]))
        return TurnResult(
            profile.user_id,
            understood.text,
            kind,
            items=items,
            question=question,
            notes=notes,
            loosened=loosened,
            anchors=anchors,
            excluded=[*request.exclude_genres, *request.exclude_words],
        )

    def _other_kind(self, request: RankRequest, shown: list[str]) -> RankRequest:
        """The request leaning away from the genres most of the picks on screen share ("not those kind of movies"
        after five science fiction films)."""
        counts = Counter(g for i in shown if (item := self.item(i)) is not None for g in item.genres)
        shared = [g for g, n in counts.items() if n * 2 > len(shown)]
        return replace(
            request,
            avoid_genres=[*request.avoid_genres, *(g for g in shared if g not in request.avoid_genres)],
            preferred_genres=[g for g in request.preferred_genres if g not in shared],
            lead_genres=[g for g in request.lead_genres if g not in shared],
        )

    def _people_items_left(self, request: RankRequest, shown: set[str]) -> bool:
        """Whether an item with a person asked for is left that the request's filters allow: "something with Tom
        Hanks but not a drama" ran out of his after the three Toy Story films, and said nothing, as his dramas were
        not yet shown."""
        row_of = self.catalog.row_of
        rows = np.array(sorted(row_of[i] for i in request.people_items - shown if i in row_of), dtype=np.int64)
        return bool(len(rows)) and bool(self.recommender.index.allowed(rows, request).any())

    def _any_fits_aspects(self, items: list[Recommendation], request: RankRequest) -> bool:
        """Whether a pick is linked to an anchor or has something of the phrases asked for. A theme the catalog
        tags ("heist") is had by a tag or the pick's own text, not by a vector near the word: once every heist was
        shown, "something newer" gave Ex Machina and Deadpool (the encoder puts "heist" at 0.28 from Ex Machina) as
        if they were heists. Other phrases ("something cozy") by the pick's nearness to them."""
        phrases = [phrase for phrase, _ in request.aspects]
        neighbours = self.recommender.neighbours
        tagged = all(neighbours.has_tag_for(p) and not GENRE_SYNONYMS.keys() & set(p.split()) for p in phrases)
        says = self.recommender.index.says

        def fits(pick: Recommendation) -> bool:
            if not tagged:
                return pick.fit >= NOTHING_FITS_BELOW
            row = np.array([self.catalog.row_of[pick.item.id]])
            return bool(neighbours.asked_tags(pick.item, phrases)) or any(
                all(says([word], row)[0] for word in phrase.split()) for phrase in phrases
            )

        return any(pick.linked or fits(pick) for pick in items)

    def _loosened(self, request: RankRequest, items: list[Recommendation]) -> str | None:
        """The sentence for a reply filled past its filters (`phrasing.loosened`)."""
        return phrasing.loosened(request, items, self.catalog.noun or "title")

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
        blended = self.crowd.blend(self.collaborative, profile.liked_or_seen(20))
        liked = set(profile.liked)
        seen = [i for i in profile.seen if i not in liked][-20:]
        c = profile.constraints
        people_items = self.recommender.people_items(c.preferred_people)
        people_anchors = self.recommender.people_anchors(people_items)
        avoided_genres, avoided_words = mood_avoids(texts, profile.disliked_aspects[-3:])
        if c.others_than_people:  # "other directors like Christopher Nolan": their neighbours, never their own
            exclude |= people_items
            people_items = frozenset()
        return RankRequest(
            interest=profile.interest,
            aversion=profile.aversion,
            k=self.k,
            exclude=exclude,
            year_min=c.year_min,
            year_max=c.year_max,
            include_genres=c.required_genres,
            held_genres=[g for g in c.required_genres if g in KIDS_GENRES or g in DIETS],  # a vegetarian's carbonara
            preferred_genres=self._preferred_genres(profile),
            mood_words=mood_words(texts, profile.disliked_aspects[-3:]),
            mood_alone=mood_alone(texts),
            avoid_genres=[g for g in avoided_genres if g not in {*c.required_genres, *c.preferred_genres}],
            avoid_words=avoided_words,
            exclude_genres=c.exclude_genres,
            bounds=bounds_of(c.attributes, self.reader.schema, self.recommender.index.cut),
            exclude_words=phrasing.exclusion_words(
                c.exclude_genres, profile.disliked_aspects, {*c.required_genres, *c.preferred_genres}
            ),
            liked=profile.liked,
            anchors=profile.anchors,
            blend_anchors=profile.anchors_blended and len(profile.anchors) > 1,
            aspects=[(t, self.encoder.encode_query(t)) for t in texts],
            collaborative=blended.scores,
            collaborative_because=blended.because,
            seen=seen,
            collaborative_seen=self.crowd.blend(self.collaborative, seen).scores if seen and features else {},
            popularity_counts=learned_popularity(blended, self.recommender.scorer.has_meta_popularity),
            popularity_version=blended.counts_version,
            liked_people=profile.liked_people,
            people_items=people_items,
            standing=c.standing,
            people_anchors=people_anchors,
            disliked_people=profile.disliked_people,
        )

    def _preferred_genres(self, profile: Profile) -> list[str]:
        """The soft genres, unless the latest anchor is a pick of ours with none of them: "a red wine", then "#2 (a
        Riesling) sounds great, more like it" leaned to the reds still, and said "I have no red wines left" of the
        Riesling's kin. A title the user names keeps them ("I like comedies; I loved Inception" adds a taste: on
        ReDial, dropping them then cost R@50 .4096 → .4071)."""
        preferred = profile.constraints.preferred_genres
        latest = profile.anchors[-1] if profile.anchors and preferred else None
        anchor = self.item(latest) if latest in profile.shown else None
        if anchor is not None and not set(anchor.genres) & set(preferred):
            return []
        return preferred

    def ranking(
        self, user_id: str, k: int, exclude: set[str] | None = None, diversify: bool = False
    ) -> list[Recommendation]:
        """A plain top-k over the whole catalog for this profile (no diversification, nothing
        excluded but `exclude` and the hard constraints): for evaluation and exports."""
        return self.recommender.rank(self.ranking_request(user_id, k, exclude, diversify)).items

    def ranking_request(
        self, user: str | Profile, k: int, exclude: set[str] | None = None, diversify: bool = False
    ) -> RankRequest:
        """What `ranking` asks the recommender for a user id or a profile (a learned ranker trains on it)."""
        request = self._request(self.profiles.load(user) if isinstance(user, str) else user, [], features=True)
        return replace(request, k=k, exclude=set(exclude or ()), diversify=diversify, explain=False, loosen=False)

    # -- explicit feedback and profile management ------------------------------------------
    def feedback(self, user_id: str, item_id: str, value: Literal["like", "dislike"]) -> CatalogItem:
        """A 👍/👎 on an item; raises UnknownItem for an id not in the catalog."""
        return self._record_alone(user_id, "feedback", item_id, 1.0 if value == "like" else -1.0)

    def mark_seen(self, user_id: str, item_id: str) -> CatalogItem:
        """The user has seen the item: logged and applied exactly like "I've seen X" in a message,
        so it is never recommended back (and a rebuild agrees). Raises UnknownItem for an unknown id."""
        return self._record_alone(user_id, "seen", item_id, 0.0)

    def _record_alone(self, user_id: str, kind: str, item_id: str, value: float) -> CatalogItem:
        """One item-level event outside a turn, in a write of its own; UnknownItem (a message the front end can
        show as is) for an id not in the catalog."""
        item = self.item(item_id)
        if item is None:
            raise UnknownItem(f"no item {item_id!r} in catalog {self.catalog.name!r}")
        with self.profiles.locked(user_id):
            pending = _Pending(self.profiles.load(user_id))
            self._learn(pending, kind, item_id=item.id, value=value)
            self._commit(pending)
        return item

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
            self.learning.relearn(self.collaborative, user_id, before, after)
        return profile

    def why(self, user_id: str, item_id: str) -> str | None:
        """Why the item was recommended to this user, if it was (kept in the store: survives restarts)."""
        return self.profiles.why(user_id, item_id)

    def reset(self, user_id: str) -> None:
        with self.profiles.locked(user_id):
            self.profiles.write([Event(user_id, "reset")], clear=user_id)
            self.learning.reset(self.collaborative, user_id)

    def forget(self, user_id: str) -> int:
        """Delete everything about the user (one transaction) and unlearn their share of the
        collaborative component; O(their events). Returns how many events went."""
        with self.profiles.locked(user_id):
            gone = self.profiles.remove_user(user_id)
            self.learning.relearn(self.collaborative, user_id, gone, [])
        return len(gone)

    def rebuild(self, user_id: str) -> Profile:
        """Replay the event log into a fresh profile (same rule as online, same result)."""
        return self._replay(user_id, list(self.profiles.events(user_id)))

    def _replay(self, user_id: str, events: list[Event]) -> Profile:
        """The profile these events make. Turns replay their logged signal: no encoder pass."""
        return replay(user_id, events, self._vector, self.reader.read, self.update)

    def replay_event(self, profile: Profile, event: Event) -> Profile:
        """The profile after one more event of the log as it counts (`without_undone`); a reset starts anew."""
        return after_event(profile, event, self._vector, self.reader.read, self.update).profile


def _vectors_of(catalog: StoredCatalog) -> VectorOf:
    """The catalog's embedding of an item id (None for an id it does not hold)."""

    def vector(item_id: str) -> np.ndarray | None:
        row = catalog.row_of.get(item_id)
        return None if row is None else catalog.embeddings[row]

    return vector


def _anchor_years(
    understood: Understanding, profile: Profile, item: Callable[[str], CatalogItem | None], newest_year: int
) -> None:
    """'more like X but older' / '#2 but newer' / 'something older': a year range strictly before or after the
    anchor's year. The anchor is the title liked in this message, else the rank it likes, else the current anchor;
    with none, the middle year of the picks on screen; with nothing shown either, "newer" means recent."""
    if understood.relative_years is None:
        return
    named = [m.item_id for m in understood.titles if m.polarity == "like"]
    shown = profile.last_shown
    ranked = [shown[f.rank - 1 if f.rank > 0 else -1] for f in understood.rank_feedback
              if f.value == "like" and shown and f.rank <= len(shown)]  # fmt: skip
    ids = named or ranked or profile.anchors[-1:]
    if ids:
        anchor = item(ids[0])
        year = anchor.year if anchor else None
    else:  # the middle year of the picks on screen
        on_screen = sorted(found.year for found in map(item, shown) if found is not None and found.year)
        year = on_screen[len(on_screen) // 2] if on_screen else None
    if not year:
        if understood.relative_years == "newer" and not ids:
            understood.year_min = understood.year_min or newest_year - RECENT_SPAN
        return
    if understood.relative_years == "older":  # within any range the message also says ("older, from the 80s")
        understood.year_max = min(understood.year_max or year, year - 1)
    else:
        understood.year_min = max(understood.year_min or year, year + 1)


def _keep_kind_on_screen(
    understood: Understanding, profile: Profile, item: Callable[[str], CatalogItem | None]
) -> None:
    """'Cheaper', 'shorter', '#1 is too expensive' after picks of one kind the user never named ("wireless earbuds
    for running": five headphones) lean to that kind: the cheap third of a gadget catalog has no headphones left,
    and the reply offered a charger, a speaker and a mouse. Only a bound that refines (no genre, no new topic, no
    title liked) and only when four in five picks on screen are that kind (their first genre)."""
    c = profile.constraints
    if (
        not understood.attributes
        or understood.new_topic
        or understood.include_genres
        or c.preferred_genres
        or c.required_genres
        or any(m.polarity == "like" for m in understood.titles)
    ):
        return
    kinds = [found.genres[0] for found in map(item, profile.last_shown) if found is not None and found.genres]
    if kinds:
        kind, count = Counter(kinds).most_common(1)[0]
        if count >= 0.8 * len(kinds) and kind not in c.exclude_genres:
            understood.include_genres = [kind]


def _has_live_feedback(events: list[Event], item_id: str) -> bool:
    """A 👍/👎 on the item since the last reset that no undo has taken back yet."""
    live = without_undone(events)
    since = max((i for i, e in enumerate(live) if e.kind == "reset"), default=-1) + 1
    return any(e.kind == "feedback" and e.item_id == item_id for e in live[since:])
