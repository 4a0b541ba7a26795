"""The lean HTTP/1.1 protocol `forgebot serve` runs under uvicorn, over real sockets."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from bot.app import ForgebotApp
from bot.engine.router import Router
from bot.http.server import HTTPProtocol
from tests.conftest import db_rows, github_headers, make_settings

pytestmark = pytest.mark.anyio


def stored(app: ForgebotApp) -> int:
    return int(db_rows(app, "SELECT count(*) FROM deliveries")[0][0])


async def closed(writer: asyncio.StreamWriter) -> None:
    writer.close()
    await writer.wait_closed()


BODY = json.dumps({"zen": "Design for failure.", "hook_id": 1}).encode()


@contextlib.asynccontextmanager
async def serving(tmp_path: Path, settings: dict[str, Any] | None = None, **config: Any) -> AsyncIterator[tuple[str, int, ForgebotApp]]:
    """The app under uvicorn with our protocol, on a free loopback port; `config` goes to uvicorn."""
    overrides = {"max_body_bytes": 4096, "admin_token": "admin-token-123", **(settings or {})}
    app = ForgebotApp(make_settings(tmp_path, **overrides), router=Router())
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, http=HTTPProtocol, lifespan="on", log_level="warning", access_log=False, **config))
    task = asyncio.ensure_future(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield "127.0.0.1", sock.getsockname()[1], app
    finally:
        server.should_exit = True
        await task
        sock.close()


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[str, int, ForgebotApp]]:
    async with serving(tmp_path) as where:
        yield where


def raw_post(path: str, delivery: str, body: bytes = BODY, extra: dict[str, str] | None = None) -> bytes:
    headers = {**github_headers(body, "ping", delivery), "host": "bot", "content-length": str(len(body)), **(extra or {})}
    return f"POST {path} HTTP/1.1\r\n".encode() + "".join(f"{k}: {v}\r\n" for k, v in headers.items()).encode() + b"\r\n" + body


async def read_responses(reader: asyncio.StreamReader, count: int) -> list[tuple[int, dict[str, str], bytes]]:
    answers = []
    for _ in range(count):
        status_line = await reader.readline()
        headers: dict[str, str] = {}
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            headers[name.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        answers.append((int(status_line.split()[1]), headers, body))
    return answers


async def test_webhooks_and_other_routes_share_a_keep_alive_connection(served: Any) -> None:
    host, port, app = served
    async with httpx.AsyncClient(base_url=f"http://{host}:{port}") as client:
        first = await client.post("/webhooks/github", content=BODY, headers=github_headers(BODY, "ping", "k-1"))
        health = await client.get("/healthz")
        again = await client.post("/webhooks/github", content=BODY, headers=github_headers(BODY, "ping", "k-1"))
        metrics = await client.get("/metrics")
        wrong_method = await client.get("/webhooks/gitea")
        admin = await client.get("/api/deliveries", headers={"authorization": "Bearer admin-token-123"})
        missing = await client.get("/no/such/page")
    assert (first.status_code, first.json()) == (202, {"status": "accepted", "delivery": "k-1"})
    assert health.json() == {"status": "ok"} and again.status_code == 200
    assert "forgebot_deliveries_received_total" in metrics.text
    assert wrong_method.status_code == 405 and wrong_method.headers["allow"] == "POST"
    assert [d["id"] for d in admin.json()] == ["k-1"] and missing.status_code == 404
    assert first.headers["date"]  # uvicorn's default headers are kept


async def test_pipelined_requests_are_answered_in_order(served: Any) -> None:
    host, port, _ = served
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(raw_post("/webhooks", "p-1") + b"GET /healthz HTTP/1.1\r\nhost: bot\r\n\r\n" + raw_post("/webhooks", "p-1"))
    answers = await read_responses(reader, 3)
    await closed(writer)
    assert [status for status, _, _ in answers] == [202, 200, 200]
    assert json.loads(answers[2][2])["status"] == "duplicate"


async def test_expect_continue_chunked_bodies_and_http_1_0(served: Any) -> None:
    host, port, app = served
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(raw_post("/webhooks", "e-1", extra={"expect": "100-continue"}).replace(BODY, b""))
    assert await reader.readline() == b"HTTP/1.1 100 Continue\r\n"
    await reader.readline()
    writer.write(BODY)
    [(status, _, _)] = await read_responses(reader, 1)
    assert status == 202
    chunked = raw_post("/webhooks", "c-1").replace(f"content-length: {len(BODY)}\r\n".encode(), b"transfer-encoding: chunked\r\n")
    head, _, _ = chunked.partition(b"\r\n\r\n")
    writer.write(head + b"\r\n\r\n" + b"%x\r\n%s\r\n0\r\n\r\n" % (len(BODY), BODY))
    [(status, _, _)] = await read_responses(reader, 1)
    assert status == 202
    await closed(writer)

    reader, writer = await asyncio.open_connection(host, port)
    writer.write(raw_post("/webhooks", "h-1").replace(b"HTTP/1.1", b"HTTP/1.0", 1))
    [(status, headers, _)] = await read_responses(reader, 1)
    assert status == 202 and headers["connection"] == "close"
    assert await reader.read() == b""  # closed
    await closed(writer)
    assert stored(app) == 3


async def test_too_large_bodies_get_413_and_the_connection_is_closed(served: Any) -> None:
    host, port, app = served
    big = b'{"pad": "' + b"x" * 5000 + b'"}'
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(raw_post("/webhooks", "big-1", big))
    [(status, headers, body)] = await read_responses(reader, 1)
    assert status == 413 and headers["connection"] == "close" and b"4096-byte limit" in body
    assert await reader.read() == b""
    await closed(writer)
    chunked = raw_post("/webhooks", "big-2", big).replace(f"content-length: {len(big)}\r\n".encode(), b"transfer-encoding: chunked\r\n")
    head, _, _ = chunked.partition(b"\r\n\r\n")
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(head + b"\r\n\r\n" + b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (big[:3000], big[3000:])) + b"0\r\n\r\n")
    [(status, _, _)] = await read_responses(reader, 1)
    assert status == 413
    await closed(writer)
    assert stored(app) == 0


async def test_garbage_gets_400_and_a_closed_connection(served: Any) -> None:
    host, port, _ = served
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(b"NOT HTTP AT ALL\r\n\r\n")
    [(status, headers, body)] = await read_responses(reader, 1)
    assert status == 400 and b"malformed HTTP request" in body
    assert await reader.read() == b""
    await closed(writer)


async def test_a_failing_store_answers_503_and_keeps_nothing(served: Any) -> None:
    host, port, app = served
    # Another process holds the database's write lock past the store's busy timeout (a stuck
    # backup, say). Unlike a read-only file, this stops root too.
    locker = sqlite3.connect(app.settings.database, isolation_level=None)
    locker.execute("BEGIN IMMEDIATE")
    try:
        async with httpx.AsyncClient(base_url=f"http://{host}:{port}", timeout=60) as client:
            answer = await client.post("/webhooks", content=BODY, headers=github_headers(BODY, "ping", "s-1"))
    finally:
        locker.rollback()
        locker.close()
    assert answer.status_code == 503 and "retry" in answer.json()["error"]
    assert stored(app) == 0
    async with httpx.AsyncClient(base_url=f"http://{host}:{port}", timeout=60) as client:
        again = await client.post("/webhooks", content=BODY, headers=github_headers(BODY, "ping", "s-1"))
    assert again.status_code == 202 and stored(app) == 1  # the sender's retry is stored once it is back


async def test_idle_connections_close_after_the_keep_alive_and_busy_ones_stay_open(tmp_path: Path) -> None:
    async with serving(tmp_path, {"header_timeout_seconds": 0.3}, timeout_keep_alive=0.3) as (host, port, _):
        idle_reader, idle_writer = await asyncio.open_connection(host, port)
        busy_reader, busy_writer = await asyncio.open_connection(host, port)
        half_reader, half_writer = await asyncio.open_connection(host, port)
        half_writer.write(raw_post("/webhooks", "half-1")[:40])  # a request that never finishes
        for n in range(8):  # 0.8 s of a request every 0.1 s: never idle for 0.3 s
            busy_writer.write(raw_post("/webhooks", f"busy-{n}"))
            [(status, _, _)] = await read_responses(busy_reader, 1)
            assert status == 202
            await asyncio.sleep(0.1)
        assert await asyncio.wait_for(idle_reader.read(), timeout=2) == b""  # closed by the server
        assert (await asyncio.wait_for(half_reader.read(), timeout=2)).startswith(b"HTTP/1.1 408 ")  # then closed
        assert not busy_reader.at_eof()
        busy_writer.write(raw_post("/webhooks", "busy-last"))
        [(status, _, _)] = await read_responses(busy_reader, 1)
        assert status == 202
        for writer in (idle_writer, busy_writer, half_writer):
            await closed(writer)
