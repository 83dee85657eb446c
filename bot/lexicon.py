"""Genres and the words for them, and the sentence and decade patterns that reading and writing share.

Reading a message (bot/understanding.py) maps the user's words to genres (`GENRE_SYNONYMS`); checking a model's
sentence (bot/grounding.py) asks which words may call an item of a genre (`GENRE_WORDS`, `GENRE_TERMS`); the
engine rules out what an item's own text says of a thing the user ruled out (`SAME_IN_TEXT`). Where reading and
writing need a pattern for the same thing with different meanings, each has its own name here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from recochat.retrieval.explain import content_words

GENRE_SYNONYMS: dict[str, tuple[str, ...]] = {
    "sci fi": ("science fiction",),
    "scifi": ("science fiction",),
    "sci-fi": ("science fiction",),
    "science fiction": ("science fiction",),
    "funny": ("comedy", "humour", "humor"),
    "comedies": ("comedy",),
    "comedy": ("comedy", "humour", "humor"),
    "hilarious": ("comedy", "humour", "humor"),
    "funnier": ("comedy", "humour", "humor"),
    "funniest": ("comedy", "humour", "humor"),
    "lighter": ("comedy", "humour", "humor"),  # "something lighter" after dark picks: a comedy leans best
    "lighthearted": ("comedy", "humour", "humor"),
    "light-hearted": ("comedy", "humour", "humor"),
    "light": ("comedy", "humour", "humor"),  # "something light and fun": Spotlight and Get Out led without it
    "laugh": ("comedy", "humour", "humor"),  # "I want to laugh" gave The King's Speech and Get Out
    "scarier": ("horror",),
    "romcom": ("romance",),
    "romcoms": ("romance",),
    "rom-com": ("romance",),
    "rom-coms": ("romance",),
    "rom com": ("romance",),
    "romantic": ("romance",),
    "love story": ("romance",),
    "date night": ("romance",),  # an occasion the encoder reads badly: "date night" is nearest to Us, a horror film
    "first date": ("romance",),
    "date movie": ("romance",),
    "scary": ("horror",),
    "horror": ("horror",),
    "creepy": ("horror",),
    "gory": ("horror",),
    "violent": ("horror",),
    "violence": ("horror",),
    "gore": ("horror",),
    "animated": ("animation",),
    "cartoon": ("animation",),
    "cartoons": ("animation",),
    "anime": ("animation",),
    "kids": ("family",),
    "children": ("family",),
    "documentaries": ("documentary",),
    "doc": ("documentary",),
    "thrillers": ("thriller",),
    "westerns": ("western",),
    "musicals": ("musical",),
    "singing": ("musical",),  # "too much singing" after La La Land's neighbours
    "songs": ("musical",),
    "song and dance": ("musical",),
    "superhero": ("action",),
    "dramas": ("drama",),
    "mysteries": ("mystery",),
    "war movies": ("war",),
    "action": ("action",),
}
"""What a user's word means as a genre, in the order of preference: 'funny' is comedy, or humour where a catalog
calls it that. The first one the catalog has wins."""
NARROW_GENRE_WORDS = re.compile(r"\bsuperheroe?s?\b")
"""Words that name a part of their genre: asked for, they lean to it; said no to, they exclude only themselves
(the negative aspect), never the genre: "not into superhero stuff" keeps Die Hard."""

GENRE_WORDS: dict[str, str] = {
    "animation": "animated cartoon",
    "science fiction": "sci-fi scifi",
    "romance": "romantic love",
    "comedy": "comedic",
    "family": "kids children",
    "thriller": "thrilling suspenseful",
    "horror": "scary",
    "fantasy": "magical",
    "crime": "criminal gangster",
    "mystery": "mysterious",
    "biography": "biopic",
    "history": "historical",
    "drama": "dramatic",
    "adventure": "adventurous",
    "western": "cowboy",
    "sport": "sports",
}
"""How a sentence may call an item of a genre: 'a romantic comedy' is true of romance and comedy."""

GENRE_TERMS = content_words(
    " ".join([*GENRE_WORDS, *GENRE_WORDS.values()]) + " action musical documentary war noir superhero"
)
"""Words that say what kind of item it is: each must be in the facts (the item's own genres and their words)."""


def kind_words(genres: Iterable[str]) -> str:
    """The genres and the words a sentence may use for them ("animation animated cartoon")."""
    return " ".join(f"{g} {GENRE_WORDS.get(g, '')}" for g in genres)


MOODS: dict[str, tuple[str, ...]] = {
    "sad": (
        *("sad", "heartbreaking", "heartbreak", "devastating", "tearjerker", "tear-jerker", "weepie", "tragic"),
        *("tragedy", "bittersweet", "poignant", "melancholy", "melancholic", "tears", "sob", "sobbing"),
    ),
    "uplifting": (
        *("uplifting", "feel-good", "heartwarming", "heart-warming", "joyful", "joyous", "cheerful", "hopeful"),
        *("wholesome", "inspirational", "life-affirming"),
    ),
    "dark": (
        *("bleak", "grim", "harrowing", "disturbing", "sinister", "unsettling", "nihilistic", "brutal", "darkly"),
        *("black comedy", "pitch-black", "macabre"),
    ),
    "tearjerker": (
        *("tearjerker", "tear-jerker", "weepie", "heartbreaking", "devastating", "tears", "sob", "sobbing"),
    ),
    # not "warm", "sweet" or "tender": a recipe's text says them of tortillas, sugar and lamb ("something comforting
    # for a cold night" gave Fish Tacos and Lemon Drizzle Cake)
    "cozy": (
        *("cozy", "cosy", "gentle", "comforting", "charming", "whimsical", "heartwarming", "feel-good", "wholesome"),
        *("sweetly", "soothing", "delightful", "kindness", "enchanting"),
    ),
    # not "intimate" (Moonlight, two documentaries) nor "anniversary" (Gone Girl): the demo says them of no romance
    "romantic": ("romantic", "candle-lit", "candlelit", "dates", "date night", "swoon", "swooning"),
    "thought-provoking": (
        *("thought-provoking", "philosophical", "cerebral", "profound", "meditative", "moral", "existential"),
        *("contemplative", "moral dilemma", "ideas"),
    ),
    "mind-bending": (
        *("mind-bending", "mind-blowing", "cerebral", "surreal", "twisty", "twists", "trippy", "psychedelic"),
        *("simulated reality", "reality-bending", "labyrinthine"),
    ),
}
"""What an item's own text says when it has a mood: a mood word alone gives the encoder little to go on ("sad" was
nearest to The Graduate, Midsommar and Seven; "a movie that will make me cry" to Hereditary and Aliens; "something
mind-bending" to A Beautiful Mind and Inside Out, for their "mind"), while the catalog's writers name the mood ("a
heartbreaking…", tagged 'tearjerker', 'surreal', 'cerebral')."""
MOOD_OF: dict[str, str] = {
    **dict.fromkeys(("sad", "sadder", "saddest", "tragic", "melancholy", "bittersweet"), "sad"),
    **dict.fromkeys(("depressing", "depressed", "downer"), "sad"),
    **dict.fromkeys(
        ("cry", "crying", "weep", "weepy", "tearjerker", "tearjerkers", "tear-jerker", "weepie"), "tearjerker"
    ),
    **dict.fromkeys(("heartbreaking", "sob", "sobbing", "tissues"), "tearjerker"),
    **dict.fromkeys(
        ("mind-bending", "mindbending", "mind-blowing", "mind-bender", "trippy", "cerebral"), "mind-bending"
    ),
    **dict.fromkeys(("mind-fuck", "mindfuck", "head-scratcher", "surreal", "twisty"), "mind-bending"),
    **dict.fromkeys(
        ("guessing", "twists", "twist-ending", "twist-endings", "plot-twist", "plot-twists"), "mind-bending"
    ),
    **dict.fromkeys(
        ("think", "thinking", "thought-provoking", "philosophical", "profound", "existential"), "thought-provoking"
    ),
    **dict.fromkeys(("romantic", "candlelit", "candle-lit", "anniversary"), "romantic"),
    **dict.fromkeys(("cozy", "cosy", "comforting", "comfort", "gentle", "soothing", "calming"), "cozy"),
    **dict.fromkeys(("uplifting", "happy", "happier", "cheerful", "heartwarming", "heart-warming"), "uplifting"),
    **dict.fromkeys(("feel-good", "wholesome", "hopeful", "joyful", "inspiring", "inspirational"), "uplifting"),
    **dict.fromkeys(("dark", "darker", "darkest", "bleak", "bleaker", "grim", "grimmer", "gritty", "grittier"), "dark"),
}
"""A user's word for a mood (`MOODS`)."""
MOOD_AVOIDS: dict[str, tuple[str, ...]] = {"cozy": ("horror", "war"), "uplifting": ("horror",)}
"""Genres a mood leans away from (`RankRequest.avoid_genres`): "a gentle, comforting film" gave The Conjuring,
Midsommar and The Babadook beside Babe (and, leaning from horror alone, Life Is Beautiful), "a cozy mystery" Oldboy
and It Follows beside Knives Out."""
MOOD_AVOIDS_MOOD = {"cozy": "dark", "uplifting": "dark"}
"""The mood whose words a mood leans away from (`RankRequest.avoid_words`): "a cozy mystery" gave Prisoners,
tagged 'bleak'."""
OPPOSITE_MOOD = {"sad": "uplifting", "dark": "uplifting", "tearjerker": "uplifting"}
NARROWER_MOOD = {"tearjerker": "sad"}
"""A mood said with the broader one it narrows: "a sad movie that will make me cry" asks for the tearjerkers, not
the melancholy (a 'melancholy' tag put The Sixth Sense beside Grave of the Fireflies)."""
"""The mood a "less depressing" or "nothing too dark" leans to instead."""


def mood_words(liked: Iterable[str], disliked: Iterable[str] = ()) -> list[str]:
    """What an item's text says of the moods the latest asked-for phrases name ("sad will make cry": heartbreaking,
    tearjerker, …), less the moods said no to, which lean to their opposite ("less depressing": uplifting, …)."""
    said_no = _moods(disliked)
    moods = [m for m in _moods(liked) if m not in said_no and NARROWER_MOOD.get(m) not in said_no]
    moods = [m for m in moods if not any(NARROWER_MOOD.get(other) == m for other in moods)]
    moods += [opposite for m in said_no if (opposite := OPPOSITE_MOOD.get(m)) and opposite not in moods]
    return list(dict.fromkeys(word for mood in moods for word in MOODS[mood]))


def mood_avoids(liked: Iterable[str], disliked: Iterable[str] = ()) -> tuple[list[str], list[str]]:
    """The genres (`MOOD_AVOIDS`) and the words (`MOOD_AVOIDS_MOOD`) that the moods leaned to lean away from (those
    asked for, and the opposites of those said no to), and the words of the moods said no to: "not so depressing"
    after war films gave Saving Private Ryan ("harrowing") and The Hurt Locker, leaning only to the uplifting, which
    no war film says."""
    said_no = _moods(disliked)
    leaned = [*_moods(liked), *(o for m in said_no if (o := OPPOSITE_MOOD.get(m)))]
    genres = [g for mood in leaned for g in MOOD_AVOIDS.get(mood, ())]
    words = [w for mood in leaned if (avoided := MOOD_AVOIDS_MOOD.get(mood)) for w in MOODS[avoided]]
    words += [w for mood in said_no if mood not in leaned for w in MOODS[mood]]
    return list(dict.fromkeys(genres)), list(dict.fromkeys(words))


def mood_alone(phrases: Iterable[str]) -> bool:
    """Whether the asked-for phrases say a mood and nothing else ("darker", "sad will make cry"): the mood is then
    the whole ask, as in "something darker" after Hot Fuzz, not how a kind is asked for ("feel-good animated")."""
    words = _words_of(phrases)
    return bool(words) and any(w in MOOD_OF for w in words) and all(w in MOOD_OF or w in _MOOD_NEUTRAL for w in words)


_MOOD_NEUTRAL = frozenset("will make makes me feel bit little lot more less way much".split())


def _moods(phrases: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(MOOD_OF[w] for w in _words_of(phrases) if w in MOOD_OF))


_MOOD_COMPOUNDS = re.compile(r"\b(twist|plot) (endings?|twists?)\b")
"""Two words that say a mood only together: "a twist ending" is twisty, "a heist with a twist" is not."""


def _words_of(phrases: Iterable[str]) -> list[str]:
    """The phrases' words, a hyphenated one whole ("feel-good"), a `_MOOD_COMPOUNDS` as one ("twist-ending")."""
    return [
        w
        for phrase in phrases
        for w in re.findall(r"[a-z]+(?:-[a-z]+)*", _MOOD_COMPOUNDS.sub(r"\1-\2", phrase.lower()))
    ]


SAME_IN_TEXT: dict[str, tuple[str, ...]] = {
    "violent": (
        *("violent", "kill", "kills", "killer", "killing", "murder", "brutal", "bloody", "gory", "massacre"),
        *("hitman", "hitmen", "assassin", "sniper", "vigilante", "shootout", "slasher", "torture", "bloodbath"),
        *("ferocious", "savage", "gruesome", "gunfight", "bloodshed", "carnage"),
    ),
    "scary": ("scary", "frightening", "terrifying", "terror", "creepy", "horror", "nightmare"),
}
"""What an item's text says when it is the thing ruled out: "not violent" rules out "sent back in time to kill",
"nothing scary" a fairy tale with "a truly frightening witch" (both in the read-through)."""
SAME_IN_TEXT["gory"] = SAME_IN_TEXT["violence"] = SAME_IN_TEXT["gore"] = SAME_IN_TEXT["violent"]
SAME_IN_TEXT["creepy"] = SAME_IN_TEXT["scary"]
SAME_IN_TEXT["sad"] = SAME_IN_TEXT["tearjerker"] = SAME_IN_TEXT["tearjerkers"] = MOODS["sad"]
""""Nothing sad" rules out "a heartbreaking…" and a film tagged 'tearjerker'."""
SAME_IN_TEXT["black-and-white"] = ("black-and-white", "black and white", "monochrome")
"""A compound said as one (understanding's `_COMPOUNDS`): "no black and white" rules out Psycho, tagged so."""


_ABBREVIATIONS = ("Dr", "Mr", "Mrs", "Ms", "St", "Jr", "Sr", "Vol", "vs")
SENTENCE_BREAK = re.compile(
    r"(?<=[.!?])(?<!\b[A-Z]\.)" + "".join(rf"(?<!\b{a}\.)" for a in _ABBREVIATIONS) + r"\s+|\n+"
)
"""Where one sentence of prose ends and the next begins: split at it, each sentence keeps its final mark. Not after
an initial or an abbreviation: the model's sentences about "E.T. the Extra-Terrestrial" were cut at "E.T.", and
every one about Dr. Strangelove at "Dr." ("…, starting with Dr."), and dropped as cut off."""
SENTENCE_END_MARKS = re.compile(r"[.!?\n]+")
"""The marks that end a sentence of a user's message (a run of them, a line break too): where a clause's sentence
starts and ends."""

DECADE_IN_REQUEST = re.compile(r"\b(?:(19|20)?(\d)0)'?s\b")
"""A decade a user asks for in a lowered message ("the 90s", "1980s", "2010's"): group 1 the century (19 or 20,
optional), group 2 the decade's digit."""
DECADE_IN_PROSE = re.compile(r"\b(?:1[89]|20)?(\d)0['’]?s\b")
"""A decade a sentence of prose gives ("the 90s", "the 1890s", "80’s"), which must be its title's: the group is the
decade's digit only."""
