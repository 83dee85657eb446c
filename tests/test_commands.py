"""The chat commands: one parser for the terminal app and line mode, and line mode end to end."""

from __future__ import annotations

import io

import pytest

from recochat.bot.frontends.commands import Command, UnknownCommand, parse_command
from recochat.bot.frontends.plain_chat import run_plain


@pytest.mark.parametrize(
    ("line", "command"),
    [
        ("+2", Command("like", 2)),
        ("- 3", Command("dislike", 3)),
        ("/like 1", Command("like", 1)),
        ("/dislike #4", Command("dislike", 4)),
        ("/undo 2", Command("undo", 2)),
        ("/seen 5", Command("seen", 5)),
        ("/why 1", Command("why", 1)),
        ("/PROFILE", Command("profile")),
        ("/reset", Command("reset")),
        ("/forget", Command("forget")),
        ("/help", Command("help")),
        ("/q", Command("quit")),
        ("something funny", None),
        ("+1 is my favourite", None),
        ("2001: A Space Odyssey", None),
        ("+" + "9" * 5000, None),
    ],
)
def test_parse_command(line: str, command: Command | None) -> None:
    assert parse_command(line) == command


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("/nonsense", "unknown command '/nonsense'"),
        ("/undo", "/undo needs the item's number"),
        ("/why two", "/why needs the item's number"),
        ("/seen 0", "/seen needs the item's number"),
        ("/like " + "9" * 5000, "/like needs the item's number"),
    ],
)
def test_bad_commands_say_what_to_type(line: str, message: str) -> None:
    with pytest.raises(UnknownCommand, match=message):
        parse_command(line)


async def test_line_mode_runs_every_command_through_the_conversation_api(runtime) -> None:  # type: ignore[no-untyped-def]
    lines = [
        "something funny",
        "+1",
        "/undo 1",
        "/undo 1",
        "/seen 2",
        "/why 3",
        "/why 9",
        "/nonsense",
        "/profile",
        "/quit",
        "never read",
    ]
    out = io.StringIO()
    await run_plain(runtime, "u", stdin=io.StringIO("\n".join(lines) + "\n"), out=out)
    text = out.getvalue()
    reply_lines = [line for line in text.splitlines() if line[:3] in ("1. ", "2. ", "3. ")]
    first, second, third = (line.split(". ", 1)[1].split(" (")[0] for line in reply_lines[:3])
    assert f"👍 {first}" in text
    assert text.count(f"Taken back: your 👍/👎 on {first}.") == 1  # the second /undo 1 has nothing to take back
    assert f"Can't do that: there is no 👍/👎 on {first} to take back" in text
    assert f"Noted: you've seen {second}; it won't come up again." in text
    assert f"{third} (" in text and "there is no #9 in your last reply" in text
    assert "Can't do that: unknown command '/nonsense'" in text
    assert "never read" not in text
    view = await runtime.conversations.profile("u")
    assert view.liked == [] and second in view.seen


async def test_line_mode_says_why_the_model_prose_is_missing_on_stderr(make_runtime, capsys):
    from fakes import QueueChatModel, Sleep

    from recochat.bot.frontends.plain_chat import print_turn
    from recochat.bot.writer import LLMWriter

    runtime = make_runtime()
    model = QueueChatModel().enqueue(Sleep(30, "Far too late."))
    runtime.conversations.writer = LLMWriter(model, runtime.engine.reader.titles, "slow", first_sentence_s=0.3)
    out = io.StringIO()
    await print_turn(runtime.conversations.stream("u", "something funny"), out)
    assert "too slow" not in out.getvalue()  # the reply itself is the plain one
    assert capsys.readouterr().err == "(The model was too slow (no sentence within 0.3 s); showing the plain reply.)\n"
