"""`recochat serve` and the LangChain retriever: the official `openai` client and LangChain's `ChatOpenAI` against a
real uvicorn on loopback (one server for the module), the retriever in an LCEL chain, and the access rules and
hostile requests through FastAPI's TestClient over the same runtime. Template writer and hashing encoder throughout."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fakes import HashingEncoder
from fastapi.testclient import TestClient

from recochat.bot.errors import UnknownItem
from recochat.bot.frontends.http_api import ServerThread, create_app
from recochat.bot.frontends.http_api.access import Keys, check_bind, parse_keys
from recochat.bot.frontends.http_api.schemas import MAX_BODY_BYTES
from recochat.bot.runtime import Runtime, build
from recochat.bot.settings import Settings

KEY_A, KEY_B = "sk-alpha-0123456789", "sk-bravo-0123456789"
KEYS = f"team-a:{KEY_A},team-b:{KEY_B}"
A = {"Authorization": f"Bearer {KEY_A}"}
B = {"Authorization": f"Bearer {KEY_B}"}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, ingested_tiny, fake_encoder: HashingEncoder) -> Iterator[Runtime]:
    """One runtime for the module (tests use their own user names), on the tiny catalog, with keys A and B."""
    root = tmp_path_factory.mktemp("serve")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("RECOCHAT_CONFIG", str(root / "absent.toml"))
        env.setenv("RECOCHAT_ENV_FILE", str(root / "absent.env"))
        settings = Settings(home=root / "home", llm="template", api_keys=KEYS, api_rate_per_minute=0)
        ingested_tiny.copy_to(settings, fake_encoder)
        runtime = build(settings, collection="tiny", encoder=fake_encoder)
    yield runtime
    runtime.close()


@pytest.fixture(scope="module")
def url(served: Runtime) -> Iterator[str]:
    with ServerThread(create_app(served)) as base:
        yield base


@pytest.fixture(scope="module")
def client(served: Runtime) -> TestClient:
    return TestClient(create_app(served), raise_server_exceptions=False)


# -- real clients against a real server ------------------------------------------------------------------------------
def test_openai_client_without_streaming_gets_the_text_and_the_items(url: str) -> None:
    from openai import OpenAI

    client = OpenAI(base_url=f"{url}/v1", api_key=KEY_A, max_retries=0)
    assert "tiny" in [m.id for m in client.models.list()]
    done = client.chat.completions.create(
        model="tiny", user="olga", messages=[{"role": "user", "content": "something funny, no horror"}]
    )
    extra = done.model_extra["recochat"]
    items = extra["items"]
    assert items and extra["user"] == "olga" and extra["collection"] == "tiny" and extra["status"] == "template"
    assert {"id", "title", "why", "score", "rank"} <= set(items[0])
    assert all(i["title"] in done.choices[0].message.content for i in items)  # Reply.text: prose + item lines
    assert not {"m4", "m5"} & {i["id"] for i in items}  # "no horror" held
    assert done.choices[0].finish_reason == "stop"


def test_openai_client_streaming_gets_the_items_in_the_first_chunk_before_any_prose(url: str) -> None:
    from openai import OpenAI

    client = OpenAI(base_url=f"{url}/v1", api_key=KEY_A, max_retries=0)
    chunks = list(
        client.chat.completions.create(
            model="recochat", user="sam", stream=True, messages=[{"role": "user", "content": "a clever comedy"}]
        )
    )
    first = chunks[0]
    assert first.choices[0].delta.content == "" and first.choices[0].delta.role == "assistant"
    items = first.model_extra["recochat"]["items"]
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert items and all(i["title"] in text for i in items)
    assert chunks[-1].choices[0].finish_reason == "stop" and chunks[-1].model_extra["recochat"]["kind"] == "recommend"
    assert all("recochat" not in (c.model_extra or {}) for c in chunks[1:-1])


def test_langchain_chat_openai_talks_to_the_server(url: str) -> None:
    from langchain_openai import ChatOpenAI

    chat = ChatOpenAI(base_url=f"{url}/v1", api_key=KEY_B, model="tiny", max_retries=0)  # type: ignore[arg-type]
    answer = chat.invoke("something with robots and love")
    assert answer.content and "1." in str(answer.content)
    streamed = "".join(str(chunk.content) for chunk in chat.stream("more like that"))
    assert streamed.strip()


def test_feedback_over_http_is_in_the_profile(url: str) -> None:
    with httpx.Client(base_url=url, headers=A) as http:
        http.post(
            "/v1/chat/completions",
            json={"model": "tiny", "user": "fay", "messages": [{"role": "user", "content": "hi"}]},
        )
        like = http.post("/v1/feedback", json={"user": "fay", "item": "m6", "action": "like"})
        assert like.status_code == 200 and like.json() == {
            "user": "fay",
            "item": "m6",
            "title": "Starfall",
            "action": "like",
            "committed": True,
        }
        seen = http.post("/v1/feedback", json={"user": "fay", "item": "m9", "action": "seen"})
        assert seen.status_code == 200
        profile = http.get("/v1/profile/fay").json()
        assert profile["user"] == "fay" and profile["liked"] == ["Starfall"] and profile["seen"] == ["Heist Street"]
        assert http.post("/v1/feedback", json={"user": "fay", "item": "m6", "action": "undo"}).status_code == 200
        assert http.get("/v1/profile/fay").json()["liked"] == []
        exported = http.get("/v1/profile/fay/export").json()
        assert exported["items"]["m6"] == "Starfall" and exported["collection"] == "tiny"
        assert http.get("/healthz").json()["status"] == "ok"


# -- the retriever ---------------------------------------------------------------------------------------------------
async def test_retriever_in_an_lcel_chain(served: Runtime) -> None:
    from langchain_core.documents import Document
    from langchain_core.runnables import RunnableLambda

    from recochat.bot.retriever import RecochatRetriever

    retriever = RecochatRetriever.from_runtime(served, user="ret")
    docs = retriever.invoke("something funny, no horror")
    assert docs and all(isinstance(d, Document) for d in docs)
    assert {"id", "title", "why", "score"} <= set(docs[0].metadata) and "horror" not in docs[0].metadata["genres"]
    chain = retriever | RunnableLambda(lambda found: [d.metadata["id"] for d in found])
    ids = chain.invoke("something with explosions")
    assert ids and not {"m4", "m5"} & set(ids)  # the first query's "no horror" still holds: it taught the profile
    assert retriever.feedback(ids[0], "dislike")
    assert ids[0] not in [d.metadata["id"] for d in await retriever.ainvoke("more action")]
    assert served.engine.profiles.load("ret").disliked == [ids[0]]


# -- access ------------------------------------------------------------------------------------------------------------
def _chat(user: str, text: str = "something funny") -> dict:
    return {"model": "tiny", "user": user, "messages": [{"role": "user", "content": text}]}


def test_no_key_or_a_wrong_key_is_401(client: TestClient) -> None:
    assert client.post("/v1/chat/completions", json=_chat("x")).status_code == 401
    wrong = client.get("/v1/models", headers={"Authorization": "Bearer sk-wrong-0123456789"})
    assert wrong.status_code == 401 and wrong.json()["error"]["type"] == "authentication_error"
    assert client.get("/healthz").status_code == 200


def test_one_key_can_never_see_or_forget_another_keys_user(client: TestClient, served: Runtime) -> None:
    assert client.post("/v1/chat/completions", json=_chat("bob"), headers=B).status_code == 200
    assert (
        client.post("/v1/feedback", json={"user": "bob", "item": "m2", "action": "like"}, headers=B).status_code == 200
    )
    for path in ("/v1/profile/bob", "/v1/profile/bob/export"):
        denied = client.get(path, headers=A)
        assert denied.status_code == 404 and "Smart Alecks" not in denied.text
    assert client.delete("/v1/profile/bob", headers=A).status_code == 404
    assert client.get("/v1/profile/bob", headers=B).json()["liked"] == ["Smart Alecks"]  # still there for B
    # A's own "bob" is another person: A's turn does not touch B's
    assert client.post("/v1/chat/completions", json=_chat("bob"), headers=A).status_code == 200
    assert client.get("/v1/profile/bob", headers=A).json()["liked"] == []
    assert served.engine.profiles.load("api:team-b:bob").turns == 1
    gone = client.delete("/v1/profile/bob", headers=B)
    assert gone.status_code == 200 and gone.json()["forgotten"] is True
    assert client.get("/v1/profile/bob", headers=B).status_code == 404
    assert client.get("/v1/profile/bob", headers=A).status_code == 200


def test_rate_limit_per_key_is_429_with_retry_after(served: Runtime) -> None:
    limited = TestClient(create_app(served, rate_per_minute=2))
    assert [limited.get("/v1/models", headers=A).status_code for _ in range(3)] == [200, 200, 429]
    too_many = limited.get("/v1/models", headers=A)
    assert too_many.json()["error"]["code"] == "rate_limit_exceeded" and int(too_many.headers["retry-after"]) >= 1
    assert limited.get("/v1/models", headers=B).status_code == 200  # per key


def test_without_keys_only_loopback_and_cors_only_by_setting(served: Runtime) -> None:
    check_bind("127.0.0.1", [])
    check_bind("::1", [])
    with pytest.raises(Exception, match="RECOCHAT_API_KEYS"):
        check_bind("0.0.0.0", [])
    check_bind("0.0.0.0", parse_keys(KEYS))
    open_app = TestClient(create_app(served, keys=Keys([])))
    assert open_app.get("/v1/models").status_code == 200
    preflight = {"Origin": "https://chat.example", "Access-Control-Request-Method": "POST"}
    assert "access-control-allow-origin" not in open_app.options("/v1/chat/completions", headers=preflight).headers
    served.settings.api_cors_origins = "https://chat.example"
    try:
        cors = TestClient(create_app(served, keys=Keys([]))).options("/v1/chat/completions", headers=preflight)
    finally:
        served.settings.api_cors_origins = ""
    assert cors.headers["access-control-allow-origin"] == "https://chat.example"


def test_a_long_message_is_read_as_the_chat_reads_it(client: TestClient) -> None:
    answer = client.post("/v1/chat/completions", json=_chat("long", "funny " * 1000), headers=A)
    assert answer.status_code == 200
    assert answer.json()["recochat"]["notice"].startswith("Your message was long")


DEEP = "[" * 100_000 + "]" * 100_000
HOSTILE: list[tuple[str, str, str, object, dict]] = [
    # (name, method, path, body: bytes / JSON-able / None, extra headers)
    ("not json", "POST", "/v1/chat/completions", b"{bad", {}),
    ("empty body", "POST", "/v1/chat/completions", b"", {}),
    ("array body", "POST", "/v1/chat/completions", [], {}),
    ("string body", "POST", "/v1/chat/completions", "hi", {}),
    ("messages a string", "POST", "/v1/chat/completions", {"model": "tiny", "messages": "hi"}, {}),
    ("messages empty", "POST", "/v1/chat/completions", {"model": "tiny", "messages": []}, {}),
    (
        "unknown role",
        "POST",
        "/v1/chat/completions",
        {"model": "tiny", "messages": [{"role": "wizard", "content": "x"}]},
        {},
    ),
    (
        "content a number",
        "POST",
        "/v1/chat/completions",
        {"model": "tiny", "messages": [{"role": "user", "content": 5}]},
        {},
    ),
    (
        "image part",
        "POST",
        "/v1/chat/completions",
        {
            "model": "tiny",
            "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}],
        },
        {},
    ),
    ("no model", "POST", "/v1/chat/completions", {"messages": [{"role": "user", "content": "x"}]}, {}),
    ("model an int", "POST", "/v1/chat/completions", {"model": 5, "messages": [{"role": "user", "content": "x"}]}, {}),
    ("unknown model", "POST", "/v1/chat/completions", _chat("h") | {"model": "nope"}, {}),
    ("model path traversal", "POST", "/v1/chat/completions", _chat("h") | {"model": "../../etc/passwd"}, {}),
    ("user with NUL", "POST", "/v1/chat/completions", _chat("a\x00b"), {}),
    (
        "user a lone surrogate",
        "POST",
        "/v1/chat/completions",
        b'{"model":"tiny","user":"\\ud800","messages":[{"role":"user","content":"x"}]}',
        {},
    ),
    ("user too long", "POST", "/v1/chat/completions", _chat("u" * 5000), {}),
    ("user an object", "POST", "/v1/chat/completions", _chat("h") | {"user": {"$ne": 1}}, {}),
    (
        "no user message",
        "POST",
        "/v1/chat/completions",
        {"model": "tiny", "messages": [{"role": "system", "content": "x"}]},
        {},
    ),
    ("stream a string", "POST", "/v1/chat/completions", _chat("h") | {"stream": "yes"}, {}),
    ("n of 5", "POST", "/v1/chat/completions", _chat("h") | {"n": 5}, {}),
    ("huge body", "POST", "/v1/chat/completions", b'{"model":"' + b"x" * (MAX_BODY_BYTES + 10) + b'"}', {}),
    ("Content-Length lie", "POST", "/v1/feedback", b"{}", {"Content-Length": "1000000000000"}),
    ("Content-Length not a number", "POST", "/v1/feedback", b"{}", {"Content-Length": "ten"}),
    ("invalid UTF-8", "POST", "/v1/chat/completions", b"\xff\xfe\x00{", {}),
    ("JSON nested 100,000 deep", "POST", "/v1/chat/completions", DEEP.encode(), {}),
    ("feedback unknown item", "POST", "/v1/feedback", {"user": "h", "item": "nope", "action": "like"}, {}),
    ("feedback item with NUL", "POST", "/v1/feedback", {"user": "h", "item": "m1\x00", "action": "like"}, {}),
    ("feedback bad action", "POST", "/v1/feedback", {"user": "h", "item": "m1", "action": "love"}, {}),
    ("feedback item an int", "POST", "/v1/feedback", {"user": "h", "item": 1, "action": "like"}, {}),
    ("undo with nothing to undo", "POST", "/v1/feedback", {"user": "h", "item": "m1", "action": "undo"}, {}),
    ("profile of nobody", "GET", "/v1/profile/nobody", None, {}),
    ("forget nobody", "DELETE", "/v1/profile/nobody", None, {}),
    ("profile of a NUL user", "GET", "/v1/profile/%00", None, {}),
    ("profile of an unknown model", "GET", "/v1/profile/h?model=nope", None, {}),
    ("basic auth", "GET", "/v1/models", None, {"Authorization": "Basic dXNlcjpwYXNz"}),
    ("10 KB bearer", "GET", "/v1/models", None, {"Authorization": "Bearer " + "k" * 10_000}),
    ("non-ASCII bearer", "GET", "/v1/models", None, {"Authorization": "Bearer ключ".encode()}),
    ("unknown route", "GET", "/v1/completions", None, {}),
    ("wrong method", "PUT", "/v1/chat/completions", None, {}),
]


@pytest.mark.parametrize(("method", "path", "body", "headers"), [h[1:] for h in HOSTILE], ids=[h[0] for h in HOSTILE])
def test_hostile_requests_get_a_json_4xx(
    client: TestClient, method: str, path: str, body: object, headers: dict
) -> None:
    auth = {} if "Authorization" in headers else A
    if body is None or isinstance(body, bytes):
        answer = client.request(method, path, content=body, headers=auth | headers)
    else:
        answer = client.request(method, path, content=json.dumps(body), headers=auth | headers)
    assert 400 <= answer.status_code < 500, answer.text
    error = answer.json()["error"]
    assert error["message"] and error["type"] and error["code"]
    assert "Traceback" not in answer.text


def test_every_hostile_request_is_counted() -> None:
    assert len(HOSTILE) >= 20


def test_key_setting_is_checked(tmp_path: Path) -> None:
    assert [k.namespace for k in parse_keys(KEYS)] == ["team-a", "team-b"]
    assert len(parse_keys("sk-bare-key-0123")[0].namespace) == 12
    for bad in ("a:short", "bad name:sk-0123456789", f"team-a:{KEY_A},team-a:{KEY_B}"):
        with pytest.raises(Exception, match="RECOCHAT_API_KEYS"):
            parse_keys(bad)


def _feedback_until_refused(base: str, user: str, acked: list[tuple[str, str]]) -> None:
    """Like and dislike the tiny items in turn, noting each 200, until the server is gone."""
    with httpx.Client(base_url=base, timeout=5) as http:
        for n in range(100_000):
            item, action = f"m{n % 14 + 1}", ("like", "dislike")[n % 2]
            try:
                answer = http.post("/v1/feedback", json={"user": user, "item": item, "action": action})
            except httpx.HTTPError:
                return
            if answer.status_code == 200:
                acked.append((item, action))


def _wait_until_up(base: str, deadline: float) -> None:
    import time

    while time.monotonic() < deadline:
        try:
            httpx.get(f"{base}/healthz", timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.05)


def test_kill_9_during_feedback_loses_no_acknowledged_event(tmp_path: Path, tiny_catalog: Path) -> None:
    """A 200 on /v1/feedback means committed: the server (tests/http_worker.py) is killed with SIGKILL while 4
    clients send feedback, and every event it acknowledged is in the log, in order."""
    import os
    import signal
    import subprocess
    import sys
    import threading
    import time

    from recochat.profiles.store import ProfileStore

    worker = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("http_worker.py")), str(tmp_path), str(tiny_catalog)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parent)},
    )
    acked: dict[str, list[tuple[str, str]]] = {f"k{n}": [] for n in range(4)}
    try:
        assert worker.stdout is not None
        base = f"http://127.0.0.1:{int(worker.stdout.readline())}"
        deadline = time.monotonic() + 20
        _wait_until_up(base, deadline)
        threads = [threading.Thread(target=_feedback_until_refused, args=(base, u, acked[u])) for u in acked]
        for thread in threads:
            thread.start()
        while sum(map(len, acked.values())) < 60 and time.monotonic() < deadline:
            time.sleep(0.01)
        worker.send_signal(signal.SIGKILL)
        for thread in threads:
            thread.join(10)
    finally:
        worker.kill()
        worker.wait()
    assert sum(map(len, acked.values())) >= 60
    store = ProfileStore(tmp_path / "profiles.sqlite3")
    try:
        for user, sent in acked.items():
            events = store.events(f"api:local:{user}", kinds=["feedback"])
            logged = [(e.item_id, "like" if (e.value or 0) > 0 else "dislike") for e in events]
            assert logged[: len(sent)] == sent
    finally:
        store.close()


async def test_a_client_that_leaves_stops_the_stream() -> None:
    """The SSE response cancels the rest of a reply when the client goes away (a model would stop writing)."""
    import asyncio

    from recochat.bot.frontends.http_api.chat import EventStream

    written: list[int] = []
    closed = asyncio.Event()

    async def endless():
        try:
            for n in range(10**9):
                written.append(n)
                yield b"data: {}\n\n"
                await asyncio.sleep(0.01)
        finally:
            closed.set()

    sent: list[dict] = []
    gone = asyncio.Event()

    async def receive() -> dict:
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)
        if len(sent) == 3:
            gone.set()  # the client leaves after the second chunk

    await asyncio.wait_for(EventStream(endless())({"type": "http"}, receive, send), 5)
    await asyncio.wait_for(closed.wait(), 5)
    assert sent[0]["type"] == "http.response.start" and len(written) < 10


def test_retriever_from_settings_runs_no_llm(make_runtime, fake_encoder: HashingEncoder, monkeypatch) -> None:
    """Built from settings that ask for a model, the retriever still writes no prose: the template writer."""
    from recochat.bot import RecochatRetriever

    home = make_runtime(encoder=fake_encoder).settings.home  # the tiny catalog, ingested in this home
    monkeypatch.setattr("recochat.bot.runtime.open_encoder", lambda settings: fake_encoder)
    retriever = RecochatRetriever.from_settings(Settings(home=home, llm="embedded"), collection="tiny", user="s")
    try:
        assert retriever.conversations.writer.name == "template" and retriever.runtime.llm_server is None
        docs = retriever.invoke("something with robots")
        assert docs and {"id", "title", "why", "score"} <= set(docs[0].metadata)
        with pytest.raises(UnknownItem):
            retriever.feedback("no-such-item", "like")
        assert retriever.feedback(docs[0].metadata["id"], "seen") == docs[0].metadata["title"]
    finally:
        retriever.close()


def test_the_core_never_imports_the_web_stack() -> None:
    """FastAPI, Starlette and uvicorn belong to `bot/frontends/http_api/` only (read from the sources)."""
    import ast

    root = Path(__file__).resolve().parent.parent
    core = [p for folder in ("bot", "retrieval", "profiles") for p in (root / folder).rglob("*.py")]
    web = {"fastapi", "starlette", "uvicorn", "sse_starlette"}
    for path in core:
        if "frontends" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            names += [node.module] if isinstance(node, ast.ImportFrom) and node.module else []
            assert not {n.split(".")[0] for n in names} & web, f"{path.relative_to(root)} imports {names}"


def test_every_collection_is_a_model(
    client: TestClient, served: Runtime, fake_encoder: HashingEncoder, tmp_path: Path
) -> None:
    """A second collection in the store is listed and answers, with its own items; the profile is the same user's."""
    from conftest import write_catalog

    from recochat.retrieval.catalog import load_catalog
    from recochat.retrieval.ingest import ingest

    rows = [("b1", "Quiet Garden", 2001, ["drama"], "A gardener and a widow trade seeds and letters.")]
    rows += [("b2", "Loud City", 2003, ["comedy"], "A brass band takes over a town hall for a noisy week.")]
    ingest(served.store, fake_encoder, "tiny-books", load_catalog(write_catalog(tmp_path / "b.jsonl", rows)).items)
    assert {"tiny", "tiny-books"} <= {m["id"] for m in client.get("/v1/models", headers=A).json()["data"]}
    answer = client.post("/v1/chat/completions", json=_chat("two") | {"model": "tiny-books"}, headers=A).json()
    assert {i["id"] for i in answer["recochat"]["items"]} <= {"b1", "b2"} and answer["recochat"][
        "collection"
    ] == "tiny-books"
    liked = client.post(
        "/v1/feedback", json={"user": "two", "item": "b2", "action": "like", "model": "tiny-books"}, headers=A
    )
    assert liked.status_code == 200 and liked.json()["title"] == "Loud City"
    assert (
        client.post("/v1/feedback", json={"user": "two", "item": "b2", "action": "like"}, headers=A).status_code == 404
    )
    assert client.get("/v1/profile/two?model=tiny-books", headers=A).json()["liked"] == ["Loud City"]
