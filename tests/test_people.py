"""A person named by surname alone ("a Spielberg movie", "with DiCaprio"), only where a person is meant."""

from __future__ import annotations

from recochat.retrieval.catalog import CatalogItem
from recochat.retrieval.people import PeopleIndex

ITEMS = [
    CatalogItem("jaws", "Jaws", "A shark terrorizes a beach town.", {"director": "Steven Spielberg"}),
    CatalogItem("et", "E.T.", "A boy befriends an alien.", {"director": "Steven Spielberg"}),
    CatalogItem("frank", "Frankenstein", "A scientist builds a man.", {"director": "James Whale"}),
    CatalogItem("hw", "Hot Wheels", "A family saves the town from a stone giant.", {"director": "Sam Stone"}),
    CatalogItem("up", "Up", "An old man flies his house.", {"stars": ["Ed Asner"]}),
    CatalogItem("ti", "Titanic", "A ship sinks.", {"stars": ["Leonardo DiCaprio", "Kate Winslet"]}),
]


def test_a_surname_names_its_person_where_a_person_is_meant() -> None:
    """ "a Spielberg movie" gave Citizen Kane and 2001: names were matched whole only."""
    people = PeopleIndex(ITEMS)
    for text in ("a Spielberg movie", "something by Spielberg", "more spielberg", "Spielberg's early films"):
        assert people.find(text) == ["Steven Spielberg"], text
    assert people.find("a movie about a whale") == []  # no cue: the word, not James Whale
    assert people.find("a film by Stone") == []  # the catalog writes "stone" as a word
    assert people.find("something with DiCaprio") == ["Leonardo DiCaprio"]
    assert people.find("a Leo DiCaprio film") == ["Leonardo DiCaprio"]  # a first name cut short
    assert people.find("winslet") == []  # no cue
