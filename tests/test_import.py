"""`recochat import conversations` and crowds (issue #26): reading, linking, the report, idempotency, removal,
forget and privacy, how a crowd is weighed against real users, the demo's shipped ReDial prior, and what an
import does to R@10 on a bench catalog.

The store's side (the `crowd` table on SQLite and PostgreSQL) is in tests/test_profile_store_contract.py; the
chat's side for a new demo user ("I loved Hot Fuzz") in tests/conversations/movies-crowd-prior-hot-fuzz.convo.yaml.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import TINY_CATALOG
from fakes import HashingEncoder

from recochat.bot.crowd_import import ConversationFileError, catalog_crowd, import_conversations
from recochat.bot.engine import Engine
from recochat.bot.frontends.cli import main
from recochat.bot.settings import DataSettings
from recochat.bot.training.crowd_prior import build_prior
from recochat.bot.training.redial import load_samples, redial_items
from recochat.profiles.collaborative import CoOccurrence
from recochat.profiles.crowd import (
    Crowd,
    CrowdConversation,
    crowd_model,
    crowd_weight,
    learned_popularity,
    load_prior,
)
from recochat.profiles.store import ProfileStore
from recochat.retrieval.catalog import CatalogItem, demo_catalog_path, demo_prior_path, load_catalog
from recochat.retrieval.store import StoredCatalog
from recochat.retrieval.titles import TitleIndex

CONVERSATIONS = [
    {"id": "c1", "titles": ["Laugh Factory (2004)", "Village Cops", "Smart Alecks"]},
    {"id": "c2", "titles": ["Laugh Factory", "Village Cops", "Paddington"], "disliked": ["Paddington"]},
    {"id": 3, "titles": ["Night of Teeth", "The Haunting Hour"], "liked": ["Scream Camp"]},
    {"id": "c4", "titles": ["Laugh Factory (1950)", "Mystery Film", "Village Cops"]},
]


@pytest.fixture
def tiny(fake_encoder: HashingEncoder) -> StoredCatalog:
    items = [
        CatalogItem(item_id, title, f"{title} ({year}). {text}", {"year": year, "genres": genres})
        for item_id, title, year, genres, text in TINY_CATALOG
    ]
    return StoredCatalog("tiny", items, fake_encoder.encode_texts([i.text for i in items]))


@pytest.fixture
def store(tmp_path: Path) -> ProfileStore:
    opened = ProfileStore(tmp_path / "profiles.sqlite3")
    yield opened
    opened.close()


def write(path: Path, rows: list[object]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


def test_our_jsonl_is_linked_reported_and_a_reimport_changes_nothing(
    tmp_path: Path, store: ProfileStore, tiny: StoredCatalog
):
    path = write(tmp_path / "talks.jsonl", CONVERSATIONS)
    titles = TitleIndex(tiny.items)
    report = import_conversations(store, "tiny", titles, path, fmt="jsonl")
    assert (report.source, report.conversations, report.change.added) == ("talks", 4, 4)
    # "Laugh Factory (1950)" is not the catalog's 2004 film; "Paddington" was disliked, so it is not learned
    assert (report.linked, report.unlinked, report.items) == (9, 2, 6)
    assert dict(report.top_unlinked) == {"Laugh Factory (1950)": 1, "Mystery Film": 1}
    assert report.pairs == 3 + 3  # m1, m2, m3 pairwise (c1; c2 repeats one); m4, m5, m13 pairwise (c3)
    crowd = dict((c.key, c.items) for _, c in store.crowd("tiny"))
    assert crowd == {"c1": ["m1", "m3", "m2"], "c2": ["m1", "m3"], "3": ["m4", "m5", "m13"], "c4": ["m3"]}
    before = store.crowd("tiny")
    again = import_conversations(store, "tiny", titles, path, fmt="jsonl")
    assert (again.change.added, again.change.updated, again.change.unchanged) == (0, 0, 4)
    assert store.crowd("tiny") == before
    dry = import_conversations(store, "tiny", titles, path, fmt="jsonl", source="other", dry_run=True)
    assert dry.change.added == 4 and store.crowd_sources() == [("tiny", "talks", 4)]


def test_a_bad_file_names_the_file_and_line_and_imports_nothing(
    tmp_path: Path, store: ProfileStore, tiny: StoredCatalog
):
    path = write(tmp_path / "bad.jsonl", [CONVERSATIONS[0], "{not json", {"titles": ["Starfall"]}, CONVERSATIONS[1]])
    titles = TitleIndex(tiny.items)
    with pytest.raises(ConversationFileError) as raised:
        import_conversations(store, "tiny", titles, path, fmt="jsonl")
    message = str(raised.value)
    assert message.startswith(f"{path}: 2 bad line(s), nothing was imported (fix them, or pass --skip-bad)")
    assert "line 2: not valid JSON" in message and "line 3: 'id' is missing" in message
    assert store.crowd("tiny") == []
    with pytest.raises(ConversationFileError, match=r"line 1: a ReDial line needs 'conversationId'"):
        import_conversations(store, "tiny", titles, path, fmt="redial")
    report = import_conversations(store, "tiny", titles, path, fmt="jsonl", skip_bad=True)
    assert report.change.added == 2 and [s.split(":")[0] for s in report.skipped] == ["line 2", "line 3"]


def test_remove_restores_the_counts_exactly_and_a_shared_conversation_counts_once(
    tmp_path: Path, store: ProfileStore, tiny: StoredCatalog
):
    titles = TitleIndex(tiny.items)
    import_conversations(store, "tiny", titles, write(tmp_path / "a.jsonl", CONVERSATIONS[:2]), fmt="jsonl")
    first = crowd_model(c for _, c in store.crowd("tiny")).snapshot()
    # b repeats c1 word for word (counted once) and adds two more
    b = write(tmp_path / "b.jsonl", [CONVERSATIONS[0], *CONVERSATIONS[2:]])
    import_conversations(store, "tiny", titles, b, fmt="jsonl")
    both = crowd_model(c for _, c in store.crowd("tiny"))
    assert both.counts["m2"] == 1 and both.counts["m1"] == 2
    assert store.remove_crowd("b") == 3 and store.remove_crowd("b") == 0
    assert crowd_model(c for _, c in store.crowd("tiny")).snapshot() == first


def test_forget_never_touches_a_crowd_and_a_crowd_holds_no_user_ids(
    tmp_path: Path, store: ProfileStore, tiny: StoredCatalog, fake_encoder: HashingEncoder
):
    import_conversations(store, "tiny", TitleIndex(tiny.items), write(tmp_path / "t.jsonl", CONVERSATIONS), fmt="jsonl")
    engine = Engine(tiny, fake_encoder, store, crowd=catalog_crowd(store, tiny, 0.5))
    before = store.crowd("tiny")
    engine.turn("alice", "I loved Laugh Factory")
    assert engine.forget("alice") > 0 and store.forget("c1") == 0  # a conversation id is no user
    assert store.crowd("tiny") == before and "alice" not in store.users()
    columns = [row[1] for row in store._db.execute("PRAGMA table_info(crowd)")]
    assert columns == ["catalog", "source", "conversation", "digest", "items", "imported_at"]


def test_real_users_outweigh_a_crowd_prior_and_more_so_as_they_arrive():
    """Eight crowd conversations liked A with B; four real users like A with C: C leads on a fresh install,
    because one crowd conversation counts half a real user's session, and less as the deployment's own
    likes grow."""
    prior = crowd_model(CrowdConversation(f"c{n}", "h", ["A", "B"]) for n in range(8))
    crowd = Crowd(prior, refit_seconds=0)
    own = CoOccurrence()
    alone = crowd.blend(own, ["A"])
    assert set(alone.scores) == {"B"} and alone.because == {"B": "A"}  # alone, the crowd speaks
    assert learned_popularity(alone, catalog_has_popularity=True) == {}  # the demo's own popularity stays alone
    assert learned_popularity(alone, catalog_has_popularity=False) == {"A": 4.0, "B": 4.0}
    for n in range(4):
        own.observe_all(f"user{n}", ["A", "C"])
    blended = crowd.blend(own, ["A"])
    assert blended.scores["C"] > blended.scores["B"] and blended.because == {"B": "A", "C": "A"}
    assert blended.weight == pytest.approx(0.5 * 1000 / 1008)
    assert blended.counts["A"] == pytest.approx(4 + 8 * blended.weight)
    assert crowd_weight(0) == 0.5 and crowd_weight(1000) == 0.25 and crowd_weight(9000) == pytest.approx(0.05)
    assert set(Crowd(prior, base=0.0).blend(own, ["A"]).scores) == {"C"}  # RECOCHAT_CROWD_WEIGHT=0
    thin = Crowd(crowd_model(CrowdConversation(f"c{n}", "h", ["A", "D"]) for n in range(2)))
    assert thin.blend(CoOccurrence(), ["A"]).scores == {}  # fewer than 3 conversations say nothing


def test_on_the_demo_a_few_real_users_outweigh_the_shipped_prior(
    tmp_path: Path, store: ProfileStore, fake_encoder: HashingEncoder
):
    """ReDial's seekers liked Hot Fuzz with Shaun of the Dead (8 conversations, at half a session each: four
    users' worth). Once five real users have liked Hot Fuzz with The Grand Budapest Hotel (no ReDial conversation
    did), a new fan of Hot Fuzz gets it ahead of Shaun of the Dead from the people who liked it; with up to three
    the prior still leads, and four are about even."""
    items = load_catalog(demo_catalog_path()).items
    demo = StoredCatalog("demo-movies", items, fake_encoder.encode_texts([i.text for i in items]))
    engine = Engine(demo, fake_encoder, store, crowd=catalog_crowd(store, demo, 0.5, demo_prior_path()))
    engine.crowd.refit_seconds = 0  # every like in the weights before the next ranking, not up to a second later
    hot_fuzz, shaun, budapest = "hot-fuzz-2007", "shaun-of-the-dead-2004", "the-grand-budapest-hotel-2014"
    engine.feedback("newbie", hot_fuzz, "like")

    def together() -> dict[str, float]:
        return engine.ranking_request("newbie", 5).collaborative

    assert max(together(), key=together().get) == shaun  # type: ignore[arg-type]
    for fans in range(1, 6):
        engine.feedback(f"fan{fans}", hot_fuzz, "like")
        engine.feedback(f"fan{fans}", budapest, "like")
        leader = max(together(), key=together().get)  # type: ignore[arg-type]
        assert fans == 4 or leader == (shaun if fans < 4 else budapest), fans  # four: about even (.0182 to .0184)
    assert engine.ranking_request("newbie", 5).collaborative_because[budapest] == hot_fuzz


def test_the_demo_prior_holds_only_counts_over_demo_titles_and_names_what_hot_fuzz_fans_liked():
    data = json.loads(demo_prior_path().read_text(encoding="utf-8"))
    assert "CC BY 4.0" in data["licence"] and "ReDial" in data["attribution"] and data["conversations"] == 2270
    assert set(data) == {"format", "source", "licence", "attribution", "how", "catalog", "conversations", "files"} | {
        "min_together",
        "counts",
        "pairs",
    }
    demo = {item.id for item in load_catalog(demo_catalog_path()).items}
    ids = set(data["counts"]) | set(data["pairs"]) | {b for row in data["pairs"].values() for b in row}
    assert ids <= demo
    assert data["pairs"]["hot-fuzz-2007"]["shaun-of-the-dead-2004"] >= 3
    prior = load_prior(demo_prior_path())
    assert (
        prior.pairs["shaun-of-the-dead-2004"]["hot-fuzz-2007"] == prior.pairs["hot-fuzz-2007"]["shaun-of-the-dead-2004"]
    )


def test_the_script_rebuilds_the_shipped_prior_byte_for_byte():
    text, reports = build_prior(DataSettings().data)
    assert text == demo_prior_path().read_text(encoding="utf-8")
    assert [r.conversations for r in reports] == [500, 901, 1000]


def test_the_cli_imports_lists_removes_and_says_what_is_wrong_in_one_line(tmp_path: Path):
    path = write(tmp_path / "talks.jsonl", [{"id": "a", "titles": ["Hot Fuzz (2007)", "Shaun of the Dead"]}])
    runner = CliRunner()
    dry = runner.invoke(main, ["import", "conversations", str(path), "--format", "jsonl", "--dry-run"])
    assert dry.exit_code == 0 and "would import: 1 new" in dry.output and "(dry run: nothing written)" in dry.output
    done = runner.invoke(main, ["import", "conversations", str(path), "--format", "jsonl", "--json"])
    assert json.loads(done.output)["titles"] == {"linked": 2, "unlinked": 0, "items": 2}
    assert runner.invoke(main, ["import", "list"]).output == "talks\tdemo-movies\t1 conversations\n"
    bad = runner.invoke(main, ["import", "conversations", str(write(tmp_path / "bad.jsonl", ["[1]"]))])
    assert bad.exit_code == 2 and "line 1: a ReDial line is a JSON object" in bad.output
    assert "Traceback" not in bad.output and isinstance(bad.exception, SystemExit)
    assert runner.invoke(main, ["import", "remove", "talks"]).output == "removed import talks: 1 conversations\n"
    gone = runner.invoke(main, ["import", "remove", "talks"])
    assert gone.exit_code == 2 and "no import named 'talks' (imports: none)" in gone.output


def test_importing_a_held_back_slice_of_the_tuning_half_improves_its_neighbours_r10(
    tmp_path: Path, fake_encoder: HashingEncoder
):
    """ReDial test's tuning half (the first half by dialog id; nothing of the held-out half is read): its first
    half of dialogues is imported as a crowd, and the second half's samples rank with and without it. The
    catalog is the slice of ReDial's movies those dialogues mention, the encoder the hashing one (what the
    crowd adds is the point, not the sentence model)."""
    data = DataSettings().data
    rows = [json.loads(line) for line in (data / "redial" / "test_data.jsonl").open(encoding="utf-8")]
    ids = sorted(
        {str(json.loads(line)["dialog_id"]) for line in (data / "redial-ievalm" / "test_data_processed.jsonl").open()}
    )
    tuning = ids[: len(ids) // 2]
    imported, evaluated = set(tuning[: len(tuning) // 2]), set(tuning[len(tuning) // 2 :])
    mentioned = {m for r in rows if str(r["conversationId"]) in imported | evaluated for m in r["movieMentions"]}
    items = [i for i in redial_items(data, tmp_path) if i.id in mentioned]
    catalog = StoredCatalog("redial-slice", items, fake_encoder.encode_texts([i.text for i in items]))
    source = write(tmp_path / "slice.jsonl", [r for r in rows if str(r["conversationId"]) in imported])
    store = ProfileStore(tmp_path / "bench.sqlite3")
    engine = Engine(catalog, fake_encoder, store, learn=False)
    report = import_conversations(store, catalog.name, engine.reader.titles, source)
    samples = [s for s in load_samples(items, data, evaluated) if s.new_targets()][:100]
    for sample in samples:
        for index, text in enumerate(sample.context):
            if text.strip() and sample.is_seeker(index):
                engine.turn(sample.user, text, recommend=False)

    def recall_at_10(crowd: Crowd) -> float:
        engine.crowd = crowd
        found = 0.0
        for sample in samples:
            top = {r.item.id for r in engine.ranking(sample.user, 10, exclude=sample.mentioned)}
            found += len(top & set(sample.new_targets())) / len(sample.new_targets())
        return found / len(samples)

    without, with_import = recall_at_10(Crowd()), recall_at_10(catalog_crowd(store, catalog, 0.5))
    print(
        f"R@10 on {len(samples)} samples, {len(items)} items: {without:.3f} without, {with_import:.3f} with the import ({report.conversations} conversations, {report.pairs} pairs)"
    )
    assert report.conversations > 300 and report.unlinked < 0.01 * report.linked
    assert with_import > without + 0.03
    store.close()
