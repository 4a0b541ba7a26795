"""What an unauthenticated client tries once bodies, time and connections are bounded: a request
head that never ends (an endless URL, header value or list of headers), and answers it never
reads. Each must cost the server a bounded amount of memory, over real sockets."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import uvicorn

from bot.app import ForgebotApp
from bot.engine.router import Router
from bot.http.server import MAX_HEADERS, MAX_PIPELINED, HTTPProtocol
from tests.conftest import make_settings
from tests.test_http_limits import answer_within, request_head, signed
from tests.test_http_protocol import BODY, closed, stored

pytestmark = pytest.mark.anyio

PIECE = 16 * 1024


@contextlib.asynccontextmanager
async def server_of(tmp_path: Path) -> AsyncIterator[tuple[int, ForgebotApp, uvicorn.Server]]:
    """The app under uvicorn with our protocol; the uvicorn server is yielded for its connections."""
    app = ForgebotApp(make_settings(tmp_path, header_timeout_seconds=20.0, admin_token="admin-token-123"), router=Router())
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, http=HTTPProtocol, lifespan="on", log_level="warning", access_log=False))
    task = asyncio.ensure_future(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield sock.getsockname()[1], app, server
    finally:
        server.should_exit = True
        await task
        sock.close()


async def send_endless(writer: asyncio.StreamWriter, start: bytes, seconds: float) -> None:
    """`start`, then more of the same line for up to `seconds` or until the server closes."""
    writer.write(start)
    deadline = time.monotonic() + seconds
    with contextlib.suppress(OSError):
        while time.monotonic() < deadline and not writer.is_closing():
            writer.write(b"a" * PIECE)
            await writer.drain()


@pytest.mark.parametrize("start", [b"GET /", b"GET /healthz HTTP/1.1\r\nx-long: "], ids=["url", "header-value"])
async def test_a_request_head_that_never_ends_gets_431_before_it_grows(tmp_path: Path, start: bytes) -> None:
    # Before: httptools kept the growing URL or value until the header deadline (10 s), at
    # loopback speed 67 MB of URL or 190 MB of value per connection, and RSS kept it afterwards.
    async with server_of(tmp_path) as (port, app, _):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        sender = asyncio.ensure_future(send_endless(writer, start, 15))
        status, _, body = await answer_within(reader, 5)
        assert (status, body) == (431, b'{"error":"request headers too large"}')
        sender.cancel()
        writer.transport.abort()
        async with asyncio.timeout(5):  # and the server answers the next client as before
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /healthz HTTP/1.1\r\nhost: bot\r\n\r\n")
            assert (await answer_within(reader, 5))[0] == 200
            await closed(writer)


@pytest.mark.parametrize("platform", ["github", "gitea"])
async def test_more_header_fields_than_any_platform_sends_get_431(tmp_path: Path, platform: str) -> None:
    async with server_of(tmp_path) as (port, app, _):
        headers = signed(platform, BODY, "many-1")
        padding = {f"x-pad-{n}": "" for n in range(MAX_HEADERS - len(headers) - 2)}  # host and content-length
        for extra, wanted in ((padding, 202), ({**padding, "x-one-more": ""}, 431)):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(request_head(f"/webhooks/{platform}", {**headers, **extra}, len(BODY)) + BODY)
            assert (await answer_within(reader, 5))[0] == wanted
            await closed(writer)
        assert stored(app) == 1


async def test_answers_the_client_does_not_read_stop_the_reading_of_its_requests(tmp_path: Path) -> None:
    # Before: pipelined GET /metrics from a client that never reads grew the server's write
    # buffer without end (one connection: +57 MB in 9 s).
    async with server_of(tmp_path) as (port, app, server):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        request = b"GET /metrics HTTP/1.1\r\nhost: bot\r\n\r\n"
        buffered, stopped_answering = 0, False
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and buffered < 4 * 1024 * 1024 and not stopped_answering:
            answered = server.server_state.total_requests
            writer.write(request)  # one at a time, each once the one before is answered
            waited = time.monotonic() + 2
            while server.server_state.total_requests == answered and not (stopped_answering := time.monotonic() > waited):
                await asyncio.sleep(0.001)
            held = [c.transport.get_write_buffer_size() for c in server.server_state.connections if c.transport]
            buffered = max([buffered, *held])
        writer.transport.abort()  # before asserting: a server holding unsent answers would not stop
        assert buffered < 1024 * 1024, f"{buffered} bytes of answers held for a client that reads none"
        assert stopped_answering, "the server never stopped taking requests"


async def test_requests_pipelined_past_the_limit_are_dropped_after_those_taken_in_are_answered(tmp_path: Path) -> None:
    # Before: every request in a read was parsed and queued at once (4,000 small ones: 2 MB).
    async with server_of(tmp_path) as (port, app, _):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /healthz HTTP/1.1\r\nhost: bot\r\n\r\n" * 1000)
        answers = await asyncio.wait_for(reader.read(), 10)  # until the server closes
        # The one being answered and those waiting, each in full; nothing of the rest.
        assert answers.count(b"HTTP/1.1 ") == answers.count(b'{"status":"ok"}') == MAX_PIPELINED + 1
        assert answers.count(b"connection: close") == 1
        writer.transport.abort()
