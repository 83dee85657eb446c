"""recochat's domain errors: one hierarchy, caught by type in every front end.

Front ends show `str(error)` to the user; nothing reads `args[0]`, so a real KeyError bug
is never mistaken for "no such item".
"""

from __future__ import annotations


class RecochatError(Exception):
    """Base class: the message is written for the user and says what to do."""


class SetupError(RecochatError):
    """A problem the user can fix (bad setting, missing catalog, broken build); the message says how."""


class UnknownItem(RecochatError):
    """An item id or title that is not in the catalog."""


class NothingToUndo(RecochatError):
    """An undo for an item that has no 👍/👎 to take back."""


class NoSuchRank(RecochatError):
    """A "#N" that the last reply did not show."""
