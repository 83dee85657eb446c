"""Shared fixtures: every test runs in a temporary RECOCHAT_HOME; the encoder loads once."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Callable

import pytest

from recochat.bot.app import Runtime, build, open_store
from recochat.bot.settings import Settings
from recochat.retrieval.catalog import load_catalog
from recochat.retrieval.encoder import Encoder
from recochat.retrieval.ingest import ingest

TINY_CATALOG = [
    ("m1", "Laugh Factory", 2004, ["comedy"], "A clumsy baker enters a national cooking contest and turns every round into slapstick chaos."),
    ("m2", "Smart Alecks", 2012, ["comedy"], "Witty banter and clever wordplay as two rival lawyers share an office for one long week."),
    ("m3", "Village Cops", 2007, ["comedy", "action", "crime"], "A by-the-book city officer is sent to a sleepy village where the jokes and the body count both pile up."),
    ("m4", "Night of Teeth", 1998, ["horror"], "A family cabin weekend turns into a bloody fight against something that hunts in the dark."),
    ("m5", "The Haunting Hour", 2015, ["horror", "thriller"], "Ghosts, screams and a creaking old mansion that will not let its guests leave."),
    ("m6", "Starfall", 2014, ["science fiction", "drama"], "Astronauts cross a wormhole to find a new home for humanity while time slips away on Earth."),
    ("m7", "Robot Heart", 2019, ["science fiction", "romance"], "A lonely engineer falls for the android she built, and asks what love means for a machine."),
    ("m8", "Desert Run", 2015, ["action"], "A relentless chase across a wasteland with roaring engines, explosions and almost no dialogue."),
    ("m9", "Heist Street", 1995, ["crime", "thriller"], "A master thief and an obsessed detective circle each other across a sprawling city."),
    ("m10", "Paper Hearts", 2001, ["romance", "drama"], "Two pen pals who have never met slowly fall in love through decades of letters."),
    ("m11", "Little Paws", 2009, ["animation", "family"], "A brave puppy gets lost in the big city and finds friends on the way home."),
    ("m12", "Courtroom Quips", 2018, ["comedy", "drama"], "A sharp, clever satire of a law firm where every meeting becomes a battle of wits."),
    ("m13", "Scream Camp", 1984, ["horror", "comedy"], "Camp counselors face a masked killer in a gory, darkly funny slasher."),
    ("m14", "Dream Thief", 2010, ["science fiction", "action", "thriller"], "A team of specialists steals secrets by entering people's dreams, layer by layer."),
]


def write_catalog(path: Path, rows: list[tuple] = TINY_CATALOG) -> Path:
    with path.open("w", encoding="utf-8") as f:
        for item_id, title, year, genres, description in rows:
            record = {"id": item_id, "title": title, "year": year, "genres": genres, "description": description}
            f.write(json.dumps(record) + "\n")
    return path


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No test ever touches the user's data or a configured endpoint."""
    import os

    for name in list(os.environ):
        if name.startswith("RECOCHAT_") or name in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "DISCORD_TOKEN"):
            monkeypatch.delenv(name)
    home = tmp_path / "home"
    monkeypatch.setenv("RECOCHAT_HOME", str(home))
    monkeypatch.setenv("RECOCHAT_CONFIG", str(tmp_path / "absent.toml"))
    return home


class _ErrorRecords(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(autouse=True)
def no_writer_errors(request: pytest.FixtureRequest):
    """The writer logs at error level only for bugs; any such log fails the test unless it expects one."""
    handler = _ErrorRecords()
    logger = logging.getLogger("recochat.writer")
    logger.addHandler(handler)
    yield
    logger.removeHandler(handler)
    if handler.records and request.node.get_closest_marker("writer_errors_expected") is None:
        pytest.fail("the writer logged an error: " + "; ".join(r.getMessage() for r in handler.records))


@pytest.fixture(scope="session")
def encoder() -> Encoder:
    """The scripted-conversation runner's encoder, so the suite loads the model once."""
    from recochat.bot.scripted.runner import shared_encoder

    return shared_encoder()


@pytest.fixture
def tiny_catalog(tmp_path: Path) -> Path:
    return write_catalog(tmp_path / "tiny.jsonl")


@pytest.fixture
def make_runtime(encoder: Encoder, tiny_catalog: Path, isolated_home: Path) -> Callable[..., Runtime]:
    """Runtime over the tiny catalog (ingested once per test) with the template writer by default."""

    def factory(writer=None, **overrides) -> Runtime:  # type: ignore[no-untyped-def]
        settings = Settings(**{"home": isolated_home, "llm": "template", **overrides})
        store = open_store(settings)
        if not store.exists("tiny"):
            ingest(store, encoder, "tiny", load_catalog(tiny_catalog).items)
        return build(settings, collection="tiny", writer=writer, encoder=encoder)

    return factory


@pytest.fixture
def runtime(make_runtime: Callable[..., Runtime]) -> Runtime:
    return make_runtime()
