"""The FastAPI app of `recochat serve`: routes over `Conversations`, and nothing of the recommender's own.

Every answer that is not a success is `{"error": {"message", "type", "code", "param"}}` with a 4xx status; a bug
is a 500 with the same shape and no traceback (that goes to the log).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ...conversation import Conversations
from ...errors import NoSuchRank, NothingToUndo, UnknownItem
from ...runtime import Runtime
from .access import AccessDenied, Keys, RateLimiter, stored_user
from .catalogs import Catalogs, UnknownCollection
from .chat import EventStream, chunks, completion
from .schemas import ApiError, ChatRequest, FeedbackRequest, error_response, read_body

log = logging.getLogger("recochat.http")
DEFAULT_USER = "local"
"""The user of a chat request that names none (the CLI's default user too)."""


class Api:
    """What the routes share: the runtime's collections, the keys and the rate limiter."""

    def __init__(self, runtime: Runtime, keys: Keys, limiter: RateLimiter) -> None:
        self.runtime = runtime
        self.catalogs = Catalogs(runtime)
        self.keys = keys
        self.limiter = limiter

    def caller(self, request: Request) -> str:
        """The namespace of the request's key; 401 without a valid one, 429 past the key's rate."""
        try:
            namespace = self.keys.namespace(request.headers.get("authorization"))
        except AccessDenied as error:
            raise ApiError(401, str(error), "invalid_api_key", "authentication_error") from None
        wait = self.limiter.wait_s(namespace)
        if wait:
            limited = ApiError(
                429,
                f"rate limit of {self.limiter.per_minute} requests a minute reached",
                "rate_limit_exceeded",
                "rate_limit_error",
            )
            limited.headers["Retry-After"] = RateLimiter.retry_after(wait)
            raise limited
        return namespace

    async def conversations(self, model: str | None) -> Conversations:
        try:
            return await self.catalogs.get(model)
        except UnknownCollection:
            raise ApiError(
                404, f"no model {model!r}: GET /v1/models lists the collections", "model_not_found"
            ) from None

    async def known_user(self, conversations: Conversations, namespace: str, user: str) -> str:
        """The stored id of a user this namespace has talked about; 404 for anyone else (another key's users too)."""
        user_id = user_id_of(namespace, user)
        if not await asyncio.to_thread(_has_events, conversations, user_id):
            raise ApiError(404, f"no user {user!r}", "user_not_found")
        return user_id


def _has_events(conversations: Conversations, user_id: str) -> bool:
    """Whether the log holds anything of this user: only the first event is read, and the reader is closed at once
    (on PostgreSQL it holds a pooled connection)."""
    events = conversations.engine.profiles.events(user_id)
    try:
        return next(events, None) is not None
    finally:
        close = getattr(events, "close", None)
        if close is not None:
            close()


def user_id_of(namespace: str, user: str) -> str:
    try:
        return stored_user(namespace, user)
    except ValueError as error:
        raise ApiError(400, str(error), "invalid_user") from None


def create_app(runtime: Runtime, keys: Keys | None = None, rate_per_minute: int | None = None) -> FastAPI:
    """The ASGI app over `runtime`; keys, rate and CORS origins come from its settings unless given."""
    from .access import parse_keys

    settings = runtime.settings
    if keys is None:
        keys = Keys(parse_keys(settings.api_keys.get_secret_value() if settings.api_keys else ""))
    rate = settings.api_rate_per_minute if rate_per_minute is None else rate_per_minute
    api = Api(runtime, keys, RateLimiter(rate))
    app = FastAPI(title="recochat", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.api = api
    _errors(app)
    _routes(app, api)
    _profile_routes(app, api)
    origins = [o.strip() for o in settings.api_cors_origins.split(",") if o.strip()]
    if origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
        )
    return app


def _errors(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, error: ApiError) -> JSONResponse:
        return error.response()

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(error.status_code, "http_error")
        return error_response(error.status_code, str(error.detail), code)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
        return error_response(400, "the request is not valid", "invalid_request")

    @app.exception_handler(UnknownItem)
    @app.exception_handler(NoSuchRank)
    async def not_found(request: Request, error: Exception) -> JSONResponse:
        return error_response(404, str(error), "item_not_found")

    @app.exception_handler(NothingToUndo)
    async def nothing_to_undo(request: Request, error: NothingToUndo) -> JSONResponse:
        return error_response(409, str(error), "nothing_to_undo")

    @app.exception_handler(Exception)
    async def bug(request: Request, error: Exception) -> JSONResponse:
        log.error("%s %s failed", request.method, request.url.path, exc_info=error)
        return error_response(500, "internal error (see the server's log)", "internal_error", "server_error")


def _routes(app: FastAPI, api: Api) -> None:
    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        runtime = api.runtime
        return {
            "status": "ok",
            "collection": api.catalogs.default,
            "writer": runtime.writer_label,
            "llm": runtime.llm_status(),
        }

    @app.get("/v1/models")
    async def models(request: Request) -> dict[str, Any]:
        api.caller(request)
        names = await asyncio.to_thread(api.catalogs.names)
        return {
            "object": "list",
            "data": [{"id": n, "object": "model", "created": 0, "owned_by": "recochat"} for n in names],
        }

    @app.post("/v1/chat/completions", response_model=None)
    async def chat(request: Request) -> JSONResponse | EventStream:
        namespace = api.caller(request)
        body = await read_body(request, ChatRequest)
        user = DEFAULT_USER if body.user is None else body.user
        user_id = user_id_of(namespace, user)
        conversations = await api.conversations(body.model)
        stream = conversations.stream(user_id, body.turn())
        collection = conversations.catalog_name
        if body.stream:
            await stream.items()  # rank before the status line goes out, so a failure is still a JSON error
            return EventStream(chunks(stream, body.model, user, collection))
        async for _ in stream:
            pass
        assert stream.reply is not None
        return JSONResponse(completion(stream.reply, body.model, user, collection))

    @app.post("/v1/feedback")
    async def feedback(request: Request) -> dict[str, Any]:
        """A 200 means the event is committed to the profile store (the engine's write returned)."""
        namespace = api.caller(request)
        body = await read_body(request, FeedbackRequest)
        user_id = user_id_of(namespace, body.user)
        conversations = await api.conversations(body.model)
        if body.action in ("like", "dislike"):
            title = (await conversations.feedback(user_id, body.item, body.action)).title
        elif body.action == "undo":
            title = await conversations.undo_feedback(user_id, body.item)
        else:
            title = await conversations.mark_seen(user_id, body.item)
        return {"user": body.user, "item": body.item, "title": title, "action": body.action, "committed": True}


def _profile_routes(app: FastAPI, api: Api) -> None:
    """The profile endpoints mirror `recochat profile show / export / forget`."""

    @app.get("/v1/profile/{user}")
    async def profile(user: str, request: Request, model: str | None = None) -> dict[str, Any]:
        namespace = api.caller(request)
        conversations = await api.conversations(model)
        user_id = await api.known_user(conversations, namespace, user)
        view = asdict(await conversations.profile(user_id))
        return {"user": user, **{k: v for k, v in view.items() if k != "user_id"}}

    @app.get("/v1/profile/{user}/export")
    async def export(user: str, request: Request, model: str | None = None) -> dict[str, Any]:
        namespace = api.caller(request)
        conversations = await api.conversations(model)
        user_id = await api.known_user(conversations, namespace, user)
        return await conversations.export(user_id)

    @app.delete("/v1/profile/{user}")
    async def forget(user: str, request: Request, model: str | None = None) -> dict[str, Any]:
        namespace = api.caller(request)
        conversations = await api.conversations(model)
        user_id = await api.known_user(conversations, namespace, user)
        gone = await conversations.forget(user_id)
        return {"user": user, "forgotten": True, "events_deleted": gone}
