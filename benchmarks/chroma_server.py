"""`chroma run` on a free loopback port: the shared catalog server of a deployment with several recochat
processes, started for `recochat bench scale-out` and for the tests (tests/conftest.py). It works offline."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def chroma_server(root: Path) -> Iterator[tuple[str, int]]:
    """`chroma run` with its data under `root/chroma`, up within 30 s (polled), stopped on exit; a server
    that does not come up raises RuntimeError with the tail of its log."""
    from recochat.bot.llm_server import free_port

    binary = Path(sys.executable).parent / "chroma"
    if not binary.exists():
        raise RuntimeError(f"no `chroma` command next to {sys.executable}: install chromadb in this environment")
    port = free_port()
    log_path = root / "chroma.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [str(binary), "run", "--path", str(root / "chroma"), "--host", "127.0.0.1", "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=0.5):
                    break
            except OSError as error:
                if server.poll() is not None or time.monotonic() > deadline:
                    said = log_path.read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"`chroma run` did not come up on port {port}: {said}") from error
                time.sleep(0.05)
        yield "127.0.0.1", port
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
