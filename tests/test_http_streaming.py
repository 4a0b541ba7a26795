"""Streamed ASGI responses under forgebot's own HTTP/1.1 protocol (bot/server.py), over real sockets:
each part reaches the client when the app sends it, not when the app is done."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from bot.http.server import HTTPProtocol

pytestmark = pytest.mark.anyio


class Gate:
    """Lets the test decide when the app may send its second part, and see the app notice a disconnect."""

    def __init__(self) -> None:
        self.second = asyncio.Event()
        self.disconnect_seen = asyncio.Event()


def streaming_app(gate: Gate) -> Any:
    async def parts() -> AsyncIterator[bytes]:
        yield b"data: first\n\n"
        await gate.second.wait()
        yield b"data: second\n\n"

    async def events(_: Request) -> Response:
        return StreamingResponse(parts(), media_type="text/event-stream")

    async def hold(scope: dict[str, Any], receive: Any, send: Any) -> None:
        """A long poll, as the MCP SDK's server-sent-event responses do: wait until the client goes."""
        message = await receive()  # the body
        while message["type"] != "http.disconnect":
            message = await receive()
        gate.disconnect_seen.set()

    routes = Starlette(routes=[Route("/events", events), Route("/plain", lambda _: PlainTextResponse("whole"))])

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await (hold if scope.get("path") == "/hold" else routes)(scope, receive, send)

    return app


@contextlib.asynccontextmanager
async def serving(app: Any) -> AsyncIterator[int]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, http=HTTPProtocol, lifespan="off", log_level="warning", access_log=False))
    task = asyncio.ensure_future(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        await task
        sock.close()


async def read_head(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    status = int((await reader.readline()).split()[1])
    headers: dict[str, str] = {}
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode().partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers


async def read_chunk(reader: asyncio.StreamReader) -> bytes:
    size = int((await reader.readline()).strip(), 16)
    data = await reader.readexactly(size + 2)
    return data[:-2]


async def test_each_part_of_a_streamed_response_arrives_when_it_is_sent() -> None:
    gate = Gate()
    async with serving(streaming_app(gate)) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /events HTTP/1.1\r\nhost: bot\r\n\r\n")
        status, headers = await read_head(reader)
        assert status == 200 and headers["transfer-encoding"] == "chunked" and "content-length" not in headers
        assert headers["content-type"].startswith("text/event-stream")
        # The app is still waiting for the gate: the first part must already be here.
        assert await asyncio.wait_for(read_chunk(reader), 10) == b"data: first\n\n"
        assert not gate.second.is_set()
        gate.second.set()
        assert await asyncio.wait_for(read_chunk(reader), 10) == b"data: second\n\n"
        assert await read_chunk(reader) == b""  # the last chunk: the response is complete

        # The connection is kept alive: a plain answer follows on it, with its length.
        writer.write(b"GET /plain HTTP/1.1\r\nhost: bot\r\n\r\n")
        status, headers = await read_head(reader)
        assert (status, await reader.readexactly(int(headers["content-length"]))) == (200, b"whole")
        writer.close()


async def test_an_http_1_0_client_gets_the_stream_unchunked_until_the_connection_closes() -> None:
    gate = Gate()
    gate.second.set()
    async with serving(streaming_app(gate)) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /events HTTP/1.0\r\nhost: bot\r\n\r\n")
        status, headers = await read_head(reader)
        assert status == 200 and "transfer-encoding" not in headers and headers["connection"] == "close"
        assert await asyncio.wait_for(reader.read(), 10) == b"data: first\n\ndata: second\n\n"
        writer.close()


async def test_an_app_waiting_for_the_client_to_go_learns_that_it_went() -> None:
    gate = Gate()
    async with serving(streaming_app(gate)) as port:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /hold HTTP/1.1\r\nhost: bot\r\ncontent-length: 2\r\n\r\n{}")
        await writer.drain()
        await asyncio.sleep(0.05)
        assert not gate.disconnect_seen.is_set()
        writer.close()
        await asyncio.wait_for(gate.disconnect_seen.wait(), 10)
