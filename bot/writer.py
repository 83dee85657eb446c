"""Reply writing: a deterministic template writer and an LLM writer that is validated.

The items of a reply always come from the ranked candidates and are listed by the
template; the LLM only writes the prose around them. Its output is checked sentence by
sentence while it streams: a sentence naming a catalog title that is not shown, quoting an
unknown title, repeating itself or echoing instructions is dropped ("repaired"); when no
sentence survives, or the model errs or runs past its time budget, the template text is
used instead ("replaced").
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import dataclass
from typing import AsyncIterator, Literal

from langchain_core.language_models import BaseChatModel

from recochat.retrieval.catalog import CatalogItem
from recochat.retrieval.titles import TitleIndex, normalize

from .engine import TurnResult
from .prompts import load_prompt

log = logging.getLogger("recochat.writer")

Status = Literal["template", "ok", "repaired", "replaced"]
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
_QUOTED = re.compile(r"[\"“”‘’']([A-Z][^\"“”‘’']{2,60})[\"“”‘’']|\*\*([^*]{3,60})\*\*|\b([A-Z][\w'’:&-]*(?:\s+[A-Z0-9][\w'’:&-]*)*)\s*\((?:19|20)\d\d\)")
_INSTRUCTION = re.compile(r"ignore (all |any )?(previous|prior|above)|instruction|system prompt|as an ai", re.I)
_SMALLTALK_REPLIES = (
    (re.compile(r"\b(thanks?|thx|cheers)\b"), "You're welcome! Tell me whenever you want more ideas."),
    (re.compile(r"\b(bye|goodbye|see you)\b"), "Bye for now! Your tastes are saved for next time."),
    (re.compile(r"\b(who are you|what can you do)\b"),
     "I recommend things from the catalog and learn from what you tell me: say what you like or don't, name favourites, or react to picks."),
)


@dataclass
class WriteOutcome:
    status: Status = "template"
    first_token_ms: float | None = None
    dropped: int = 0


def item_line(rank: int, item: CatalogItem, why: str) -> str:
    return f"{rank}. {item.label()} — {why}"


def item_facts(item: CatalogItem) -> str:
    """Catalog facts as quoted data for prompts and answers."""
    parts = [item.label()]
    if item.genres:
        parts.append(", ".join(item.genres))
    for key in ("director", "author"):
        if item.meta.get(key):
            value = item.meta[key]
            parts.append(f"{key}: {', '.join(value) if isinstance(value, list) else value}")
    if item.meta.get("stars"):
        stars = item.meta["stars"]
        parts.append("with " + (", ".join(stars[:3]) if isinstance(stars, list) else str(stars)))
    if item.description:
        parts.append(safe_text(item.description))
    return " | ".join(parts)


def safe_text(text: str) -> str:
    """Catalog text is data: sentences that read like instructions to a model are left out."""
    return " ".join(s for s in _SENTENCE_END.split(text) if s.strip() and not _INSTRUCTION.search(s))


class TemplateWriter:
    """Deterministic replies from catalog data: the fallback and the scripted-test default."""

    name = "template"

    def __init__(self, domain: str = "movie") -> None:
        self.domain = domain

    def intro(self, result: TurnResult) -> str:
        if result.kind == "cold_start":
            return "Here are a few popular, varied picks to get started."
        lead = f"Noted: {'; '.join(result.notes)}. " if result.notes else ""
        return f"{lead}Here {'is a pick' if len(result.items) == 1 else 'are some picks'} for you."

    def body(self, result: TurnResult) -> str:
        """The grounded part every writer keeps: the item list (and the cold-start question)."""
        lines = [item_line(r.rank, r.item, r.why) for r in result.items]
        if result.question:
            lines.append(result.question)
        return "\n".join(lines)

    def full(self, result: TurnResult) -> str:
        if result.kind in ("recommend", "cold_start"):
            return f"{self.intro(result)}\n{self.body(result)}"
        if result.kind == "empty":
            return ("I couldn't find anything new that fits all of that. "
                    "Try loosening a constraint (say 'any year') or asking for something else.")
        if result.kind in ("about", "why"):
            return self.answer(result)
        return self.smalltalk(result.message)

    def answer(self, result: TurnResult) -> str:
        item = result.subject
        if item is None:
            return "Which one do you mean? Say for example 'what is #2 about?' after I've suggested something."
        if result.kind == "why":
            if result.subject_why:
                return f"I suggested {item.label()}: {result.subject_why}."
            return f"I haven't recommended {item.label()} to you yet; here is what I know: {item_facts(item)}"
        return item_facts(item)

    def smalltalk(self, message: str) -> str:
        lowered = message.lower()
        for pattern, reply in _SMALLTALK_REPLIES:
            if pattern.search(lowered):
                return reply
        return f"Hi! Tell me what kind of {self.domain} you're in the mood for, or name one you loved."


_STOP = frozenset("that this with from have about their there which would what your they them film movie".split())


def _content_words(text: str) -> set[str]:
    return {w for w in normalize(text).split() if len(w) >= 4 and w not in _STOP}


class GroundingValidator:
    """Keeps only sentences that name shown titles; everything else counts as a repair.

    With `facts`, a sentence must also be mostly made of words found in them (answers about
    an item): the tiny model otherwise retells its few-shot example as if it were the item.
    """

    def __init__(self, titles: TitleIndex, allowed: list[CatalogItem], facts: str | None = None) -> None:
        self.titles = titles
        self.facts = _content_words(facts) if facts else None
        self.allowed_ids = {i.id for i in allowed}
        self.allowed_names = {normalize(i.title) for i in allowed}
        self._seen: set[str] = set()

    def accept(self, sentence: str) -> bool:
        text = sentence.strip()
        if len(text) < 2:
            return False
        key = normalize(text)
        if key in self._seen or _INSTRUCTION.search(text) or _looping(key):
            return False
        for match in self.titles.find(text):
            if match.item_id not in self.allowed_ids:
                return False
        for groups in _QUOTED.findall(text):
            name = normalize(next(g for g in groups if g))
            if name and name not in self.allowed_names and not any(name in a or a in name for a in self.allowed_names):
                return False
        if self.facts is not None:
            words = _content_words(text)
            if words and len(words & self.facts) / len(words) < 0.5:
                return False
        self._seen.add(key)
        return True


def _looping(key: str) -> bool:
    words = key.split()
    trigrams = [" ".join(words[i : i + 3]) for i in range(len(words) - 2)]
    return len(trigrams) >= 6 and len(set(trigrams)) < len(trigrams) * 0.6


class LLMWriter:
    """Prose from a chat model, validated and streamed a sentence at a time."""

    def __init__(
        self, model: BaseChatModel, titles: TitleIndex, label: str, timeout_s: float = 20.0, domain: str = "movie",
        max_sentences: int = 3,
    ) -> None:
        self.model = model
        self.titles = titles
        self.name = label
        self.timeout_s = timeout_s
        self.template = TemplateWriter(domain)
        self.domain = domain
        self.max_sentences = max_sentences

    def _request(self, result: TurnResult) -> tuple[str, dict[str, str], list[CatalogItem]] | None:
        """(prompt purpose, its variables, the items the text may name); None = template only."""
        if result.kind in ("recommend", "cold_start"):
            items = "\n".join(f"{r.rank}. {item_facts(r.item)} | {r.why}" for r in result.items[:3])
            purpose = "clarify" if result.kind == "cold_start" else "recommend"
            allowed = [] if purpose == "clarify" else [r.item for r in result.items]
            return purpose, {"message": result.message[:500], "items": items}, allowed
        if result.kind == "about" and result.subject is not None:
            return "about_item", {"message": result.message[:500], "item": item_facts(result.subject)}, [result.subject]
        if result.kind == "smalltalk":
            return "smalltalk", {"message": result.message[:500], "domain": self.domain}, []
        return None

    async def stream(self, result: TurnResult, outcome: WriteOutcome) -> AsyncIterator[str]:
        request = self._request(result)
        if request is None:
            outcome.status = "template"
            yield self.template.full(result)
            return
        purpose, variables, allowed = request
        started = time.perf_counter()
        kept: list[str] = []
        facts = f"{variables['item']} {variables['message']}" if purpose == "about_item" else None
        async for sentence in self._validated(purpose, variables, allowed, outcome, facts):
            if outcome.first_token_ms is None:
                outcome.first_token_ms = (time.perf_counter() - started) * 1000
            kept.append(sentence)
            yield ("" if len(kept) == 1 else " ") + sentence
        if not kept:
            outcome.status = "replaced"
            fallback = self.template.intro(result) if result.kind in ("recommend", "cold_start") else self.template.full(result)
            yield fallback
            if outcome.first_token_ms is None:
                outcome.first_token_ms = (time.perf_counter() - started) * 1000
        else:
            outcome.status = "repaired" if outcome.dropped else "ok"
        if result.kind in ("recommend", "cold_start"):
            yield "\n" + self.template.body(result)

    async def _validated(
        self, purpose: str, variables: dict[str, str], allowed: list[CatalogItem], outcome: WriteOutcome,
        facts: str | None = None,
    ) -> AsyncIterator[str]:
        validator = GroundingValidator(self.titles, allowed, facts)
        messages = load_prompt(purpose).format_messages(**variables)
        buffer = ""
        accepted = 0
        deadline = time.monotonic() + self.timeout_s
        chunks = self.model.astream(messages).__aiter__()
        try:
            while accepted < self.max_sentences:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError
                try:
                    chunk = await asyncio.wait_for(chunks.__anext__(), timeout=remaining)
                except StopAsyncIteration:
                    break
                buffer += str(chunk.content)
                *complete, buffer = _SENTENCE_END.split(buffer)
                for sentence in complete:
                    if accepted >= self.max_sentences:
                        break
                    if validator.accept(sentence):
                        accepted += 1
                        yield sentence.strip()
                    elif sentence.strip():
                        outcome.dropped += 1
            if buffer.strip() and accepted < self.max_sentences:
                if re.search(r"[.!?]$", buffer.strip()) and validator.accept(buffer):
                    yield buffer.strip()
                else:
                    outcome.dropped += 1  # an unfinished sentence is cut, never shown half
        except (TimeoutError, asyncio.TimeoutError):
            log.warning("LLM writer ran past its %.1fs budget", self.timeout_s)
            outcome.dropped += 1
        except Exception as error:  # endpoint down, refused, bad response: fall back, never crash a turn
            log.warning("LLM writer failed: %s", error)
            outcome.dropped += 1
        finally:
            close = getattr(chunks, "aclose", None)
            if close:
                try:
                    await close()
                except Exception:
                    pass
