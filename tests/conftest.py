"""Shared fixtures: every test runs in a temporary RECOCHAT_HOME; the encoder loads once, and the
tiny catalog is ingested once per encoder (each test gets a copy of that Chroma store)."""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from fakes import HashingEncoder

from recochat.benchmarks.chroma_server import chroma_server as run_chroma
from recochat.benchmarks.pg_cluster import Cluster, ClusterError, start_cluster
from recochat.bot.llm import openai_chat
from recochat.bot.runtime import Runtime, build
from recochat.bot.settings import Settings
from recochat.retrieval.catalog import demo_catalog_path, load_catalog
from recochat.retrieval.encoder import Encoder, TextEncoder
from recochat.retrieval.ingest import ingest
from recochat.retrieval.store import ChromaStore

TINY_CATALOG = [
    (
        "m1",
        "Laugh Factory",
        2004,
        ["comedy"],
        "A clumsy baker enters a national cooking contest and turns every round into slapstick chaos.",
    ),
    (
        "m2",
        "Smart Alecks",
        2012,
        ["comedy"],
        "Witty banter and clever wordplay as two rival lawyers share an office for one long week.",
    ),
    (
        "m3",
        "Village Cops",
        2007,
        ["comedy", "action", "crime"],
        "A by-the-book city officer is sent to a sleepy village where the jokes and the body count both pile up.",
    ),
    (
        "m4",
        "Night of Teeth",
        1998,
        ["horror"],
        "A family cabin weekend turns into a bloody fight against something that hunts in the dark.",
    ),
    (
        "m5",
        "The Haunting Hour",
        2015,
        ["horror", "thriller"],
        "Ghosts, screams and a creaking old mansion that will not let its guests leave.",
    ),
    (
        "m6",
        "Starfall",
        2014,
        ["science fiction", "drama"],
        "Astronauts cross a wormhole to find a new home for humanity while time slips away on Earth.",
    ),
    (
        "m7",
        "Robot Heart",
        2019,
        ["science fiction", "romance"],
        "A lonely engineer falls for the android she built, and asks what love means for a machine.",
    ),
    (
        "m8",
        "Desert Run",
        2015,
        ["action"],
        "A relentless chase across a wasteland with roaring engines, explosions and almost no dialogue.",
    ),
    (
        "m9",
        "Heist Street",
        1995,
        ["crime", "thriller"],
        "A master thief and an obsessed detective circle each other across a sprawling city.",
    ),
    (
        "m10",
        "Paper Hearts",
        2001,
        ["romance", "drama"],
        "Two pen pals who have never met slowly fall in love through decades of letters.",
    ),
    (
        "m11",
        "Little Paws",
        2009,
        ["animation", "family"],
        "A brave puppy gets lost in the big city and finds friends on the way home.",
    ),
    (
        "m12",
        "Courtroom Quips",
        2018,
        ["comedy", "drama"],
        "A sharp, clever satire of a law firm where every meeting becomes a battle of wits.",
    ),
    (
        "m13",
        "Scream Camp",
        1984,
        ["horror", "comedy"],
        "Camp counselors face a masked killer in a gory, darkly funny slasher.",
    ),
    (
        "m14",
        "Dream Thief",
        2010,
        ["science fiction", "action", "thriller"],
        "A team of specialists steals secrets by entering people's dreams, layer by layer.",
    ),
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
    monkeypatch.setenv("RECOCHAT_ENV_FILE", str(tmp_path / "absent.env"))  # a .env in the repo is the developer's
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


@pytest.fixture(scope="session")
def demo_vectors(encoder: Encoder) -> np.ndarray:
    """The demo catalog's vectors in file order, read from the scripted conversations' shared ingest of it: the
    suite encodes the demo once (a fresh clone spent ~5 s encoding it again for the scale smoke)."""
    from recochat.bot.scripted.runner import shared_catalog

    chroma, name = shared_catalog()
    stored = ChromaStore.persistent(chroma).load(name)
    order = [stored.row_of[item.id] for item in load_catalog(demo_catalog_path()).items]
    return np.asarray(stored.embeddings[order], dtype=np.float32)


@pytest.fixture(scope="session")
def fake_encoder() -> HashingEncoder:
    """For tests of plumbing, not of ranking quality: no model, same vectors on every machine."""
    return HashingEncoder()


@pytest.fixture
def tiny_catalog(tmp_path: Path) -> Path:
    return write_catalog(tmp_path / "tiny.jsonl")


class IngestedTiny:
    """The tiny catalog ingested once per encoder per session; tests get copies of the store, so
    a test's profiles, feedback or extra collections never leak into another's."""

    def __init__(self, root: Path) -> None:
        self._root = root
        self._stores: dict[int, tuple[TextEncoder, Path]] = {}  # keeps each encoder alive: its id stays unique
        self._homes: dict[Path, int] = {}

    def chroma(self, encoder: TextEncoder) -> Path:
        """The session's ingested Chroma directory for this encoder (read it, never write to it)."""
        if id(encoder) not in self._stores:
            path = self._root / f"chroma-{len(self._stores)}"
            items = load_catalog(write_catalog(self._root / "tiny.jsonl")).items
            ingest(ChromaStore.persistent(path), encoder, "tiny", items)
            self._stores[id(encoder)] = (encoder, path)
        return self._stores[id(encoder)][1]

    def copy_to(self, settings: Settings, encoder: TextEncoder) -> None:
        """Put collection "tiny" in this home's store. A home that already has it keeps it (a second
        runtime sees the first one's state), but only with the same encoder; a home whose store
        was made without it (rare) gets it ingested."""
        if self._homes.setdefault(settings.chroma_path, id(encoder)) != id(encoder):
            raise AssertionError("this home's tiny catalog was encoded by another encoder; use one per test")
        if not settings.chroma_path.exists():
            shutil.copytree(self.chroma(encoder), settings.chroma_path)
        elif not (store := ChromaStore.persistent(settings.chroma_path)).exists("tiny"):
            items = load_catalog(write_catalog(self._root / "tiny.jsonl")).items
            ingest(store, encoder, "tiny", items)


@pytest.fixture(scope="session")
def ingested_tiny(tmp_path_factory: pytest.TempPathFactory) -> IngestedTiny:
    return IngestedTiny(tmp_path_factory.mktemp("ingested-tiny"))


@pytest.fixture
def make_runtime(
    request: pytest.FixtureRequest, ingested_tiny: IngestedTiny, isolated_home: Path
) -> Callable[..., Runtime]:
    """Runtime over a copy of the ingested tiny catalog, with the template writer by default.
    The real encoder unless `encoder=` gives another (e.g. `fake_encoder`); it loads only when
    used, so tests on the fake never pay for the model."""

    def factory(writer=None, encoder: TextEncoder | None = None, make_chat=openai_chat, **overrides) -> Runtime:  # type: ignore[no-untyped-def]
        encoder = encoder or request.getfixturevalue("encoder")
        settings = Settings(**{"home": isolated_home, "llm": "template", **overrides})
        ingested_tiny.copy_to(settings, encoder)
        return build(settings, collection="tiny", writer=writer, encoder=encoder, make_chat=make_chat)

    return factory


@pytest.fixture
def runtime(make_runtime: Callable[..., Runtime]) -> Runtime:
    return make_runtime()


@pytest.fixture
def fake_runtime(make_runtime: Callable[..., Runtime], fake_encoder: HashingEncoder) -> Runtime:
    """`runtime` with the hashing encoder: for API and front-end plumbing that does not test ranking."""
    return make_runtime(encoder=fake_encoder)


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[Cluster]:
    """A throwaway PostgreSQL server for the whole session (benchmarks/pg_cluster.py), started on first
    use. Without the server binaries the tests that use it fail, saying what to install: they are
    part of the default run, never skipped."""
    try:
        cluster = start_cluster()
    except ClusterError as error:
        pytest.fail(str(error), pytrace=False)
    yield cluster
    cluster.stop()


@dataclass(frozen=True)
class ChromaServer:
    host: str
    port: int
    path: Path
    """The server's data directory."""


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChromaServer]:
    """A real `chroma run` on a free loopback port for the whole session, as several recochat
    processes would share one (RECOCHAT_CHROMA_HOST). Offline; up in about a second. Tests share
    it, so each uses its own collection names."""
    root = tmp_path_factory.mktemp("chroma-server")
    with contextlib.ExitStack() as stack:
        try:
            host, port = stack.enter_context(run_chroma(root))
        except RuntimeError as error:
            pytest.fail(str(error), pytrace=False)
        yield ChromaServer(host, port, root / "chroma")


@pytest.fixture
def postgres_url(postgres_cluster: Cluster) -> str:
    """A URL to an empty schema of the session's cluster: this test's own tables."""
    return postgres_cluster.fresh_schema_url()
