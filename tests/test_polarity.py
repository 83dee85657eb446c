"""The learned polarity reader (bot/polarity.py): the packaged model loads, a stale one falls back to the rules
with a warning, clear sentences read right where the app reads them (a turn through `Engine.turn`, as its log
keeps it), and a tiny training run learns a synthetic handful."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
from fakes import HashingEncoder

from recochat.bot.engine import Engine
from recochat.bot.polarity import (
    MODEL_PATH,
    MODEL_VERSION,
    PolarityModel,
    TrainingConfig,
    fit,
    load_model,
    model_for,
)
from recochat.bot.settings import DataSettings
from recochat.bot.training.polarity import polarity_examples, train_examples
from recochat.bot.understanding import POLARITY_CUES, understand
from recochat.profiles.model import TurnSignal
from recochat.profiles.store import ProfileStore
from recochat.retrieval.catalog import CatalogItem
from recochat.retrieval.encoder import Encoder
from recochat.retrieval.store import StoredCatalog
from recochat.retrieval.titles import TitleIndex

ITEMS = [
    CatalogItem(id=key, title=title, text=title)
    for key, title in [
        ("hobbit", "The Hobbit"),
        ("heat", "Heat"),
        ("scary", "Scary Movie"),
        ("lotr", "The Lord of the Rings"),
        ("babel", "Babel"),
    ]
]
TITLES = TitleIndex(ITEMS)
USERS = itertools.count()


@pytest.fixture(scope="module")
def engine(encoder: Encoder, tmp_path_factory: pytest.TempPathFactory) -> Engine:
    """The app's own reading: a turn through the engine, which reads the titles with the packaged model."""
    catalog = StoredCatalog("polarity", ITEMS, encoder.encode_texts([i.text for i in ITEMS]))
    engine = Engine(catalog, encoder, ProfileStore(tmp_path_factory.mktemp("polarity") / "profiles.sqlite3"))
    assert engine.reader.polarity is not None, "the engine reads with the learned model, not the rules"
    return engine


def read_turn(engine: Engine, text: str) -> TurnSignal:
    """What the log keeps of one turn (the titles with their polarity, the phrases on each side)."""
    user = f"u{next(USERS)}"
    engine.turn(user, text, recommend=False)
    (turn,) = engine.profiles.events(user, kinds=["turn"])
    assert turn.signal is not None
    return turn.signal


def read(text: str, engine: Engine) -> list[str]:
    return [polarity for _, polarity in read_turn(engine, text).titles]


def test_packaged_model_loads_with_this_codes_features() -> None:
    model = load_model()
    assert model is not None
    assert model.cues == POLARITY_CUES and model.dim == 384
    assert model.weights.shape == (4, 2 * 384 + len(POLARITY_CUES))
    assert model.meta["examples"] > 1000  # trained on the ReDial tuning half, not a stub


def test_training_examples_come_from_redial_train_and_the_tuning_half_never_the_held_out_half() -> None:
    """ReDial's train/validation conversations (ids 395–19918) teach the reader beside test's tuning half; the
    held-out half (what `bench redial --polarity` reads) is the same as before they were added."""
    data = DataSettings().data
    tuning, heldout = polarity_examples(data)
    train = train_examples(data)
    train_ids = {e.dialog_id for e in train}
    assert (len(tuning), len(heldout)) == (1610, 1874)
    assert len(train) == 5573 and len(train_ids) <= 2270 and max(int(i) for i in train_ids) < 20001
    assert not train_ids & {e.dialog_id for e in tuning + heldout}
    assert sum(e.label == "dislike" for e in train) == 211  # the seekers' "not liked" answers they name


def test_mismatched_version_falls_back_to_the_rules_with_a_warning(tmp_path: Path) -> None:
    stale = json.loads(MODEL_PATH.read_text())
    stale["version"] = MODEL_VERSION + 1
    path = tmp_path / "polarity_model.json"
    path.write_text(json.dumps(stale))
    with pytest.warns(UserWarning, match="reading polarity with the rules"):
        assert load_model(path) is None
    stale["version"], stale["cues"] = MODEL_VERSION, stale["cues"][:-1]
    path.write_text(json.dumps(stale))
    with pytest.warns(UserWarning, match="cue list"):
        assert load_model(path) is None


def test_the_packaged_encoder_gets_the_learned_reader(encoder: Encoder) -> None:
    """The packaged model's folder is called "model": the reader must know it by the model's name (it did not, so
    the app read polarity with the rules alone)."""
    assert model_for(encoder) is not None


def test_other_encoders_get_the_rules() -> None:
    """Weights learned on MiniLM vectors mean nothing on another encoder's (here the tests' hashing fake)."""
    assert model_for(HashingEncoder(dim=384)) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The Hobbit was too tedious", ["dislike"]),
        ("I loved Heat", ["like"]),
        ("I love The Lord of the Rings, but The Hobbit was too tedious!", ["like", "dislike"]),
        ("I watched Babel. It was a bit boring.", ["dislike"]),
        ("I have seen Heat", ["seen"]),
    ],
)
def test_clear_sentences_read_right(text: str, expected: list[str], engine: Engine) -> None:
    assert read(text, engine) == expected


@pytest.mark.xfail(
    strict=True,
    reason="ReDial's tuning half has ~10 'seen X but <negation> those' mentions, 1 of them a dislike: "
    "the model cannot learn this pattern from that data (issue #15 item 2, left open)",
)
def test_seen_but_dont_like_those_reads_as_a_dislike(engine: Engine) -> None:
    assert read("I've seen Scary Movie but don't really like those", engine) == ["dislike"]


def test_tiny_training_run_learns_a_synthetic_handful(tmp_path: Path) -> None:
    """End to end on a few labelled sentences: understanding's cues and texts, fake vectors, fit, save, load."""
    said = {
        "I loved Heat": "like",
        "The Hobbit was amazing": "like",
        "I really enjoyed Babel": "like",
        "I hated Heat": "dislike",
        "Babel was too tedious": "dislike",
        "I did not like The Hobbit": "dislike",
        "I have seen Babel": "seen",
        "I watched The Hobbit": "seen",
        "have you seen Heat?": "unknown",
        "did you like Babel?": "unknown",  # "is Babel any good?" asks about it now: no title to read
    }
    encoder = HashingEncoder(dim=16)
    mentions = [understand(text, TITLES, set(), 2025).titles[0] for text in said]
    vectors = encoder.encode_texts(PolarityModel.texts(mentions))
    model = fit(mentions, list(said.values()), vectors, 16, TrainingConfig(l2=1e-4, balance=0.0, steps=300))  # type: ignore[arg-type]
    probabilities = model.probabilities(model.features(mentions, vectors))
    assert [("like", "dislike", "seen", "unknown")[i] for i in probabilities.argmax(axis=1)] == list(said.values())
    loaded = load_model(model.save(tmp_path / "model.json"))
    assert loaded is not None and loaded.dim == 16
    assert np.allclose(loaded.probabilities(loaded.features(mentions, vectors)), probabilities, atol=1e-3)


def test_a_learned_dislike_moves_its_clause_phrase_to_the_negative_side(engine: Engine) -> None:
    """ "The Hobbit was so tedious" read as a dislike must not pull the interest toward tedium."""
    text = "I love The Lord of the Rings, but The Hobbit was so tedious!"
    phrase = understand(text, TITLES, set(), 2025).titles[1].phrase
    assert phrase and phrase in understand(text, TITLES, set(), 2025).positive  # the rules saw no negation there
    signal = read_turn(engine, text)
    assert [tuple(t) for t in signal.titles] == [("lotr", "like"), ("hobbit", "dislike")]
    assert phrase in signal.negative and phrase not in signal.positive
