"""The benchmarks' settings, typed in one place: `RECOCHAT_*` environment variables only (no `.env` or TOML file),
as the product reads its own (`bot/settings.py`). The data folder and its caches are the product's `DataSettings`
(`recochat train` reads them too); the benchmarks add what only they use. Documented in benchmarks/README.md."""

from __future__ import annotations

from pathlib import Path

from pydantic import field_validator

from recochat.bot.settings import DataSettings


class BenchSettings(DataSettings):
    """`data` (RECOCHAT_DATA), `bench_cache` (RECOCHAT_BENCH_CACHE) and `polarity_cache` (RECOCHAT_POLARITY_CACHE)
    come from `DataSettings`."""

    test_pg_bin: Path | None = None
    """RECOCHAT_TEST_PG_BIN: the folder with PostgreSQL's server binaries (`initdb`, `postgres`) for the throwaway
    cluster of the tests and `bench scale-out`; unset (or empty) means PATH, then the newest Debian/Ubuntu install."""

    @field_validator("test_pg_bin", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value


SETTINGS = BenchSettings()
"""Read once, when a benchmark module is first imported (as the environment was read before)."""
