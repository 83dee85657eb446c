"""Check that the installed llama.cpp build can really generate on this CPU.

A build compiled for another CPU (for instance with native flags on a machine whose CPU
advertises AMX) loads fine and answers a one-token prompt, then dies with SIGILL on the
first multi-token prompt. So the check generates from a prompt of at least 200 tokens, in
a subprocess, so that a crash is reported instead of taking the caller down.

`python -m recochat.bot.llm_check` (run by `make` after installing) exits 0 when the build
works and otherwise prints what failed and how to fix it, exit code 1.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

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


def main() -> int:
    result = check_build()
    print(result.message, file=sys.stdout if result.ok else sys.stderr)
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
