"""`recochat serve`'s app in a process of its own, to be killed with SIGKILL (tests/test_http_api.py):

    python tests/http_worker.py HOME CATALOG.jsonl

Serves the app without keys on a free loopback port over the SQLite profile store in HOME and the catalog's items
with random vectors (feedback never encodes, so no encoder loads); the first line written is the port.
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import numpy as np
import uvicorn

from recochat.bot.conversation import Conversations
from recochat.bot.engine import Engine
from recochat.bot.frontends.http_api import create_app
from recochat.bot.frontends.http_api.access import Keys
from recochat.bot.runtime import Runtime
from recochat.bot.settings import Settings
from recochat.profiles.store import ProfileStore
from recochat.retrieval.catalog import load_catalog
from recochat.retrieval.store import StoredCatalog


def main(home: Path, catalog_path: Path) -> None:
    items = load_catalog(catalog_path).items
    vectors = np.random.default_rng(0).normal(size=(len(items), 8)).astype(np.float32)
    catalog = StoredCatalog("tiny", items, vectors / np.linalg.norm(vectors, axis=1, keepdims=True))
    engine = Engine(catalog, encoder=None, profiles=ProfileStore(home / "profiles.sqlite3"))  # type: ignore[arg-type]
    settings = Settings(home=home, llm="template")
    runtime = Runtime(settings, None, None, Conversations(engine, catalog_name="tiny"), "template")  # type: ignore[arg-type]
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    print(sock.getsockname()[1], flush=True)
    config = uvicorn.Config(create_app(runtime, Keys([]), rate_per_minute=0), log_level="warning", lifespan="off")
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
