"""Wiring: settings → store, catalog, encoder, profiles, writer → `Conversations`.

Front ends call `build()`; nothing here imports a front end.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from recochat.profiles.store import ProfileStore
from recochat.retrieval.catalog import demo_catalog_path, load_catalog
from recochat.retrieval.encoder import Encoder
from recochat.retrieval.ingest import IngestReport, ingest
from recochat.retrieval.recommender import Recommender
from recochat.retrieval.store import ChromaStore

from .conversation import Conversations, Writer, template_writer
from .engine import Engine
from .settings import DEMO_COLLECTION, Settings

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,510}[A-Za-z0-9]$")


class SetupError(Exception):
    """A problem the user can fix (bad setting, missing catalog); the message says how."""


def configure_logging(settings: Settings) -> None:
    settings.home.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    if any(getattr(h, "_recochat", False) for h in root.handlers):
        return
    handler = logging.FileHandler(settings.log_path, encoding="utf-8")
    handler._recochat = True  # type: ignore[attr-defined]
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    for noisy in ("httpx", "chromadb", "sentence_transformers", "openai", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def check_collection_name(name: str) -> str:
    if not _NAME.match(name):
        raise SetupError(
            f"collection name {name!r} is not valid: use 3-512 letters, digits, '.', '_' or '-', "
            "starting and ending with a letter or digit"
        )
    return name


def open_store(settings: Settings) -> ChromaStore:
    if settings.chroma_host:
        try:
            store = ChromaStore.http(settings.chroma_host, settings.chroma_port)
            store.names()
        except Exception as error:
            raise SetupError(
                f"cannot reach the Chroma server at {settings.chroma_host}:{settings.chroma_port} "
                f"(RECOCHAT_CHROMA_HOST / RECOCHAT_CHROMA_PORT): {error}"
            ) from None
        return store
    return ChromaStore.persistent(settings.chroma_path)


def open_encoder(settings: Settings) -> Encoder:
    try:
        return Encoder(settings.encoder_model, device=settings.device, batch_size=settings.encode_batch_size)
    except (FileNotFoundError, OSError) as error:
        raise SetupError(f"cannot load the encoder: {error}") from None


def ingest_demo(store: ChromaStore, encoder: Encoder) -> IngestReport:
    return ingest(store, encoder, DEMO_COLLECTION, load_catalog(demo_catalog_path()).items)


def resolve_collection(settings: Settings, store: ChromaStore, encoder: Encoder, requested: str | None = None) -> str:
    """--collection, else RECOCHAT_COLLECTION, else the most recently ingested, else the demo."""
    name = requested or settings.collection
    if name:
        check_collection_name(name)
        if store.exists(name):
            return name
        if name != DEMO_COLLECTION:
            known = ", ".join(store.names()) or "none yet"
            raise SetupError(f"no catalog named {name!r} (known: {known}); ingest one with `recochat ingest PATH --collection {name}`")
    name = name or store.most_recent()
    if name is None or (name == DEMO_COLLECTION and not store.exists(name)):
        ingest_demo(store, encoder)
        name = DEMO_COLLECTION
    return name


@dataclass
class Runtime:
    settings: Settings
    store: ChromaStore
    encoder: Encoder
    conversations: Conversations
    writer_label: str

    @property
    def engine(self) -> Engine:
        return self.conversations.engine


def build(
    settings: Settings, collection: str | None = None, writer: Writer | None = None, encoder: Encoder | None = None
) -> Runtime:
    configure_logging(settings)
    store = open_store(settings)
    encoder = encoder or open_encoder(settings)
    name = resolve_collection(settings, store, encoder, collection)
    catalog = store.load(name)
    if len(catalog) == 0:
        raise SetupError(f"catalog {name!r} is empty; ingest items with `recochat ingest PATH --collection {name}`")
    recommender = Recommender(catalog, ann_query=lambda vector, n: store.query(name, vector, n))
    engine = Engine(catalog, encoder, ProfileStore(settings.profiles_path), recommender=recommender,
                    items_per_reply=settings.items_per_reply)
    domain = "movie" if name == DEMO_COLLECTION else "thing"
    if writer is None:
        writer, label = make_writer(settings, engine, domain)
    else:
        label = writer.name
    return Runtime(settings, store, encoder, Conversations(engine, writer, catalog_name=name), label)


def make_writer(settings: Settings, engine: Engine, domain: str) -> tuple[Writer, str]:
    from .llm import chat_model
    from .writer import LLMWriter

    model, label = chat_model(settings)
    if model is None:
        return template_writer(domain), label
    return LLMWriter(model, engine.titles, label, timeout_s=settings.llm_timeout_s, domain=domain), label
