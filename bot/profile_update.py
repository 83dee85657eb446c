"""The profile update rule: what one turn or one item-level signal does to a profile.

Pure functions: each takes a profile and a signal and returns the profile after it (a new one; the
argument is left as it was), with the notes worth acknowledging ("no horror from now on"). The same
functions run live, in a turn, and in a replay of the event log (`replay`), so a rebuilt profile is
the live one. Item vectors come from `vector_of` (the catalog's embedding of an id, None when the
item is gone), turn vectors from the logged `TurnSignal`: a replay makes no encoder call.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterable
from typing import NamedTuple

import numpy as np

from recochat.profiles.model import Constraints, Profile, TurnSignal, UpdateWeights, update_vector
from recochat.profiles.store import Event, without_undone

from .lexicon import SAME_IN_TEXT
from .phrasing import excluded_in_words, ruled_out_in_words, ruled_out_word

DEFAULT_UPDATE = UpdateWeights()
ITEM_KINDS = ("mention", "feedback", "seen")
"""The item-level events: 'mention' (a title named in a message), 'feedback' (👍/👎, "#2 looks great"), 'seen'."""

VectorOf = Callable[[str], "np.ndarray | None"]
ReadTurn = Callable[[str], TurnSignal]


class Updated(NamedTuple):
    profile: Profile
    notes: list[str]


def after_turn(profile: Profile, text: str, signal: TurnSignal, weights: UpdateWeights = DEFAULT_UPDATE) -> Updated:
    """What the user said: every turn counts; one that teaches moves interest and aversion by its phrase
    vectors, and its words become aspects, people and constraints."""
    profile = _copy(profile)
    profile.note_turn(text)
    if not signal.teaches:
        return Updated(profile, [])
    if signal.positive_vector is not None:
        decay = weights.topic_decay if signal.new_topic else weights.decay
        profile.interest = update_vector(profile.interest, decay, [(weights.text, signal.positive_vector)])
    if signal.negative_vector is not None:
        profile.aversion = update_vector(
            profile.aversion, weights.negative_decay, [(weights.text, signal.negative_vector)]
        )
    ruled_out = [w for w in dict.fromkeys(signal.negative) if w in SAME_IN_TEXT and w not in profile.disliked_aspects]
    if signal.other_kind:  # what it asked so far is turned down: its words, and the direction they set
        profile.liked_aspects, profile.interest = [], None
    profile.add_aspects(signal.positive, signal.negative)
    profile.add_people(signal.liked_people, signal.disliked_people)
    if signal.new_topic:  # a title it names anchors again: items are applied after the text
        profile.drop_anchors()
        profile.anchors_blended = signal.blend
    notes = apply_constraints(profile.constraints, signal)
    # "too violent" rules out every pick whose text says it (`phrasing.exclusion_words`), and the reply said nothing
    said = {word for note in notes for word in note.split()}  # "nothing violent and no horror" says it already
    ruled_out = [w for w in ruled_out if w not in said]
    if ruled_out:
        notes.append(f"{' or '.join(map(ruled_out_word, ruled_out))} from now on")
    return Updated(profile, notes)


def after_item(
    profile: Profile,
    kind: str,
    item_id: str,
    value: float,
    vector: np.ndarray | None,
    weights: UpdateWeights = DEFAULT_UPDATE,
) -> Profile:
    """An item-level signal (`kind` one of `ITEM_KINDS`; `value` signed, its size the weight; `vector` the item's
    embedding): a liked item pulls the interest vector toward it, a disliked one the aversion vector; 'seen'
    only keeps it out of replies. (The collaborative component learns from the stored events, not here: a
    replay must not teach it twice.)"""
    profile = _copy(profile)
    if kind in ("seen", "mention"):
        profile.mark_seen(item_id)
    if kind == "seen" or value == 0 or vector is None:
        return profile
    weight = weights.item * abs(value)
    if value > 0:
        profile.like(item_id)
        profile.anchor(item_id)  # the next ranking is built around it: its neighbours lead
        profile.interest = update_vector(profile.interest, weights.decay, [(weight, vector)])
    else:
        profile.dislike(item_id)
        profile.aversion = update_vector(profile.aversion, weights.negative_decay, [(weight, vector)])
    return profile


def after_shown(profile: Profile, item_ids: list[str]) -> Profile:
    """The items a reply showed: "#2" and "why #1" refer to them, and they are not shown again."""
    profile = _copy(profile)
    profile.record_shown(item_ids)
    return profile


def after_event(
    profile: Profile, event: Event, vector_of: VectorOf, read: ReadTurn, weights: UpdateWeights = DEFAULT_UPDATE
) -> Updated:
    """The profile after one more event of the log as it counts (`without_undone`); a reset starts anew. A turn
    logged before schema 1 that was never migrated holds only its text: `read` understands it now."""
    if event.kind == "reset":
        return Updated(Profile(user_id=profile.user_id), [])
    if event.kind == "turn" and event.text is not None:
        return after_turn(profile, event.text, event.signal or read(event.text), weights)
    if event.kind == "shown" and event.text:
        return Updated(after_shown(profile, json.loads(event.text)), [])
    if event.kind in ITEM_KINDS and event.item_id:
        value = event.value or 0.0
        return Updated(after_item(profile, event.kind, event.item_id, value, vector_of(event.item_id), weights), [])
    return Updated(profile, [])


def replay(
    user_id: str, events: Iterable[Event], vector_of: VectorOf, read: ReadTurn, weights: UpdateWeights = DEFAULT_UPDATE
) -> Profile:
    """The profile these events make, from an empty one: the log as it counts, event by event."""
    profile = Profile(user_id=user_id)
    for event in without_undone(list(events)):
        profile = after_event(profile, event, vector_of, read, weights).profile
    return profile


def apply_constraints(c: Constraints, signal: TurnSignal) -> list[str]:
    """Years and genres from the turn, into `c` (in place); returns the notes (hard constraints are said once,
    here).

    A request of its own (a new topic) replaces the earlier years and soft genres rather than piling onto them, so
    "a heist movie" after "from the 80s" is not held to the 80s; one said as a swap ("a white instead") keeps the
    years, the asks about numbers and the people, and changes only what it names; "more like #2" replaces the soft
    genres (the anchor sets the direction). Insisted genres and exclusions carry until lifted."""
    notes = []
    stated = signal.year_min is not None or signal.year_max is not None
    if signal.clear_years or (signal.new_topic and not signal.instead and not stated):
        if c.year_min is not None or c.year_max is not None:
            notes.append(f"any year again, not just {c.years_text()}")  # a reader took the range as still held
        c.year_min = c.year_max = None
    if stated:
        c.year_min, c.year_max = signal.year_min, signal.year_max
        notes.append(f"years {c.years_text()}")
    notes += _apply_people(c, signal) + _apply_attributes(c, signal) + _apply_genres(c, signal)
    return notes + _apply_standing(c, signal)


def _apply_standing(c: Constraints, signal: TurnSignal) -> list[str]:
    """ "The best movies of all time" leans to the best known until a request of its own says nothing of it."""
    if signal.standing:
        c.standing = signal.standing
        return ["the best known first" if signal.standing == "popular" else "lesser-known ones first"]
    if signal.new_topic and not signal.anchored and not signal.instead:
        c.standing = None
    return []


def _apply_people(c: Constraints, signal: TurnSignal) -> list[str]:
    """The people a request names lead it ("something with Tom Hanks"), or only lend it their works' neighbours
    ("other directors like Christopher Nolan", "any other director like him?"); a request of its own that names
    nobody drops them, as it drops the soft genres; a person disliked later leaves them."""
    if signal.liked_people:
        c.preferred_people = list(signal.liked_people)
        c.others_than_people = signal.others_like_people
    elif signal.others_like_people:  # "any other director like him?": the person asked for before
        c.others_than_people = bool(c.preferred_people)
    elif signal.new_topic and not signal.anchored and not signal.instead:
        c.preferred_people = []
        c.others_than_people = False
    c.preferred_people = [p for p in c.preferred_people if p not in signal.disliked_people]
    c.others_than_people = c.others_than_people and bool(c.preferred_people)
    if signal.others_like_people and c.others_than_people:
        return [f"like {' or '.join(c.preferred_people)}'s work, by others"]
    return []


def _apply_attributes(c: Constraints, signal: TurnSignal) -> list[str]:
    """Asks about the catalog's numbers are held as the years are: a refinement ("cheaper", "under an hour")
    replaces the ask of its role and keeps the others; a request of its own keeps only the asks it makes, and says
    which it dropped."""
    said = {a.role for a in signal.attributes}
    dropped = [a for a in c.attributes if a.role not in said] if signal.new_topic and not signal.instead else []
    kept = [a for a in c.attributes if a.role not in said and a not in dropped]
    c.attributes = kept + list(signal.attributes)
    notes = [", ".join(a.said for a in signal.attributes)] if signal.attributes else []
    return notes + ([f"not held to {', '.join(a.said for a in dropped)} any more"] if dropped else [])


def _apply_genres(c: Constraints, signal: TurnSignal) -> list[str]:
    """A genre said in passing becomes the soft preference (beside the current ones, in a message that refines the
    request: "a bit funnier" after horror picks leans to horror-comedies, where it gave The Hangover); one insisted
    on, the hard filter (one said as a contrast, "like The Matrix but funnier", until the next request of its own);
    an excluded genre is added for good, and naming it again lifts the exclusion."""
    notes = []
    asked_before = {*c.preferred_genres, *c.required_genres}
    if signal.clear_genres:
        c.required_genres, c.preferred_genres = [], []
    released = [g for g in signal.released_genres if g in c.required_genres]
    if released:
        c.required_genres = [g for g in c.required_genres if g not in released]
        notes.append(f"not only {' or '.join(released)} any more")
    if signal.include_genres or (signal.new_topic and not signal.anchored):
        # a liked pick ("the first one sounds good") refines the request: "animated, for the kids" stays animated
        said = [g for g in signal.include_genres if g not in signal.insisted_genres]
        kept = [] if signal.new_topic else [g for g in c.preferred_genres if g not in said]
        c.preferred_genres = kept + said
    if signal.new_topic and not signal.anchored and c.request_genres:
        c.required_genres = [g for g in c.required_genres if g not in c.request_genres]
        c.request_genres = []
    if signal.insisted_genres:
        c.required_genres = list(signal.insisted_genres)
        c.request_genres = [g for g in signal.insisted_genres if g in signal.contrast_genres]
        how = "for this request" if c.request_genres == c.required_genres else "from now on"
        notes.append(f"only {' or '.join(c.required_genres)} {how}")
    c.exclude_genres = [g for g in c.exclude_genres if g not in signal.include_genres]
    notes += _apply_exclusions(c, signal, asked_before)
    c.required_genres = [g for g in c.required_genres if g not in c.exclude_genres]
    c.request_genres = [g for g in c.request_genres if g in c.required_genres]
    c.preferred_genres = [g for g in c.preferred_genres if g not in c.exclude_genres]
    return notes


def _apply_exclusions(c: Constraints, signal: TurnSignal, asked_before: set[str]) -> list[str]:
    """The genres the signal rules out, added for good, and the notes that say so. A genre ruled out by a word of
    its own ("less gory" is no horror) is not, while it is what the user was asking for: "something less gory, more
    psychological" after horror picks ruled horror out and gave Vertigo and Moana (the word itself still rules out
    items that say it)."""
    notes, plain = [], []
    for genre in signal.exclude_genres:
        said = ruled_out_in_words(genre, signal.negative)
        if (said and genre in asked_before) or genre in c.exclude_genres:
            continue
        c.exclude_genres.append(genre)
        if said:
            notes.append(f"{said} and no {genre} from now on")
        else:
            plain.append(excluded_in_words(genre, signal.negative))
    if plain:
        listed = plain[0] if len(plain) == 1 else f"{', '.join(plain[:-1])} or {plain[-1]}"
        notes.append(f"no {listed} from now on")
    return notes


def _copy(profile: Profile) -> Profile:
    """A profile the update may change, leaving `profile` as it was: the profile's own methods replace its lists
    rather than change them, so the lists are shared until then; the constraints are changed in place, so they
    are copied, lists and all."""
    fresh = copy.copy(profile)
    fresh.constraints = copy.deepcopy(profile.constraints)
    return fresh
