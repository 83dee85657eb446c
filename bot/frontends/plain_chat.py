"""`recochat chat --plain`: a line-mode chat for terminals and pipes.

Commands are those of `commands.py` (the terminal app has the same); anything else is a
message. Item lines print the moment ranking is done, then the prose streams.
"""

from __future__ import annotations

import asyncio
import sys
from typing import TYPE_CHECKING, TextIO

from ..conversation import Conversations, ReplyStream
from ..errors import RecochatError
from ..writer import item_line
from .commands import HELP, Command, parse_command

if TYPE_CHECKING:
    from ..runtime import Runtime

_MARK = {"like": "👍", "dislike": "👎"}


async def run_command(conversations: Conversations, user: str, command: Command) -> str:
    """Carry out one command and say what happened, in one line or a few."""
    rank = command.rank
    if command.name in ("like", "dislike"):
        assert rank is not None
        result = await conversations.feedback(user, rank, command.name)
        return f"{_MARK[command.name]} {result.title}"
    if command.name == "undo":
        assert rank is not None
        title = await conversations.undo_feedback(user, rank)
        return f"Taken back: your 👍/👎 on {title}."
    if command.name == "seen":
        assert rank is not None
        title = await conversations.mark_seen(user, rank)
        return f"Noted: you've seen {title}; it won't come up again."
    if command.name == "why":
        assert rank is not None
        return await conversations.why(user, rank)
    if command.name == "profile":
        return "\n".join((await conversations.profile(user)).lines())
    if command.name == "reset":
        await conversations.reset(user)
        return "Profile reset: starting fresh."
    if command.name == "forget":
        gone = await conversations.forget(user)
        return f"Forgotten: profile and {gone} events deleted."
    return HELP


async def run_plain(runtime: Runtime, user: str, stdin: TextIO = sys.stdin, out: TextIO = sys.stdout) -> None:
    interactive = stdin.isatty()
    print(f"recochat · catalog {runtime.conversations.catalog_name} · writer {runtime.writer_label}. {HELP}", file=out)
    if runtime.setup_problem:
        print(f"recochat: {runtime.setup_problem}", file=sys.stderr)
    while True:
        if interactive:
            print("you> ", end="", file=out, flush=True)
        line = await asyncio.to_thread(stdin.readline)
        if not line:
            break
        line = line.strip()
        if not line:
            continue
        if not interactive:
            print(f"you> {line}", file=out)
        try:
            command = parse_command(line)
            if command is None:
                await print_turn(runtime.conversations.stream(user, line), out)
            elif command.name == "quit":
                break
            else:
                print(await run_command(runtime.conversations, user, command), file=out)
        except RecochatError as error:
            print(f"Can't do that: {error}", file=out)


async def print_turn(stream: ReplyStream, out: TextIO, prompt: str = "bot> ") -> None:
    """The item lines the moment ranking is done, then the prose as it streams."""
    items = await stream.items()
    for item in items:
        print(item_line(item.rank, item.label, item.why), file=out, flush=True)
    print(prompt, end="", file=out, flush=True)
    async for chunk in stream:
        print(chunk, end="", file=out, flush=True)
    print(file=out)
    if stream.reply is not None and stream.reply.note:  # about the model, not part of the reply: stderr
        print(f"({stream.reply.note})", file=sys.stderr, flush=True)
