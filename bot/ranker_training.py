"""Retrain the learned ranker from the product's own event log, so a deployed bot improves from its users.

Each title a user said they liked and each 👍 is one ranking with a known answer: the user's profile just before
it (replayed from their events, as `profile show` rebuilds it), the formula's best candidates for that profile,
and the item they liked marked. While a user's rankings are built, their own events are taken out of the
collaborative counts (and the collaborative weights refitted without them: a fit per user, ~2 s each over 3k
liked items), so an item never looks liked together with the user's favourites because of the very like being
predicted. The same features and fit as the ReDial training (`retrieval/ranker.py`).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

from recochat.profiles.collaborative import COLLABORATIVE_KINDS, CoOccurrence, is_positive, signals_of
from recochat.profiles.model import Profile
from recochat.profiles.store import without_undone
from recochat.retrieval.ranker import FIRST_STAGE, Group, RankerModel, fit_pairwise

from .engine import Engine
from .errors import SetupError

MIN_GROUPS = 20
"""Fewer likes with a profile before them than this, and the weights would be noise: training refuses."""


@dataclass
class EventTraining:
    model: RankerModel
    groups: int
    """Likes whose item was among the formula's candidates (the others teach nothing and are skipped)."""
    likes: int
    users: int


def event_groups(engine: Engine, first_stage: int = FIRST_STAGE) -> tuple[list[Group], int, int]:
    """(groups, likes seen, users with any) from every user's log in `engine.profiles`."""
    catalog = engine.catalog
    counts = CoOccurrence()
    counts.learn_log(engine.profiles.events(kinds=COLLABORATIVE_KINDS), catalog.row_of)
    engine.collaborative = counts
    engine.crowd.refit_seconds = 0  # weights refitted without each user's own likes, never a stale fit with them
    groups: list[Group] = []
    likes = users = 0
    for user_id in engine.profiles.users():
        events = without_undone(list(engine.profiles.events(user_id)))
        positives = [e for e in events if is_positive(e) and e.item_id in catalog.row_of]
        if not positives:
            continue
        users += 1
        likes += len(positives)
        own = signals_of([e for e in events if e.kind in COLLABORATIVE_KINDS], catalog.row_of)
        counts.replace_user(user_id, own, [])
        profile = Profile(user_id=user_id)
        for event in events:
            if is_positive(event) and event.item_id in catalog.row_of and profile.interest is not None:
                request = engine.ranking_request(copy.deepcopy(profile), 50)
                request.exclude.discard(event.item_id or "")
                ids, features = engine.recommender.candidate_features(request, first_stage)
                relevant = [i == event.item_id for i in ids]
                if any(relevant):
                    groups.append(Group(features, np.array(relevant, dtype=bool), ids))
            profile = engine.replay_event(profile, event)
        counts.replace_user(user_id, [], own)
    return groups, likes, users


def train_from_events(engine: Engine, l2: float = 1.0, first_stage: int = FIRST_STAGE) -> EventTraining:
    """A ranker fitted on the event log; SetupError (naming the count) when the log holds too few likes."""
    groups, likes, users = event_groups(engine, first_stage)
    if len(groups) < MIN_GROUPS:
        raise SetupError(
            f"the event log has {len(groups)} likes the ranker can learn from ({likes} likes by {users} users; "
            f"a like counts when the user had a profile before it and the item was among the "
            f"{first_stage} candidates); at least {MIN_GROUPS} are needed"
        )
    model = fit_pairwise(groups, l2=l2, first_stage=first_stage, meta={"data": f"event log: {users} users"})
    return EventTraining(model, len(groups), likes, users)
