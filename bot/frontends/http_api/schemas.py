"""Requests and errors of `recochat serve`, as the OpenAI API shapes them.

Bodies are read here, not by FastAPI's own binding, so every bad body gets the same JSON error: too large → 413,
not UTF-8 or not JSON → 400 `invalid_json`, the wrong shape → 400 `invalid_request` naming the field.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal, TypeVar

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr, ValidationError

MAX_BODY_BYTES = 1 << 20
"""Largest request body: chat front ends resend the whole history with every turn, so a long chat stays under it."""


class ApiError(Exception):
    """An error answer: `{"error": {"message", "type", "code"}}` with this status."""

    def __init__(self, status: int, message: str, code: str, kind: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.kind = status, message, code, kind
        self.headers: dict[str, str] = {}

    def response(self) -> JSONResponse:
        return error_response(self.status, self.message, self.code, self.kind, self.headers)


def error_response(
    status: int, message: str, code: str, kind: str = "invalid_request_error", headers: dict[str, str] | None = None
) -> JSONResponse:
    body = {"error": {"message": message, "type": kind, "code": code, "param": None}}
    return JSONResponse(body, status_code=status, headers=headers)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="ignore")


class TextPart(_Strict):
    type: Literal["text"]
    text: StrictStr


class Message(_Strict):
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: StrictStr | Annotated[list[TextPart], Field(max_length=100)] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "\n".join(part.text for part in self.content)
        return self.content or ""


class ChatRequest(_Strict):
    """The fields of OpenAI's chat request that recochat reads; the others (temperature, max_tokens…) are accepted
    and ignored, as recochat writes its own replies."""

    model: StrictStr = Field(max_length=512)
    messages: Annotated[list[Message], Field(min_length=1, max_length=1000)]
    user: StrictStr | None = Field(default=None, max_length=1000)
    stream: StrictBool = False
    n: int | None = Field(default=None, ge=1, le=1)

    def turn(self) -> str:
        """The last user message: recochat keeps the conversation itself, so earlier messages are not read again."""
        for message in reversed(self.messages):
            if message.role == "user":
                return message.text()
        raise ApiError(400, "messages has no user message", "no_user_message")


class FeedbackRequest(_Strict):
    user: StrictStr = Field(max_length=1000)
    item: StrictStr = Field(min_length=1, max_length=1000)
    action: Literal["like", "dislike", "undo", "seen"]
    model: StrictStr | None = Field(default=None, max_length=512)


Body = TypeVar("Body", bound=BaseModel)


async def read_body(request: Request, model: type[Body]) -> Body:
    """The request body as `model`, or an ApiError (413, 400) that says what is wrong."""
    declared = request.headers.get("content-length")
    if declared is not None and not declared.isdigit():
        raise ApiError(400, "Content-Length must be a number of bytes", "invalid_content_length")
    if declared is not None and int(declared) > MAX_BODY_BYTES:
        raise ApiError(413, f"the body must be at most {MAX_BODY_BYTES} bytes", "body_too_large")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise ApiError(413, f"the body must be at most {MAX_BODY_BYTES} bytes", "body_too_large")
        chunks.append(chunk)
    try:
        data: Any = json.loads(b"".join(chunks).decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ApiError(400, "the body is not valid JSON (UTF-8)", "invalid_json") from None
    try:
        return model.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(map(str, first["loc"])) or "body"
        raise ApiError(400, f"{where}: {first['msg']}", "invalid_request") from None
