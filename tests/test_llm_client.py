"""The chat client as the app builds it: settings → `ChatOpenAI` → openai → httpx → an HTTP endpoint.

No fake chat model here: a local OpenAI-compatible stub server answers, so libraries that
install fine but cannot talk to each other (openai 3 with langchain-openai 1.8.1 raised
TypeError on every `ChatOpenAI`) fail these tests, as they would fail a user's first message.
"""

from __future__ import annotations

import sys

from click.testing import CliRunner
from openai_stub import SENTENCE, openai_stub

from recochat.bot.frontends import cli
from recochat.bot.llm_check import check_client
from recochat.bot.settings import Settings

BROKEN = "Invalid timeout: expected a number, None, a tuple or httpx2.Timeout, got <class 'httpx.Timeout'>"


def broken_client(*args: object) -> None:
    """What `ChatOpenAI(...)` did with openai 3.x and langchain-openai 1.8.1."""
    raise TypeError(BROKEN)


async def test_writer_built_from_settings_streams_a_reply_through_the_real_client(make_runtime, fake_encoder):
    with openai_stub() as (base_url, requests):
        runtime = make_runtime(encoder=fake_encoder, llm="openai", llm_base_url=base_url, llm_model="stub")
        assert runtime.setup_problem is None and runtime.writer_label == "stub @ " + base_url
        reply = await runtime.conversations.send("a", "something funny")
    assert reply.status == "ok", (reply.status, reply.note, runtime.setup_problem)
    assert reply.prose == SENTENCE.format(first=reply.items[0].title)
    assert requests and requests[-1]["stream"] is True and requests[-1]["model"] == "stub"


def test_llm_check_streams_one_reply_through_the_client_built_from_settings(tmp_path):
    with openai_stub() as (base_url, requests):
        result = check_client(Settings(home=tmp_path, llm_base_url=base_url, llm_model="stub"))
    assert result.ok, result.message
    answer = SENTENCE.format(first="a comedy")  # the check's prompt names no pick
    assert result.message == f"chat client ok: ChatOpenAI streamed {len(answer)} characters from stub @ {base_url}"
    assert [body["stream"] for body in requests] == [True]


async def test_a_client_that_cannot_be_built_is_one_line_and_replies_keep_template_prose(
    make_runtime, fake_encoder, caplog
):
    runtime = make_runtime(
        encoder=fake_encoder, llm="openai", llm_base_url="http://127.0.0.1:9/v1", make_chat=broken_client
    )
    problem = runtime.setup_problem
    assert problem is not None and "\n" not in problem
    assert problem.startswith(f"the LLM client cannot be built (TypeError: {BROKEN}) with openai ")
    assert "langchain-openai " in problem and "RECOCHAT_LLM=template" in problem
    assert runtime.writer_label == "template (LLM setup failed)"
    for text in ("something funny", "more like #1"):
        reply = await runtime.conversations.send("a", text)
        assert reply.status == "template" and reply.items and reply.prose
    logged = [r for r in caplog.records if r.name == "recochat.runtime" and r.levelname == "ERROR"]
    assert [r.getMessage() for r in logged] == ["LLM setup failed; replies use template prose"]
    assert logged[0].exc_info is not None  # the traceback goes to the log, and only there


def test_ask_says_the_setup_problem_in_one_line_and_exits_non_zero(make_runtime, fake_encoder, monkeypatch):
    def runtime(collection, llm=None):  # the CLI's own runtime, with a client factory that raises
        return make_runtime(
            encoder=fake_encoder, llm="openai", llm_base_url="http://127.0.0.1:9/v1", make_chat=broken_client
        )

    monkeypatch.setattr(cli, "_runtime", runtime)
    result = CliRunner().invoke(cli.main, ["ask", "something funny"])
    assert result.exit_code == 1
    assert "1. " in result.stdout  # the reply is still there, with template prose
    assert result.stderr.strip().splitlines() == [
        next(line for line in result.stderr.splitlines() if line.startswith("recochat: the LLM client cannot"))
    ]
    assert "Traceback" not in result.output


async def test_template_replies_need_no_llm_client_library(make_runtime, fake_encoder, monkeypatch):
    for name in ("openai", "langchain_openai"):
        monkeypatch.setitem(sys.modules, name, None)  # `import openai` now raises ImportError
    runtime = make_runtime(encoder=fake_encoder, llm="template")
    reply = await runtime.conversations.send("a", "something funny")
    assert reply.status == "template" and reply.items and runtime.setup_problem is None
