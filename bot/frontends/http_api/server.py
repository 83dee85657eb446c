"""Running the app on uvicorn: `serve` in the foreground for `recochat serve`, `ServerThread` for tests and
`recochat bench serve` (a real server on a loopback port it has already bound, in a daemon thread)."""

from __future__ import annotations

import socket
import sys
import threading
import time
from typing import Any

import uvicorn

from ...errors import SetupError
from ...runtime import Runtime
from .access import Keys, check_bind, parse_keys
from .app import create_app


def _config(app: Any, **options: Any) -> uvicorn.Config:
    # no access log (it would name users), no Server header
    return uvicorn.Config(app, log_level="warning", access_log=False, server_header=False, lifespan="off", **options)


def serve(runtime: Runtime, host: str, port: int) -> None:
    """Serve in the foreground until Ctrl-C; refuses a non-loopback host when no API key is configured."""
    settings = runtime.settings
    keys = parse_keys(settings.api_keys.get_secret_value() if settings.api_keys else "")
    check_bind(host, keys)
    app = create_app(runtime, Keys(keys))
    shown = f"[{host}]" if ":" in host else host
    where = f"http://{shown}:{port}/v1"
    if keys:
        access = f"{len(keys)} API key(s): {', '.join(k.namespace for k in keys)}"
    else:
        access = "no API key (RECOCHAT_API_KEYS unset): loopback only, anyone on this machine may call it"
    print(
        f"recochat serve: {where} (collection {runtime.conversations.catalog_name!r}, writer {runtime.writer_label}); {access}",
        file=sys.stderr,
    )
    server = uvicorn.Server(_config(app, host=host, port=port, timeout_graceful_shutdown=5))
    try:
        server.run()
    finally:
        app.state.api.catalogs.close()
    if not server.started:
        raise SetupError(f"could not listen on {host}:{port} (is another server using the port?)")


class ServerThread:
    """The app on a real uvicorn, on a free loopback port, in a daemon thread: `with ServerThread(app) as url:`."""

    def __init__(self, app: Any, host: str = "127.0.0.1") -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://{host}:{self.port}"
        self.server = uvicorn.Server(_config(app, timeout_graceful_shutdown=2))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.01)
        return self.url

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()
