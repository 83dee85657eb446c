"""What a scripted run found, and how it is shown: the per-turn and per-script results, the console lines
(`status_line`, `format_result`, `summary_line`) and the failure details that the console, pytest and JUnit share.
Imports nothing of the runner, so the runner and the JUnit writer both build on it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ..conversation import FeedbackResult, Reply
from .checks import Failure, label

Outcome = Literal["passed", "failed", "error"]


@dataclass
class TurnReport:
    index: int
    """1-based turn number."""
    line: int | None
    action: str
    """What the script did: `say "..."` or `feedback ...`."""
    reply: Reply | None = None
    feedback: FeedbackResult | None = None
    failures: list[Failure] = field(default_factory=list)

    def summary(self) -> str:
        where = f"turn {self.index}" + (f" (line {self.line})" if self.line else "")
        if self.feedback is not None:
            outcome = f"{'liked' if self.feedback.value == 'like' else 'disliked'} {self.feedback.title} [{self.feedback.item_id}]"
        elif self.reply is not None:
            outcome = f"{self.reply.kind}, {len(self.reply.items)} item(s)"
        else:
            outcome = "not run"
        return f"{where}: {self.action} -> {outcome}"


@dataclass
class ScriptResult:
    path: Path
    name: str
    outcome: Outcome = "passed"
    seconds: float = 0.0
    turns: list[TurnReport] = field(default_factory=list)
    error: str | None = None
    total_turns: int = 0

    @property
    def passed(self) -> bool:
        return self.outcome == "passed"

    @property
    def failed_turn(self) -> TurnReport | None:
        return next((t for t in self.turns if t.failures), None)

    def message(self) -> str:
        """One line for JUnit's message attribute."""
        if self.error:
            return self.error.splitlines()[0]
        turn = self.failed_turn
        if turn is None:
            return ""
        return f"turn {turn.index}: " + "; ".join(f"{f.expectation} -> {f.actual}" for f in turn.failures)


def display_path(path: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def status_line(result: ScriptResult) -> str:
    tag = {"passed": "PASS ", "failed": "FAIL ", "error": "ERROR"}[result.outcome]
    turns = f"{len(result.turns)}/{result.total_turns} turns" if result.total_turns else "not run"
    return f"{tag} {display_path(result.path)}  {result.name}  ({turns}, {result.seconds:.1f}s)"


def _indent(text: str, prefix: str) -> list[str]:
    return [prefix + line for line in text.splitlines() or [""]]


def format_details(result: ScriptResult, reply_chars: int = 800) -> str:
    """What went wrong: the turn, each failed expectation, and what was actually shown."""
    if result.error:
        return "\n".join(_indent(result.error, "    "))
    turn = result.failed_turn
    if turn is None:
        return ""
    lines = [f"    turn {turn.index}" + (f" (line {turn.line})" if turn.line else "") + f": {turn.action}"]
    for failure in turn.failures:
        lines.append(f"      expected  {failure.expectation}")
        lines.append(f"      actual    {failure.actual}")
    reply = turn.reply
    if reply is not None:
        lines.append(
            f"    shown ({reply.kind}, {len(reply.items)} item(s)):"
            if reply.items
            else f"    shown: nothing ({reply.kind})"
        )
        for item in reply.items:
            genres = f"  genres: {', '.join(item.genres)}" if item.genres else ""
            lines.append(f"      {item.rank}. {label(item)} [{item.id}]{genres}")
        text = reply.text if len(reply.text) <= reply_chars else reply.text[:reply_chars] + " …"
        lines.append("    reply text:")
        lines += _indent(text, "      | ")
    earlier = [t for t in result.turns if t.index < turn.index]
    if earlier:
        lines.append("    earlier turns:")
        lines += [f"      {t.summary()}" for t in earlier]
    return "\n".join(lines)


def format_result(result: ScriptResult) -> str:
    if result.passed:
        return status_line(result)
    return status_line(result) + "\n" + format_details(result)


def summary_line(results: list[ScriptResult], seconds: float, llm: str, setup: dict[str, float] | None = None) -> str:
    counts = {k: sum(r.outcome == k for r in results) for k in ("passed", "failed", "error")}
    parts = [f"{counts['passed']} passed", f"{counts['failed']} failed"]
    if counts["error"]:
        parts.append(f"{counts['error']} error{'s' if counts['error'] != 1 else ''}")
    line = f"{', '.join(parts)} in {seconds:.1f}s (writer: {llm})"
    if setup:
        line += "; one-time setup: " + ", ".join(f"{name} {s:.1f}s" for name, s in setup.items())
    return line
