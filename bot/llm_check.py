"""Check that the installed LLM stack really works: the llama.cpp build, then the app's chat client.

1. The build. A build compiled for another CPU (for instance with native flags on a machine
   whose CPU advertises AMX) loads fine and answers a one-token prompt, then dies with SIGILL
   on the first multi-token prompt. So the check generates from a prompt of at least 200
   tokens, in a subprocess, so that a crash is reported instead of taking the caller down.
2. The client. The chat client is built from settings exactly as the app builds it
   (`open_chat_endpoint`: `ChatOpenAI` against the embedded server, or the configured
   endpoint) and streams one reply. Libraries that install fine but cannot talk to each other
   (openai 3 with langchain-openai 1.8 raised TypeError on every `ChatOpenAI`) stop here, in
   one line naming the packages, not at a user's first message.

`python -m recochat.bot.llm_check` (run by `make` after installing) and `recochat llm check`
exit 0 when both work and otherwise print what failed and how to fix it, exit code 1.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .settings import Settings

MIN_PROMPT_TOKENS = 200
PORTABLE_CMAKE_ARGS = "-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF"

_CHILD = r"""
import sys, time
from llama_cpp import Llama
llm = Llama(model_path=sys.argv[1], n_ctx=1024, verbose=False, seed=7)
prompt = " ".join(["A quiet village baker enters a national contest, and every round turns into slapstick."] * 14)
tokens = llm.tokenize(prompt.encode())
assert len(tokens) >= int(sys.argv[2]), f"prompt has only {len(tokens)} tokens"
started = time.perf_counter()
out = llm.create_completion(prompt, max_tokens=8, temperature=0.0)
print(f"{len(tokens)} {time.perf_counter() - started:.2f} {out['usage']['completion_tokens']}")
"""


@dataclass(frozen=True)
class BuildCheck:
    ok: bool
    message: str


def _fix() -> str:
    return (
        "Fix: rebuild llama-cpp-python with portable CPU flags: `make clean && make test` does it, or by hand "
        f'`CMAKE_ARGS="{PORTABLE_CMAKE_ARGS}" pip install --no-cache-dir --force-reinstall --no-deps '
        "--no-binary llama-cpp-python llama-cpp-python`."
    )


def check_build(model_path: Path | None = None, timeout_s: float = 180.0) -> BuildCheck:
    """Generate from a ≥200-token prompt in a child process; say what failed if it did."""
    if model_path is None:
        from .llm_server import default_gguf_path

        model_path = default_gguf_path()
    try:
        done = subprocess.run(
            [sys.executable, "-c", _CHILD, str(model_path), str(MIN_PROMPT_TOKENS)],
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )
    except subprocess.TimeoutExpired:
        return BuildCheck(False, f"llama.cpp generated nothing within {timeout_s:.0f}s from a long prompt. {_fix()}")
    if done.returncode == 0:
        tokens, seconds, generated = done.stdout.split()[-3:]
        return BuildCheck(
            True, f"llama.cpp build ok: {tokens}-token prompt, {generated} tokens generated in {seconds}s"
        )
    if done.returncode < 0:
        name = signal.Signals(-done.returncode).name
        cause = (
            "an instruction this CPU does not have (the build was compiled for another CPU, e.g. with native flags)"
            if name == "SIGILL"
            else "a native crash"
        )
        return BuildCheck(
            False, f"llama.cpp crashed with {name} while generating from a long prompt: {cause}. {_fix()}"
        )
    last = (done.stderr.strip().splitlines() or ["no output"])[-1]
    if "No module named 'llama_cpp'" in done.stderr:
        return BuildCheck(False, f"llama-cpp-python is not installed in {sys.prefix}. {_fix()}")
    return BuildCheck(
        False, f"llama.cpp failed to generate from a long prompt (exit {done.returncode}): {last}. {_fix()}"
    )


def check_client(settings: Settings, start_timeout_s: float = 120.0) -> BuildCheck:
    """Build the chat client from `settings` as the app does and stream one short reply through it.

    The template writer needs no client, so with `RECOCHAT_LLM=template` the embedded model is
    checked: it is what the app uses once the setting is dropped. The embedded server writes its
    log to a scratch home, so a check leaves nothing behind."""
    from langchain_core.messages import HumanMessage

    from .llm import LLMSetupError, client_package_versions, open_chat_endpoint

    if settings.writer_kind() == "template":
        settings = settings.model_copy(update={"llm": "embedded"})
    with tempfile.TemporaryDirectory(prefix="recochat-llm-check-") as scratch:
        settings = settings.model_copy(update={"home": Path(scratch), "llm_max_tokens": 16})
        try:
            endpoint = open_chat_endpoint(settings)
        except LLMSetupError as error:
            return BuildCheck(False, str(error))
        assert endpoint is not None
        try:
            if endpoint.server is not None and not endpoint.server.wait_ready(start_timeout_s):
                log = (Path(scratch) / "llm-server.log").read_text(errors="replace").strip().splitlines()
                return BuildCheck(
                    False,
                    f"the embedded model server did not answer within {start_timeout_s:.0f}s: "
                    f"{log[-1] if log else 'no log'}. {_fix()}",
                )
            chunks = endpoint.model.stream([HumanMessage(content="Say hello to a film fan in one short sentence.")])
            text = "".join(str(chunk.content) for chunk in chunks)
        except Exception as error:
            what = (str(error).strip().splitlines() or [""])[0][:200]
            return BuildCheck(
                False,
                f"the chat client could not stream a reply from {endpoint.label} ({type(error).__name__}: {what}) "
                f"with {client_package_versions()}; reinstall the locked versions with `make`",
            )
        finally:
            if endpoint.server is not None:
                endpoint.server.stop()
    if not text.strip():
        return BuildCheck(False, f"the chat client streamed an empty reply from {endpoint.label}")
    return BuildCheck(True, f"chat client ok: ChatOpenAI streamed {len(text.strip())} characters from {endpoint.label}")


def main() -> int:
    """Both checks; the client is checked only once the build is known to run."""
    from .errors import SetupError
    from .settings import load_settings

    results = [check_build()]
    if results[0].ok:
        try:
            results.append(check_client(load_settings()))
        except SetupError as error:
            results.append(BuildCheck(False, str(error)))
    for result in results:
        print(result.message, file=sys.stdout if result.ok else sys.stderr)
    return 0 if all(result.ok for result in results) else 1


if __name__ == "__main__":
    sys.exit(main())
