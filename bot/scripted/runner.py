"""Run conversation scripts, each in a fresh temporary home, and report on them.

    runner = Runner(llm="template")
    result = runner.run_file(Path("tests/conversations/comedy.convo.yaml"))
    print(format_result(result))

The slow parts are shared within a process: the encoder is loaded once, and each catalog
is ingested once into a cache home whose Chroma folder is copied into every script's
fresh home. So every script still starts from an empty profile store, and a test suite of
dozens of scripts costs one encoder load and one ingest per catalog.

`test_command` is the whole `recochat test PATH... [--junit FILE] [--llm ...]` command.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import re
import shutil
import tempfile
import threading
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from recochat.retrieval.catalog import CatalogError, CatalogItem, demo_catalog_path, load_catalog
from recochat.retrieval.encoder import Encoder
from recochat.retrieval.ingest import ingest

from ..conversation import Reply, Writer
from ..errors import NoSuchRank, SetupError, UnknownItem
from ..runtime import Runtime, build, check_collection_name, open_encoder, open_store
from ..settings import DEMO_COLLECTION, Settings, load_settings
from .checks import Catalog, check_expect, check_grounding
from .junit import write_junit
from .report import ScriptResult, TurnReport, format_result, summary_line
from .script import ConversationScript, Expect, Loc, Problem, ScriptError, Turn, is_script, load_script, script_stem

# -- backends ------------------------------------------------------------------------------------


def backend_settings(llm: str) -> dict[str, Any]:
    """Settings for `--llm`: template (default, deterministic), embedded, openai, or an endpoint URL."""
    value = (llm or "template").strip()
    if value in ("template", "embedded", "openai"):
        return {"llm": value}
    if value.startswith(("http://", "https://")):
        return {"llm": "openai", "llm_base_url": value}
    raise SetupError(f"--llm {llm!r}: use template, embedded, openai or an http(s):// endpoint URL")


def base_settings(llm: str) -> Settings:
    """The user's settings (RECOCHAT_* and recochat.toml: encoder, items per reply, LLM model and
    key) with the chosen backend; the home, store and collection are always replaced per script."""
    settings = load_settings()
    # scripts run on their own throwaway stores: never the configured Chroma server or profile database
    update = {**backend_settings(llm), "collection": None, "chroma_host": None, "database_url": None}
    return settings.model_copy(update=update)


# -- per-process caches ------------------------------------------------------------------------------


class _Shared:
    """The encoder and ingested catalogs, shared by every script run in this process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._encoders: dict[tuple[Any, ...], Encoder] = {}
        self._catalogs: dict[tuple[Any, ...], tuple[Path, str]] = {}
        self._root: Path | None = None
        self.setup: dict[str, float] = {}
        """Seconds spent on one-time work: loading the encoder, ingesting each catalog."""

    def encoder(self, settings: Settings) -> Encoder:
        key = (settings.encoder_model, settings.device, settings.encode_batch_size)
        with self._lock:
            if key not in self._encoders:
                started = time.perf_counter()
                self._encoders[key] = open_encoder(settings)
                self.setup["encoder"] = time.perf_counter() - started
            return self._encoders[key]

    def catalog(self, settings: Settings, path: Path | None, encoder: Encoder) -> tuple[Path, str]:
        """A Chroma folder holding the catalog, ingested once per file version, and its collection."""
        source = path or demo_catalog_path()
        stat = source.stat()
        key = (str(source), stat.st_mtime_ns, stat.st_size, str(encoder.model_path))
        with self._lock:
            if key in self._catalogs:
                return self._catalogs[key]
            name = DEMO_COLLECTION if path is None else collection_name(source)
            home = self._cache_root() / f"catalog-{len(self._catalogs)}"
            cache_settings = settings.model_copy(update={"home": home})
            started = time.perf_counter()
            loaded = load_catalog(source)
            items = loaded.items
            store = open_store(cache_settings)
            try:
                ingest(store, encoder, name, items, schema=loaded.schema, source=source.stem)
            finally:
                close_store(store)
            self._catalogs[key] = (cache_settings.chroma_path, name)
            self.setup[f"{name} ({len(items)} items)"] = time.perf_counter() - started
            return self._catalogs[key]

    def _cache_root(self) -> Path:
        if self._root is None:
            self._root = Path(tempfile.mkdtemp(prefix="recochat-convo-cache-"))
            atexit.register(shutil.rmtree, self._root, True)
        return self._root


_SHARED = _Shared()


def shared_encoder(settings: Settings | None = None) -> Encoder:
    """The encoder scripts use in this process; a test suite can share it (one load, not two)."""
    return _SHARED.encoder(settings or base_settings("template"))


def shared_catalog(path: Path | None = None) -> tuple[Path, str]:
    """The Chroma folder and collection of a catalog file (the demo when None) as scripts use it in this
    process, ingested once; a test suite can read it instead of encoding the catalog again."""
    settings = base_settings("template")
    return _SHARED.catalog(settings, path, _SHARED.encoder(settings))


def collection_name(path: Path) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", path.name.split(".")[0]).strip("._-")
    stem = stem if len(stem) >= 3 else f"catalog-{stem}".strip("-")
    try:
        return check_collection_name(stem[:200])
    except SetupError:
        return "catalog"


def close_store(store: Any) -> None:
    close = getattr(getattr(store, "client", None), "close", None)
    if close is not None:
        try:
            close()
        except Exception:  # closing is best effort; the folder is deleted next
            pass


# -- running ------------------------------------------------------------------------------------------


class Runner:
    """Runs scripts with one backend; heavy resources are shared per process (see `_Shared`)."""

    def __init__(self, llm: str = "template", writer: Writer | None = None) -> None:
        """`writer` replaces the one `llm` picks (tests pass a fake one, like a mock model)."""
        self.llm = llm
        self.settings = base_settings(llm)
        self.writer = writer

    def run_file(self, path: Path) -> ScriptResult:
        """Load and run one script; malformed scripts come back as an 'error' result."""
        started = time.perf_counter()
        try:
            script = load_script(path)
        except ScriptError as error:
            return ScriptResult(
                Path(path), script_stem(Path(path)), "error", time.perf_counter() - started, error=str(error)
            )
        return self.run(script)

    def run(self, script: ConversationScript) -> ScriptResult:
        return asyncio.run(self.run_async(script))

    async def run_async(self, script: ConversationScript) -> ScriptResult:
        result = ScriptResult(script.path, script.name, total_turns=len(script.turns))
        encoder = _SHARED.encoder(self.settings)  # a SetupError here is no script's fault: it propagates
        try:
            chroma, name = _SHARED.catalog(self.settings, script.catalog, encoder)  # once per process
        except (CatalogError, SetupError, OSError) as error:
            result.outcome = "error"
            result.error = script.error(("catalog",), "catalog", str(error)).args[0]
            return result
        started = time.perf_counter()
        try:
            with self._runtime(encoder, chroma, name) as runtime:
                await _Conversation(script, runtime, result).run()
        except ScriptError as error:
            result.outcome, result.error = "error", str(error)
        except SetupError as error:
            result.outcome = "error"
            result.error = script.error(("catalog",), "catalog", str(error)).args[0]
        except Exception as error:  # a bug in recochat, not in the script: say where
            frame = traceback.extract_tb(error.__traceback__)[-1]
            result.outcome = "error"
            result.error = (
                f"{script.path}: crashed with {type(error).__name__}: {error} "
                f"(at {Path(frame.filename).name}:{frame.lineno})"
            )
        result.seconds = time.perf_counter() - started
        return result

    @contextmanager
    def _runtime(self, encoder: Encoder, chroma: Path, name: str) -> Iterator[Runtime]:
        """A runtime over a fresh temporary home holding only this script's catalog."""
        home = Path(tempfile.mkdtemp(prefix="recochat-convo-"))
        settings = self.settings.model_copy(update={"home": home})
        root = logging.getLogger()
        handlers, level = list(root.handlers), root.level
        runtime: Runtime | None = None
        try:
            shutil.copytree(chroma, settings.chroma_path)
            runtime = build(settings, collection=name, writer=self.writer, encoder=encoder)
            yield runtime
        finally:
            if runtime is not None:
                runtime.close()
                close_store(runtime.store)
            for handler in root.handlers[:]:  # build() logs into the home; don't keep it open
                if handler not in handlers:
                    root.removeHandler(handler)
                    handler.close()
            root.setLevel(level)
            shutil.rmtree(home, ignore_errors=True)


class _Conversation:
    """One run of one script over a runtime."""

    def __init__(self, script: ConversationScript, runtime: Runtime, result: ScriptResult) -> None:
        self.script = script
        self.runtime = runtime
        self.result = result
        self.engine = runtime.engine
        self.catalog = Catalog(runtime.conversations.catalog_name, self.engine.catalog.items)
        self.shown_at: dict[str, int] = {}
        self.last_shown: list[str] = []

    async def run(self) -> None:
        resolved = self._resolve_references()
        conversations = self.runtime.conversations
        user = self.script.user
        for index, turn in enumerate(self.script.turns, start=1):
            loc: Loc = ("turns", index - 1)
            line = self.script.line_of(*loc)
            if turn.feedback is not None:
                fb = turn.feedback
                target: str | int = fb.rank if fb.rank is not None else str(fb.id)
                report = TurnReport(
                    index, line, f"feedback {'rank ' + str(fb.rank) if fb.rank else 'id ' + str(fb.id)}: {fb.value}"
                )
                self.result.turns.append(report)
                try:
                    report.feedback = await conversations.feedback(user, target, fb.value)
                except (NoSuchRank, UnknownItem) as error:
                    key = "rank" if fb.rank is not None else "id"
                    shown = f" (it showed {len(self.last_shown)})" if key == "rank" else ""
                    raise self.script.error(loc + ("feedback", key), key, f"{error}{shown}") from None
                continue
            assert turn.say is not None
            report = TurnReport(index, line, f"say {turn.say!r}")
            self.result.turns.append(report)
            shown_before = dict(self.shown_at)
            previous = list(self.last_shown)
            reply = await conversations.send(user, turn.say)
            report.reply = reply
            if turn.expect is not None:
                report.failures += check_expect(turn.expect, reply, resolved, shown_before)
            report.failures += check_grounding(self._named(reply.text), self._allowed(turn.say, reply, previous))
            for item in reply.items:
                self.shown_at.setdefault(item.id, index)
            if reply.items:
                self.last_shown = [item.id for item in reply.items]
            if report.failures:
                self.result.outcome = "failed"
                return

    def _resolve_references(self) -> dict[str, set[str]]:
        """Check every id, title and field the script names against the catalog, up front."""
        resolved: dict[str, set[str]] = {}
        problems: list[tuple[Loc, str, str]] = []
        for index, turn in enumerate(self.script.turns):
            loc: Loc = ("turns", index)
            problems += self._feedback_problems(loc, turn)
            if turn.expect is not None:
                problems += self._title_problems(loc, turn.expect, resolved)
                problems += self._field_problems(loc, turn.expect)
        if problems:
            raise ScriptError(
                self.script.path, [Problem(self.script.line_of(*loc), key, message) for loc, key, message in problems]
            )
        return resolved

    def _feedback_problems(self, loc: Loc, turn: Turn) -> list[tuple[Loc, str, str]]:
        feedback = turn.feedback
        if feedback is None or feedback.id is None or feedback.id in self.catalog.by_id:
            return []
        return [(loc + ("feedback", "id"), "id", f"no item with id {feedback.id!r} in catalog {self.catalog.name!r}")]

    def _title_problems(self, loc: Loc, expect: Expect, resolved: dict[str, set[str]]) -> list[tuple[Loc, str, str]]:
        """include/exclude: each an id or a title; what they resolve to goes into `resolved`."""
        problems = []
        for key in ("include", "exclude"):
            for position, ref in enumerate(getattr(expect, key) or []):
                ids = self.catalog.resolve(ref)
                if ids is None:
                    message = f"{ref!r} is neither an id nor a title in catalog {self.catalog.name!r}"
                    problems.append((loc + ("expect", key, position), key, message))
                else:
                    resolved[ref] = ids
        return problems

    def _field_problems(self, loc: Loc, expect: Expect) -> list[tuple[Loc, str, str]]:
        """any_have/none_have/all_have: fields some item of the catalog has."""
        return [
            (
                loc + ("expect", key, name),
                key,
                f"no item in catalog {self.catalog.name!r} has a field {name!r} "
                f"(fields: {', '.join(self.catalog.fields)})",
            )
            for key in ("any_have", "none_have", "all_have")
            for name in getattr(expect, key) or {}
            if name not in self.catalog.fields
        ]

    def _named(self, text: str) -> list[CatalogItem]:
        """Titles the reply names; a one-word title in lower case is a word, not a title (the tag 'chicago'
        in a why is the city, not the musical)."""
        found = [m for m in self.engine.reader.titles.find(text) if not _plain_word(text[m.start : m.end])]
        items = (self.engine.item(m.item_id) for m in found)
        return [item for item in items if item is not None]

    def _allowed(self, said: str, reply: Reply, previous: list[str]) -> list[CatalogItem]:
        """Items a reply may name: those it shows; those the user named, rated or has seen
        ("close to Dune, which you liked"); the works of the people asked for ("like Tom Hanks's Saving Private
        Ryan"); and for about/why answers, the last reply's items."""
        profile = self.engine.profiles.load(self.script.user)
        ids = [i.id for i in reply.items] + profile.liked + profile.disliked + profile.seen
        ids += self.engine.recommender.people_items(profile.constraints.preferred_people)
        ids += [m.item_id for m in self.engine.reader.titles.find(said)]
        if reply.kind in ("about", "why"):
            ids += previous
        return [item for i in ids if (item := self.engine.item(i)) is not None]


# -- reporting -----------------------------------------------------------------------------------------


def _plain_word(span: str) -> bool:
    """One lower-case word ('chicago'): how a tag or a place is written, never how a reply names a title."""
    return span.islower() and len(span.split()) == 1


# -- the command --------------------------------------------------------------------------------------


def discover(paths: list[Path]) -> list[Path]:
    """Script files: each file as given, and every *.convo.yaml under each folder (sorted)."""
    found: list[Path] = []
    for path in paths:
        path = Path(path)
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.is_file() and is_script(p))
        elif path.is_file():
            found.append(path)
        else:
            raise SetupError(f"{path}: no such file or folder")
    if not found:
        raise SetupError(f"no *.convo.yaml scripts under {', '.join(map(str, paths)) or 'the given paths'}")
    return list(dict.fromkeys(found))


def run_paths(paths: list[Path], llm: str = "template", echo: Any = print) -> list[ScriptResult]:
    runner = Runner(llm)
    results = []
    for path in discover(paths):
        result = runner.run_file(path)
        echo(format_result(result))
        results.append(result)
    return results


def test_command(paths: list[Path], junit: Path | None, llm: str = "template") -> int:
    """`recochat test PATH... [--junit FILE] [--llm template|embedded|URL]`.

    Prints a line per script (and, on failure, the turn, the expectation and what was
    shown) and a summary. Returns the exit code: 0 when every script passed, 1 when one
    failed or is malformed, 2 when nothing could run (no scripts, bad --llm or settings,
    no encoder).
    """
    started = time.perf_counter()

    def echo(text: str) -> None:
        print(text, flush=True)

    try:
        results = run_paths(paths, llm, echo)
    except SetupError as error:
        echo(f"error: {error}")
        return 2
    echo(summary_line(results, time.perf_counter() - started, llm, _SHARED.setup))
    if junit is not None:
        write_junit(results, Path(junit), llm=llm)
        echo(f"JUnit report: {junit}")
    return 0 if all(r.passed for r in results) else 1


test_command.__test__ = False  # type: ignore[attr-defined]  # not a pytest test when imported
