"""`POST /v1/chat/completions` answers, in OpenAI's shapes: a `chat.completion`, or SSE `chat.completion.chunk`s.

The items travel in one extra top-level field, `recochat` (see README "HTTP API"): in the completion, and in the
first chunk of a stream, which is sent the moment ranking is done and before any prose. The text is `Reply.text`:
the prose, then the item lines, as every front end shows it.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from starlette.responses import Response

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
        if reply.note:
            field["note"] = reply.note
    return field


_ID_PREFIX = f"chatcmpl-{uuid.uuid4().hex[:16]}"
"""Completion ids: a random prefix per process and a counter (`uuid4()` per reply read the kernel's random source
each time, which took over a millisecond per call on the benchmark's VM and blocked the event loop)."""
_ids = itertools.count(1)


def _head(kind: str, model: str) -> dict[str, Any]:
    return {"id": f"{_ID_PREFIX}-{next(_ids):x}", "object": kind, "created": int(time.time()), "model": model}


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
    lines = chunk({"content": "\n" + item_lines_of(reply)}) if items else b""
    yield lines + chunk({}, "stop", field=extra(user, collection, items, reply)) + b"data: [DONE]\n\n"  # one write


def item_lines_of(reply: Reply) -> str:
    """The item lines `Reply.text` ends with (the text after the prose)."""
    return reply.text[len(reply.prose) :].lstrip("\n")


class EventStream(Response):
    """An SSE response: each chunk is sent as it comes. A client that goes away cancels the rest of the reply (the
    turn itself is already committed). Leaner than Starlette's StreamingResponse, whose task group per response
    cost a good part of the HTTP layer's CPU on a turn."""

    media_type = "text/event-stream"

    def __init__(self, body: AsyncIterator[bytes]) -> None:
        super().__init__(status_code=200, headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        self.raw_headers = [(k, v) for k, v in self.raw_headers if k != b"content-length"]  # a stream has none
        self.chunks = body

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        sending = asyncio.current_task()
        assert sending is not None

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            sending.cancel()

        watcher = asyncio.create_task(watch())
        try:
            async for chunk in self.chunks:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except asyncio.CancelledError:
            if not watcher.done():
                raise  # cancelled from outside, not by a disconnect
            sending.uncancel()  # the client left: nothing more to send, and nothing went wrong
        finally:
            watcher.cancel()
