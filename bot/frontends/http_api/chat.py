"""`POST /v1/chat/completions` answers, in OpenAI's shapes: a `chat.completion`, or SSE `chat.completion.chunk`s.

The items travel in one extra top-level field, `recochat` (see README "HTTP API"): in the completion, and in the
first chunk of a stream, which is sent the moment ranking is done and before any prose. The text is `Reply.text`:
the prose, then the item lines, as every front end shows it.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from ...conversation import Reply, ReplyItem, ReplyStream

log = logging.getLogger("recochat.http")
EXTRA = "recochat"
"""The name of the extra field that carries the items."""


def item_json(item: ReplyItem) -> dict[str, Any]:
    return {
        "id": item.id,
        "title": item.title,
        "year": item.year,
        "genres": item.genres,
        "why": item.why,
        "score": round(item.score, 4),
        "rank": item.rank,
    }


def extra(user: str, collection: str, items: list[ReplyItem], reply: Reply | None = None) -> dict[str, Any]:
    """The `recochat` field: the user as the request named it, the collection, the items; with the reply, more."""
    field: dict[str, Any] = {"user": user, "collection": collection, "items": [item_json(i) for i in items]}
    if reply is not None:
        field |= {"kind": reply.kind, "status": reply.status, "writer": reply.writer}
        if reply.notice:
            field["notice"] = reply.notice
    return field


def _head(kind: str, model: str) -> dict[str, Any]:
    return {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": kind, "created": int(time.time()), "model": model}


def completion(reply: Reply, model: str, user: str, collection: str) -> dict[str, Any]:
    message = {"role": "assistant", "content": reply.text}
    choice = {"index": 0, "message": message, "finish_reason": "stop", "logprobs": None}
    return _head("chat.completion", model) | {"choices": [choice], EXTRA: extra(user, collection, reply.items, reply)}


def _sse(data: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


async def chunks(stream: ReplyStream, model: str, user: str, collection: str) -> AsyncIterator[bytes]:
    """The SSE body: a first chunk with the role and the items (ranking already ran), the prose, the item lines,
    a last chunk with `finish_reason` and the reply's kind and status, then `data: [DONE]`."""
    items = await stream.items()
    head = _head("chat.completion.chunk", model)

    def chunk(delta: dict[str, Any], finish: str | None = None, field: dict[str, Any] | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
        return _sse(head | {"choices": [choice]} | ({EXTRA: field} if field is not None else {}))

    yield chunk({"role": "assistant", "content": ""}, field=extra(user, collection, items))
    try:
        async for text in stream:
            yield chunk({"content": text})
    except Exception:  # noqa: BLE001  # the status line is sent: the client gets an error event, the log the rest
        log.exception("reply to %s failed while streaming", user)
        yield _sse(
            {"error": {"message": "the reply failed while streaming", "type": "server_error", "code": "stream_failed"}}
        )
        yield b"data: [DONE]\n\n"
        return
    reply = stream.reply
    assert reply is not None
    if items:
        yield chunk({"content": "\n" + item_lines_of(reply)})
    yield chunk({}, "stop", field=extra(user, collection, items, reply))
    yield b"data: [DONE]\n\n"


def item_lines_of(reply: Reply) -> str:
    """The item lines `Reply.text` ends with (the text after the prose)."""
    return reply.text[len(reply.prose) :].lstrip("\n")
