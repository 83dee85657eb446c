"""`recochat import conversations`: outside conversations read, linked to a catalog and stored as a crowd.

Why: on a fresh install the collaborative component is empty; a deployment's own history, or a public
corpus such as ReDial, already says what people like together. The conversations become a crowd of their
own (profiles/crowd.py): they feed the collaborative component and the learned popularity, weighed below
the deployment's own users, and no user's profile.

Formats (one conversation a line):
- `redial`: ReDial's JSONL (`conversationId`, messages with `@id` mentions, `movieMentions`, the seekers'
  liked / not-liked answers), read by bot/training/redial.py's reader.
- `jsonl`: ours, `{"id": "c1", "titles": ["Hot Fuzz (2007)", "Shaun of the Dead"], "liked": [...],
  "disliked": [...]}`: the titles mentioned, in order, and optionally which were liked or disliked.
What a conversation liked: its titles in order, less the ones it disliked (a title only in `liked` is added
at the end). Titles are linked with the chat's own title index (`TitleIndex.lookup`: the normalized title,
and the year within one when both have one).

Idempotent: a conversation is kept under its id and a hash of what it says (titles, likes, dislikes), so
the same file twice, or a copy of a conversation in another file, counts once.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Container, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from recochat.profiles.collaborative import CoOccurrence
from recochat.profiles.contract import CrowdChange, ProfileStorage
from recochat.profiles.crowd import Crowd, CrowdConversation, crowd_model, load_prior
from recochat.retrieval.catalog import split_title_year
from recochat.retrieval.store import StoredCatalog
from recochat.retrieval.titles import TitleIndex

from .errors import RecochatError
from .training.redial import read_conversation

Format = Literal["redial", "jsonl"]
FORMATS: tuple[Format, ...] = ("redial", "jsonl")
TOP_UNLINKED = 10


class ConversationFileError(RecochatError):
    """A conversations file that cannot be imported as it is (the message names the file and the lines)."""


@dataclass(frozen=True)
class Said:
    """One conversation as read, before linking: its id, the titles it mentions in order, what it disliked."""

    key: str
    titles: list[str]
    disliked: frozenset[str]

    @property
    def digest(self) -> str:
        """What the conversation says, hashed: the same content in another file (or with other fields
        around it, as iEvaLM's copy of ReDial has) gives the same hash."""
        said = json.dumps([self.titles, sorted(self.disliked)], ensure_ascii=False)
        return hashlib.sha256(said.encode()).hexdigest()[:24]


def said_in_redial(record: object) -> Said:
    """A ReDial line: @mentions in order (named by movieMentions; a mention without a name stays '@ID',
    which links nothing), less what the seeker said they did not like."""
    conversation = read_conversation(record)
    order = list(dict.fromkeys([*conversation.mentions, *conversation.liked]))
    titles = [conversation.names.get(m, f"@{m}") for m in order if m not in conversation.disliked]
    disliked = frozenset(conversation.names.get(m, f"@{m}") for m in conversation.disliked)
    return Said(conversation.id, titles, disliked)


def said_in_jsonl(record: object) -> Said:
    """A line of our JSONL: `id`, `titles` in order, optional `liked` and `disliked` lists of titles."""
    if not isinstance(record, dict):
        raise ValueError("expected a JSON object per line")
    key = record.get("id")
    if not isinstance(key, (str, int)) or isinstance(key, bool) or str(key).strip() == "":
        raise ValueError("'id' is missing (a string or a number that names the conversation)")
    lists = {name: record.get(name, []) for name in ("titles", "liked", "disliked")}
    for name, value in lists.items():
        if not isinstance(value, list) or not all(isinstance(t, str) and t.strip() for t in value):
            raise ValueError(f"'{name}' must be a list of titles (strings)")
    if not lists["titles"] and not lists["liked"]:
        raise ValueError("no 'titles' and no 'liked': nothing to learn from")
    disliked = frozenset(lists["disliked"])
    order = dict.fromkeys([*lists["titles"], *lists["liked"]])
    return Said(str(key).strip(), [t for t in order if t not in disliked], disliked)


READERS = {"redial": said_in_redial, "jsonl": said_in_jsonl}


def read_conversations(path: Path, fmt: Format, skip_bad: bool = False) -> tuple[list[Said], list[str]]:
    """Every conversation of the file, and the bad lines skipped (each 'line N: what'); without skip_bad,
    a bad line is a ConversationFileError naming the file, the lines and what is wrong (nothing imported)."""
    if not path.is_file():
        raise ConversationFileError(f"{path}: no such file (give a JSONL file of conversations)")
    said: list[Said] = []
    problems: list[str] = []
    for number, text in _lines(path):
        try:
            said.append(READERS[fmt](json.loads(text)))
        except json.JSONDecodeError as error:
            problems.append(f"line {number}: not valid JSON ({error.msg})")
        except ValueError as error:
            problems.append(f"line {number}: {error}")
    if problems and not skip_bad:
        shown = "; ".join(problems[:5]) + (f"; … and {len(problems) - 5} more" if len(problems) > 5 else "")
        raise ConversationFileError(
            f"{path}: {len(problems)} bad line(s), nothing was imported (fix them, or pass --skip-bad): {shown}"
        )
    if not said:
        raise ConversationFileError(f"{path}: no conversations in it (format {fmt}); nothing was imported")
    return said, problems


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    try:
        with path.open(encoding="utf-8") as f:
            for number, text in enumerate(f, start=1):
                if text.strip():
                    yield number, text
    except UnicodeDecodeError as error:
        raise ConversationFileError(f"{path}: not UTF-8 text ({error.reason}); nothing was imported") from None


class Linker:
    """Titles to catalog items with the chat's title index: the normalized title, the year within one."""

    def __init__(self, titles: TitleIndex) -> None:
        self.titles = titles
        self._known: dict[str, str | None] = {}

    def __call__(self, name: str) -> str | None:
        if name not in self._known:
            title, year = split_title_year(name)
            item = self.titles.lookup(title, year)
            if item is not None and year is not None and item.year and abs(item.year - year) > 1:
                item = None  # "The Thing (2011)" is not the catalog's The Thing (1982)
            self._known[name] = item.id if item is not None else None
        return self._known[name]


@dataclass
class ImportReport:
    """What an import read, linked and learned, and what it changed in the store."""

    source: str
    catalog: str
    conversations: int = 0
    skipped: list[str] = field(default_factory=list)
    linked: int = 0
    """Title mentions linked to a catalog item (a title once per conversation)."""
    unlinked: int = 0
    items: int = 0
    """Distinct catalog items linked."""
    top_unlinked: list[tuple[str, int]] = field(default_factory=list)
    pairs: int = 0
    """Distinct pairs of items liked together in the import."""
    change: CrowdChange = field(default_factory=CrowdChange)
    dry_run: bool = False

    def lines(self) -> list[str]:
        """The report as the CLI prints it."""
        total = self.linked + self.unlinked
        share = f" ({self.linked / total:.0%})" if total else ""
        verb = "would import" if self.dry_run else "imported"
        lines = [
            f"{self.source} → {self.catalog}: {self.conversations} conversations read"
            + (f", {len(self.skipped)} bad lines skipped" if self.skipped else ""),
            f"titles: {self.linked} linked{share} to {self.items} items, {self.unlinked} unlinked",
            f"pairs learned: {self.pairs}",
            f"{verb}: {self.change.added} new, {self.change.updated} changed, {self.change.unchanged} unchanged"
            + (" (dry run: nothing written)" if self.dry_run else ""),
        ]
        if self.top_unlinked:
            lines.append("top unlinked: " + ", ".join(f"{name} ({n})" for name, n in self.top_unlinked))
        return lines

    def as_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "catalog": self.catalog,
            "conversations": self.conversations,
            "skipped": self.skipped,
            "titles": {"linked": self.linked, "unlinked": self.unlinked, "items": self.items},
            "top_unlinked": [{"title": name, "mentions": n} for name, n in self.top_unlinked],
            "pairs": self.pairs,
            "change": {"added": self.change.added, "updated": self.change.updated, "unchanged": self.change.unchanged},
            "dry_run": self.dry_run,
        }


def link_all(said: list[Said], link: Linker, report: ImportReport) -> list[CrowdConversation]:
    """The conversations as the crowd keeps them (linked items only), counting what linked into `report`."""
    unlinked: Counter[str] = Counter()
    items: set[str] = set()
    out = []
    for conversation in said:
        ids = []
        for name in dict.fromkeys(conversation.titles):
            item_id = link(name)
            if item_id is None:
                unlinked[name] += 1
            else:
                ids.append(item_id)
        report.linked += len(ids)
        items.update(ids)
        out.append(CrowdConversation(conversation.key, conversation.digest, list(dict.fromkeys(ids))))
    report.unlinked = sum(unlinked.values())
    report.items = len(items)
    report.top_unlinked = unlinked.most_common(TOP_UNLINKED)
    return out


def import_conversations(
    profiles: ProfileStorage,
    catalog: str,
    titles: TitleIndex,
    path: Path,
    *,
    fmt: Format = "redial",
    source: str | None = None,
    dry_run: bool = False,
    skip_bad: bool = False,
) -> ImportReport:
    """Read, link and store one file's conversations as the crowd `source` (default: the file's name) of
    `catalog`; with dry_run nothing is written. A bad file raises ConversationFileError, importing nothing."""
    said, skipped = read_conversations(path, fmt, skip_bad)
    name = source or path.stem
    report = ImportReport(name, catalog, conversations=len(said), skipped=skipped, dry_run=dry_run)
    conversations = link_all(said, Linker(titles), report)
    _, pairs = crowd_model(conversations).snapshot()
    report.pairs = sum(len(row) for row in pairs.values()) // 2
    report.change = profiles.save_crowd(catalog, name, conversations, dry_run=dry_run)
    return report


def catalog_crowd(profiles: ProfileStorage, catalog: StoredCatalog, base: float, prior: Path | None = None) -> Crowd:
    """The crowd an engine on this catalog reads: every conversation imported for it (whatever import brought
    it, a shared one once), plus `prior` (the demo's shipped counts) over the catalog's items. Read once per
    engine: a running bot sees a new import when it starts again or reloads its catalog."""
    if base <= 0:
        return Crowd(base=0.0)
    model = crowd_model((c for _, c in profiles.crowd(catalog.name)), known=catalog.row_of)
    if prior is not None:
        shipped = load_prior(prior)
        model.merge(_within(shipped, catalog.row_of))
    return Crowd(model, base)


def _within(model: CoOccurrence, known: Container[str]) -> CoOccurrence:
    """The model's counts and pairs of `known` items only."""
    counts, pairs = model.snapshot()
    kept = CoOccurrence()
    kept.counts.update({k: n for k, n in counts.items() if k in known})
    for a, row in pairs.items():
        if a in known:
            kept.pairs[a].update({b: n for b, n in row.items() if b in known})
    return kept
