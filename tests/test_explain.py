"""Whys that explain this item: shared attributes with the liked item, the request's words, distinct per reply."""

from __future__ import annotations

import numpy as np
import pytest

from recochat.bot.lexicon import MOODS, SAME_IN_TEXT, mood_alone, mood_words
from recochat.retrieval.catalog import CatalogItem
from recochat.retrieval.explain import (
    anchor_reason,
    distinct,
    mood_reason,
    request_reason,
    shared_attribute,
    specific_detail,
)
from recochat.retrieval.neighbours import NeighbourIndex
from recochat.retrieval.people import PeopleIndex


def item(item_id: str, title: str, description: str, genres: list[str], **meta: object) -> CatalogItem:
    return CatalogItem(item_id, title, title, {"genres": genres, "description": description, **meta})


HOT_FUZZ = item(
    "hf",
    "Hot Fuzz",
    "A London police officer is sent to a sleepy village.",
    ["comedy", "action"],
    director="Edgar Wright",
    stars=["Simon Pegg", "Nick Frost"],
    tags=["buddy cops", "village"],
)
SHAUN = item(
    "sh",
    "Shaun of the Dead",
    "A slacker fights zombies with his best friend.",
    ["comedy", "horror"],
    director="Edgar Wright",
    stars=["Simon Pegg"],
    tags=["zombies"],
)
NICE_GUYS = item(
    "ng",
    "The Nice Guys",
    "A private eye and an enforcer team up in 1970s Los Angeles.",
    ["comedy", "crime"],
    tags=["buddy cops", "1970s"],
)
HEAT = item("ht", "Heat", "A master thief plans one last heist while a detective closes in.", ["crime", "thriller"])
RONIN = item(
    "rn", "Ronin", "Mercenaries chase a briefcase across France in a heist that keeps turning.", ["action", "thriller"]
)


def test_shared_attribute_prefers_people_then_tags_then_words_and_never_a_genre_alone() -> None:
    assert shared_attribute(SHAUN, HOT_FUZZ) == "both with Simon Pegg and Edgar Wright"
    assert shared_attribute(NICE_GUYS, HOT_FUZZ) == "both buddy cops"
    # one shared word ('heist') is not enough, and a shared genre alone is no link ("both thriller" made Blade
    # Runner a neighbour of Pulp Fiction); a rare one is named by NeighbourIndex.link
    assert shared_attribute(RONIN, HEAT) is None
    assert shared_attribute(HEAT, SHAUN) is None


def test_anchor_reason_names_the_liked_item_and_what_they_share() -> None:
    assert anchor_reason(NICE_GUYS, HOT_FUZZ, close=False) == "close to Hot Fuzz, which you liked: both buddy cops"
    assert anchor_reason(HEAT, SHAUN, close=True) == "close to Shaun of the Dead, which you liked"


def test_an_anchor_sharing_nothing_is_named_only_when_close() -> None:
    """Seven was "close to Home Alone" in the read-through with nothing in common: only embedding closeness
    may say so then."""
    assert anchor_reason(HEAT, SHAUN, close=False) is None


def test_request_reason_quotes_where_the_items_own_text_has_the_words() -> None:
    assert request_reason(HEAT, ["a heist movie with a twist"]) == (
        "“A master thief plans one last heist while a detective closes in”"
    )
    assert request_reason(RONIN, ["heists"]) == "“Mercenaries chase a briefcase across France in a heist that keeps…”"
    assert request_reason(NICE_GUYS, ["a buddy cop movie"]) == "tagged ‘buddy cops’"
    assert request_reason(SHAUN, ["a heist movie"]) is None


def test_a_peoples_word_meets_its_countrys() -> None:
    """ "any japanese films" found Spirited Away alone: Seven Samurai, Ran and Rashomon are tagged 'feudal japan', and
    The French Connection's "coming in from France" was clipped off the quote its "french film" chose."""
    samurai = item("ss", "Seven Samurai", "Villagers hire seven ronin.", ["action"], tags=["feudal japan"])
    assert request_reason(samurai, ["japanese"]) == "tagged ‘feudal japan’"
    assert request_reason(RONIN, ["a french thriller"]) == (
        "“Mercenaries chase a briefcase across France in a heist that keeps…”"
    )
    connection = item(
        "fc",
        "The French Connection",
        "Two abrasive New York narcotics detectives stumble onto a massive heroin shipment coming in from France.",
        ["crime"],
    )
    assert request_reason(connection, ["french"]) == "“…heroin shipment coming in from France”"
    assert request_reason(connection, ["turkish"]) is None


def test_a_tag_the_ranking_leaned_to_is_named_though_its_words_are_short() -> None:
    """'feel-good' has no content word ("feel" and "good" are short or stop words): the five picks the tag lifted
    were explained as "a widely loved comedy", and two of them then counted as wildcards."""
    paddington = item("pd", "Paddington", "A bear from Peru finds a home in London.", ["family"], tags=["feel-good"])
    index = NeighbourIndex([paddington], np.ones((1, 1)), {"family": 0}, PeopleIndex([paddington]), {"pd": 0})
    asked = index.asked_tags(paddington, ["feel-good"])
    assert asked == ["feel-good"]
    assert index.asked_tags(paddington, ["a feel-bad ending"]) == []
    assert request_reason(paddington, ["feel-good"]) is None
    assert request_reason(paddington, ["feel-good"], asked) == "tagged ‘feel-good’"


def test_whys_of_one_reply_differ() -> None:
    whys = distinct(["fits “heist”", "fits “heist”", "close to Heat, which you liked"], [HEAT, RONIN, NICE_GUYS])
    assert len(set(whys)) == 3
    assert whys[0] == f"fits “heist”; {specific_detail(HEAT)}"
    assert whys[1] == f"fits “heist”; {specific_detail(RONIN)}"
    assert whys[2] == "close to Heat, which you liked"


def test_a_liked_together_clause_is_said_on_two_items_of_a_reply() -> None:
    together = "people who liked Hot Fuzz often liked it too"
    whys = distinct(
        [f"close to Hot Fuzz, which you liked; {together}", f"fits “buddy cops”; {together}", f"fits “heist”; {together}",
         together, f"close to Heat, which you liked; {together}"],
        [SHAUN, NICE_GUYS, HEAT, RONIN, HOT_FUZZ],
    )  # fmt: skip
    assert [together in why for why in whys] == [True, True, False, True, False]  # kept where it is all the why says
    assert whys[2] == "fits “heist”" and whys[4] == "close to Heat, which you liked"


def test_the_added_detail_does_not_repeat_a_tag_the_why_already_names() -> None:
    oceans = item("oc", "Ocean's Eleven", "A charming thief assembles a crew.", ["crime"], tags=["heist", "las vegas"])
    inception = item("in", "Inception", "A thief steals secrets from dreams.", ["action"], tags=["dreams", "heist"])
    whys = distinct(["tagged ‘heist’", "tagged ‘heist’"], [oceans, inception])
    assert whys == ["tagged ‘heist’; las vegas", "tagged ‘heist’; dreams"]


def test_parts_of_names_are_no_shared_theme() -> None:
    """'both about ‘angel’' came from two descriptions set in Los Angeles (the read-through's garbled why)."""
    lebowski = item("lb", "The Big Lebowski", "A Los Angeles slacker bowls with a volatile buddy.", ["comedy"])
    roger = item("rr", "Roger Rabbit", "In Los Angeles a private eye helps a framed buddy.", ["animation"])
    assert shared_attribute(lebowski, roger) is None


def test_parts_of_compounds_are_no_shared_theme() -> None:
    """'both about ‘bone’' met 'bone-dry' in one description and 'bones' in the other (the read-through)."""
    lion = item("li", "Lion", "A bone-dry savanna tale of an uncle's betrayal.", ["animation"])
    play = item("pl", "Play", "Shakespearean bones under a family feud and an uncle's crown.", ["drama"])
    assert shared_attribute(lion, play) is None  # only 'uncle' is left: one word is no shared theme


def test_a_mood_word_asks_for_what_the_catalog_says_of_that_mood() -> None:
    """ "sad will make cry" (what is left of "a sad movie that will make me cry") asks for the words writers use."""
    assert mood_words(["sad"]) == list(MOODS["sad"])
    assert "heartbreaking" in MOODS["sad"] and "tearjerker" in MOODS["sad"]
    # "make me cry" narrows sad to the tearjerkers: a 'melancholy' tag put The Sixth Sense among them
    assert mood_words(["sad will make cry"]) == mood_words(["tearjerker"]) == list(MOODS["tearjerker"])
    assert "melancholy" not in MOODS["tearjerker"] and set(MOODS["tearjerker"]) <= set(MOODS["sad"])
    assert mood_words(["feel-good"]) == mood_words(["something uplifting"]) == list(MOODS["uplifting"])
    assert mood_words(["a heist with a twist"]) == []
    assert mood_words(["will make think"]) == mood_words(["thought-provoking"]) == list(MOODS["thought-provoking"])
    assert mood_words(["a romantic dinner spot"]) == mood_words(["for our anniversary"]) == list(MOODS["romantic"])
    twisty = list(MOODS["mind-bending"])
    assert mood_words(["a twist ending"]) == mood_words(["keeps you guessing"]) == mood_words(["plot twists"]) == twisty
    # said no to, a mood leans to its opposite; asked and said no to, it is not asked
    assert mood_words([], ["depressing"]) == list(MOODS["uplifting"])
    assert mood_words(["sad will make cry"], ["depressing"]) == list(MOODS["uplifting"])
    assert "inspiring" not in MOODS["uplifting"]  # "awe-inspiring" is no feel-good (Free Solo)
    assert SAME_IN_TEXT["sad"] == MOODS["sad"]  # "nothing sad" rules out "a heartbreaking…"
    # the mood as the whole ask, or as how a kind is asked for
    assert mood_alone(["darker"]) and mood_alone(["sad will make cry"]) and mood_alone(["feel-good"])
    assert not mood_alone(["feel-good animated family"]) and not mood_alone(["heist"]) and not mood_alone([])


def test_a_mood_reason_names_the_tag_or_quotes_the_word_where_it_is() -> None:
    gump = item("fg", "Forrest Gump", "A kind man drifts through history.", ["drama"], tags=["tearjerker"])
    assert mood_reason(gump, MOODS["sad"]) == "tagged ‘tearjerker’"
    concert = item(
        "sms",
        "Stop Making Sense",
        "A concert film capturing Talking Heads across several Hollywood shows, building from a lone singer with a "
        "boombox to a full, joyous ensemble. Pure fun.",
        ["documentary"],
    )
    assert mood_reason(concert, MOODS["uplifting"]) == "“…with a boombox to a full, joyous ensemble”"
    up = item("up", "Up", "A tender adventure that opens with a devastating montage.", ["animation"])
    assert mood_reason(up, MOODS["sad"]) == "“A tender adventure that opens with a devastating montage”"
    assert mood_reason(up, MOODS["uplifting"]) is None and mood_reason(up, []) is None


@pytest.mark.parametrize(
    "text, word, said",
    [
        ("no noise cancelling, but fine for the gym", "cancelling", False),
        ("no noise cancelling, but fine for the gym", "noise", False),
        ("flagship noise-cancelling over-ear headphones", "cancelling", True),
        ("not violent at all", "violent", False),
        ("a non-stop thrill", "stop", False),
        ("great with steak. no frills", "steak", True),
        ("without a plot, but then a gripping plot", "plot", True),  # once plainly is enough
    ],
)
def test_a_word_said_only_after_a_negation_is_not_said_plainly(text, word, said):
    from recochat.retrieval.explain import said_plainly

    assert said_plainly(text, word) is said
