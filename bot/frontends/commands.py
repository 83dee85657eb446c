"""The chat commands, parsed once for the terminal app and line mode.

    +N, /like N        👍 item N of the last reply
    -N, /dislike N     👎 item N
    /undo N            take back the 👍/👎 on item N
    /seen N            item N is already seen: never suggest it again
    /why N             why item N was suggested
    /profile  /reset  /forget  /help  /quit

Anything that does not start with "/" (and is not +N / -N) is a message, not a command.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from ..errors import RecochatError

CommandName = Literal["like", "dislike", "undo", "seen", "why", "profile", "reset", "forget", "help", "quit"]

RANKED: frozenset[str] = frozenset({"like", "dislike", "undo", "seen", "why"})
"""Commands about one item of the last reply: they need its number."""
_ALIASES: dict[str, CommandName] = {
    "like": "like",
    "dislike": "dislike",
    "undo": "undo",
    "seen": "seen",
    "why": "why",
    "profile": "profile",
    "reset": "reset",
    "forget": "forget",
    "help": "help",
    "quit": "quit",
    "exit": "quit",
    "q": "quit",
}
_SHORT = re.compile(r"^([+-])\s*(\d{1,4})$")
_SLASH = re.compile(r"^/(\w+)(?:\s+#?(\S+))?\s*$")

HELP = (
    "Commands: +N or /like N, -N or /dislike N, /undo N (take the 👍/👎 back), /seen N (seen it already), "
    "/why N, /profile, /reset, /forget, /help, /quit. N is the item's number in the last reply."
)


class UnknownCommand(RecochatError):
    """A line that starts with '/' but is no command, or a command without its item number."""


@dataclass(frozen=True)
class Command:
    name: CommandName
    rank: int | None = None
    """The item's number in the last reply, for the commands in RANKED."""


def parse_command(line: str) -> Command | None:
    """The command on this line; None when the line is a message to the recommender."""
    text = line.strip()
    if match := _SHORT.match(text):
        return Command("like" if match.group(1) == "+" else "dislike", int(match.group(2)))
    if not text.startswith("/"):
        return None
    match = _SLASH.match(text)
    name = _ALIASES.get(match.group(1).lower()) if match else None
    if match is None or name is None:
        raise UnknownCommand(f"unknown command {text.split()[0]!r}. {HELP}")
    argument = match.group(2)
    if name not in RANKED:
        return Command(name)
    if argument is None or not argument.isdigit() or len(argument) > 4 or int(argument) < 1:
        raise UnknownCommand(f"/{name} needs the item's number in the last reply, e.g. /{name} 2")
    return Command(name, int(argument))
