"""The command line: the README's main path, and clear errors for bad input."""

import json
import os
import subprocess
import sys

from click.testing import CliRunner

from recochat.bot.frontends.cli import main


def recochat(*args, home, check=True):
    env = {**os.environ, "RECOCHAT_HOME": str(home), "RECOCHAT_LLM": "template"}
    result = subprocess.run(
        [sys.executable, "-m", "recochat.bot.frontends.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result


def run(*args: str) -> str:
    """A command in this process (CliRunner); it must succeed. Its standard output."""
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def test_readme_path_ask_feedback_profile_on_demo_in_fresh_home(tmp_path, encoder, monkeypatch):
    """The first `ask` is a real process in a fresh home (it ingests the demo catalog); the commands after it run
    in this process on the same home, with the suite's copy of the same encoder (one model load, not five)."""
    import recochat.bot.runtime as runtime_module

    home = tmp_path / "fresh"
    first = json.loads(
        recochat("ask", "--json", "something funny but smart, no horror, I loved Hot Fuzz", home=home).stdout
    )
    assert set(first) == {"user", "text", "prose", "status", "writer", "items", "timings_ms"}
    assert first["timings_ms"]["items_ms"] <= first["timings_ms"]["turn_total"]
    assert len(first["items"]) == 5 and all(i["why"] for i in first["items"])
    assert "hot-fuzz-2007" not in [i["id"] for i in first["items"]]
    rejected = first["items"][0]["id"]

    monkeypatch.setattr(runtime_module, "open_encoder", lambda settings: encoder)
    monkeypatch.setenv("RECOCHAT_HOME", str(home))
    monkeypatch.setenv("RECOCHAT_LLM", "template")

    assert "👎" in run("feedback", "--user", "local", "--item", rejected, "--dislike")
    second = json.loads(run("ask", "--json", "show me those again"))
    assert second["items"] and rejected not in [i["id"] for i in second["items"]]
    profile = run("profile", "show", "local")
    assert "Hot Fuzz" in profile and "no horror" in profile
    assert "events deleted" in run("profile", "forget", "local", "--yes")


def test_ingest_errors_are_one_clear_line_and_exit_2(tmp_path):
    runner = CliRunner()
    result = runner.invoke(main, ["ingest", str(tmp_path / "missing.csv")])
    assert result.exit_code == 2 and "no such catalog file" in result.output and "Traceback" not in result.output
    bad = tmp_path / "bad.csv"
    bad.write_text("id,title,description\n1,A,x\n1,B,y\n")
    result = runner.invoke(main, ["ingest", str(bad)])
    assert result.exit_code == 2 and "duplicate id '1'" in result.output
    result = runner.invoke(main, ["ingest", str(bad), "--text", "plot"])
    assert (
        result.exit_code == 2 and "--text 'plot': no such column; the file has: id, title, description" in result.output
    )
    result = runner.invoke(main, ["ingest", str(bad), "--facet", "genre"])
    assert result.exit_code == 2 and "--facet 'genre': no such column" in result.output
    result = runner.invoke(main, ["ingest", str(bad), "--numeric", "description:weight"])
    assert result.exit_code == 2 and "ROLE one of min, max, duration, price, rating, complexity" in result.output
    result = runner.invoke(main, ["ingest", str(bad), "--noun", "b00k!"])
    assert result.exit_code == 2 and "'--noun'" in result.output and "like 'book'" in result.output


def test_ingest_noun_is_stored_and_replies_use_it(tmp_path, fake_encoder, monkeypatch):
    """--noun at ingest; without it the noun is guessed from the file name (my_recipes.csv → recipe)."""
    import recochat.bot.runtime as runtime_module

    monkeypatch.setattr(runtime_module, "open_encoder", lambda settings: fake_encoder)
    monkeypatch.setenv("RECOCHAT_HOME", str(tmp_path / "h"))
    monkeypatch.setenv("RECOCHAT_LLM", "template")
    catalog = tmp_path / "my_recipes.csv"
    catalog.write_text("id,title,description\nr1,Soup,A warm tomato soup.\nr2,Stew,A slow beef stew.\n")

    assert "noun: recipe" in run("ingest", str(catalog))
    assert "what kind of recipe" in run("ask", "hi").lower()
    assert "noun: dish" in run("ingest", str(catalog), "--collection", "menu", "--noun", "dish")
    assert "what kind of dish" in run("ask", "--collection", "menu", "hi").lower()


def test_bad_collection_name_and_unknown_collection(tmp_path, fake_runtime):  # fake_runtime: a home holding "tiny"
    runner = CliRunner()
    result = runner.invoke(main, ["ask", "--collection", "x", "hi"])
    assert result.exit_code == 2 and "not valid" in result.output
    result = runner.invoke(main, ["ask", "--collection", "nothing-here", "hi"])
    assert result.exit_code == 2 and "no catalog named 'nothing-here'" in result.output and "tiny" in result.output


def test_ingest_then_ask_uses_the_most_recent_collection(tmp_path, tiny_catalog, encoder, monkeypatch):
    """In-process with the session's real encoder: the README test above covers the installed
    command; three more subprocesses, each loading the model, would add ~20 s and no coverage."""
    import recochat.bot.runtime as runtime_module

    monkeypatch.setattr(runtime_module, "open_encoder", lambda settings: encoder)
    monkeypatch.setenv("RECOCHAT_HOME", str(tmp_path / "h"))
    monkeypatch.setenv("RECOCHAT_LLM", "template")

    out = run("ingest", str(tiny_catalog), "--collection", "tiny-films")
    assert "14 items, 14 encoded" in out and "items/s" in out
    again = run("ingest", str(tiny_catalog), "--collection", "tiny-films")
    assert "0 encoded, 14 unchanged" in again
    reply = json.loads(run("ask", "--json", "ghosts and screams"))
    assert reply["items"][0]["id"] in {"m5", "m4", "m13"}


def test_bench_passes_its_options_to_the_benchmark(monkeypatch):
    """`recochat bench scale --sizes 10000` must reach the benchmark's own parser, not click's."""
    import recochat.benchmarks.__main__ as benchmarks

    seen: list[list[str]] = []
    monkeypatch.setattr(benchmarks, "main", lambda argv: seen.append(argv) or 0)
    result = CliRunner().invoke(main, ["bench", "scale", "--sizes", "10000", "--no-onnx"])
    assert result.exit_code == 0, result.output
    assert seen == [["scale", "--sizes", "10000", "--no-onnx"]]


def _imports(path):
    """The modules a source file imports, relative imports resolved against its package."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    package = ["recochat", *path.relative_to(root).parent.parts]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            yield ".".join([*base, node.module or ""]).rstrip(".")


def test_the_product_never_imports_the_benchmarks():
    """Training lives in the product (bot/training/); the benchmarks import it. Only `recochat bench`, the command
    that runs them, reaches into recochat.benchmarks."""
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    found = [
        (str(path.relative_to(root)), name)
        for folder in ("bot", "retrieval", "profiles")
        for path in sorted((root / folder).rglob("*.py"))
        for name in _imports(path)
        if name.startswith("recochat.benchmarks")
    ]
    assert found == [("bot/frontends/cli.py", "recochat.benchmarks.__main__")]


def test_junit_and_the_runner_do_not_import_each_other():
    from pathlib import Path

    scripted = Path(__file__).resolve().parent.parent / "bot" / "scripted"
    assert "recochat.bot.scripted.runner" not in set(_imports(scripted / "junit.py"))
    assert "recochat.bot.scripted.junit" in set(_imports(scripted / "runner.py"))
    assert "recochat.bot.scripted.runner" not in set(_imports(scripted / "report.py"))
