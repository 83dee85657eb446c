"""A maker named by surname alone ("a Spielberg movie"), only where a maker is meant."""

from __future__ import annotations

from recochat.retrieval.catalog import CatalogItem
from recochat.retrieval.people import PeopleIndex

ITEMS = [
    CatalogItem("jaws", "Jaws", "A shark terrorizes a beach town.", {"director": "Steven Spielberg"}),
    CatalogItem("et", "E.T.", "A boy befriends an alien.", {"director": "Steven Spielberg"}),
    CatalogItem("frank", "Frankenstein", "A scientist builds a man.", {"director": "James Whale"}),
    CatalogItem("hw", "Hot Wheels", "A family saves the town from a stone giant.", {"director": "Sam Stone"}),
    CatalogItem("up", "Up", "An old man flies his house.", {"stars": ["Ed Asner"]}),
]


def test_a_makers_surname_names_them_where_a_maker_is_meant() -> None:
    """ "a Spielberg movie" gave Citizen Kane and 2001: names were matched whole only."""
    people = PeopleIndex(ITEMS)
    for text in ("a Spielberg movie", "something by Spielberg", "more spielberg", "Spielberg's early films"):
        assert people.find(text) == ["Steven Spielberg"], text
    assert people.find("a movie about a whale") == []  # no cue: the word, not James Whale
    assert people.find("a film by Stone") == []  # the catalog writes "stone" as a word
    assert people.find("something by Asner") == []  # the cast go by their full names
