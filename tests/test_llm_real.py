"""The real embedded model: the installed llama.cpp build, the owned server, crashes and restarts.

These run SmolLM2-135M for real (a few turns), so a build that crashes on the CI machine's
CPU, or a server that does not come back, fails CI.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time

import pytest

from recochat.bot.llm import ChatEndpoint, local_model_server, openai_chat
from recochat.bot.llm_check import check_build
from recochat.bot.llm_server import MODEL_ALIAS, answers, free_port
from recochat.bot.runtime import make_writer

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def model_server(tmp_path_factory):
    from recochat.bot.settings import Settings

    home = tmp_path_factory.mktemp("llm-home")
    server = local_model_server(Settings(home=home)).start()
    assert server.wait_ready(120), f"the model server did not start; see {home / 'llm-server.log'}"
    yield server
    server.stop()


def llm_runtime(make_runtime, server):
    runtime = make_runtime(llm_first_sentence_s=20, llm_total_s=30)
    endpoint = ChatEndpoint(openai_chat(server.base_url, MODEL_ALIAS, runtime.settings), "embedded (test)", server)
    runtime.conversations.writer = make_writer(runtime.settings, runtime.engine, "movie", endpoint)
    return runtime


def grounded(runtime, reply) -> bool:
    """The model-written prose names only shown items (the item lines come from the ranker)."""
    allowed = reply.grounded_ids()
    return all(m.item_id in allowed for m in runtime.engine.reader.titles.find(reply.prose))


def test_the_installed_build_generates_from_a_long_prompt_in_a_subprocess():
    result = check_build()
    assert result.ok, result.message
    assert "-token prompt" in result.message


async def test_replies_carry_model_prose_through_the_owned_server(make_runtime, model_server):
    runtime = llm_runtime(make_runtime, model_server)
    replies = []
    for text in ("something funny but smart, no horror", "I loved Village Cops. Any genre is fine", "thanks!"):
        stream = runtime.conversations.stream("a", text)
        await stream.items()
        chunks = [chunk async for chunk in stream]
        assert "".join(chunks).strip() == stream.reply.prose
        replies.append(stream.reply)
    assert replies[0].items and all("horror" not in i.genres for i in replies[0].items)
    assert all(grounded(runtime, r) for r in replies)
    model_written = [r for r in replies if r.status in ("ok", "repaired")]
    assert model_written, f"every reply was replaced: {[(r.status, r.note) for r in replies]}"


async def test_killing_the_server_mid_reply_falls_back_fast_and_prose_returns_after_restart(make_runtime, model_server):
    runtime = llm_runtime(make_runtime, model_server)
    restarts = model_server.restarts
    stream = runtime.conversations.stream("k", "a clever comedy for tonight")
    items = await stream.items()
    assert items

    async def prose() -> str:
        return "".join([chunk async for chunk in stream])

    writing = asyncio.create_task(prose())
    await asyncio.sleep(0.3)  # the request is in flight: the server is reading the prompt
    os.killpg(model_server.pid, signal.SIGKILL)
    killed = time.perf_counter()
    await writing
    assert time.perf_counter() - killed < 2.0
    reply = stream.reply
    assert reply is not None and reply.items == items and reply.prose

    # the supervisor restarts it; meanwhile replies fall back at once and say why
    deadline = time.monotonic() + 60
    while model_server.restarts == restarts and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert model_server.restarts == restarts + 1
    if model_server.state != "ready":
        started = time.perf_counter()
        during = await runtime.conversations.send("k", "a science fiction film")
        assert time.perf_counter() - started < 2.0 and during.items
        assert during.status == "replaced" and during.note
        assert during.note.startswith(("The model is restarting;", "The model is still starting"))
    assert await asyncio.to_thread(model_server.wait_ready, 60)
    after = [
        await runtime.conversations.send("k", text) for text in ("a romance", "an action movie, any genre is fine")
    ]
    assert any(r.status in ("ok", "repaired") for r in after), [(r.status, r.note) for r in after]


def test_llm_serve_runs_the_model_for_other_processes(tmp_path):
    port = free_port()
    log = (tmp_path / "serve.log").open("wb")  # a pipe would fill up with llama.cpp's load log and block it
    process = subprocess.Popen(
        [sys.executable, "-m", "recochat.bot.frontends.cli", "llm", "serve", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not answers(f"http://127.0.0.1:{port}/v1") and time.monotonic() < deadline:
            assert process.poll() is None, (tmp_path / "serve.log").read_text(errors="replace")[-2000:]
            time.sleep(0.2)
        assert answers(f"http://127.0.0.1:{port}/v1")
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)
        log.close()
