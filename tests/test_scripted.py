"""The conversation-script runner: format errors, checks, failure output, JUnit, pytest plugin.

Tests that run a conversation load the real encoder once per process (marked slow) and use
the small books catalog; format and check tests need neither.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from recochat.bot.conversation import Reply, ReplyItem
from recochat.bot.engine import TurnResult
from recochat.bot.scripted import runner
from recochat.bot.scripted.checks import Catalog, check_expect, check_grounding
from recochat.bot.scripted.script import Expect, ScriptError, load_script
from recochat.bot.writer import TemplateWriter, WriteOutcome
from recochat.retrieval.catalog import CatalogItem

pytest_plugins = ["pytester"]

BOOKS = Path(__file__).parent / "conversations" / "catalogs" / "books.csv"


@pytest.fixture(autouse=True)
def _isolated_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No user settings leak in: no recochat.toml, no RECOCHAT_* or endpoint variables."""
    import os

    for name in list(os.environ):
        if name.startswith("RECOCHAT_") or name in ("OPENAI_BASE_URL", "OPENAI_API_KEY"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("RECOCHAT_CONFIG", str(tmp_path / "absent.toml"))


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def problem(folder: Path, text: str) -> str:
    path = write(folder, "bad.convo.yaml", text)
    with pytest.raises(ScriptError) as caught:
        load_script(path)
    return str(caught.value)


# -- malformed scripts: file, line and key, never a traceback ------------------------------------


def test_unknown_key_names_file_line_key_and_suggests(tmp_path: Path) -> None:
    message = problem(
        tmp_path,
        """
        name: x
        catalog: demo
        turns:
          - say: hi
            expect:
              itmes_min: 3
    """,
    )
    assert message.startswith(f"{tmp_path / 'bad.convo.yaml'}:6: key 'itmes_min': unknown key")
    assert "did you mean 'items_min'" in message


def test_unknown_top_level_key(tmp_path: Path) -> None:
    message = problem(
        tmp_path,
        """
        name: x
        catalog: demo
        turn:
          - say: hi
    """,
    )
    assert ":3: key 'turn': unknown key; did you mean 'turns'?" in message
    assert ":1: key 'turns': required key is missing" in message


@pytest.mark.parametrize("rank", ["0", "-2", "first", "1.5", "true"])
def test_bad_rank(tmp_path: Path, rank: str) -> None:
    message = problem(
        tmp_path,
        f"""
        catalog: demo
        turns:
          - say: hi
          - feedback: {{rank: {rank}, value: like}}
    """,
    )
    assert ":4: key 'rank':" in message


def test_feedback_needs_exactly_one_target_and_a_known_value(tmp_path: Path) -> None:
    message = problem(
        tmp_path,
        """
        catalog: demo
        turns:
          - feedback: {value: like}
          - feedback: {rank: 1, value: love}
    """,
    )
    assert ":3: key 'rank': give exactly one of rank" in message
    assert ":4: key 'value': input should be 'like' or 'dislike'" in message


def test_expect_on_a_feedback_step_points_at_expect(tmp_path: Path) -> None:
    message = problem(
        tmp_path,
        """
        catalog: demo
        turns:
          - say: hi
          - feedback: {rank: 1, value: dislike}
            expect:
              items_min: 1
    """,
    )
    assert ":5: key 'expect': 'expect' is not allowed on a feedback step" in message


def test_say_and_feedback_in_one_turn(tmp_path: Path) -> None:
    message = problem(
        tmp_path,
        """
        catalog: demo
        turns:
          - say: hi
            feedback: {rank: 1, value: like}
    """,
    )
    assert ":4: key 'feedback': a turn is either 'say' or 'feedback'" in message


def test_missing_catalog_key_and_missing_catalog_file(tmp_path: Path) -> None:
    assert ":1: key 'catalog': required key is missing" in problem(
        tmp_path,
        """
        name: x
        turns: [{say: hi}]
    """,
    )
    message = problem(
        tmp_path,
        """
        name: x
        catalog: catalogs/nope.csv
        turns: [{say: hi}]
    """,
    )
    assert ":2: key 'catalog': no catalog file 'catalogs/nope.csv'" in message


def test_within_needs_include_and_min_not_above_max(tmp_path: Path) -> None:
    message = problem(
        tmp_path,
        """
        catalog: demo
        turns:
          - say: hi
            expect: {within: 3}
          - say: hi
            expect: {items_min: 4, items_max: 2}
    """,
    )
    assert ":4: key 'within': 'within' limits 'include'" in message
    assert ":6: key 'items_max': items_max 2 is below items_min 4" in message


def test_invalid_yaml_and_duplicate_keys(tmp_path: Path) -> None:
    assert ":5: invalid YAML: while scanning a quoted scalar (from line 3)" in problem(
        tmp_path,
        """
        catalog: demo
        turns:
          - say: "unterminated
          - say: hi
    """,
    )
    assert ":2: key 'catalog': duplicate key" in problem(
        tmp_path,
        """
        catalog: demo
        catalog: other.csv
        turns: [{say: hi}]
    """,
    )


def test_not_a_mapping_and_empty(tmp_path: Path) -> None:
    assert "a script is a mapping" in problem(tmp_path, "- say: hi\n")
    assert "the script is empty" in problem(tmp_path, "# nothing\n")


def test_yes_and_no_stay_text_and_scalars_become_lists(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "ok.convo.yaml",
        """
        catalog: demo
        turns:
          - say: no
            expect:
              exclude: m42
              include: [42]
              any_have: {year: 1999}
    """,
    )
    script = load_script(path)
    turn = script.turns[0]
    assert turn.say == "no"
    assert turn.expect is not None
    assert turn.expect.exclude == ["m42"]
    assert turn.expect.include == ["42"]
    assert turn.expect.any_have == {"year": ["1999"]}
    assert script.name == "ok" and script.user == "tester" and script.catalog is None


def test_catalog_path_is_relative_to_the_script(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "items.csv").write_text("id,title,description\na,A,x\n", encoding="utf-8")
    script = load_script(write(tmp_path / "sub", "s.convo.yaml", "catalog: items.csv\nturns: [{say: hi}]\n"))
    assert script.catalog == (tmp_path / "sub" / "items.csv").resolve()


def test_command_reports_malformed_scripts_without_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(
        tmp_path,
        "bad.convo.yaml",
        """
        catalog: demo
        turns:
          - say: hi
            expect: {nope: 1}
    """,
    )
    assert runner.test_command([tmp_path], None, "template") == 1
    out = capsys.readouterr().out
    assert "ERROR" in out and "bad.convo.yaml:4: key 'nope': unknown key" in out
    assert "Traceback" not in out
    assert "0 passed, 0 failed, 1 error" in out


def test_command_usage_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert runner.test_command([tmp_path / "missing"], None, "template") == 2
    assert "no such file or folder" in capsys.readouterr().out
    assert runner.test_command([tmp_path], None, "template") == 2
    assert "no *.convo.yaml scripts" in capsys.readouterr().out
    write(tmp_path, "a.convo.yaml", "catalog: demo\nturns: [{say: hi}]\n")
    assert runner.test_command([tmp_path], None, "gpt-17") == 2
    assert "--llm 'gpt-17'" in capsys.readouterr().out


def test_backends() -> None:
    assert runner.backend_settings("template") == {"llm": "template"}
    assert runner.backend_settings("embedded") == {"llm": "embedded"}
    assert runner.backend_settings("http://localhost:8080/v1") == {
        "llm": "openai",
        "llm_base_url": "http://localhost:8080/v1",
    }


def test_discover_finds_scripts_in_folders_sorted(tmp_path: Path) -> None:
    (tmp_path / "deep").mkdir()
    b = write(tmp_path / "deep", "b.convo.yaml", "x: 1\n")
    a = write(tmp_path, "a.convo.yml", "x: 1\n")
    write(tmp_path, "notes.yaml", "x: 1\n")
    assert runner.discover([tmp_path]) == sorted([a, b])
    assert runner.discover([b, tmp_path]) == [b, a]


# -- checks, on synthetic replies ---------------------------------------------------------------------


def item(rank: int, item_id: str, title: str, **meta: object) -> ReplyItem:
    return ReplyItem(item_id, title, meta.get("year"), list(meta.get("genres", [])), "", 1.0, rank, "", dict(meta))  # type: ignore[arg-type]


def reply(*items: ReplyItem, text: str = "", kind: str = "recommend") -> Reply:
    return Reply("u", text, text, kind, list(items), {}, "template", "template")


SHOWN = reply(
    item(1, "b1", "The Colour of Magic", genres=["fantasy", "humour"], year=1983, author="Terry Pratchett"),
    item(2, "b2", "Dune", genres=["science fiction"], year=1965, author="Frank Herbert"),
    item(3, "b3", "Catch-22", genres=["literary", "humour"], year=1961, author="Joseph Heller"),
    text="Here are some picks.\n1. The Colour of Magic (1983)",
)


def failures(**expect: object) -> list[str]:
    refs = {ref: {ref} for key in ("include", "exclude") for ref in expect.get(key, [])}  # type: ignore[union-attr]
    return [f"{f.expectation} -> {f.actual}" for f in check_expect(Expect(**expect), SHOWN, refs, {"b3": 1})]


def test_metadata_matching() -> None:
    assert failures(any_have={"genres": ["HUMOUR"]}) == []
    assert failures(any_have={"genres": ["fiction"]})  # list values match whole, not substrings
    assert failures(any_have={"author": ["pratchett"]}) == []  # text values match substrings
    assert failures(any_have={"genres": ["fantasy"], "author": ["Heller"]})  # one item must match every field
    assert failures(all_have={"year": [">=1960"]}) == []
    assert failures(all_have={"year": ["<1970"]}) == [
        "all_have: {year: [<1970]} -> #1 The Colour of Magic (1983) [b1] has no year in [<1970]"
    ]
    assert failures(none_have={"genres": ["horror"], "year": ["1999"]}) == []
    assert failures(none_have={"genres": ["humour"]}) == [
        "none_have: {genres: [humour]} -> #1 The Colour of Magic (1983) [b1] has genres humour; #3 Catch-22 (1961) [b3] has genres humour"
    ]


def test_counts_kind_text_and_items() -> None:
    assert failures(items_min=3, items_max=3, kind="recommend") == []
    assert failures(items_min=4) == ["items_min: 4 -> 3 item(s) shown"]
    assert failures(kind="about") == ["kind: about -> the reply is of kind recommend"]
    assert failures(text_contains=["HERE ARE"], text_not_contains=["horror"]) == []
    assert failures(text_not_contains=["picks"]) == ["text_not_contains: 'picks' -> the reply text contains it"]
    assert failures(include=["b3"]) == []
    assert failures(include=["b3"], within=2) == ["include: [b3], within: 2 -> only lower: #3 Catch-22 (1961) [b3]"]
    assert failures(include=["b9"]) == ["include: [b9] -> none of them is shown"]
    assert failures(exclude=["b2"]) == ["exclude: [b2] -> shown: #2 Dune (1965) [b2]"]
    assert failures(not_repeated=True) == [
        "not_repeated: true -> shown again: #3 Catch-22 (1961) [b3] (first shown at turn 1)"
    ]


def test_whys_distinct_names_each_repeat() -> None:
    def with_why(rank: int, item_id: str, why: str) -> ReplyItem:
        return ReplyItem(item_id, item_id.upper(), None, [], why, 1.0, rank, "", {})

    same = "close to Dune, which you liked: both science fiction"
    shown = reply(with_why(1, "b1", same), with_why(2, "b2", "tagged ‘desert’"), with_why(3, "b3", same.upper()))
    assert [f.actual for f in check_expect(Expect(whys_distinct=True), shown, {}, {})] == [
        f"#3 B3 [b3] has the why of #1 B1 [b1]: {same.upper()!r}"
    ]
    distinct = reply(with_why(1, "b1", same), with_why(2, "b2", "tagged ‘desert’"))
    assert check_expect(Expect(whys_distinct=True), distinct, {}, {}) == []


def test_every_expect_key_has_a_check_and_failures_keep_table_order() -> None:
    from recochat.bot.scripted.checks import EXPECT_CHECKS

    assert set(EXPECT_CHECKS) | {"within"} == set(Expect.model_fields)  # within only modifies include
    assert [f.split(":")[0] for f in failures(text_not_contains=["picks"], items_max=1, kind="about")] == [
        "kind",
        "items_max",
        "text_not_contains",
    ]


def catalog_item(item_id: str, title: str, year: int | None = None) -> CatalogItem:
    return CatalogItem(item_id, title, title, {"year": year} if year else {})


def test_references_resolve_ids_titles_and_title_with_year() -> None:
    catalog = Catalog(
        "c", [catalog_item("d1", "Dune", 1965), catalog_item("d2", "Dune", 2021), catalog_item("x", "Alien")]
    )
    assert catalog.resolve("x") == {"x"}
    assert catalog.resolve("dune") == {"d1", "d2"}
    assert catalog.resolve("Dune (2021)") == {"d2"}
    assert catalog.resolve("Dune (1999)") is None
    assert catalog.resolve("Nope") is None


def test_grounding_compares_titles() -> None:
    dune65, dune21, alien = (
        catalog_item("d1", "Dune", 1965),
        catalog_item("d2", "Dune", 2021),
        catalog_item("x", "Alien"),
    )
    assert check_grounding([dune21], [dune65]) == []
    [failure] = check_grounding([dune21, alien], [dune65])
    assert failure.actual == "the reply names Alien [x], not shown in this reply"


# -- running conversations (real encoder, books catalog) ---------------------------------------------

slow = pytest.mark.slow


@slow
def test_failure_output_and_junit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(
        tmp_path,
        "pass.convo.yaml",
        f"""
        name: passes
        catalog: {BOOKS}
        turns:
          - say: "something with humour"
            expect: {{items_min: 3, all_have: {{genres: [humour]}}}}
    """,
    )
    write(
        tmp_path,
        "fail.convo.yaml",
        f"""
        name: fails on purpose
        catalog: {BOOKS}
        turns:
          - say: "something with humour"
          - feedback: {{rank: 1, value: like}}
          - say: "no romance"
            expect:
              include: ["Dracula"]
              none_have: {{genres: [humour]}}
          - say: "never reached"
    """,
    )
    junit = tmp_path / "reports" / "junit.xml"
    assert runner.test_command([tmp_path], junit, "template") == 1
    out = capsys.readouterr().out
    assert "PASS " in out and "passes" in out
    assert "FAIL " in out and "fails on purpose  (3/4 turns" in out
    assert "turn 3 (line 6): say 'no romance'" in out
    assert "expected  include: [Dracula]" in out and "actual    none of them is shown" in out
    assert "expected  none_have: {genres: [humour]}" in out
    assert "shown (recommend, " in out and re.search(r"\d\. .+ \[b\d{3}\]", out)  # what was shown, with ids
    assert "reply text:" in out and "no romance from now on" in out
    assert "turn 2 (line 5): feedback rank 1: like -> liked" in out
    assert "1 passed, 1 failed in" in out

    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and suite.get("tests") == "2" and suite.get("failures") == "1"
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert cases["passes"].find("failure") is None
    failure = cases["fails on purpose"].find("failure")
    assert failure is not None and failure.get("message", "").startswith("turn 3: ")
    assert "expected  include: [Dracula]" in (failure.text or "")


@slow
def test_unknown_references_and_bad_rank_at_run_time(tmp_path: Path) -> None:
    result = runner.Runner().run_file(
        write(
            tmp_path,
            "refs.convo.yaml",
            f"""
        catalog: {BOOKS}
        turns:
          - say: "fantasy"
            expect:
              exclude: ["b001", "No Such Book"]
              any_have: {{genre: [fantasy]}}
    """,
        )
    )
    assert result.outcome == "error" and result.error is not None
    assert ":5: key 'exclude': 'No Such Book' is neither an id nor a title" in result.error
    assert ":6: key 'any_have': no item in catalog 'books' has a field 'genre'" in result.error

    result = runner.Runner().run_file(
        write(
            tmp_path,
            "rank.convo.yaml",
            f"""
        catalog: {BOOKS}
        turns:
          - say: "no romance, no humour, only horror"
          - feedback: {{rank: 6, value: like}}
    """,
        )
    )
    assert result.outcome == "error" and result.error is not None
    assert ":4: key 'rank': there is no #6 in your last reply (it showed " in result.error


@slow
def test_a_catalog_that_cannot_load_is_an_error_at_the_catalog_line(tmp_path: Path) -> None:
    (tmp_path / "broken.csv").write_text("id,title,description\na,,no title here\n", encoding="utf-8")
    result = runner.Runner().run_file(
        write(
            tmp_path,
            "s.convo.yaml",
            """
        name: broken catalog
        catalog: broken.csv
        turns: [{say: hi}]
    """,
        )
    )
    assert result.outcome == "error" and result.error is not None
    assert result.error.startswith(f"{tmp_path / 's.convo.yaml'}:2: key 'catalog': ")
    assert "row 2: empty title" in result.error


class NamesAnUnshownTitle:
    """A writer that adds a sentence naming a catalog title it was not given (a hallucination)."""

    name = "fake"

    async def stream(self, result: TurnResult, outcome: WriteOutcome) -> AsyncIterator[str]:
        yield TemplateWriter("book").prose(result)
        if result.items:
            yield "\nYou would also love Dracula."


@slow
def test_grounding_failure_from_a_writer(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "grounding.convo.yaml",
        f"""
        catalog: {BOOKS}
        turns:
          - say: "I loved Dune"
          - say: "no horror, some humour please"
    """,
    )
    result = runner.Runner(writer=NamesAnUnshownTitle()).run_file(path)
    assert result.outcome == "failed"
    turn = result.failed_turn
    assert turn is not None and turn.index == 1
    [failure] = turn.failures
    assert failure.expectation.startswith("grounding")
    assert "Dracula (1897) [b024]" in failure.actual
    # a title the user named ("close to Dune, which you liked") is grounded
    assert "Dune" not in failure.actual


@slow
def test_each_run_starts_from_a_fresh_profile(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "fresh.convo.yaml",
        f"""
        catalog: {BOOKS}
        user: same-user
        turns:
          - say: "fantasy please"
            expect: {{not_repeated: true, items_min: 3}}
    """,
    )
    first = runner.Runner().run_file(path)
    second = runner.Runner().run_file(path)
    assert first.passed and second.passed
    ids = lambda r: [i.id for i in r.turns[0].reply.items]  # noqa: E731
    assert ids(first) == ids(second)


# -- the pytest plugin ---------------------------------------------------------------------------------


def run_inner(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """pytest in-process (sharing the loaded encoder); snapshot plugins keep global state, so off."""
    return pytester.runpytest("-p", "no:cacheprovider", "-p", "no:textual-snapshot", "-p", "no:syrupy", *args)


def test_plugin_reports_malformed_scripts_as_failures(pytester: pytest.Pytester) -> None:
    pytester.makefile(".convo.yaml", broken="catalog: demo\nturns:\n  - feedback: {rank: 0, value: like}\n")
    result = run_inner(pytester)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*broken.convo.yaml:3: key 'rank': input should be greater than or equal to 1*"])
    assert "Traceback" not in result.stdout.str()


@slow
def test_plugin_runs_one_item_per_script(pytester: pytest.Pytester) -> None:
    pytester.makefile(
        ".convo.yaml",
        good=f"""
        name: humour works
        catalog: {BOOKS}
        turns:
          - say: "something with humour"
            expect: {{all_have: {{genres: [humour]}}}}
    """.replace("\n        ", "\n").strip()
        + "\n",
    )
    pytester.makefile(
        ".convo.yaml",
        bad=f"""
        name: expects the impossible
        catalog: {BOOKS}
        turns:
          - say: "something with humour"
            expect: {{none_have: {{genres: [humour]}}}}
    """.replace("\n        ", "\n").strip()
        + "\n",
    )
    result = run_inner(pytester, "-m", "conversation", "-v")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        ["*bad.convo.yaml::expects the impossible FAILED*", "*good.convo.yaml::humour works PASSED*"]
    )
    assert "expected  none_have: {genres: [humour]}" in result.stdout.str()
