"""`recochat serve`: an OpenAI-compatible chat endpoint, a feedback API and profile endpoints over `Conversations`.

Modules: `app` (the FastAPI routes and error answers), `chat` (completions and SSE chunks, the `recochat` field),
`schemas` (request bodies and the OpenAI error shape), `access` (API keys, namespaces, rate limits), `catalogs`
(one model per collection), `server` (uvicorn: the command, and a thread for tests and the benchmark).
FastAPI is imported here only: the core never does.
"""

from .app import create_app
from .server import ServerThread, serve

__all__ = ["ServerThread", "create_app", "serve"]
