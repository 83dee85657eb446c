"""Where settings come from: the environment, then `.env` in the working directory, then
`recochat.toml`, then defaults; and the tests' own environment never reads a developer's `.env`."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from fakes import HashingEncoder

from recochat.bot.runtime import Runtime
from recochat.bot.settings import Settings


@pytest.fixture
def in_folder_with_dotenv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory holding a .env, read as an app started there would read it."""
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / ".env").write_text("# a comment\nRECOCHAT_ITEMS_PER_REPLY=2\nRECOCHAT_LLM=template\nUNRELATED=1\n")
    monkeypatch.delenv("RECOCHAT_ENV_FILE")  # the tests point it at a missing file; an app leaves it unset
    monkeypatch.chdir(folder)
    return folder


async def test_dotenv_in_the_working_directory_is_read(
    in_folder_with_dotenv: Path, make_runtime: Callable[..., Runtime], fake_encoder: HashingEncoder
) -> None:
    assert Settings().items_per_reply == 2
    runtime = make_runtime(encoder=fake_encoder)
    reply = await runtime.conversations.send("a", "something funny")
    assert len(reply.items) == 2


def test_environment_wins_over_dotenv_and_dotenv_over_toml(
    in_folder_with_dotenv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    toml = in_folder_with_dotenv / "recochat.toml"
    toml.write_text("items_per_reply = 7\nencode_batch_size = 9\n")
    monkeypatch.setenv("RECOCHAT_CONFIG", str(toml))
    settings = Settings()
    assert settings.items_per_reply == 2 and settings.encode_batch_size == 9
    monkeypatch.setenv("RECOCHAT_ITEMS_PER_REPLY", "3")
    assert Settings().items_per_reply == 3


def test_an_empty_variable_is_an_unset_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`RECOCHAT_HOME=` (a shell line left half-edited) once put the Chroma store, the profiles and the logs in
    the working directory."""
    monkeypatch.setenv("RECOCHAT_HOME", "")
    monkeypatch.setenv("RECOCHAT_ITEMS_PER_REPLY", "")
    monkeypatch.chdir(tmp_path)
    settings = Settings()
    assert settings.home == Settings.model_fields["home"].get_default(call_default_factory=True)
    assert settings.home != Path("") and settings.items_per_reply == Settings.model_fields["items_per_reply"].default


def test_another_env_file_can_be_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    other = tmp_path / "prod.env"
    other.write_text("RECOCHAT_ITEMS_PER_REPLY=4\n")
    monkeypatch.setenv("RECOCHAT_ENV_FILE", str(other))
    assert Settings().items_per_reply == 4


def test_the_test_environment_ignores_a_dotenv_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the autouse fixture in conftest.py promises: a developer's .env never changes a test."""
    (tmp_path / ".env").write_text("RECOCHAT_ITEMS_PER_REPLY=2\n")
    monkeypatch.chdir(tmp_path)
    assert not Path(os.environ["RECOCHAT_ENV_FILE"]).exists()
    assert Settings().items_per_reply == 5


def _table_names(readme: Path) -> set[str]:
    """The `RECOCHAT_*` names in a README's settings table rows (`| name … |`)."""
    import re

    rows = [line for line in readme.read_text(encoding="utf-8").splitlines() if line.startswith("| `RECOCHAT_")]
    return {name for row in rows for name in re.findall(r"`(RECOCHAT_\w+)`", row.split("|")[1])}


def test_every_setting_is_in_a_settings_table() -> None:
    """Each setting the app reads is a row of README's table; each the benchmarks add, of benchmarks/README.md's."""
    from recochat.benchmarks.settings import BenchSettings
    from recochat.bot.settings import DataSettings

    root = Path(__file__).resolve().parent.parent
    product = {f"RECOCHAT_{name.upper()}" for name in (*Settings.model_fields, *DataSettings.model_fields)}
    assert product - _table_names(root / "README.md") == set()
    bench = {f"RECOCHAT_{name.upper()}" for name in BenchSettings.model_fields}
    assert bench - _table_names(root / "benchmarks" / "README.md") == set()


def test_the_benchmarks_settings_are_typed() -> None:
    from recochat.benchmarks.settings import BenchSettings

    settings = BenchSettings(_env_file=None, test_pg_bin="", data="/data")  # type: ignore[call-arg]
    assert settings.test_pg_bin is None and settings.data == Path("/data")
