"""The `recochat` command: a thin click layer over `bot.runtime` and the conversation API."""

from __future__ import annotations

import asyncio
import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import click

if TYPE_CHECKING:
    from ..runtime import Runtime

from recochat.retrieval.catalog import CatalogError, load_catalog
from recochat.retrieval.schema import CatalogSchema, ColumnMap, Role, SchemaError, parse_numeric

from ..errors import RecochatError
from ..settings import Settings, load_settings


class UserError(click.ClickException):
    exit_code = 2


def friendly(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the errors a user can act on into one clear line and exit code 2."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (RecochatError, CatalogError) as error:
            raise UserError(str(error)) from None

    return wrapper


def _settings() -> Settings:
    return load_settings()


@click.group()
@click.version_option(package_name="recochat")
def main() -> None:
    """recochat: a conversational recommender grounded in your catalog."""


@main.command("ingest")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--collection", help="Collection name (default: the file name).")
@click.option("--id", "id_col", help="Id column.")
@click.option("--title", "title_col", help="Title column.")
@click.option("--text", "text_cols", multiple=True, help="A text column to embed (repeat, or comma-separated).")
@click.option("--meta", "meta_cols", help="Comma-separated metadata columns to keep (default: all).")
@click.option("--facet", "facets", multiple=True, help="A column of values to filter on, like genres (repeatable).")
@click.option(
    "--numeric",
    multiple=True,
    callback=lambda ctx, param, value: _check_numeric(value),
    help="COLUMN:ROLE, a number column and what it means (repeatable); ROLE: "
    + ", ".join(role.value for role in Role)
    + ".",
)
@click.option("--skip-bad", is_flag=True, help="Skip bad rows (listed) instead of failing.")
@click.option("--prune", is_flag=True, help="Remove items that are no longer in the file.")
@click.option(
    "--noun",
    callback=lambda ctx, param, value: _check_noun(value),
    help="What replies call one item: book, recipe, movie… (default: kept from the last ingest, else guessed "
    "from the file name and columns, else 'item').",
)
@friendly
def ingest_cmd(
    path: Path,
    collection: str | None,
    id_col: str | None,
    title_col: str | None,
    text_cols: tuple[str, ...],
    meta_cols: str | None,
    facets: tuple[str, ...],
    numeric: tuple[tuple[str, Role], ...],
    skip_bad: bool,
    prune: bool,
    noun: str | None,
) -> None:
    """Ingest a CSV or JSONL catalog; unchanged items are not re-encoded. Prints the schema it inferred: the
    corrections (--id, --title, --text, --facet, --numeric) are kept with the collection for the next ingest."""
    from tqdm import tqdm

    from recochat.retrieval.ingest import ingest

    from ..runtime import check_collection_name, configure_logging, open_encoder, open_store

    settings = _settings()
    configure_logging(settings)
    split = lambda values: tuple(c.strip() for v in values for c in v.split(",") if c.strip())  # noqa: E731
    name = check_collection_name(collection or path.stem.replace(" ", "-"))
    store = open_store(settings)
    asked = ColumnMap(
        id=id_col,
        title=title_col,
        text=split(text_cols),
        meta=split([meta_cols]) if meta_cols else None,
        facets=split(facets),
        numeric=numeric,
    )
    columns = asked.merged_over(store.columns(name))
    loaded = load_catalog(path, columns, skip_bad=skip_bad)
    for line in loaded.skipped:
        click.echo(f"skipped {line}", err=True)
    encoder = open_encoder(settings)
    with tqdm(total=len(loaded.items), desc=f"encoding {name}", unit="item", file=sys.stderr) as bar:
        report = ingest(
            store,
            encoder,
            name,
            loaded.items,
            prune=prune,
            progress=bar.update,
            noun=noun,
            source=path.stem,
            schema=loaded.schema,
            columns=columns,
        )
        bar.update(report.unchanged)
    click.echo(
        f"{name}: {report.total} items, {report.encoded} encoded, {report.unchanged} unchanged"
        + (f", {len(loaded.skipped)} skipped" if loaded.skipped else "")
        + (f", {report.removed} removed" if prune else "")
        + f" in {report.seconds:.1f}s ({report.items_per_s:.0f} items/s); noun: {report.noun}"
    )
    if report.reencoded_from:
        click.echo(f"every item encoded again: the collection was encoded with {report.reencoded_from}")
    _echo_schema(loaded.schema)


def _echo_schema(schema: CatalogSchema) -> None:
    click.echo("schema (correct it with --id, --title, --text, --facet, --numeric COLUMN:ROLE):")
    for line in schema.describe():
        click.echo(f"  {line}")


def _check_numeric(values: tuple[str, ...]) -> tuple[tuple[str, Role], ...]:
    """--numeric COLUMN:ROLE, checked before the catalog and the encoder load."""
    try:
        return tuple(parse_numeric(value) for value in values)
    except SchemaError as error:
        raise click.BadParameter(str(error), param_hint="'--numeric'") from None


@main.group("catalog")
def catalog_group() -> None:
    """Look at the ingested catalogs."""


@catalog_group.command("show")
@click.argument("name", required=False)
@friendly
def catalog_show(name: str | None) -> None:
    """NAME's schema (default: the collection a chat would open): what each column is and what it answers."""
    from recochat.retrieval.catalog import demo_catalog_path

    from ..runtime import DEMO_COLLECTION, check_collection_name, open_store

    settings = _settings()
    store = open_store(settings)
    name = check_collection_name(name or settings.collection or store.most_recent() or DEMO_COLLECTION)
    if name == DEMO_COLLECTION and not store.exists(name):  # a fresh install: the demo is ingested on first chat
        click.echo(f"{name}: the demo catalog, not ingested yet; noun: movie")
        _echo_schema(load_catalog(demo_catalog_path()).schema)
        return
    if not store.exists(name):
        raise UserError(f"no catalog named {name!r} (known: {', '.join(store.names()) or 'none yet'})")
    head = store.head(name)
    made_with = store.encoder(name)
    click.echo(f"{name}: {head.count} items; noun: {head.noun or 'item'}; encoder: {made_with or 'not recorded'}")
    if head.schema is None:
        click.echo("no schema stored (ingested before schemas were): ingest the file again to store one")
        return
    _echo_schema(head.schema)


def _check_noun(value: str | None) -> str | None:
    """--noun is checked before the catalog and the encoder load."""
    from recochat.retrieval.ingest import check_noun

    try:
        return check_noun(value) if value is not None else None
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="'--noun'") from None


LLM_START_WAIT_S = 60.0
"""How long one-shot commands wait for the embedded model server to load."""


def _runtime(collection: str | None, llm: str | None = None) -> Runtime:
    from ..runtime import build

    settings = _settings()
    if llm:
        settings = settings.model_copy(update={"llm": llm})
    return build(settings, collection)


@main.command("ask")
@click.argument("message")
@click.option("--user", default="local", show_default=True)
@click.option("--collection")
@click.option("--llm", type=click.Choice(["embedded", "openai", "template"]), help="Reply writer (default: settings).")
@click.option("--json", "as_json", is_flag=True, help="Print the reply as JSON.")
@friendly
def ask_cmd(message: str, user: str, collection: str | None, llm: str | None, as_json: bool) -> None:
    """Run one turn for USER and print the reply: the items at once, then the prose."""
    from .plain_chat import print_turn

    runtime = _runtime(collection, llm)
    try:
        if runtime.llm_server is not None:
            runtime.llm_server.wait_ready(LLM_START_WAIT_S)  # one shot: worth waiting for the model once
        stream = runtime.conversations.stream(user, message)
        if as_json:
            asyncio.run(_drain(stream))
            assert stream.reply is not None
            click.echo(json.dumps(stream.reply.as_json(), ensure_ascii=False, indent=2))
        else:
            asyncio.run(print_turn(stream, sys.stdout, prompt=""))
    finally:
        runtime.close()
    if runtime.setup_problem:  # the reply above has template prose; the exit says the setup is broken
        click.echo(f"recochat: {runtime.setup_problem}", err=True)
        sys.exit(1)


async def _drain(stream: Any) -> None:
    async for _ in stream:
        pass


@main.command("feedback")
@click.option("--user", default="local", show_default=True)
@click.option("--item", "item_id", required=True, help="Item id.")
@click.option("--like/--dislike", "like", default=None, required=True)
@click.option("--collection")
@friendly
def feedback_cmd(user: str, item_id: str, like: bool, collection: str | None) -> None:
    """Record 👍/👎 on an item for USER."""
    runtime = _runtime(collection, "template")
    result = asyncio.run(runtime.conversations.feedback(user, item_id, "like" if like else "dislike"))
    click.echo(f"{user}: {'👍' if like else '👎'} {result.title}")


@main.group("profile")
def profile_group() -> None:
    """Show, export or forget a user's profile."""


@profile_group.command("show")
@click.argument("user")
@click.option("--collection")
@click.option("--json", "as_json", is_flag=True)
@friendly
def profile_show(user: str, collection: str | None, as_json: bool) -> None:
    runtime = _runtime(collection, "template")
    view = asyncio.run(runtime.conversations.profile(user))
    if as_json:
        from dataclasses import asdict

        click.echo(json.dumps(asdict(view), ensure_ascii=False, indent=2))
    else:
        click.echo("\n".join(view.lines()))


@profile_group.command("forget")
@click.argument("user")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@friendly
def profile_forget(user: str, yes: bool) -> None:
    """Delete USER's profile and every event they generated (in SQLite, or in PostgreSQL when
    RECOCHAT_DATABASE_URL is set). Needs no catalog or encoder."""
    from ..runtime import open_profiles

    if not yes:
        click.confirm(f"Delete everything recochat knows about {user!r}?", abort=True)
    profiles = open_profiles(_settings())
    try:
        gone = profiles.forget(user)
    finally:
        profiles.close()
    click.echo(f"forgot {user}: profile and {gone} events deleted")


@profile_group.command("export")
@click.argument("user")
@click.option("--collection", help="Catalog whose titles name the items (default: as for `ask`).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write to FILE instead of stdout.")
@friendly
def profile_export(user: str, collection: str | None, out: Path | None) -> None:
    """Everything stored about USER as JSON: profile, events (with what each turn was
    understood to say), the why of each item shown, and the titles of the items named."""
    runtime = _runtime(collection, "template")
    exported = asyncio.run(runtime.conversations.export(user))  # the same as `GET /v1/profile/USER/export`
    text = json.dumps(exported, ensure_ascii=False, indent=2)
    if out is None:
        click.echo(text)
    else:
        out.write_text(text + "\n", encoding="utf-8")
        click.echo(f"wrote {len(exported['events'])} events of {user} to {out}", err=True)


@main.group("import")
def import_group() -> None:
    """Import outside conversations as a crowd (what people liked together), list or remove imports."""


@import_group.command("conversations")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--collection", help="Catalog to link the titles to (default: as for `ask`).")
@click.option("--format", "fmt", type=click.Choice(["redial", "jsonl"]), default="redial", show_default=True)
@click.option("--name", "source", help="This import's name, for `import remove` (default: the file name).")
@click.option("--dry-run", is_flag=True, help="Show the report without writing anything.")
@click.option("--skip-bad", is_flag=True, help="Skip bad lines (listed) instead of failing.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@friendly
def import_conversations_cmd(
    path: Path, collection: str | None, fmt: str, source: str | None, dry_run: bool, skip_bad: bool, as_json: bool
) -> None:
    """Link PATH's conversations to the catalog and keep what they liked together as a crowd: it feeds the
    collaborative component and the learned popularity (weighed below your own users), no user's profile.
    A running bot uses it after a restart."""
    from recochat.retrieval.titles import TitleIndex

    from ..crowd_import import Format, import_conversations
    from ..runtime import catalog_to_link, configure_logging, open_profiles

    settings = _settings()
    configure_logging(settings)
    name, items = catalog_to_link(settings, collection)
    profiles = open_profiles(settings)
    try:
        titles = TitleIndex(items)
        fmt_ = cast("Format", fmt)
        report = import_conversations(
            profiles, name, titles, path, fmt=fmt_, source=source, dry_run=dry_run, skip_bad=skip_bad
        )
    finally:
        profiles.close()
    for line in report.skipped:
        click.echo(f"skipped {line}", err=True)
    click.echo(json.dumps(report.as_json(), indent=2) if as_json else "\n".join(report.lines()))


@import_group.command("list")
@friendly
def import_list_cmd() -> None:
    """Every import: its catalog, its name and how many conversations it holds."""
    from ..runtime import open_profiles

    profiles = open_profiles(_settings())
    try:
        imports = profiles.crowd_sources()
    finally:
        profiles.close()
    for catalog, source, count in imports:
        click.echo(f"{source}\t{catalog}\t{count} conversations")
    if not imports:
        click.echo("no imports", err=True)


@import_group.command("remove")
@click.argument("name")
@friendly
def import_remove_cmd(name: str) -> None:
    """Delete the import NAME (every catalog's): the crowd is as if it never came."""
    from ..runtime import open_profiles

    profiles = open_profiles(_settings())
    try:
        gone = profiles.remove_crowd(name)
        left = sorted({source for _, source, _ in profiles.crowd_sources()})
    finally:
        profiles.close()
    if not gone:
        raise UserError(f"no import named {name!r} (imports: {', '.join(left) or 'none'}); see `recochat import list`")
    click.echo(f"removed import {name}: {gone} conversations")


@main.command("chat")
@click.option("--user", default="local", show_default=True)
@click.option("--collection")
@click.option("--llm", type=click.Choice(["embedded", "openai", "template"]))
@click.option("--plain", is_flag=True, help="Line mode (for pipes and simple terminals).")
@friendly
def chat_cmd(user: str, collection: str | None, llm: str | None, plain: bool) -> None:
    """Chat on the terminal: the Textual app on a terminal, line mode when piped or with --plain."""
    if not plain and sys.stdin.isatty() and sys.stdout.isatty():
        try:
            from .tui import run_tui
        except ImportError:
            raise UserError("the terminal app needs Textual: pip install 'recochat[tui]' (or use --plain)") from None
    runtime = _runtime(collection, llm)
    try:
        if plain or not (sys.stdin.isatty() and sys.stdout.isatty()):
            from .plain_chat import run_plain

            asyncio.run(run_plain(runtime, user))
        else:
            run_tui(runtime, user)
    finally:
        runtime.close()


@main.command("test")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--junit", type=click.Path(path_type=Path), help="Write JUnit XML here.")
@click.option(
    "--llm",
    default="template",
    show_default=True,
    help="template (deterministic), embedded, or an OpenAI-compatible endpoint URL.",
)
@friendly
def test_cmd(paths: tuple[Path, ...], junit: Path | None, llm: str) -> None:
    """Run scripted conversation tests (*.convo.yaml files or folders)."""
    from ..scripted.runner import test_command

    sys.exit(test_command(list(paths), junit, llm))


@main.command("bench", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.argument("name")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def bench_cmd(name: str, args: tuple[str, ...]) -> None:
    """Run a benchmark from benchmarks/ (see benchmarks/README.md)."""
    from recochat.benchmarks.__main__ import main as bench_main

    sys.exit(bench_main([name, *args]))


@main.group("train")
def train_group() -> None:
    """Retrain the small learned parts from the evaluation data (RECOCHAT_DATA)."""


@train_group.command("polarity")
@click.option("--out", type=click.Path(path_type=Path), help="Model file (default: the packaged one).")
@click.option(
    "--with-redial-train",
    is_flag=True,
    help="Also learn from ReDial's 2,270 train/validation conversations (read likes better, dislikes worse on the "
    "held-out half; not the packaged model).",
)
def train_polarity_cmd(out: Path | None, with_redial_train: bool) -> None:
    """The learned polarity reader, from the first half of ReDial test (the second half is held out)."""
    from ..training.polarity import train_polarity

    report = train_polarity(out, with_redial_train=with_redial_train)
    chosen = report["tuning_cross_validation"]
    click.echo(f"wrote {report['model']}: {json.dumps(report['config'])}")
    click.echo(
        f"tuning half, 5-fold: dislikes read as dislikes {chosen['dislike']['recall']:.1%}, "
        f"likes as like or seen {chosen['like']['recall']:.1%}"
    )
    click.echo(f"training: {report['train_seconds']:.2f} s (fit), {report['total_seconds']:.1f} s in all")


@train_group.command("chat-words")
@click.option("--out", type=click.Path(path_type=Path), help="Word list (default: the packaged one).")
@friendly
def train_chat_words_cmd(out: Path | None) -> None:
    """The plain chat words a lower-case title must not be read as, from ReDial's train conversations."""
    from recochat.retrieval.titles import CHAT_WORDS_PATH, write_chat_words

    from ..settings import DataSettings
    from ..training.redial import CHAT_WORDS_LEAST, chat_words

    data = DataSettings().data
    if not (data / "redial-train").is_dir():
        raise SystemExit(f"ReDial train data not found: {data / 'redial-train'} (set RECOCHAT_DATA)")
    path = write_chat_words(chat_words(data), out or CHAT_WORDS_PATH, least=CHAT_WORDS_LEAST)
    click.echo(f"wrote {path}")


@train_group.command("ranker")
@click.option(
    "--from-events",
    is_flag=True,
    help="Learn from this deployment's own event log (the configured profile store) instead of ReDial's tuning half.",
)
@click.option("--collection", help="Catalog the events refer to (with --from-events; default: settings).")
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    help="Model file (default: RECOCHAT_RANKER, else ranker.json under RECOCHAT_HOME, which the app loads).",
)
@friendly
def train_ranker_cmd(from_events: bool, collection: str | None, out: Path | None) -> None:
    """The learned ranker, which reorders the formula's best candidates; a running bot uses it after a restart."""
    path = out or _settings().ranker_path
    if from_events:
        from ..ranker_training import train_from_events

        runtime = _runtime(collection, "template")
        try:
            trained = train_from_events(runtime.engine)
        finally:
            runtime.close()
        model = trained.model
        click.echo(f"{trained.groups} rankings from {trained.likes} likes by {trained.users} users")
    else:
        from ..training.ranker import train_ranker

        report = train_ranker()
        model = report["model"]
        two_fold, formula = report["two_fold"], report["formula_two_fold"]
        click.echo(
            f"ReDial tuning half, two folds, new items: R@10 {two_fold['recall@10']:.3f} "
            f"(formula {formula['recall@10']:.3f}), R@50 {two_fold['recall@50']:.3f} (formula {formula['recall@50']:.3f})"
        )
    model.save(path)
    click.echo(f"wrote {path} (fitted in {model.meta['train_seconds']:.2f} s); weights:")
    for name, weight in zip(model.features, model.weights, strict=True):
        click.echo(f"  {name:>20} {weight:+.3f}")


@main.command("discord")
@click.option("--collection")
@click.option("--llm", type=click.Choice(["embedded", "openai", "template"]), help="Reply writer (default: settings).")
@click.option(
    "--shard-ids",
    metavar="IDS",
    help="Run only these shards in this process, e.g. 0,1 (with --shard-count; other processes run the rest).",
)
@click.option(
    "--shard-count", type=int, metavar="N", help="Total number of shards over all processes (with --shard-ids)."
)
@friendly
def discord_cmd(collection: str | None, llm: str | None, shard_ids: str | None, shard_count: int | None) -> None:
    """Run the Discord bot (token from DISCORD_TOKEN or RECOCHAT_DISCORD_TOKEN).

    To spread it over processes, give each the same --shard-count and its own --shard-ids, and
    point them all at one RECOCHAT_DATABASE_URL and one RECOCHAT_CHROMA_HOST.
    """
    try:
        from .discord_bot import check_shards, check_token, run_discord
    except ImportError:
        raise UserError("the Discord bot needs discord.py: pip install 'recochat[discord]'") from None
    shards = check_shards(shard_ids, shard_count)  # fail fast, before the encoder loads
    settings = _settings()
    secret = settings.discord_token.get_secret_value() if settings.discord_token else None
    token = check_token(secret)
    runtime = _runtime(collection, llm)
    try:
        ids, count = shards if shards is not None else (None, None)
        run_discord(runtime, token, settings.discord_guild, shard_ids=ids, shard_count=count)
    finally:
        runtime.close()


@main.command("serve")
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Address to listen on (loopback only without API keys)."
)
@click.option("--port", type=int, default=8077, show_default=True)
@click.option(
    "--collection", help="The collection of model 'recochat' (default: as for `ask`); every collection is served."
)
@click.option("--llm", type=click.Choice(["embedded", "openai", "template"]), help="Reply writer (default: settings).")
@friendly
def serve_cmd(host: str, port: int, collection: str | None, llm: str | None) -> None:
    """Serve an OpenAI-compatible chat endpoint, feedback and profiles over HTTP (README "HTTP API").

    API keys come from RECOCHAT_API_KEYS; with none, only this machine may connect."""
    try:
        from .http_api import serve
        from .http_api.access import check_bind, parse_keys
    except ImportError:
        raise UserError("the HTTP server needs FastAPI and uvicorn: pip install 'recochat[serve]'") from None
    settings = _settings()
    keys = parse_keys(settings.api_keys.get_secret_value() if settings.api_keys else "")
    check_bind(host, keys)  # before the encoder loads
    runtime = _runtime(collection, llm)
    try:
        serve(runtime, host, port)
    finally:
        runtime.close()


@main.group("llm")
def llm_group() -> None:
    """The embedded model: serve it for several processes, or check the build and the chat client."""


@llm_group.command("serve")
@click.option("--port", type=int, default=8088, show_default=True, help="Loopback port to listen on.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--threads", type=int, help="CPU threads for the model (default: llama.cpp's choice).")
@friendly
def llm_serve(port: int, host: str, threads: int | None) -> None:
    """Serve the packaged model on an OpenAI-compatible endpoint, in the foreground.

    Point other recochat processes at it with RECOCHAT_LLM_BASE_URL=http://HOST:PORT/v1 and
    RECOCHAT_LLM_MODEL=smollm2; they then share one model instead of loading one each.
    """
    import subprocess

    from ..llm_server import MODEL_ALIAS, default_gguf_path, server_command

    settings = _settings()
    path = settings.llm_model_path or default_gguf_path()
    click.echo(
        f"serving {path.name} as {MODEL_ALIAS!r} on http://{host}:{port}/v1 - use "
        f"RECOCHAT_LLM_BASE_URL=http://{host}:{port}/v1 RECOCHAT_LLM_MODEL={MODEL_ALIAS}",
        err=True,
    )
    try:
        command = server_command(
            path, port, threads=threads or settings.llm_threads, host=host, prompt_cache=settings.llm_prompt_cache
        )
        sys.exit(subprocess.call(command))
    except KeyboardInterrupt:
        sys.exit(0)


@llm_group.command("check")
def llm_check_cmd() -> None:
    """Does the LLM stack work? The llama.cpp build generates from a long prompt (in a subprocess),
    then the app's chat client, built from settings, streams one reply."""
    from ..llm_check import main as check_main

    sys.exit(check_main())


if __name__ == "__main__":
    main()
