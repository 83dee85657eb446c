"""Wiring: settings → store, catalog, encoder, profiles, writer → `Conversations`.

Front ends call `build()`; nothing here imports a front end.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from recochat.profiles.crowd import Crowd
from recochat.profiles.store import ProfileStorage, ProfileStore
from recochat.retrieval.catalog import CatalogItem, demo_catalog_path, demo_prior_path, load_catalog
from recochat.retrieval.encoder import Encoder, TextEncoder
from recochat.retrieval.ingest import IngestReport, infer_noun, ingest
from recochat.retrieval.ranker import load_ranker
from recochat.retrieval.recommender import DEFAULT_WEIGHTS, Recommender
from recochat.retrieval.snapshot import SnapshotCache, gc_paused, load_with_snapshot
from recochat.retrieval.store import ChromaStore, StoredCatalog

from .conversation import Conversations, Writer
from .crowd_import import catalog_crowd
from .engine import Engine
from .errors import SetupError
from .event_log import migrate_old_turns
from .llm import ChatEndpoint, ChatFactory, LLMSetupError, open_chat_endpoint, openai_chat
from .llm_server import LocalModelServer
from .settings import DEMO_COLLECTION, Settings
from .writer import LLMWriter, TemplateWriter

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,510}[A-Za-z0-9]$")
CATALOG_CHECK_S = 1.0
"""How often a runtime asks the store for the catalog version: a re-ingest by another process
shows up within about this long, at one metadata read per interval."""
SNAPSHOTS = "snapshots"
"""Catalog snapshots live in this folder under RECOCHAT_HOME (see `retrieval.snapshot`): local to
each machine, even when the catalog is on a shared Chroma server."""
log = logging.getLogger("recochat.runtime")


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
        return Encoder(
            settings.encoder_model,
            device=settings.device,
            batch_size=settings.encode_batch_size,
            backend=settings.encoder_backend,
        )
    except (FileNotFoundError, OSError) as error:
        raise SetupError(f"cannot load the encoder: {error}") from None


def ingest_demo(store: ChromaStore, encoder: TextEncoder) -> IngestReport:
    loaded = load_catalog(demo_catalog_path())
    return ingest(store, encoder, DEMO_COLLECTION, loaded.items, noun="movie", schema=loaded.schema)


def resolve_collection(
    settings: Settings, store: ChromaStore, encoder: TextEncoder, requested: str | None = None
) -> str:
    """--collection, else RECOCHAT_COLLECTION, else the most recently ingested, else the demo; one made with
    `encoder`."""
    name = requested or settings.collection
    if name:
        check_collection_name(name)
        if store.exists(name):
            return _encoded_with(store, encoder, name)
        if name != DEMO_COLLECTION:
            known = ", ".join(store.names()) or "none yet"
            raise SetupError(
                f"no catalog named {name!r} (known: {known}); ingest one with `recochat ingest PATH --collection {name}`"
            )
    name = name or store.most_recent()
    if name is None or (name == DEMO_COLLECTION and not store.exists(name)):
        ingest_demo(store, encoder)
        name = DEMO_COLLECTION
    return _encoded_with(store, encoder, name)


def _encoded_with(store: ChromaStore, encoder: TextEncoder, name: str) -> str:
    """`name`, once its vectors are `encoder`'s: the demo catalog is encoded again, any other catalog made with
    another encoder is a SetupError that says how to re-encode it (its vectors are not comparable)."""
    made_with = store.encoder(name)
    if made_with is None or made_with == encoder.name:
        return name
    if name != DEMO_COLLECTION:
        raise SetupError(
            f"catalog {name!r} was encoded with {made_with}, but this app encodes with {encoder.name} "
            f"(RECOCHAT_ENCODER_MODEL); ingest it again to re-encode it (`recochat ingest PATH --collection "
            f"{name}`) or set RECOCHAT_ENCODER_MODEL back"
        )
    log.warning("the demo catalog was encoded with %s; encoding it again with %s", made_with, encoder.name)
    ingest_demo(store, encoder)
    return name


def catalog_to_link(settings: Settings, requested: str | None = None) -> tuple[str, list[CatalogItem]]:
    """The catalog an import links titles to (named as `resolve_collection` names it) and its items, without
    the encoder: the demo catalog, not ingested yet on a fresh install, is read from its file."""
    name = requested or settings.collection
    if name:
        check_collection_name(name)
    store = open_store(settings)
    name = name or store.most_recent() or DEMO_COLLECTION
    if store.exists(name):
        return name, store.load(name).items
    if name == DEMO_COLLECTION:
        return name, load_catalog(demo_catalog_path()).items
    known = ", ".join(store.names()) or "none yet"
    raise SetupError(
        f"no catalog named {name!r} (known: {known}); ingest one with `recochat ingest PATH --collection {name}`"
    )


class CatalogWatch:
    """Keeps a runtime's in-memory catalog in step with the store, where another process (a
    `recochat ingest`, another bot on the same Chroma server) may re-ingest it.

    `check()` runs at the start of every turn and feedback, in the worker thread that does the
    engine's work: at most once per `interval_s` it reads the collection's version (one metadata
    read, never a query) and, when it changed, loads the catalog (matrix and items) again through
    `load` (default: the store's full read; the runtime passes one that uses the catalog snapshot
    when there is one for the new version, and writes it when not) and hands it to `reload`,
    which swaps in an engine built on it. Turns already running finish on the old engine; other
    threads that arrive during a reload go on with the old one instead of waiting. A store that cannot answer, or a collection that is gone or empty, keeps the catalog in memory
    (logged once per change of state): serving yesterday's items beats failing the turn."""

    def __init__(
        self,
        store: ChromaStore,
        name: str,
        version: str | None,
        reload: Callable[[StoredCatalog], None],
        interval_s: float = CATALOG_CHECK_S,
        clock: Callable[[], float] = time.monotonic,
        load: Callable[[str], StoredCatalog] | None = None,
        encoder: str | None = None,
    ) -> None:
        self.store = store
        self.load = load or store.load
        """Reads the whole catalog of a name (see the class docstring)."""
        self.encoder = encoder
        """The app's encoder (`TextEncoder.name`): a catalog re-ingested with another one is not loaded."""
        self.name = name
        self.version = version
        """The version of the catalog in memory."""
        self.reload = reload
        self.interval_s = interval_s
        self.clock = clock
        self.reloads = 0
        """Catalogs loaded since start (for tests and the log)."""
        self._checked = clock()
        """When the version was last read (or the catalog loaded, at start)."""
        self._busy = threading.Lock()
        self._complaint: str | None = None

    def check(self) -> bool:
        """Reload when the stored version changed; True when a new catalog was swapped in."""
        if self.clock() - self._checked < self.interval_s or not self._busy.acquire(blocking=False):
            return False
        try:
            self._checked = self.clock()
            return self._check()
        finally:
            self._busy.release()

    def _check(self) -> bool:
        try:
            version = self.store.version(self.name)
            if version is None:
                self._complain(f"catalog {self.name!r} is gone from the store; serving the copy in memory")
                return False
            if version == self.version:
                self._complaint = None
                return False
            made_with = self.store.encoder(self.name) if self.encoder is not None else None
            if made_with is not None and made_with != self.encoder:
                self._complain(
                    f"catalog {self.name!r} was ingested again with the encoder {made_with}, but this app encodes "
                    f"with {self.encoder}; serving the copy in memory (restart with that encoder to use it)"
                )
                return False
            catalog = self.load(self.name)
        except Exception as error:  # noqa: BLE001  # a server restart or a network blip must not fail turns
            self._complain(
                f"cannot check catalog {self.name!r} for a new version ({error}); serving the copy in memory"
            )
            return False
        if len(catalog) == 0:
            self._complain(f"catalog {self.name!r} is empty in the store now; serving the copy in memory")
            return False
        self.reload(catalog)
        log.info(
            "catalog %r reloaded: version %s → %s, %d items", self.name, self.version, catalog.version, len(catalog)
        )
        self.version = catalog.version
        self.reloads += 1
        self._complaint = None
        return True

    def _complain(self, message: str) -> None:
        if message != self._complaint:
            log.warning(message)
            self._complaint = message


@dataclass
class Runtime:
    settings: Settings
    store: ChromaStore
    encoder: TextEncoder
    conversations: Conversations
    writer_label: str
    llm_server: LocalModelServer | None = None
    """The embedded model's server, owned by this runtime: `close()` stops it."""
    catalog_watch: CatalogWatch | None = field(default=None, repr=False)
    """Reloads the catalog when another process re-ingests it (see `CatalogWatch`)."""
    setup_problem: str | None = None
    """Why the configured LLM could not be set up (one line naming the setting or the packages), when
    replies fell back to template prose for the whole run; front ends show it, `ask` exits non-zero."""

    @property
    def engine(self) -> Engine:
        return self.conversations.engine

    def llm_status(self) -> str | None:
        """'LLM starting' / 'LLM restarting' while the owned model server cannot answer, else None."""
        server = self.llm_server
        if server is None or server.state == "ready":
            return None
        return f"LLM {server.state}"

    def open_collection(self, name: str) -> Conversations:
        """Conversations over another stored collection, as `build` makes the runtime's own: this runtime's
        encoder, profile store and writer model; its own engine, title index and catalog watch (`recochat
        serve` answers one model per collection). The caller closes its engine."""
        load = _loader(self.settings, self.store)
        catalog = load(name)
        if len(catalog) == 0:
            raise SetupError(f"catalog {name!r} is empty; ingest items with `recochat ingest PATH --collection {name}`")
        engine = _engine(self.settings, self.store, self.encoder, self.engine.profiles, catalog)
        conversations = Conversations(engine, _writer_for(self.conversations.writer, engine, _noun(catalog)), name)
        _watch(self.settings, self.store, conversations, catalog, load)
        return conversations

    def close(self) -> None:
        """Stop the owned model server, stop following the shared log, and close the profile store
        (a PostgreSQL pool's connections)."""
        if self.llm_server is not None:
            self.llm_server.stop()
        self.engine.close()
        self.engine.profiles.close()


def one_blas_thread() -> None:
    """Every BLAS call of this process on one thread. A turn's products over the catalog (10k × 384) are BLAS calls;
    with OpenBLAS's own 2 threads, turns that ran at once queued inside it: 6 threads calling at once took 2.55 ms a
    product against 0.29 ms alone, and they were half of the samples of 50 users at once (py-spy). On one thread a
    product alone takes 0.51 ms, and 0.26 ms each when 6 run at once. Process-wide (threadpoolctl) and idempotent."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")


def build(
    settings: Settings,
    collection: str | None = None,
    writer: Writer | None = None,
    encoder: TextEncoder | None = None,
    make_chat: ChatFactory = openai_chat,
) -> Runtime:
    """Settings and names are checked before any model loads; the embedded LLM server starts
    first, so it loads while the encoder does. A chat client that cannot be built (`LLMSetupError`)
    does not stop the app: its traceback goes to the log, replies get template prose, and
    `Runtime.setup_problem` says why."""
    configure_logging(settings)
    one_blas_thread()
    if collection:
        check_collection_name(collection)
    store = open_store(settings)
    profiles = open_profiles(settings)
    endpoint = None
    setup_problem = None
    try:
        if writer is None:
            try:
                endpoint = open_chat_endpoint(settings, make_chat)
            except LLMSetupError as error:
                log.error("LLM setup failed; replies use template prose", exc_info=error)
                setup_problem = str(error)
        encoder = encoder or open_encoder(settings)
        name = resolve_collection(settings, store, encoder, collection)
        load = _loader(settings, store)
        catalog = load(name)
        if len(catalog) == 0:
            raise SetupError(f"catalog {name!r} is empty; ingest items with `recochat ingest PATH --collection {name}`")
    except BaseException:
        if endpoint is not None and endpoint.server is not None:
            endpoint.server.stop()
        profiles.close()
        raise
    engine = _engine(settings, store, encoder, profiles, catalog)
    migrate_old_turns(profiles, engine.reader.read)  # once per start, not per catalog: the log outlives them
    if writer is None:
        writer = make_writer(settings, engine, _noun(catalog), endpoint)
    conversations = Conversations(engine, writer, catalog_name=name)
    watch = _watch(settings, store, conversations, catalog, load)
    server = endpoint.server if endpoint is not None else None
    label = f"{writer.name} (LLM setup failed)" if setup_problem else writer.name
    return Runtime(settings, store, encoder, conversations, label, server, watch, setup_problem)


def _loader(settings: Settings, store: ChromaStore) -> Callable[[str], StoredCatalog]:
    """Loads a collection by name, through the snapshot cache in the app's home."""
    return functools.partial(load_with_snapshot, store, snapshots=SnapshotCache(settings.home / SNAPSHOTS))


def _watch(
    settings: Settings,
    store: ChromaStore,
    conversations: Conversations,
    catalog: StoredCatalog,
    load: Callable[[str], StoredCatalog],
) -> CatalogWatch:
    """The watch that swaps a new engine into `conversations` when another process re-ingests its catalog."""
    watch = CatalogWatch(
        store,
        catalog.name,
        catalog.version,
        functools.partial(_swap_catalog, settings, store, conversations),
        load=load,
        encoder=conversations.engine.encoder.name,
    )
    conversations.refresh = watch.check
    return watch


def _noun(catalog: StoredCatalog) -> str:
    """The stored noun; for a collection stored before nouns were, inferred as a new ingest would."""
    if catalog.noun is None:
        catalog.noun = "movie" if catalog.name == DEMO_COLLECTION else infer_noun(catalog.name, catalog.items[0].meta)
    return catalog.noun


def _engine(
    settings: Settings, store: ChromaStore, encoder: TextEncoder, profiles: ProfileStorage, catalog: StoredCatalog
) -> Engine:
    """An engine over this catalog; its ANN candidates come from the store's index of the collection."""
    _noun(catalog)
    name = catalog.name
    ranker = load_ranker(settings.ranker_path)
    if ranker is not None:
        log.info("ranking with the learned ranker in %s (%s)", settings.ranker_path, ranker.meta.get("data", ""))
    with gc_paused():  # the title and people indexes of a large catalog are millions of objects, none cyclic
        weights = replace(DEFAULT_WEIGHTS, debias=settings.debias)
        recommender = Recommender(
            catalog, weights, ann_query=lambda vector, n: store.query(name, vector, n), ranker=ranker
        )
        recommender.warm()
        engine = Engine(
            catalog,
            encoder,
            profiles,
            recommender=recommender,
            items_per_reply=settings.items_per_reply,
            crowd=_crowd(settings, profiles, catalog),
        )
        engine.crowd.warm(engine.collaborative)
        return engine


def _crowd(settings: Settings, profiles: ProfileStorage, catalog: StoredCatalog) -> Crowd:
    """The imported conversations of this catalog, and on the demo catalog its shipped ReDial prior."""
    prior = demo_prior_path() if catalog.name == DEMO_COLLECTION and demo_prior_path().is_file() else None
    try:
        crowd = catalog_crowd(profiles, catalog, settings.crowd_weight, prior)
    except ValueError as error:
        raise SetupError(f"{error}; reinstall recochat, or set RECOCHAT_CROWD_WEIGHT=0 to start without it") from None
    if not crowd.empty:
        log.info("crowd of %r: %d items liked by imported conversations", catalog.name, len(crowd.model.counts))
    return crowd


def _swap_catalog(settings: Settings, store: ChromaStore, conversations: Conversations, catalog: StoredCatalog) -> None:
    """A whole new engine on the new catalog (everything derived from the catalog, the title
    index and the collaborative component included, is rebuilt as at start), then one assignment
    swaps it in. The writer's title index and noun follow, so grounding checks the new titles."""
    old = conversations.engine
    engine = _engine(settings, store, old.encoder, old.profiles, catalog)
    conversations.writer = _writer_for(conversations.writer, engine, _noun(catalog))
    conversations.engine = engine
    old.close()  # the old engine stops following the shared log; turns still running on it finish


def make_writer(settings: Settings, engine: Engine, domain: str, endpoint: ChatEndpoint | None) -> Writer:
    """The LLM writer over `endpoint`, or the template writer when there is none."""
    if endpoint is None:
        return TemplateWriter(domain)
    return LLMWriter(
        endpoint.model,
        engine.reader.titles,
        endpoint.label,
        first_sentence_s=settings.llm_first_sentence_s,
        total_s=settings.llm_total_s,
        domain=domain,
        server=endpoint.server,
    )


def _writer_for(writer: Writer, engine: Engine, noun: str) -> Writer:
    """The runtime's writer, for another catalog: the same model, this catalog's titles and noun."""
    if isinstance(writer, LLMWriter):
        return writer.for_catalog(engine.reader.titles, noun)
    if isinstance(writer, TemplateWriter):
        return TemplateWriter(noun)
    return writer
