"""Wiring: settings → store, catalog, encoder, profiles, writer → `Conversations`.

Front ends call `build()`; nothing here imports a front end.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from recochat.profiles.store import ProfileStorage, ProfileStore
from recochat.retrieval.catalog import demo_catalog_path, load_catalog
from recochat.retrieval.encoder import Encoder, TextEncoder
from recochat.retrieval.ingest import IngestReport, infer_noun, ingest
from recochat.retrieval.recommender import Recommender
from recochat.retrieval.store import ChromaStore

from .conversation import Conversations, Writer
from .engine import Engine
from .errors import SetupError
from .llm import ChatEndpoint, open_chat_endpoint
from .llm_server import LocalModelServer
from .settings import DEMO_COLLECTION, Settings
from .writer import LLMWriter, TemplateWriter

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,510}[A-Za-z0-9]$")


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


def open_profiles(settings: Settings) -> ProfileStorage:
    """PostgreSQL when RECOCHAT_DATABASE_URL is set, else the SQLite file under RECOCHAT_HOME.
    psycopg is imported only when a URL is set, so the default costs nothing more at start."""
    url = settings.database_url.get_secret_value() if settings.database_url else ""
    if not url:
        return ProfileStore(settings.profiles_path)
    from recochat.profiles.postgres import PostgresProfileStore

    try:
        return PostgresProfileStore(url)
    except SetupError as error:
        raise SetupError(
            f"RECOCHAT_DATABASE_URL: {error} (unset RECOCHAT_DATABASE_URL to keep profiles in SQLite)"
        ) from None


def open_encoder(settings: Settings) -> Encoder:
    try:
        return Encoder(settings.encoder_model, device=settings.device, batch_size=settings.encode_batch_size)
    except (FileNotFoundError, OSError) as error:
        raise SetupError(f"cannot load the encoder: {error}") from None


def ingest_demo(store: ChromaStore, encoder: TextEncoder) -> IngestReport:
    return ingest(store, encoder, DEMO_COLLECTION, load_catalog(demo_catalog_path()).items, noun="movie")


def resolve_collection(
    settings: Settings, store: ChromaStore, encoder: TextEncoder, requested: str | None = None
) -> str:
    """--collection, else RECOCHAT_COLLECTION, else the most recently ingested, else the demo."""
    name = requested or settings.collection
    if name:
        check_collection_name(name)
        if store.exists(name):
            return name
        if name != DEMO_COLLECTION:
            known = ", ".join(store.names()) or "none yet"
            raise SetupError(
                f"no catalog named {name!r} (known: {known}); ingest one with `recochat ingest PATH --collection {name}`"
            )
    name = name or store.most_recent()
    if name is None or (name == DEMO_COLLECTION and not store.exists(name)):
        ingest_demo(store, encoder)
        name = DEMO_COLLECTION
    return name


@dataclass
class Runtime:
    settings: Settings
    store: ChromaStore
    encoder: TextEncoder
    conversations: Conversations
    writer_label: str
    llm_server: LocalModelServer | None = None
    """The embedded model's server, owned by this runtime: `close()` stops it."""

    @property
    def engine(self) -> Engine:
        return self.conversations.engine

    def llm_status(self) -> str | None:
        """'LLM starting' / 'LLM restarting' while the owned model server cannot answer, else None."""
        server = self.llm_server
        if server is None or server.state == "ready":
            return None
        return f"LLM {server.state}"

    def close(self) -> None:
        """Stop the owned model server and close the profile store (a PostgreSQL pool's connections)."""
        if self.llm_server is not None:
            self.llm_server.stop()
        self.engine.profiles.close()


def build(
    settings: Settings, collection: str | None = None, writer: Writer | None = None, encoder: TextEncoder | None = None
) -> Runtime:
    """Settings and names are checked before any model loads; the embedded LLM server starts
    first, so it loads while the encoder does."""
    configure_logging(settings)
    if collection:
        check_collection_name(collection)
    store = open_store(settings)
    profiles = open_profiles(settings)
    endpoint = None
    try:
        endpoint = open_chat_endpoint(settings) if writer is None else None
        encoder = encoder or open_encoder(settings)
        name = resolve_collection(settings, store, encoder, collection)
        catalog = store.load(name)
        if len(catalog) == 0:
            raise SetupError(f"catalog {name!r} is empty; ingest items with `recochat ingest PATH --collection {name}`")
    except BaseException:
        if endpoint is not None and endpoint.server is not None:
            endpoint.server.stop()
        profiles.close()
        raise
    if catalog.noun is None:  # stored before nouns were: inferred as a new ingest would
        catalog.noun = "movie" if name == DEMO_COLLECTION else infer_noun(name, catalog.items[0].meta)
    recommender = Recommender(catalog, ann_query=lambda vector, n: store.query(name, vector, n))
    engine = Engine(
        catalog,
        encoder,
        profiles,
        recommender=recommender,
        items_per_reply=settings.items_per_reply,
    )
    domain = catalog.noun
    if writer is None:
        writer = make_writer(settings, engine, domain, endpoint)
    server = endpoint.server if endpoint is not None else None
    return Runtime(settings, store, encoder, Conversations(engine, writer, catalog_name=name), writer.name, server)


def make_writer(settings: Settings, engine: Engine, domain: str, endpoint: ChatEndpoint | None) -> Writer:
    """The LLM writer over `endpoint`, or the template writer when there is none."""
    if endpoint is None:
        return TemplateWriter(domain)
    return LLMWriter(
        endpoint.model,
        engine.titles,
        endpoint.label,
        first_sentence_s=settings.llm_first_sentence_s,
        total_s=settings.llm_total_s,
        domain=domain,
        server=endpoint.server,
    )
