"""recochat as a LangChain retriever: a query is one turn of a user's conversation, the ranked items come back as
`Document`s. No LLM runs: the engine understands, updates the profile and ranks; nothing writes prose.

Setup:
    pip install recochat   # langchain-core is a dependency

Construct, from settings (the template writer, so no model loads) or from a runtime a front end already built:
    retriever = RecochatRetriever.from_settings(user="alice")          # RECOCHAT_* settings, collection as `ask`
    retriever = RecochatRetriever.from_runtime(runtime, user="alice")

Search, give feedback, compose:
    docs = retriever.invoke("something funny, no horror")   # metadata: id, title, year, genres, why, score, rank
    retriever.feedback(docs[0].metadata["id"], "like")      # like, dislike, undo or seen
    chain = retriever | (lambda docs: "\\n".join(d.metadata["title"] for d in docs))

Each query is a turn of `user`'s conversation: it is logged and it teaches the profile ("no horror" holds for the
next queries too), exactly as the same words typed in the chat would.
"""

from __future__ import annotations

from typing import Any, Literal

from langchain_core.callbacks import AsyncCallbackManagerForRetrieverRun, CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, Field

from recochat.retrieval.catalog import CatalogItem

from .conversation import Conversations, clean_message
from .runtime import Runtime
from .settings import Settings

Action = Literal["like", "dislike", "undo", "seen"]


def document(item: CatalogItem, why: str, score: float, rank: int, collection: str) -> Document:
    meta = {
        "id": item.id,
        "title": item.title,
        "year": item.year,
        "genres": list(item.genres),
        "why": why,
        "score": round(float(score), 4),
        "rank": rank,
        "collection": collection,
    }
    return Document(page_content=f"{item.label()}: {item.description}".strip(), metadata=meta)


class RecochatRetriever(BaseRetriever):
    """Recommendations for one user as Documents, through recochat's engine (see the module docstring)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    conversations: Conversations
    user: str = "local"
    """The recochat user whose profile each query reads and teaches."""
    runtime: Any = Field(default=None, exclude=True)
    """The `Runtime` `from_settings` built, which `close()` closes (a dataclass pydantic must not look into)."""

    @classmethod
    def from_runtime(cls, runtime: Runtime, user: str = "local", **kwargs: Any) -> RecochatRetriever:
        return cls(conversations=runtime.conversations, user=user, **kwargs)

    @classmethod
    def from_settings(
        cls, settings: Settings | None = None, collection: str | None = None, user: str = "local", **kwargs: Any
    ) -> RecochatRetriever:
        """A runtime of its own from settings (RECOCHAT_* by default), with no LLM whatever RECOCHAT_LLM says."""
        from .runtime import build
        from .settings import load_settings

        settings = (settings or load_settings()).model_copy(update={"llm": "template"})
        runtime = build(settings, collection)
        return cls(conversations=runtime.conversations, user=user, runtime=runtime, **kwargs)

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        conversations = self.conversations
        if conversations.refresh is not None:
            conversations.refresh()
        text, _ = clean_message(query)
        result = conversations.engine.turn(self.user, text)
        name = conversations.catalog_name
        return [document(r.item, r.why, r.score, r.rank, name) for r in result.items]

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun
    ) -> list[Document]:
        items = await self.conversations.stream(self.user, query).items()  # ranks only: no prose is written
        engine, name = self.conversations.engine, self.conversations.catalog_name
        return [
            document(found, i.why, i.score, i.rank, name) for i in items if (found := engine.item(i.id)) is not None
        ]

    def feedback(self, item_id: str, action: Action) -> str:
        """Like, dislike, undo (the latest like or dislike) or seen, on an item id; returns its title. Raises
        UnknownItem for an id not in the catalog, NothingToUndo for an undo with nothing to take back."""
        engine = self.conversations.engine
        if action in ("like", "dislike"):
            return engine.feedback(self.user, item_id, action).title
        if action == "seen":
            return engine.mark_seen(self.user, item_id).title
        if action == "undo":
            if engine.item(item_id) is None:
                from .errors import UnknownItem

                raise UnknownItem(f"no item {item_id!r} in catalog {self.conversations.catalog_name!r}")
            engine.undo_feedback(self.user, item_id)
            found = engine.item(item_id)
            return found.title if found is not None else item_id
        raise ValueError(f"action must be like, dislike, undo or seen, not {action!r}")

    async def afeedback(self, item_id: str, action: Action) -> str:
        conversations = self.conversations
        if action in ("like", "dislike"):
            return (await conversations.feedback(self.user, item_id, action)).title
        if action == "seen":
            return await conversations.mark_seen(self.user, item_id)
        if action == "undo":
            return await conversations.undo_feedback(self.user, item_id)
        raise ValueError(f"action must be like, dislike, undo or seen, not {action!r}")

    def close(self) -> None:
        """Close the runtime `from_settings` built (nothing to do for one built from a runtime)."""
        if self.runtime is not None:
            self.runtime.close()
