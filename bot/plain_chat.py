"""`recochat chat --plain`: a line-mode chat for terminals and pipes.

Commands: +N / -N (feedback on item N of the last reply), /why N, /profile, /reset,
/forget, /help, /quit. Anything else is a message.
"""

from __future__ import annotations

import asyncio
import re
import sys
from typing import TextIO

from .conversation import ReplyStream
from .writer import item_line

HELP = "Commands: +N like item N, -N dislike it, /why N, /profile, /reset, /forget, /help, /quit"
_FEEDBACK = re.compile(r"^([+-])\s*(\d+)$")
_WHY = re.compile(r"^/why\s+(\d+)$")


async def handle_command(runtime, user: str, line: str, out: TextIO) -> bool:  # type: ignore[no-untyped-def]
    """Run a command line; False when the user wants to quit."""
    conversations = runtime.conversations
    if line in ("/quit", "/exit", "/q"):
        return False
    if line == "/help":
        print(HELP, file=out)
    elif line == "/profile":
        view = await conversations.profile(user)
        print("\n".join(view.lines()), file=out)
    elif line == "/reset":
        await conversations.reset(user)
        print("Profile reset: starting fresh.", file=out)
    elif line == "/forget":
        gone = await conversations.forget(user)
        print(f"Forgotten: profile and {gone} events deleted.", file=out)
    elif match := _FEEDBACK.match(line):
        value = "like" if match.group(1) == "+" else "dislike"
        try:
            result = await conversations.feedback(user, int(match.group(2)), value)
            print(f"{'👍' if value == 'like' else '👎'} {result.title}", file=out)
        except KeyError as error:
            print(f"Can't do that: {error.args[0]}", file=out)
    elif match := _WHY.match(line):
        try:
            print(await conversations.why(user, int(match.group(1))), file=out)
        except KeyError as error:
            print(f"Can't do that: {error.args[0]}", file=out)
    else:
        print(f"Unknown command. {HELP}", file=out)
    return True


async def run_plain(runtime, user: str, stdin: TextIO = sys.stdin, out: TextIO = sys.stdout) -> None:  # type: ignore[no-untyped-def]
    interactive = stdin.isatty()
    print(f"recochat · catalog {runtime.conversations.catalog_name} · writer {runtime.writer_label}. {HELP}", file=out)
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
        if line.startswith("/") or _FEEDBACK.match(line):
            if not await handle_command(runtime, user, line, out):
                break
            continue
        await print_turn(runtime.conversations.stream(user, line), out)


async def print_turn(stream: ReplyStream, out: TextIO, prompt: str = "bot> ") -> None:
    """The item lines the moment ranking is done, then the prose as it streams."""
    items = await stream.items()
    for item in items:
        print(item_line(item.rank, item.label, item.why), file=out, flush=True)
    print(prompt, end="", file=out, flush=True)
    async for chunk in stream:
        print(chunk, end="", file=out, flush=True)
    print(file=out)
