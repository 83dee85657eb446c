"""Reply writing: a deterministic template writer and an LLM writer that is validated.

The items of a reply always come from the ranked candidates; front ends show them before
any prose, and the reply text lists them after it (`item_lines`). Writers stream prose
only. The LLM's prose is checked sentence by sentence while it streams: a sentence naming a catalog title that is not shown, quoting an
unknown title, repeating itself or echoing instructions is dropped ("repaired"); when no
sentence survives, or the model errs or runs past its time budget, the template text is
used instead ("replaced"). Only the expected failures of an LLM call fall back quietly;
any other exception is logged with its traceback and still falls back.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Literal

import httpx
import openai
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, BaseMessageChunk

from recochat.retrieval.catalog import INSTRUCTION, CatalogItem, people_facts
from recochat.retrieval.ingest import plural
from recochat.retrieval.titles import TitleIndex, normalize

from .engine import TurnResult
from .llm_server import LocalModelServer
from .prompts import load_prompt

log = logging.getLogger("recochat.writer")

Status = Literal["template", "ok", "repaired", "replaced"]
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
_QUOTED = re.compile(
    r"[\"“”‘’']([A-Z][^\"“”‘’']{2,60})[\"“”‘’']|\*\*([^*]{3,60})\*\*|\b([A-Z][\w'’:&-]*(?:\s+[A-Z0-9][\w'’:&-]*)*)\s*\((?:19|20)\d\d\)"
)
_LINK = re.compile(r"https?://|\bwww\.|\b[\w.+-]+@[\w-]+\.[a-z]{2,}\b|\b[\w-]+\.(?:com|net|org|io|example)\b", re.I)
"""A link or address: the catalog facts give none, so one in the prose was made up or injected."""
_SMALLTALK_REPLIES = (
    (re.compile(r"\b(thanks?|thx|cheers)\b"), "You're welcome! Tell me whenever you want more ideas."),
    (re.compile(r"\b(bye|goodbye|see you)\b"), "Bye for now! Your tastes are saved for next time."),
    (
        re.compile(r"\b(who are you|what can you do)\b"),
        "I recommend {things} from the catalog and learn from what you tell me: say what you like or don't, name favourites, or react to picks.",
    ),
)


@dataclass
class WriteOutcome:
    status: Status = "template"
    first_sentence_ms: float | None = None
    dropped: int = 0
    note: str | None = None
    """Why the model's prose is missing, for the status line: 'LLM restarting', 'LLM unavailable'…"""


def item_line(rank: int, label: str, why: str) -> str:
    """ "2. Heat (1995) — why": the line a reply text and line mode show for one item."""
    return f"{rank}. {label} — {why}"


def item_facts(item: CatalogItem) -> str:
    """Catalog facts as quoted data for prompts and answers."""
    parts = [item.label()]
    if item.genres:
        parts.append(", ".join(item.genres))
    parts += people_facts(item.meta)
    if item.description:
        parts.append(safe_text(item.description))
    return " | ".join(parts)


def safe_text(text: str) -> str:
    """Catalog text is data: sentences that read like instructions to a model are left out."""
    return " ".join(s for s in _SENTENCE_END.split(text) if s.strip() and not INSTRUCTION.search(s))


class TemplateWriter:
    """Deterministic prose from catalog data: the fallback and the scripted-test default."""

    name = "template"

    def __init__(self, domain: str = "movie") -> None:
        self.domain = domain

    async def stream(self, result: TurnResult, outcome: WriteOutcome) -> AsyncIterator[str]:
        outcome.status = "template"
        outcome.first_sentence_ms = 0.0
        yield self.prose(result)

    def intro(self, result: TurnResult) -> str:
        loosened = f" {result.loosened}" if result.loosened else ""  # once for the reply, never per item
        if result.kind == "cold_start":
            return "Here are a few popular, varied picks to get started." + loosened
        lead = f"Noted: {'; '.join(result.notes)}. " if result.notes else ""
        return f"{lead}Here {'is a pick' if len(result.items) == 1 else 'are some picks'} for you.{loosened}"

    def prose(self, result: TurnResult) -> str:
        """What this writer says around the items (the items themselves are listed by `item_lines`)."""
        if result.kind in ("recommend", "cold_start"):
            return self.intro(result)
        if result.kind == "empty":
            return "I couldn't find anything new that fits all of that. " + (
                result.loosened or "Try loosening a constraint (say 'any year') or asking for something else."
            )
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
                return reply.replace("{things}", plural(self.domain))
        return f"Hi! Tell me what kind of {self.domain} you're in the mood for, or name one you loved."


def item_lines(result: TurnResult) -> str:
    """The grounded list every reply text carries: one line per ranked item."""
    return "\n".join(item_line(r.rank, r.item.label(), r.why) for r in result.items)


_STOP = frozenset("that this with from have about their there which would what your they them film movie".split())


def _content_words(text: str) -> set[str]:
    return {w for w in normalize(text).split() if len(w) >= 4 and w not in _STOP}


def _words(text: str) -> set[str]:
    return {w for w in normalize(text).split() if len(w) >= 3}


def _injected(result: TurnResult) -> list[str]:
    """Instruction-like sentences that `safe_text` keeps out of the prompt: the user's and the catalog's."""
    texts = [result.message, *(r.item.description for r in result.items), *(r.why for r in result.items)]
    if result.subject is not None:
        texts.append(result.subject.description)
    return [s for text in texts for s in _SENTENCE_END.split(text) if INSTRUCTION.search(s)]


class GroundingValidator:
    """Keeps only sentences a person can trust; everything else counts as a repair.

    A sentence is dropped when it names a title that is not shown, quotes an unknown title,
    repeats or nearly repeats an earlier one, echoes instructions, claims the user liked or saw
    something the profile does not hold, promises future behaviour, points at picks "above",
    or (when `questions` is False) asks the user something: the reply's own question, if any,
    is added by the engine. With `facts`, a sentence must also be mostly made of words found in
    them (answers about an item): the tiny model otherwise retells its few-shot example.
    """

    def __init__(
        self,
        titles: TitleIndex,
        allowed: list[CatalogItem],
        facts: str | None = None,
        liked: list[CatalogItem] | None = None,
        questions: bool = True,
    ) -> None:
        self.titles = titles
        self.facts = _content_words(facts) if facts else None
        self.allowed_ids = {i.id for i in allowed}
        self.allowed_names = {normalize(i.title) for i in allowed}
        self.liked_ids = {i.id for i in liked or []}
        self.questions = questions
        self._seen: set[str] = set()
        self._kept_words: list[set[str]] = []
        self.tainted: set[str] = set()
        self.echo: set[str] = set()

    def guard(self, messages: list[BaseMessage], injected: list[str]) -> None:
        """Obeying an injection shows as its words, leaking the prompt as a run of its words. `tainted`:
        the words of the injected sentences kept out of the prompt that the prompt itself does not use;
        `echo`: the system message's 5-word runs."""
        prompt = " ".join(str(m.content) for m in messages)
        self.tainted = _words(" ".join(injected)) - _words(prompt)
        system = normalize(str(messages[0].content)).split() if messages else []
        self.echo = {" ".join(system[i : i + 5]) for i in range(len(system) - 4)}

    def _obeys_or_leaks(self, text: str) -> bool:
        words = normalize(text).split()
        if _LINK.search(text) or self.tainted & set(words):
            return True
        return any(" ".join(words[i : i + 5]) in self.echo for i in range(len(words) - 4))

    def accept(self, sentence: str) -> bool:
        text = sentence.strip()
        if _malformed(text) or any(p.search(text) for p in (INSTRUCTION, _PROMISE, _PICKS_ELSEWHERE, _META)):
            return False
        if self._obeys_or_leaks(text):
            return False
        if not self.questions and text.endswith("?"):
            return False
        key = normalize(text)
        words = _content_words(text)
        if key in self._seen or _looping(key) or self._repeats(words):
            return False
        if not (self._grounded(text) and self._true_of_user(text) and self._made_of_facts(words)):
            return False
        self._seen.add(key)
        self._kept_words.append(words)
        return True

    def _repeats(self, words: set[str]) -> bool:
        """Most of its words were already said by a kept sentence."""
        return bool(words) and any(len(words & kept) / len(words | kept) >= 0.6 for kept in self._kept_words)

    def _grounded(self, text: str) -> bool:
        if any(match.item_id not in self.allowed_ids for match in self.titles.find(text)):
            return False
        for groups in _QUOTED.findall(text):
            name = normalize(next(g for g in groups if g))
            if name and name not in self.allowed_names and not any(name in a or a in name for a in self.allowed_names):
                return False
        return True

    def _true_of_user(self, text: str) -> bool:
        """'You loved X' only when the profile holds X as liked; never 'you enjoyed' in general."""
        if not _USER_CLAIM.search(text):
            return True
        named = {match.item_id for match in self.titles.find(text)}
        return bool(named) and named <= self.liked_ids

    def _made_of_facts(self, words: set[str]) -> bool:
        return self.facts is None or not words or len(words & self.facts) / len(words) >= 0.5


_PROMISE = re.compile(
    r"\b(I[’']ll|I will|I[’']m going to|I am going to|I can[’']t wait|next time|in the future|stay tuned|"
    r"keep (them|it|that) in mind)\b",
    re.I,
)
"""A writer cannot keep promises about later replies: the ranker decides them."""
_USER_CLAIM = re.compile(
    r"\byou(?:'ve| have)? (?:already )?(enjoyed|loved|liked|watched|seen|adored)\b|\bglad you\b", re.I
)
"""Claims about the user's past that must match the profile."""
_PICKS_ELSEWHERE = re.compile(
    r"\b(previous|earlier|last|other) (picks?|suggestions?|recommendations?|list|ones?|ideas?)\b"
    r"|\b(above|below)\b",
    re.I,
)
"""The picks are the cards of this reply; prose about other lists is about items not shown, and
"above"/"below" is wrong on some screen (cards come after the prose in the TUI, before it on Discord)."""
_META = re.compile(
    r"\b(revised version|original text|the following|sentences?|paragraphs?|as requested|here'?s a list|"
    r"my favou?rite|for me\b|creative challenge)",
    re.I,
)
"""The small model talking about its own text or its own taste instead of the user's picks."""


_MARKUP = re.compile(r"[<>{}|#*`]|\b\d+\.$|^\d+\.")
"""Prompt markup echoed back (<catalog>, a | b), list numbers, or a sentence cut at '1.'."""


def _malformed(text: str) -> bool:
    """Not a sentence a person should read: too short, or the prompt's markup leaking through."""
    return not re.search(r"[A-Za-z]{2,}", text) or bool(_MARKUP.search(text))


def _looping(key: str) -> bool:
    words = key.split()
    trigrams = [" ".join(words[i : i + 3]) for i in range(len(words) - 2)]
    return len(trigrams) >= 6 and len(set(trigrams)) < len(trigrams) * 0.6


EXPECTED_FAILURES: tuple[type[BaseException], ...] = (openai.APIError, httpx.HTTPError, OSError)
"""What an LLM call may raise when the endpoint is down, refusing, crashing or erring (HTTP)."""


class LLMWriter:
    """Prose from a chat model, validated and streamed a sentence at a time, within two budgets.

    `first_sentence_s`: past it with no accepted sentence, the template prose is used (a hung
    endpoint costs this much, not the HTTP timeout). `total_s`: sentences after it are cut.
    `server`, when this process owns the model server: a server that is restarting is not
    called at all, so its replies fall back at once and the note says why.
    """

    def __init__(
        self,
        model: BaseChatModel,
        titles: TitleIndex,
        label: str,
        first_sentence_s: float = 10.0,
        total_s: float = 15.0,
        domain: str = "movie",
        max_sentences: int = 2,
        server: LocalModelServer | None = None,
    ) -> None:
        self.model = model
        self.titles = titles
        self.name = label
        self.first_sentence_s = first_sentence_s
        self.total_s = total_s
        self.template = TemplateWriter(domain)
        self.domain = domain
        self.max_sentences = max_sentences
        self.server = server

    def _request(self, result: TurnResult) -> tuple[str, dict[str, str], list[CatalogItem]] | None:
        """(prompt purpose, its variables, the items the text may name); None = template only."""
        message = safe_text(result.message[:500])  # the user's text is data too: no instruction reaches the model
        if result.kind in ("recommend", "cold_start"):
            items = "\n".join(f"{r.rank}. {item_facts(r.item)} | {safe_text(r.why)}" for r in result.items[:3])
            purpose = "clarify" if result.kind == "cold_start" else "recommend"
            allowed = [] if purpose == "clarify" else [r.item for r in result.items]
            return purpose, {"message": message, "items": items}, allowed
        if result.kind == "about" and result.subject is not None:
            return "about_item", {"message": message, "item": item_facts(result.subject)}, [result.subject]
        if result.kind == "smalltalk":
            return "smalltalk", {"message": message, "domain": self.domain}, []
        return None

    async def stream(self, result: TurnResult, outcome: WriteOutcome) -> AsyncIterator[str]:
        request = self._request(result)
        if request is None:
            async for text in self.template.stream(result, outcome):
                yield text
            return
        purpose, variables, allowed = request
        started = time.perf_counter()
        facts = f"{variables['item']} {variables['message']}" if purpose == "about_item" else None
        validator = GroundingValidator(
            self.titles, allowed, facts, liked=result.liked, questions=purpose == "smalltalk"
        )
        kept = 0
        if await self._server_ready(outcome):
            messages = load_prompt(purpose).format_messages(**variables)
            validator.guard(messages, _injected(result))
            async for sentence in self._validated(messages, validator, outcome):
                if outcome.first_sentence_ms is None:
                    outcome.first_sentence_ms = (time.perf_counter() - started) * 1000
                kept += 1
                yield ("" if kept == 1 else " ") + sentence
        if kept:
            outcome.status = "repaired" if outcome.dropped else "ok"
            if result.loosened and result.kind in ("recommend", "cold_start"):
                yield " " + result.loosened  # what a filled reply gave up is said by us, not left to the model
            return
        outcome.status = "replaced"
        yield self.template.prose(result)
        if outcome.first_sentence_ms is None:
            outcome.first_sentence_ms = (time.perf_counter() - started) * 1000

    async def _server_ready(self, outcome: WriteOutcome) -> bool:
        """An owned server that is still starting gets the first-sentence budget; a restarting one none."""
        server = self.server
        if server is None or server.state == "ready":
            return True
        if server.state == "starting" and await asyncio.to_thread(server.wait_ready, self.first_sentence_s):
            return True
        outcome.note = f"LLM {server.state}"
        log.warning("LLM server %s: template prose for this reply", server.state)
        return False

    async def _validated(
        self, messages: list[BaseMessage], validator: GroundingValidator, outcome: WriteOutcome
    ) -> AsyncIterator[str]:
        """Accepted sentences, until `max_sentences`, the model's end, a budget or a failure."""
        started = time.monotonic()
        sentences = _sentences(self.model.astream(messages)).__aiter__()
        accepted = 0
        try:
            while accepted < self.max_sentences:
                budget = self.total_s if accepted else min(self.first_sentence_s, self.total_s)
                try:
                    sentence, finished = await asyncio.wait_for(
                        sentences.__anext__(), timeout=max(0.0, started + budget - time.monotonic())
                    )
                except StopAsyncIteration:
                    break
                if finished and validator.accept(sentence):
                    accepted += 1
                    yield sentence.strip()
                elif sentence.strip():
                    outcome.dropped += 1  # unfinished or ungrounded: never shown
        except TimeoutError:
            which = "total" if accepted else "first-sentence"
            log.warning(
                "LLM writer ran past its %s budget (%.1fs)", which, self.total_s if accepted else self.first_sentence_s
            )
            outcome.dropped += 1
            outcome.note = outcome.note or f"LLM past its {which} budget"
        except EXPECTED_FAILURES as error:
            server = self.server
            restarting = server is not None and (server.state != "ready" or not server.alive())
            outcome.note = "LLM restarting" if restarting else "LLM unavailable"
            log.warning("LLM writer failed (%s): %s", outcome.note, error)
            outcome.dropped += 1
        except Exception:
            log.exception("LLM writer bug; template prose for this reply")
            outcome.note = "LLM writer error"
            outcome.dropped += 1
        finally:
            await _close(sentences)


async def _sentences(chunks: AsyncIterator[BaseMessageChunk]) -> AsyncIterator[tuple[str, bool]]:
    """Split a chunk stream into (sentence, finished); the last piece is unfinished unless it ends a sentence."""
    buffer = ""
    async for chunk in chunks:
        buffer += str(chunk.content)
        *complete, buffer = _SENTENCE_END.split(buffer)
        for sentence in complete:
            yield sentence, True
    if buffer.strip():
        yield buffer, bool(re.search(r"[.!?]$", buffer.strip()))


async def _close(iterator: AsyncIterator[object]) -> None:
    close = getattr(iterator, "aclose", None)
    if close is None:
        return
    try:
        await close()
    except EXPECTED_FAILURES as error:
        log.debug("closing the LLM stream: %s", error)
