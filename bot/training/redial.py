"""ReDial read for training and evaluation: the catalog, the samples and their split, the logged mentions.

- Catalog: iEvaLM's ReDial `id2info.json` (6,583 movies; plot, genres, director, cast embedded), ingested through
  `recochat ingest`'s code path into Chroma (cached under the data cache).
- Samples: iEvaLM's `test_data_processed.jsonl`; split by `dialog_id` sorted as strings, the first half tunes,
  the second half is held out. Nothing is learned from held-out dialogues.
- Each sample: a fresh user; its context turns go through `Engine.turn` (`replay`), then the engine ranks.
- Learning from other users: a set of dialogues' original ReDial conversations, replayed as positive events
  (every movie mentioned, in order) into the `CoOccurrence` component that learns from real users' feedback.
- Catalog popularity: ReDial's `nbMentions` minus every @mention in the test conversations (tuning and
  held-out), i.e. mentions in ReDial's train/validation conversations.

`data` is the shared data folder (`DataSettings.data`, RECOCHAT_DATA), `cache` where built catalogs are kept
(`DataSettings.bench_cache`, RECOCHAT_BENCH_CACHE).
"""

from __future__ import annotations

import csv
import itertools
import json
import re
import time
from collections import Counter
from collections.abc import Callable, Container, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from recochat.profiles.collaborative import CoOccurrence
from recochat.profiles.store import ProfileStore
from recochat.retrieval.catalog import CatalogItem, ColumnMap, load_catalog
from recochat.retrieval.encoder import Encoder
from recochat.retrieval.ingest import ingest
from recochat.retrieval.recommender import Recommender
from recochat.retrieval.scoring import ScoringWeights
from recochat.retrieval.store import ChromaStore, StoredCatalog
from recochat.retrieval.titles import LOWER_CASE_WORD, TitleIndex

from ..engine import Engine

EVAL_CACHE = 200_000
"""Encoder cache entries: every context turn is encoded once, though replayed by several configurations."""
BASE = ScoringWeights(negative=0.0, popularity=0.0, collaborative=0.0)
"""The formula with every learned or tuned part off: the tuning grid's starting point."""
Learner = Callable[[set[str]], CoOccurrence]


@dataclass
class Sample:
    dialog_id: str
    turn_id: int
    context: list[str]
    targets: list[str]
    mentioned: set[str]
    seeker: list[bool] | None = None
    """Who said each context turn; None = alternating, the last one being the seeker (ReDial)."""

    def is_seeker(self, index: int) -> bool:
        if self.seeker is not None:
            return self.seeker[index]
        return (len(self.context) - 1 - index) % 2 == 0

    @property
    def user(self) -> str:
        return f"{self.dialog_id}/{self.turn_id}"

    def new_targets(self) -> list[str]:
        return [t for t in self.targets if t not in self.mentioned]


def require_data(data: Path) -> None:
    needed = [
        data / "redial-ievalm" / "id2info.json",
        data / "redial-ievalm" / "test_data_processed.jsonl",
        data / "redial" / "test_data.jsonl",
    ]
    missing = [str(p) for p in needed if not p.is_file()]
    if missing:
        raise SystemExit(f"ReDial data not found: {', '.join(missing)} (set RECOCHAT_DATA to the shared data folder)")


def redial_items(data: Path, cache: Path) -> list[CatalogItem]:
    """id2info → JSONL → the product's catalog loader (plot, genres, director, cast embedded)."""
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / "redial_catalog.jsonl"
    if not path.exists():
        info = json.loads((data / "redial-ievalm" / "id2info.json").read_text())
        with path.open("w", encoding="utf-8") as f:
            for movie_id, record in info.items():
                row = {
                    "id": movie_id,
                    "name": record["name"],
                    "plot": record.get("plot") or "",
                    "genre": record.get("genre") or [],
                    "director": record.get("director") or [],
                    "star": record.get("star") or [],
                }
                f.write(json.dumps(row) + "\n")
    columns = ColumnMap(
        id="id", title="name", text=("plot", "genre", "director", "star"), meta=("genre", "director", "star")
    )
    return load_catalog(path, columns, skip_bad=True).items


def stored(encoder: Encoder, items: list[CatalogItem], name: str, cache: Path) -> StoredCatalog:
    """Ingest through the product's code path (cached by content hash) and load into memory."""
    store = ChromaStore.persistent(cache / f"chroma-{name}")
    ingest(store, encoder, name, items)
    return store.load(name)


def load_samples(items: list[CatalogItem], data: Path, dialogs: Container[str] | None = None) -> list[Sample]:
    """The recommendation samples whose targets are in `items` (only those of `dialogs` when given: linking every
    context is most of the cost)."""
    by_name: dict[str, str] = {}
    for item in items:
        by_name.setdefault(item.label(), item.id)
    titles = TitleIndex(items)
    linked: dict[str, set[str]] = {}  # a turn's context repeats every earlier utterance: link each text once
    samples = []
    for line in (data / "redial-ievalm" / "test_data_processed.jsonl").open(encoding="utf-8"):
        row = json.loads(line)
        if dialogs is not None and str(row["dialog_id"]) not in dialogs:
            continue
        targets = [by_name[name] for name in row["rec"] if name in by_name]
        if not targets:
            continue
        mentioned = {by_name[e] for e in row["entity"] if e in by_name}
        for text in row["context"]:
            if text not in linked:
                linked[text] = {m.item_id for m in titles.find(text)}
            mentioned |= linked[text]
        samples.append(Sample(str(row["dialog_id"]), int(row["turn_id"]), row["context"], targets, mentioned))
    return samples


def first_samples(items: list[CatalogItem], data: Path, count: int) -> tuple[list[Sample], list[Sample]]:
    """The first `count` samples of each half that `split(load_samples(items, data))` gives, linking only the
    contexts of their dialogs (a smoke run: linking every context took ~4 s of its ~17)."""
    by_name = {item.label() for item in items}
    order = []
    for line in (data / "redial-ievalm" / "test_data_processed.jsonl").open(encoding="utf-8"):
        row = json.loads(line)
        if any(name in by_name for name in row["rec"]):
            order.append(str(row["dialog_id"]))
    tuning_ids = tuning_dialogs(order)
    wanted = set([d for d in order if d in tuning_ids][:count] + [d for d in order if d not in tuning_ids][:count])
    samples = load_samples(items, data, dialogs=wanted)
    tuning = [s for s in samples if s.dialog_id in tuning_ids][:count]
    return tuning, [s for s in samples if s.dialog_id not in tuning_ids][:count]


def tuning_dialogs(dialog_ids: Iterable[str]) -> set[str]:
    """The tuning half: the first half of the dialogs, sorted by id as strings; the rest is held out."""
    dialogs = sorted(set(dialog_ids))
    return set(dialogs[: len(dialogs) // 2])


def split(samples: list[Sample]) -> tuple[list[Sample], list[Sample]]:
    tuning_ids = tuning_dialogs(s.dialog_id for s in samples)
    return [s for s in samples if s.dialog_id in tuning_ids], [s for s in samples if s.dialog_id not in tuning_ids]


MENTION = re.compile(r"@(\d+)")
"""How a ReDial message names a movie: "@" and its id."""


@dataclass(frozen=True)
class RedialConversation:
    """What one line of ReDial's JSONL says about movies (the reader the benchmarks, training and
    `recochat import conversations` share): no worker ids, no message text."""

    id: str
    mentions: list[str]
    """The movie ids @mentioned in the messages, in order (repeats kept)."""
    names: dict[str, str]
    """movieMentions: id → "Title (Year)" (ids whose name is missing are left out)."""
    liked: frozenset[str]
    """Movies the seeker said they liked (`liked == 1` in the seeker's form, else in the recommender's)."""
    disliked: frozenset[str]
    """Movies the seeker said they did not like (`liked == 0`)."""


def read_conversation(record: object) -> RedialConversation:
    """One parsed line of ReDial's JSONL; a ValueError that says what is missing or malformed."""
    if not isinstance(record, dict):
        raise ValueError("a ReDial line is a JSON object")
    if "conversationId" not in record or not isinstance(record.get("messages"), list):
        raise ValueError("a ReDial line needs 'conversationId' and a 'messages' list")
    mentions = []
    for message in record["messages"]:
        if not isinstance(message, dict) or not isinstance(message.get("text"), str):
            raise ValueError("every message needs a 'text' string")
        mentions += MENTION.findall(message["text"])
    names = record.get("movieMentions") or {}
    if not isinstance(names, dict):
        raise ValueError("'movieMentions' is an object of movie id → name")
    answers: dict[str, object] = {}
    for form in ("respondentQuestions", "initiatorQuestions"):  # the seeker's own form wins
        questions = record.get(form) or {}  # twenty test lines have [] for an empty form
        if not isinstance(questions, dict):
            raise ValueError(f"'{form}' is an object of movie id → answers")
        answers.update({str(k): v.get("liked") for k, v in questions.items() if isinstance(v, dict)})
    return RedialConversation(
        str(record["conversationId"]),
        mentions,
        {str(k): v for k, v in names.items() if isinstance(v, str) and v.strip()},
        frozenset(k for k, v in answers.items() if v == 1),
        frozenset(k for k, v in answers.items() if v == 0),
    )


def redial_mentions(data: Path) -> dict[str, list[str]]:
    """Test conversation id → the movie ids it @mentions, in order."""
    out = {}
    for line in (data / "redial" / "test_data.jsonl").open(encoding="utf-8"):
        conversation = read_conversation(json.loads(line))
        out[conversation.id] = conversation.mentions
    return out


TRAIN_FILES = ("kgsf-train-500/train_data.jsonl", "kgsf/valid_data.jsonl", "unicrs-ievalm/valid_data.jsonl")
"""ReDial's train and validation conversations under `redial-train/` (see the data folder's README): 2,270
distinct by id, none of them in the test split. The first copy of an id wins: the raw ReDial copies come first
(iEvaLM's copy merges a sender's consecutive messages)."""
REDIAL_TRAIN_CONVERSATIONS = 10_006
"""Conversations in ReDial's released train split, which the published systems learn from (validation included)."""


def train_records(data: Path) -> Iterator[dict]:
    """The raw lines of `TRAIN_FILES` as JSON objects, each conversation once (the files overlap; the first copy
    of an id wins), in file order."""
    seen: set[str] = set()
    for name in TRAIN_FILES:
        for line in (data / "redial-train" / name).open(encoding="utf-8"):
            if not line.strip():
                continue
            record = json.loads(line)
            if str(record["conversationId"]) not in seen:
                seen.add(str(record["conversationId"]))
                yield record


def train_conversations(data: Path) -> list[RedialConversation]:
    """The conversations of `TRAIN_FILES`, each once, in file order."""
    return [read_conversation(record) for record in train_records(data)]


def conversation_samples(record: dict, known: Container[str], titles: TitleIndex) -> list[Sample]:
    """One raw ReDial conversation as recommendation samples, built as iEvaLM built the test ones: a sender's
    consecutive messages are one utterance, @ids are written as their "Title (Year)", and at each recommender
    utterance that names catalog movies the sample is (every earlier utterance; those movies). Mentioned: the
    movies named earlier, by id or by a linked title. The dialogue id is "train:ID", as in `train_mentions`."""
    names = {k: " ".join(v.split()) for k, v in (record.get("movieMentions") or {}).items() if isinstance(v, str)}
    utterances: list[tuple[object, str, list[str]]] = []  # (sender, text, movie ids)
    for message in record["messages"]:
        ids = MENTION.findall(message["text"])
        text = MENTION.sub(lambda m: names.get(m.group(1), m.group(0)), message["text"])
        if utterances and utterances[-1][0] == message.get("senderWorkerId"):
            sender, before, earlier = utterances[-1]
            utterances[-1] = (sender, f"{before} {text}", earlier + ids)
        else:
            utterances.append((message.get("senderWorkerId"), text, ids))
    dialog = f"train:{record['conversationId']}"
    samples: list[Sample] = []
    mentioned: set[str] = set()
    for turn, (sender, _text, ids) in enumerate(utterances):
        targets = list(dict.fromkeys(i for i in ids if i in known))
        if turn and targets and sender != record.get("initiatorWorkerId"):
            context = [u[1] for u in utterances[:turn]]
            linked = {m.item_id for t in context for m in titles.find(t)}
            samples.append(Sample(dialog, turn, context, targets, mentioned | linked))
        mentioned |= {i for i in ids if i in known}
    return samples


def train_samples(items: list[CatalogItem], data: Path, conversations: int | None = None) -> list[Sample]:
    """`conversation_samples` of the ReDial train/validation conversations (none is a test dialogue): all of them,
    or the first `conversations` (linking every context's titles is most of the ~20 s the 2,270 take)."""
    known = {item.id for item in items}
    titles = TitleIndex(items)
    records = itertools.islice(train_records(data), conversations)
    return [s for record in records for s in conversation_samples(record, known, titles)]


CHAT_WORDS_LEAST = 18
"""A word is a chat word when at least this many train messages (0.05% of 36,236) use it in lower case."""


def chat_words(data: Path, least: int = CHAT_WORDS_LEAST) -> list[str]:
    """The words ReDial's train/validation seekers and recommenders write in lower case, outside their @movie
    mentions, in at least `least` messages, sorted: the packaged `retrieval/chat_words.txt` (`recochat train
    chat-words`). Why ReDial: its titles are @ids, so what is left of a message is plain chat, and a lower-case
    word common there ("good", "little", "action") is no title when a user types it."""
    counts: Counter[str] = Counter()
    for record in train_records(data):
        for message in record["messages"]:
            counts.update(set(LOWER_CASE_WORD.findall(MENTION.sub(" ", message["text"]))))
    return sorted(word for word, n in counts.items() if n >= least)


def train_mentions(data: Path) -> dict[str, list[str]]:
    """'train:ID' → the movie ids a ReDial train/validation conversation @mentions, in order."""
    return {f"train:{c.id}": c.mentions for c in train_conversations(data)}


def events_learner(
    mentions: dict[str, list[str]], catalog: StoredCatalog, background: Mapping[str, list[str]] | None = None
) -> Learner:
    """dialogues → a CoOccurrence that has seen them as logged positive events (mentions in order), after the
    `background` conversations every learner sees (ReDial's train/validation split: never a test dialogue)."""

    def learn(dialogs: set[str]) -> CoOccurrence:
        co = CoOccurrence()
        for source, chosen in ((background or {}, sorted(background or {})), (mentions, sorted(dialogs))):
            for dialog in chosen:
                for movie_id in source.get(dialog, []):
                    if movie_id in catalog.row_of:
                        co.observe(dialog, movie_id)
                co.end_session(dialog)
        return co

    return learn


def train_popularity(catalog: StoredCatalog, mentions: dict[str, list[str]], data: Path) -> StoredCatalog:
    """The catalog with a `popularity` column: nbMentions minus every test conversation's mentions."""
    in_test = Counter(m for ids in mentions.values() for m in ids)
    counts = {}
    with (data / "redial" / "movies_with_mentions.csv").open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            counts[row["movieId"]] = max(int(row["nbMentions"]) - in_test[row["movieId"]], 0)
    items = [replace(i, meta={**i.meta, "popularity": float(counts.get(i.id, 0))}) for i in catalog.items]
    return StoredCatalog(catalog.name, items, catalog.embeddings)


def make_engine(
    catalog: StoredCatalog,
    encoder: Encoder,
    collaborative: CoOccurrence,
    home: Path,
    weights: ScoringWeights,
    link_titles: bool = True,
) -> Engine:
    engine = Engine(
        catalog,
        encoder,
        ProfileStore(home / f"profiles-{time.monotonic_ns()}.sqlite3"),
        recommender=Recommender(catalog, weights),
        collaborative=collaborative,
        learn=False,
    )
    if not link_titles:
        engine.reader.titles = TitleIndex([])
    return engine


def replay(engine: Engine, samples: Sequence[Sample], recommender_turns: bool) -> None:
    """Feed each sample's context through the pipeline (recommender turns too, if asked)."""
    for sample in samples:
        for index, text in enumerate(sample.context):
            if text.strip() and (sample.is_seeker(index) or recommender_turns):
                engine.turn(sample.user, text, recommend=False)


def tuned_weights(chosen: dict) -> ScoringWeights:
    """The formula with a tuning grid's chosen collaborative and popularity weights (negatives at 0.5)."""
    return replace(BASE, negative=0.5, collaborative=chosen["collaborative"], popularity=chosen["popularity"])


def reused_formula(path: Path) -> tuple[dict, list[dict]]:
    """The formula configuration chosen by an earlier run's grid (its tuning metrics and grid come along)."""
    try:
        earlier = json.loads(path.read_text(encoding="utf-8"))
        chosen = {**earlier["chosen"], "metrics": earlier["tuning"]}
    except (OSError, ValueError, KeyError) as error:
        raise SystemExit(f"--formula-from {path}: no chosen configuration in it ({error})") from error
    return chosen, earlier.get("tuning_grid", [])
