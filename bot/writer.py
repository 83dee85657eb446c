"""Reply writing: a deterministic template writer and an LLM writer that is validated.

The items of a reply always come from the ranked candidates; front ends show them before
any prose, and the reply text lists them after it (`item_lines`). Writers stream prose
only. The LLM's prose is checked sentence by sentence while it streams (bot/grounding.py): a sentence naming a
catalog title that is not shown, quoting an unknown title, repeating itself or echoing instructions is dropped
("repaired"), counted in `WriteOutcome.dropped_by` under the rule that dropped it; when no sentence survives, or
the model errs or runs past its time budget, the template text is used instead ("replaced"). Only the expected
failures of an LLM call fall back quietly; any other exception is logged with its traceback and still falls back.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from recochat.retrieval.candidates import text_of
from recochat.retrieval.catalog import INSTRUCTION, CatalogItem, people_facts
from recochat.retrieval.explain import content_words, saying_pattern
from recochat.retrieval.ingest import plural
from recochat.retrieval.schema import length_fact
from recochat.retrieval.titles import TitleIndex

from .engine import TurnResult
from .grounding import RETITLED_RULES, RULE_NAMES, Drop, GroundingValidator, without_titles
from .lexicon import SAME_IN_TEXT, SENTENCE_BREAK, kind_words
from .llm_server import MODEL_ALIAS, LocalModelServer
from .prompts import load_prompt
from .understanding import KIDS_GENRES

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import BaseMessage

log = logging.getLogger("recochat.writer")

Status = Literal["template", "ok", "repaired", "replaced"]
_SMALLTALK_REPLIES = (
    (re.compile(r"\b(thanks?|thx|cheers)\b"), "You're welcome! Tell me whenever you want more ideas."),
    (
        re.compile(r"\b(bye|goodbye|see you|good ?night|take care|have a (good|great|nice|wonderful|lovely|fun))\b"),
        "Bye for now! Your tastes are saved for next time.",
    ),
    (
        re.compile(r"\bheard of\b"),
        "Ask me about any of them (say 'what is #2 about?'), or tell me what you'd rather have.",
    ),
    (
        re.compile(r"\b(check|look) (\w+ )*(out|up)\b|\badd\b.*\blist\b|\bsounds?\b|\bwill do\b"),
        "Enjoy! Ask whenever you want more ideas, or tell me what you thought of them.",
    ),
    (
        re.compile(r"^\W*(ok(ay)?|cool|great|sure|alright|nice)\b"),
        "Tell me what you'd like next, or say 'more' for more picks.",
    ),
    (
        re.compile(r"\bfav(ou?rite)?s?\b"),
        "I don't have favourites of my own: tell me one of yours and I'll find more like it.",
    ),
    (
        re.compile(r"\b(who are you|what can you do)\b"),
        "I recommend {things} from the catalog and learn from what you tell me: say what you like or don't, name favourites, or react to picks.",
    ),
)


UNFINISHED = "unfinished"
PAST_BUDGET = "past_budget"
LLM_FAILED = "llm_failed"
WRITER_ERROR = "writer_error"
DROP_CAUSES = (*RULE_NAMES, UNFINISHED, PAST_BUDGET, LLM_FAILED, WRITER_ERROR)
"""What a drop is counted under: the grounding rule that fired (bot/grounding.py), a sentence the model never
ended, or the attempt's end (past a budget, the LLM call failing, a bug in the writer)."""


TOO_SLOW = "too_slow"
CUT_SHORT = "cut_short"
NO_TIME = "no_time_to_retry"
NOTHING_MATCHED = "nothing_matched"
SILENT = "silent"
UNREACHABLE = "unavailable"
BUG = "writer_error"
SERVER_STATES = ("starting", "restarting", "stopped")
CAUSES = (TOO_SLOW, CUT_SHORT, NO_TIME, NOTHING_MATCHED, SILENT, UNREACHABLE, BUG, *SERVER_STATES)
"""Why a reply lacks the model's prose, or has less of it (`WriteOutcome.cause`): past the first-sentence budget,
cut at the total budget, no time left for another try, every sentence dropped, nothing written, the endpoint
failing, a bug in the writer, or the owned server not ready (its state)."""


@dataclass
class WriteOutcome:
    status: Status = "template"
    first_sentence_ms: float | None = None
    dropped: int = 0
    cause: str | None = None
    """Why the model's prose is missing or cut short (`CAUSES`); None when it is whole, or never asked for."""
    budget_s: float | None = None
    """The budget that ran out (TOO_SLOW, CUT_SHORT, NO_TIME, a server still starting)."""
    spent_s: float | None = None
    """Seconds since the writer started, when it stopped for `cause`."""
    attempts: int = 0
    """Samples the model was asked for."""
    failure: str | None = None
    """What the endpoint's failure was, in a few words ('connection refused', 'HTTP 500'), for UNREACHABLE."""
    dropped_by: Counter[str] = field(default_factory=Counter)
    """`dropped`, counted by cause (`DROP_CAUSES`): which rule dropped how many of the model's sentences."""
    retitled: int = 0
    """Kept sentences that had started the picks with another title and got the pick's (`GroundingValidator.retitled`)."""

    def drop(self, cause: str) -> None:
        self.dropped += 1
        self.dropped_by[cause] += 1

    @property
    def sentences_dropped(self) -> int:
        """The model's sentences that were written and dropped (by a rule, or unfinished), not attempts' ends."""
        return self.dropped - sum(self.dropped_by[c] for c in (PAST_BUDGET, LLM_FAILED, WRITER_ERROR))

    @property
    def note(self) -> str | None:
        """What happened to the model's prose, as one sentence for a person: every front end shows this text."""
        return status_note(self)


def status_note(outcome: WriteOutcome) -> str | None:
    """'The model was too slow (no sentence within 2.0 s); showing the plain reply.': the one place these are worded."""
    cause = outcome.cause
    if cause is None:
        return None
    plain = "; showing the plain reply." if outcome.status == "replaced" else "."
    budget = f"{outcome.budget_s:.1f} s" if outcome.budget_s is not None else "its time limit"
    dropped = outcome.sentences_dropped
    unmatched = (
        "the model's only sentence did not match the catalog"
        if dropped == 1
        else f"none of the model's {dropped} sentences matched the catalog"
    )
    if cause == TOO_SLOW:
        if dropped:
            return f"The model was too slow: no usable sentence within {budget} ({unmatched}){plain}"
        return f"The model was too slow (no sentence within {budget}){plain}"
    if cause == CUT_SHORT:
        return f"The model was too slow to finish: its reply was cut at the {budget} limit."
    if cause == NO_TIME:
        spent = f"{outcome.spent_s:.1f} s" if outcome.spent_s is not None else "its time"
        tries = "1 try" if outcome.attempts == 1 else f"{outcome.attempts} tries"
        return f"In {tries} ({spent}) {unmatched}, and another try would not finish within {budget}{plain}"
    if cause == NOTHING_MATCHED:
        tries = f" ({outcome.attempts} tries)" if outcome.attempts > 1 else ""
        return f"{unmatched[0].upper()}{unmatched[1:]}{tries}{plain}"
    said = {
        SILENT: "The model wrote nothing",
        UNREACHABLE: f"The model is unavailable ({outcome.failure or 'it failed'})",
        BUG: "Something went wrong while writing the model's reply (a bug, logged)",
        "starting": f"The model is still starting (not ready within {budget})",
        "restarting": "The model is restarting",
        "stopped": "The model is not running",
    }
    return said.get(cause, f"The model's prose is missing ({cause})") + plain


def failure_words(error: BaseException) -> str:
    """An endpoint's failure in a few words: 'HTTP 503', 'no answer in time', 'could not connect'."""
    status = getattr(error, "status_code", None)
    if isinstance(status, int):
        return f"HTTP {status}"
    name = type(error).__name__.lower()
    if "timeout" in name:
        return "no answer in time"
    if "connect" in name or isinstance(error, ConnectionError):
        return "could not connect"
    return "the request failed"


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
    return " ".join(s for s in SENTENCE_BREAK.split(text) if s.strip() and not INSTRUCTION.search(s))


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
        if result.kind == "cold_start":  # still says what it understood ("I don't like old movies": the years)
            return f"{self.noted(result)}Here are a few popular, varied picks to get started." + loosened
        return (
            f"{self.noted(result)}Here {'is a pick' if len(result.items) == 1 else 'are some picks'} for you.{loosened}"
        )

    @staticmethod
    def noted(result: TurnResult) -> str:
        """'Noted: you liked Heat; no horror from now on. ': what was understood, before any writer's prose."""
        return f"Noted: {'; '.join(result.notes)}. " if result.notes else ""

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
        if result.kind == "reset":
            return (
                "Starting fresh: what you told me before no longer steers the picks. "
                f"What kind of {self.domain} are you in the mood for?"
            )
        return self.smalltalk(result.message)

    def answer(self, result: TurnResult) -> str:
        item = result.subject
        if result.compared is not None:
            return compared_answer(item, result.compared, result.compared_value, plural(self.domain))
        if item is None and result.kind == "why":  # "why?" with no pick named
            return "Each pick comes with its reason; ask 'why #2?' about one of them, or tell me what you're after."
        if item is None:
            return "Which one do you mean? Say for example 'what is #2 about?' after I've suggested something."
        if result.kind == "why":
            if result.subject_why:
                return f"I suggested {item.label()}: {result.subject_why}."
            return f"I haven't recommended {item.label()} to you yet; here is what I know: {item_facts(item)}"
        return field_answer(item, result.message) or item_facts(item)

    def smalltalk(self, message: str) -> str:
        lowered = message.lower()
        for pattern, reply in _SMALLTALK_REPLIES:
            if pattern.search(lowered):
                return reply.replace("{things}", plural(self.domain))
        return f"Hi! Tell me what kind of {self.domain} you're in the mood for, or name one you loved."


_FIELD_QUESTIONS = (
    ("director", re.compile(r"\bwho (?:directed|made)\b|\bdirector\b|\bdirected by\b", re.I)),
    ("author", re.compile(r"\bwho (?:wrote|authored)\b|\bauthor\b|\bwritten by\b", re.I)),
    ("stars", re.compile(r"\bwho(?:'s| is| are)? (?:in|starring|stars)\b|\bcast\b|\bactors?\b|\bstarring\b", re.I)),
    ("year", re.compile(r"\bwhat year\b|\bwhen (?:was|did)\b|\bhow old\b", re.I)),
    (
        "length",
        re.compile(
            r"\bhow long\b|\bhow many (?:pages|minutes|hours)\b|\b(?:runtime|running time)\b"
            r"|\b(?:too |very |that |really )?(?:long|short|lengthy)\W*$",  # "is #2 long?"
            re.I,
        ),
    ),
    ("kids", re.compile(r"\b(?:for|with) (?:the |my |our )?(?:kids|children|a child|a \d+[- ]year[- ]old)\b", re.I)),
)
"""Questions about one field of an item: answered from that field, not with the whole card (or a plot retold by
the model, as the read-through found for "who directed #2?")."""


def field_answer(item: CatalogItem, question: str) -> str | None:
    """'Mad Max (1979) was directed by George Miller.'; None when the question asks for no single field."""
    asked = next((name for name, pattern in _FIELD_QUESTIONS if pattern.search(question)), None)
    if asked is None:
        return None
    if asked == "year":
        return f"{item.title} is from {item.year}." if item.year else f"The catalog has no year for {item.title}."
    if asked == "length":
        return _length_answer(item)
    if asked == "kids":
        return _kids_answer(item)
    value = item.meta.get(asked)
    names = ", ".join(value) if isinstance(value, list) else str(value or "")
    if not names:
        return f"The catalog doesn't say who {'wrote' if asked == 'author' else 'made' if asked == 'director' else 'is in'} {item.label()}."
    verb = {"director": "was directed by", "author": "was written by", "stars": "stars"}[asked]
    return f"{item.label()} {verb} {names}."


def compared_answer(item: CatalogItem | None, said: str, value: str | None, things: str) -> str:
    """'Of these, Greek Salad is the quickest: 10 min.'; what the catalog gives no value for is said so."""
    if item is None:
        return f"I can't tell which is the {said}: the catalog doesn't say that of these {things}."
    return f"Of these, {item.label()} is the {said}" + (f": {value}." if value else ".")


def _length_answer(item: CatalogItem) -> str:
    """'How long is #3?' from the item's own length, in whatever column the catalog keeps it (`length_fact`:
    cook_time, playing_time, pages), or says the catalog has none (it was read as liking #3)."""
    length = length_fact(item.meta)
    return f"{item.label()} is {length} long." if length else f"The catalog doesn't say how long {item.label()} is."


def _kids_answer(item: CatalogItem) -> str:
    """'Is #2 ok for kids?' from what the catalog says: a family genre, or a horror genre or scary or violent words
    in its text; it has no age ratings, and the answer says so rather than guess."""
    genres = ", ".join(item.genres) or "no genre"
    if set(item.genres) & set(KIDS_GENRES):
        return f"{item.label()} is a family pick ({genres}); the catalog has no age ratings."
    said = saying_pattern([*SAME_IN_TEXT["violent"], *SAME_IN_TEXT["scary"], "grotesque", "gory"]).search(
        text_of(item).lower()
    )
    if "horror" in item.genres or said:
        because = f"its description says “{said.group()}”" if said else "it is horror"
        return f"Probably not: {item.label()} is {genres}, and {because}; the catalog has no age ratings."
    return f"{item.label()} isn't a family pick ({genres}); the catalog has no age ratings, so check one first."


def item_lines(result: TurnResult) -> str:
    """The grounded list every reply text carries: one line per ranked item."""
    return "\n".join(item_line(r.rank, r.item.label(), r.why) for r in result.items)


def _injected(result: TurnResult) -> list[str]:
    """Instruction-like sentences that `safe_text` keeps out of the prompt: the user's and the catalog's."""
    texts = [result.message, *(r.item.description for r in result.items), *(r.why for r in result.items)]
    if result.subject is not None:
        texts.append(result.subject.description)
    return [s for text in texts for s in SENTENCE_BREAK.split(text) if INSTRUCTION.search(s)]


ABOUT_SHARE = 0.8
"""Share of an "about" answer's words that must come from the item's facts: at 0.67 the model's Spirited Away was
about "a young woman who must rescue her own family's magical bathhouse"."""


def _plot(item: CatalogItem) -> str:
    """What an "about" answer must retell: the description's first sentence without genre words ("A shaggy,
    hilarious cult comedy." is a verdict, and "cult comedy" let "a cult comedy film from 1998" pass)."""
    first = SENTENCE_BREAK.split(safe_text(item.description).strip(), maxsplit=1)[0]
    genres = content_words(kind_words(item.genres))
    return " ".join(w for w in first.split() if not content_words(w) & genres)


SHORT_TASK_S = 3.0
"""The first-sentence budget of small talk and of "what is #2 about?": their plain answers (the draft the model
paraphrases, the item's card) are whole and true, and no items are on screen while the user waits. In the idle
`recochat bench llm` runs of 2026-11-29 and 2026-12-06 every kept small-talk sentence came within 2.6 s and every
small-talk reply without one waited 5.7-8.9 s for the draft; since the model must retell the story (`no_story`),
"about" answers were kept in 1-2 of 5 per run, each time the false "Shrek is a Disney animated film", and the others
waited ~9 s for the card."""
RETRIES = 29
"""More attempts while the model writes sentences that are all dropped, within `RETRY_WITHIN` of the first-sentence
budget: a 135M model's sentence is often wrong, but a later sample is often right (each costs ~0.5 s). A model
that writes nothing, errs or runs out of time is not asked again."""
RETRY_WITHIN = 0.85
"""Share of the first-sentence budget after which no new attempt starts (the template then answers). At 0.6 every
reply that fell back had spent its 6 s on attempts, not on `RETRIES`. Nor does one start whose first sentence, at
the pace this reply's samples took (`LLMWriter.predict_retries`), would end past the budget."""
PACE_OF = 3
"""The last this many samples of a reply give the pace of the next one."""
RETRY_TEMPERATURE = 0.8
PURPOSES = ("recommend", "clarify", "about_item", "smalltalk")
"""The prompts (prompts/*.txt) this writer sends: each begins with its fixed part (instructions, examples), and
what changes per turn (the message, the picks) comes last, so turns of one kind share that prefix."""
_ROLES = {"system": "system", "human": "user", "ai": "assistant"}


@dataclass
class Brief:
    """One narrow task for the model: its prompt, the items it may name, the facts its words must come from."""

    purpose: str
    variables: dict[str, str]
    allowed: list[CatalogItem]
    facts: str
    share: float = 0.5
    questions: bool = False
    min_words: int = 1
    """Fewer words is a fragment ("Ex Machina.", "The Extra-Terrestrial.")."""
    must_name: CatalogItem | None = None
    generic: bool = True
    """Generic words ('here', 'enjoy') are free; False for a paraphrase of a draft, which has its own words."""
    tell: str | None = None
    """What the first sentence must retell (an item's plot, for "what is #2 about?"): two of its words at least."""
    one_sentence: bool = False
    """The task is one sentence: when it is dropped, what the model writes after it is off the task ("Now let's
    talk about the 90s."), so the attempt ends there and the next sample starts sooner."""
    picks: int | None = None
    """How many picks the reply shows, when the sentence introduces them: it must count them right."""
    plot: bool = True
    """False when the model is not given the plot: it must make no plot claim."""
    first_sentence_s: float | None = None
    """A first-sentence budget shorter than the writer's, for a task whose plain answer is already whole."""


@functools.cache
def expected_failures() -> tuple[type[BaseException], ...]:
    """What an LLM call may raise when the endpoint is down, refusing, crashing or erring (HTTP).

    Imported on the first LLM call, not with this module: the template writer lives here too,
    and it must work whatever the installed LLM client libraries are."""
    import httpx
    import openai

    return (openai.APIError, httpx.HTTPError, OSError)


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
        predict_retries: bool = True,
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
        self.predict_retries = predict_retries
        """No new attempt whose first sentence, at this reply's pace so far, would end past the budget."""
        if server is not None:
            server.prefill(self.prefill_bodies)

    def prefill_bodies(self) -> list[dict[str, Any]]:
        """One chat request per prompt, its fixed part as every turn sends it and a placeholder where the turn's
        own text goes, asking for one token: the owned server answers them after each start and keeps their
        states, so the first turn of each kind, and one after a turn of another kind, evaluates only its own
        text (`LocalModelServer.prefill`)."""
        bodies = []
        for purpose in PURPOSES:
            prompt = load_prompt(purpose)
            variables = dict.fromkeys(prompt.input_variables, "hi") | {"domain": self.domain}
            messages = [
                {"role": _ROLES[m.type], "content": str(m.content)} for m in prompt.format_messages(**variables)
            ]
            bodies.append({"model": MODEL_ALIAS, "messages": messages, "max_tokens": 1, "temperature": 0})
        return bodies

    def for_catalog(self, titles: TitleIndex, domain: str) -> LLMWriter:
        """The same model and budgets, grounded in another catalog's titles and calling its items `domain`."""
        return LLMWriter(
            self.model,
            titles,
            self.name,
            first_sentence_s=self.first_sentence_s,
            total_s=self.total_s,
            domain=domain,
            max_sentences=self.max_sentences,
            server=self.server,
            predict_retries=self.predict_retries,
        )

    def _request(self, result: TurnResult) -> Brief | None:
        """What to ask the model for this turn; None = template only.

        Each task is narrow enough for a 135M model: one sentence introducing the picks by the first one's
        title and kind, in words of its genres, the user's message and the anchor (the whys describe the
        picks; given the request's genres, the model put them on picks that lack them), one sentence saying
        what the template's draft says (small talk), two sentences from one item's facts. Answers to one
        field ("who directed #2?") come from the field itself."""
        message = safe_text(result.message[:500])  # the user's text is data too: no instruction reaches the model
        if result.kind == "recommend" and result.items:
            first = result.items[0].item
            around = " and ".join(i.title for i in result.anchors) or "(nothing)"
            variables = {"message": message, "around": around, "domain": self.domain}
            variables["first"] = f"{first.title} | {', '.join(first.genres)}"  # with a year, it wrote wrong years
            kinds = kind_words(first.genres)
            # its tags and people count as facts too: "Batman, a superhero movie", "Monsters, Inc., a Pixar film"
            tags = first.meta.get("tags") or []
            known = [*(map(str, tags) if isinstance(tags, list) else [str(tags)]), *people_facts(first.meta)]
            facts = " ".join([without_titles(self.titles, message), first.label(), variables["first"], kinds, *known])
            return Brief(
                "recommend",
                variables,
                [first, *result.anchors],
                facts,
                share=1.0,
                min_words=6,
                must_name=first,
                one_sentence=True,
                picks=len(result.items),
                plot=False,
            )
        if result.kind == "cold_start":
            items = "\n".join(f"{r.rank}. {r.item.label()} | {', '.join(r.item.genres)}" for r in result.items[:3])
            return Brief("clarify", {"message": message, "items": items}, [], f"{message} popular varied", share=0.75)
        if (
            result.kind == "about"
            and result.subject is not None
            and result.compared is None
            and not field_answer(result.subject, message)
        ):
            item = item_facts(result.subject)
            kinds = kind_words(result.subject.genres)
            return Brief(
                "about_item",
                {"message": message, "item": item},
                [result.subject],
                f"{item} {kinds} {message}",
                ABOUT_SHARE,
                tell=_plot(result.subject),
                first_sentence_s=SHORT_TASK_S,
            )
        if result.kind == "smalltalk":
            draft = self.template.smalltalk(message)
            variables = {"message": message, "draft": draft, "domain": self.domain}
            return Brief(
                "smalltalk",
                variables,
                [],
                f"{draft} {message}",
                share=0.75,
                questions=True,
                min_words=3,
                generic=False,
                first_sentence_s=SHORT_TASK_S,
            )
        return None

    async def stream(self, result: TurnResult, outcome: WriteOutcome) -> AsyncIterator[str]:
        request = self._request(result)
        if request is None:
            async for text in self.template.stream(result, outcome):
                yield text
            return
        started = time.perf_counter()
        kept = 0
        async for text in self._attempts(result, request, outcome, started):
            kept += 1
            yield text
        if kept:
            outcome.status = "repaired" if outcome.dropped else "ok"
            if result.loosened and result.kind in ("recommend", "cold_start"):
                yield " " + result.loosened  # what a filled reply gave up is said by us, not left to the model
            return
        outcome.status = "replaced"
        if outcome.cause is None:
            outcome.cause = NOTHING_MATCHED if outcome.sentences_dropped else SILENT
        log.info("template prose for this reply: %s", outcome.note)
        yield self.template.prose(result)
        if outcome.first_sentence_ms is None:
            outcome.first_sentence_ms = (time.perf_counter() - started) * 1000

    async def _attempts(
        self, result: TurnResult, request: Brief, outcome: WriteOutcome, started: float
    ) -> AsyncIterator[str]:
        """The model's accepted sentences, the first after what was noted: a new attempt while every sentence of the
        last was dropped (`RETRIES`) and there is time for one (`_time_for_another`); none when the server is not
        ready."""
        if not await self._server_ready(outcome):
            return
        validator = GroundingValidator(request, self.titles, liked=result.liked, excluded=result.excluded)
        messages = load_prompt(request.purpose).format_messages(**request.variables)
        validator.guard(messages, _injected(result))
        noted = self.template.noted(result) if request.purpose == "recommend" else ""
        budget = min(self.first_sentence_s, request.first_sentence_s or self.first_sentence_s)
        kept = 0
        paces: list[float] = []
        """Seconds from each attempt's request to its first sentence, kept or dropped."""
        for attempt in range(1 + RETRIES):
            if attempt and not self._time_for_another(outcome, started, paces, budget):
                break
            outcome.attempts += 1
            dropped = outcome.dropped
            attempt_sentences = self._validated(
                messages, validator, outcome, started, attempt, budget, request.one_sentence, paces
            )
            async for sentence in attempt_sentences:
                if outcome.first_sentence_ms is None:
                    outcome.first_sentence_ms = (time.perf_counter() - started) * 1000
                kept += 1
                yield (noted if kept == 1 else " ") + sentence
            wrote_only_wrong = outcome.dropped > dropped and outcome.cause is None  # not silent, not failing
            if kept or not wrote_only_wrong:
                break

    def _time_for_another(self, outcome: WriteOutcome, started: float, paces: list[float], budget: float) -> bool:
        """False, logged as a budget cut, past `RETRY_WITHIN` of the first-sentence `budget` or when a sample at this
        reply's pace (the mean of its last `PACE_OF`) would bring its first sentence after the budget."""
        spent = time.perf_counter() - started
        left = budget - spent
        recent = paces[-PACE_OF:]
        pace = sum(recent) / len(recent) if recent and self.predict_retries else 0.0
        if spent <= RETRY_WITHIN * budget and pace <= left:
            return True
        why = (
            f"past {RETRY_WITHIN:.0%} of it"
            if spent > RETRY_WITHIN * budget
            else f"a sample takes {pace:.1f} s to its first sentence, {left:.1f} s were left"
        )
        log.warning(
            "budget cut: no new attempt after %.1f s of the %.1f s first-sentence budget (%s); %d tries, "
            "%d sentences dropped",
            spent,
            budget,
            why,
            outcome.attempts,
            outcome.sentences_dropped,
        )
        outcome.cause, outcome.budget_s, outcome.spent_s = NO_TIME, budget, spent
        return False

    async def _server_ready(self, outcome: WriteOutcome) -> bool:
        """An owned server that is still starting gets the first-sentence budget; a restarting one none."""
        server = self.server
        if server is None or server.state == "ready":
            return True
        waited = server.state == "starting"
        if waited and await asyncio.to_thread(server.wait_ready, self.first_sentence_s):
            return True
        state = server.state
        if state == "ready":  # ready just as the wait ended
            return True
        outcome.cause = state
        if waited and state == "starting":
            outcome.budget_s = outcome.spent_s = self.first_sentence_s
            log.warning(
                "budget cut: the LLM server was still starting after the whole %.1f s first-sentence budget",
                self.first_sentence_s,
            )
        else:
            log.warning("LLM server %s: template prose for this reply", state)
        return False

    async def _validated(
        self,
        messages: list[BaseMessage],
        validator: GroundingValidator,
        outcome: WriteOutcome,
        started: float,
        attempt: int,
        first_budget: float,
        one_sentence: bool = False,
        paces: list[float] | None = None,
    ) -> AsyncIterator[str]:
        """Accepted sentences, until `max_sentences`, the model's end, a budget or a failure. The budgets (the
        first sentence's `first_budget`, then `total_s`) run from `started` (perf_counter), so a second attempt only
        has what the first left; it samples hotter.
        `paces` gets the seconds this attempt took to its first sentence."""
        model = self.model.bind(temperature=RETRY_TEMPERATURE) if attempt else self.model
        asked = time.perf_counter()
        sentences = _sentences(model.astream(messages)).__aiter__()
        accepted = 0
        read = 0
        try:
            while accepted < self.max_sentences:
                budget = self.total_s if accepted else min(first_budget, self.total_s)
                try:
                    sentence, finished = await asyncio.wait_for(
                        sentences.__anext__(), timeout=max(0.0, started + budget - time.perf_counter())
                    )
                except StopAsyncIteration:
                    break
                read += 1
                if read == 1 and paces is not None:
                    paces.append(time.perf_counter() - asked)
                sentence, drop = _checked(validator, sentence, finished, outcome)
                if drop is None:
                    accepted += 1
                    yield sentence.strip()
                elif sentence.strip():
                    outcome.drop(drop.rule)  # unfinished or ungrounded: never shown
                    log.debug("dropped a model sentence (%s: %s): %r", drop.rule, drop.reason, sentence.strip())
                    if one_sentence and not accepted:
                        break
        except TimeoutError:
            self._past_budget(outcome, started, accepted, first_budget)
        except expected_failures() as error:
            server = self.server
            restarting = server is not None and (server.state != "ready" or not server.alive())
            outcome.cause = "restarting" if restarting else UNREACHABLE
            outcome.failure = failure_words(error)
            log.warning("LLM writer failed (%s, %s): %s", outcome.cause, outcome.failure, error)
            outcome.drop(LLM_FAILED)
        except Exception:
            log.exception("LLM writer bug; template prose for this reply")
            outcome.cause = BUG
            outcome.drop(WRITER_ERROR)
        finally:
            await _close(sentences)

    def _past_budget(self, outcome: WriteOutcome, started: float, accepted: int, first_budget: float) -> None:
        """A budget ran out mid-attempt: the total one after a kept sentence, else the first-sentence one. Logged."""
        spent = time.perf_counter() - started
        outcome.drop(PAST_BUDGET)
        outcome.spent_s = spent
        if accepted:
            outcome.cause, outcome.budget_s = CUT_SHORT, self.total_s
            log.warning(
                "budget cut: the %.1f s total budget ran out after %.1f s with %d sentences kept; the rest is cut",
                self.total_s,
                spent,
                accepted,
            )
            return
        outcome.cause, outcome.budget_s = TOO_SLOW, min(first_budget, self.total_s)
        log.warning(
            "budget cut: the %.1f s first-sentence budget ran out after %.1f s with no sentence kept "
            "(try %d, %d sentences dropped)",
            outcome.budget_s,
            spent,
            outcome.attempts,
            outcome.sentences_dropped,
        )


async def _sentences(chunks: AsyncIterator[BaseMessage]) -> AsyncIterator[tuple[str, bool]]:
    """Split a chunk stream into (sentence, finished); the last piece is unfinished unless it ends a sentence."""
    buffer = ""
    async for chunk in chunks:
        buffer += str(chunk.content)
        *complete, buffer = SENTENCE_BREAK.split(buffer)
        for sentence in complete:
            yield sentence, True
    if buffer.strip():
        yield buffer, bool(re.search(r"[.!?]$", buffer.strip()))


def _checked(
    validator: GroundingValidator, sentence: str, finished: bool, outcome: WriteOutcome
) -> tuple[str, Drop | None]:
    """The sentence as it may be shown and None, or as written and why it is dropped; one that started the picks
    with another title gets the pick's when that passes every rule (`GroundingValidator.retitled`)."""
    if not finished:
        return sentence, Drop(UNFINISHED, "the model stopped mid-sentence")
    sentence = _A_BEFORE_VOWEL.sub(r"\1n", sentence)
    drop = validator.check(sentence)
    if drop is not None and drop.rule in RETITLED_RULES:
        mended = validator.retitled(sentence)
        if mended is not None and validator.check(mended) is None:
            log.debug("put the pick's title in a model sentence: %r -> %r", sentence.strip(), mended)
            outcome.retitled += 1
            return mended, None
    return sentence, drop


_A_BEFORE_VOWEL = re.compile(r"\b([Aa])(?= (?:[aeiAEI]|[oO](?!ne\b)))")
"""The tiny model writes "a action film", "a animated comedy": the article is mended before the rules read it."""


async def _close(iterator: AsyncIterator[object]) -> None:
    close = getattr(iterator, "aclose", None)
    if close is None:
        return
    try:
        await close()
    except expected_failures() as error:
        log.debug("closing the LLM stream: %s", error)
