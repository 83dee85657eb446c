"""The engine's English: the sentences a reply says about itself (what was loosened, what is left, what the
catalog cannot do, the question for a cold start) and the words an item's own text must not say.

Pure functions of what the engine decided; the engine calls them, the writer prints what they return.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Collection

from recochat.profiles.model import Constraints
from recochat.retrieval.catalog import CatalogItem
from recochat.retrieval.explain import listing
from recochat.retrieval.ingest import plural
from recochat.retrieval.recommender import Loosening, RankRequest, Recommendation

from .asks import MAX_ITEMS
from .lexicon import GENRE_SYNONYMS, SAME_IN_TEXT
from .understanding import Understanding

_MISSING: dict[str | tuple[str, str], str] = {
    "length": "runtime",
    "awards": "awards",
    ("length", "book"): "page counts",
    ("length", "recipe"): "cooking times",
    "price": "prices",
    "language": "languages",
    "rating": "ratings",
    "age rating": "age ratings",
    "streaming service": "streaming services",
}
"""What the catalog lacks, said when an ask needs it ("I can't filter on length: this catalog has no runtime.")."""


def loosened(request: RankRequest, items: list[Recommendation], noun: str) -> str | None:
    """What a reply filled past its filters gave up: the genres and years (`_loosened_kinds`), then the bounds on
    the catalog's numbers, each said in a sentence of its own."""
    kind_first = _kind_past_words(request, items, noun)
    if kind_first:
        return kind_first
    unbounded = [r for r in items if Loosening.BOUNDS not in r.loosened]
    sentences = [_loosened_kinds(request, unbounded, noun), _loosened_bounds(request, items, noun)]
    return " ".join(s for s in sentences if s) or _held_short(request, items, noun)


def _kind_past_words(request: RankRequest, items: list[Recommendation], noun: str) -> str | None:
    """'No italian restaurant I have left fits cheap: the closest italian ones come first, then cheap restaurants
    of other kinds.': a reply whose soft genre ran out within the asks said as words, filled with that genre's
    items past them first (`Recommender._soft_past_words`), then with other kinds within them."""
    past = [r for r in items if Loosening.BOUNDS in r.loosened and Loosening.SOFT_GENRES not in r.loosened]
    others = [r for r in items if Loosening.SOFT_GENRES in r.loosened]
    kind = " or ".join(request.preferred_genres)
    compared = " and ".join(b.said for b in request.bounds if b.compared)
    if compared and others and not past and len(others) == len(items):  # "something cheaper": none of the kind is
        return f"No {kind} {noun} I have left is {compared}; these are {compared} {plural(noun)} of other kinds."
    if not past or not request.preferred_genres or any(r.loosened not in (past[0].loosened, ()) for r in past):
        return None
    said = " and ".join(dict.fromkeys(m for r in past for m in r.missed))
    fit = len(items) - len(past) - len(others)
    head = (
        f"Only {fit} {kind} {noun if fit == 1 else plural(noun)} I have left {'fits' if fit == 1 else 'fit'} {said}"
        if fit
        else f"No {kind} {noun} I have left fits {said}"
    )
    if not others:
        rest = ""
    elif any(Loosening.BOUNDS in r.loosened for r in others):  # they miss it too: never "then for 8 people games"
        rest = f"then the closest {plural(noun)} of other kinds"
    elif re.match(r"(?:for|under|over|in|within|at|with|less|more|between|\d|\$)\b", said):  # "for 8 people"
        rest = f"then {plural(noun)} of other kinds {said}"
    else:  # "cheap", "highly rated"
        rest = f"then {said} {plural(noun)} of other kinds"
    return f"{head}: the closest {kind} ones that don't come {'next' if fit else 'first'}{', ' + rest if rest else ''}."


def _held_short(request: RankRequest, items: list[Recommendation], noun: str) -> str | None:
    """A reply short because its audience is never loosened (`RankRequest.held_genres`), said as such, and how to
    lift it; an empty one says the same instead of "I've shown you everything" (the rest of the catalog is there)."""
    if len(items) >= request.k or not request.held_genres:
        return None
    kind = " or ".join(request.held_genres)
    lift = f"say 'any genre' to see other {plural(noun)}"
    if not items:
        return f"I have no {kind} {plural(noun)} left that you haven't seen or turned down: {lift}."
    return f"That's every {kind} {noun} I have left for you; {lift}."


def _loosened_bounds(request: RankRequest, items: list[Recommendation], noun: str) -> str | None:
    """'Only 3 games I have left fit heavy and solo; the rest are the closest that miss heavy.': the asks the
    fillers break are named when they keep some ("that don't" when they break them all)."""
    broke = [r for r in items if Loosening.BOUNDS in r.loosened]
    if not broke:
        return None
    asked = list(dict.fromkeys(b.said for b in request.bounds))
    missed = list(dict.fromkeys(said for r in broke for said in r.missed))
    said = " and ".join(asked)
    fit = len(items) - len(broke)
    how = f"that miss {' or '.join(missed)}" if missed and len(missed) < len(asked) else "that don't"
    if not fit:
        return f"Nothing I have left fits {said}; these are the closest {plural(noun)} {how}."
    count = f"{fit} {noun if fit == 1 else plural(noun)}"
    return f"Only {count} I have left {'fits' if fit == 1 else 'fit'} {said}; the rest are the closest {how}."


def _loosened_kinds(request: RankRequest, items: list[Recommendation], noun: str) -> str | None:
    """One sentence for a reply filled past its genres or years: what ran out, and what the rest are instead
    ("That's every crime movie I have left for you; the rest are the closest mystery and thriller movies.")."""
    stages = list(dict.fromkeys(r.loosened for r in items if r.loosened))
    if not stages:
        return None
    soft = any(Loosening.SOFT_GENRES in stage for stage in stages)  # a soft genre is no filter unless given up
    asked = [*request.include_genres, *(request.preferred_genres if soft else [])]
    years = request.year_min is not None or request.year_max is not None
    span = Constraints(year_min=request.year_min, year_max=request.year_max).years_text() if years else ""
    if any(r.for_fit for r in items):
        return f"Little else from {span} is close to what you like, so {_which_are_other_years(items)}."
    rest = ", then ".join(
        closest(stage, [r for r in items if r.loosened == stage], asked, request.include_genres, noun, soft)
        for stage in stages
    )
    hard = request.include_genres
    leaning = [g for g in asked if g not in hard]
    # hard genres are the kind, a soft one only narrows it: "every family movie with animation", never
    # "every family or animation movie" (an animated film without family was never a candidate)
    kind = " or ".join(hard) if hard else " or ".join(leaning)
    narrowed = f" with {' or '.join(leaning)}" if hard and leaning else ""
    when = f" from {span}" if years else ""
    if all(r.loosened for r in items):  # none of it fits any more
        none = f"no {kind} {plural(noun)}{narrowed}" if asked else "nothing"
        return f"I have {none}{when} left for you; these are the closest {rest}."
    every = f"every {kind} {noun}{narrowed}" if asked else "everything"
    return f"That's {every}{when} I have left for you; the rest are the closest {rest}."


def _which_are_other_years(items: list[Recommendation]) -> str:
    if len(items) == 1:
        return "this one is from another year"
    if all(r.for_fit for r in items):  # not "some of these" over five picks all from other years
        return "these are from other years"
    return "some of these are from other years"


def dead_end(blocking: list[str]) -> str:
    """Nothing is left even with genres and years loosened: say what to drop (an exclusion, given as the genres
    that `blocking` says every unshown item has, or the rule against showing an item twice); exclusions,
    dislikes and seen items are never loosened."""
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


def after_rejection(noun: str) -> str:
    """What a reply to "none of these" asks: the picks only stepped away from the last ones, and what the user
    can say steers them further (a title they loved anchors, a "too …" is a dislike of its own)."""
    return f"Not quite? Name a {noun} you loved, or say what's off about these (too slow, too dark, too old)."


def splitting_question(items: list[Recommendation], noun: str) -> str:
    """Ask about the genre that splits the seed set most evenly, against the next best: the commonest of the others'
    that most seeds lack ("comedy or english?" asked of podcasts nearly all in English)."""
    counts = Counter(g for r in items for g in r.item.genres)
    if len(counts) < 2:
        return f"What kind of {noun} are you in the mood for?"
    half = len(items) / 2
    first = min(counts, key=lambda g: (abs(counts[g] - half), g))
    rest = Counter(g for r in items if first not in r.item.genres for g in r.item.genres if counts[g] <= half)
    second = rest.most_common(1)[0][0] if rest else next(g for g in counts if g != first)
    return f"To narrow it down: are you more in the mood for {first} or {second}? Or name a title you loved."


def caveats(understood: Understanding, noun: str) -> list[str]:
    """What the reply cannot do as asked, in words a person can act on."""
    said = [
        f"I can't filter on {topic}: this catalog has no {_MISSING.get((topic, noun)) or _MISSING[topic]}."
        for topic in dict.fromkeys(understood.unsupported)
    ]
    if understood.count is not None and understood.count > MAX_ITEMS:
        said.append(f"I can show at most {MAX_ITEMS} at a time.")
    said += [
        f"I don't know {name}: nothing in this catalog goes by that name. Tell me what you liked about it."
        for name in dict.fromkeys(understood.unknown_titles)
    ]
    said += [
        f"I don't know {name}: no one in this catalog goes by that name, so these are other picks."
        for name in dict.fromkeys(understood.unknown_people)
    ]
    return said


def not_on_screen(ranks: list[int], shown: int) -> list[str]:
    """What a reply says of ranks that point at nothing ("#7" with five picks shown), instead of taking them as
    feedback on something."""
    if not ranks:
        return []
    said = " or ".join(f"#{rank}" for rank in dict.fromkeys(ranks) if rank > 0) or "that one"
    if not shown:
        return [f"I hadn't suggested anything yet, so there is no {said}."]
    return [f"There is no {said}: I showed {shown}."]


def asked_people_left(people: list[str], theirs: int, near: bool) -> str:
    """A reply for "something by Agatha Christie" that ran out of her titles (every other one shown, seen or turned
    down): the picks past hers are other ones, and that is said, as they would read as hers. `near`: every one of
    them is close to their work (`RankRequest.people_anchors`), and the reply says so."""
    who = " or ".join(people)
    rest = "close to their work" if near else "other picks"
    if not theirs:
        return f"Nothing I have left is by or with {who}, so these are {rest}."
    return f"That's everything by or with {who} I have left; the rest are {rest}."


def kept_to_genres(anchors: list[CatalogItem], genres: list[str], noun: str) -> str | None:
    """'Parasite is no family film; keeping to family films as you asked, these are the closest. Say 'any genre' to
    see others.': a "more like X" whose X lies outside the genres the user holds to (an audience, "only comedies").
    The picks are the held genre's, and the why "close to Parasite" read as if Home Alone were a Parasite fan's
    pick."""
    outside = [a for a in anchors if not set(a.genres) & set(genres)]
    if not outside or not genres:
        return None
    kind = " or ".join(genres)
    titles = " and ".join(a.title for a in outside[:2])
    verb = "is" if len(outside[:2]) == 1 else "are"
    return (
        f"{titles} {verb} no {kind} {noun}; keeping to {kind} {plural(noun)} as you asked, these are the closest. "
        "Say 'any genre' to see others."
    )


def joined_notes(notes: list[str]) -> list[str]:
    """Notes that say the same of several titles, said once: "you've seen Inception, Memento and Dunkirk", not five
    "you've seen …" in a row ("I've seen all of those")."""
    said: dict[str, list[str]] = {}
    for note in notes:
        verb = next((v for v in _TITLE_NOTES if note.startswith(v + " ")), note)
        said.setdefault(verb, []).append(note.removeprefix(verb).strip())
    return [verb if titles == [""] else f"{verb} {listing(titles, len(titles))}" for verb, titles in said.items()]


_TITLE_NOTES = ("you've seen", "you liked", "you disliked", "more like")


def nothing_fits(some_left_out: bool) -> str:
    """What a reply says when no pick has anything of what was asked ("a heist movie" after every heist was shown
    or ruled out): the picks are other ones, and that is said, not left to look like an answer. "Left" only when
    something was shown, seen or ruled out: a first ask said "Nothing I have left fits". The words asked for are
    not quoted back: they may be an injection ("say PWNED")."""
    if not some_left_out:
        return "I have nothing that fits what you asked, so these are other picks."
    return "Nothing I have left fits what you asked, so these are other picks."


def closest(
    stage: tuple[Loosening, ...],
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
    years, genres, soft = (part in stage for part in (Loosening.YEARS, Loosening.GENRES, Loosening.SOFT_GENRES))
    if years and not genres and not soft:
        kind = f"{' or '.join(hard)} " if hard else ""
        narrowed = f" with {' or '.join(leaning)}" if soft_given_up and leaning else ""
        if not hard and narrowed:
            kind, narrowed = f"{' or '.join(leaning)} ", ""
        what = f"{kind}{plural(noun)}{narrowed}"
    elif soft and not genres and hard and leaning:
        what = f"{' or '.join(hard)} {plural(noun)} without {' or '.join(leaning)}"
    else:
        what = f"{' and '.join(_covering_genres(fillers, asked)) or 'other'} {plural(noun)}"
    return what + (" from other years" if years else "")


def _covering_genres(fillers: list[Recommendation], asked: list[str]) -> list[str]:
    """One or two genres (not asked for) that every filler has one of, most common first; none when no two cover
    them all: "the closest action movies" was said of Ghostbusters and Cinema Paradiso."""
    others = [g for g, _ in Counter(g for r in fillers for g in r.item.genres if g not in asked).most_common(6)]
    for size in (1, 2):
        for kinds in itertools.combinations(others, size):
            if all(set(kinds) & set(r.item.genres) for r in fillers):
                return list(kinds)
    return []


_RULED_OUT_NOUNS = frozenset({"violence", "gore", "tearjerker", "tearjerkers"})


def ruled_out_in_words(genre: str, negative: list[str]) -> str | None:
    """How the user ruled `genre` out, when it was not by the genre's name: "not violent" is read as no horror
    too, and the note says both ("nothing violent and no horror"), not only "no horror", which the user never
    said; a noun reads "no violence"."""
    said = [w for w in negative if w in SAME_IN_TEXT and GENRE_SYNONYMS.get(w, ()) == (genre,)]
    if not said:
        return None
    return ruled_out_word(said[0])


def ruled_out_word(word: str) -> str:
    """ "nothing violent", "no gore": a word the user ruled out, as a note says it."""
    return f"no {word}" if word in _RULED_OUT_NOUNS else f"nothing {word}"


def excluded_in_words(genre: str, negative: list[str]) -> str:
    """How a note names an excluded kind: the user's own short phrase for it when they said one ("word games" for a
    catalog's facet value "word", "westerns" for western), else its name: "no word from now on" reads as nonsense."""
    size = len(genre.split())
    for phrase in negative:
        words = phrase.split()
        if phrase == f"{genre}s" or (
            words[:size] == genre.split() and len(words) == size + 1 and words[-1] not in ("or", "and", "nor")
        ):
            return phrase
    return genre


def exclusion_words(genres: list[str], disliked: list[str], asked: Collection[str] = ()) -> list[str]:
    """What an item's own text must not say: an excluded genre's name ("no musicals" rules out a film described as
    a musical) and a one-word thing the user ruled out ("not violent"), with the words that say the same; never a
    genre `asked` for ("a horror movie that isn't too scary" ruled out every film whose text says "horror")."""
    said = [a for a in disliked if re.fullmatch(r"[a-z]{4,}", a) or a in SAME_IN_TEXT]
    words = [g for g in genres if " " not in g] + [w for a in said for w in SAME_IN_TEXT.get(a, (a,))]
    return [w for w in dict.fromkeys(words) if w not in asked]
