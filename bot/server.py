"""The HTTP/1.1 protocol `forgebot serve` gives uvicorn: webhook POSTs answered without ASGI.

uvicorn still runs the server: sockets, lifespan, signals, graceful shutdown. Only the
per-connection protocol is ours (uvicorn's `http` setting takes a protocol class). Webhook
POSTs, the service's one hot path, go straight from the parser to `WebhookEndpoint.accept`
and their answer is written in one piece, with no task, no ASGI messages and one write per
response. Every other request is handed to the Starlette app through a small ASGI bridge.

Measured on 2 cores (README, Performance): a bare protocol like this answers about twice as many
requests as the same HMAC check behind uvicorn's ASGI path, which is where most of the time of
a webhook went.

Requests on one connection are handled one at a time, in order; a pipelined request waits (its
bytes are parsed and queued, and reading pauses) until the one before it has been answered.
An ASGI answer sent in one piece is written in one piece, with its length; one the app sends in
parts (`more_body`: server-sent events, MCP's Streamable HTTP) goes out part by part, chunked.
An app waiting for `http.disconnect` is woken when the client goes.
"""

from __future__ import annotations

import asyncio
import logging
import time
import urllib.parse
from collections import deque
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

import httptools

from bot.webhooks import METHOD_NOT_ALLOWED, WebhookEndpoint, error_body

logger = logging.getLogger(__name__)

MAX_HEADER_BYTES = 64 * 1024
MAX_OTHER_BODY = 1024 * 1024  # for requests to the API and operations endpoints
REASONS = {status.value: status.phrase.encode() for status in HTTPStatus}


@dataclass
class Request:
    method: bytes = b""
    url: bytes = b""
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: list[bytes] = field(default_factory=list)
    size: int = 0
    keep_alive: bool = True
    http_version: str = "1.1"
    endpoint: WebhookEndpoint | None = None
    path: str = ""
    header_map: dict[bytes, bytes] = field(default_factory=dict)
    too_large: bool = False
    started: float = 0.0


def response_bytes(status: int, body: bytes, headers: list[tuple[bytes, bytes]], *, close: bool, head: bool = False) -> bytes:
    lines = [b"HTTP/1.1 %d %s\r\n" % (status, REASONS.get(status, b"Unknown"))]
    for name, value in headers:
        lines += [name, b": ", value, b"\r\n"]
    lines.append(b"content-length: %d\r\n" % len(body))
    if close:
        lines.append(b"connection: close\r\n")
    lines.append(b"\r\n")
    if not head:
        lines.append(body)
    return b"".join(lines)


class HTTPProtocol(asyncio.Protocol):
    """One client connection. Constructed by uvicorn with its config and server state."""

    def __init__(self, config: Any, server_state: Any, app_state: dict[str, Any] | None = None, _loop: Any = None) -> None:
        if not config.loaded:
            config.load()
        self.config = config
        self.server_state = server_state
        self.app_state = app_state or {}
        self.loop = _loop or asyncio.get_event_loop()
        self.app = config.loaded_app
        # The ForgebotApp under any wrapper uvicorn put around it (none in forgebot's own config).
        self.endpoints: dict[str, WebhookEndpoint] = getattr(config.app, "endpoints", {})
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.client: tuple[str, int] | None = None
        self.server: tuple[str, int] | None = None
        self.current = Request()
        self.header_bytes = 0
        self.queue: deque[Request] = deque()
        self.busy = False
        self.closing = False
        # Idle keep-alive connections close after uvicorn's `timeout_keep_alive` (5 s by default).
        # One timer per connection checks the time of the last activity when it fires, rather
        # than a timer cancelled and set again for every request.
        self.keep_alive_seconds = float(getattr(config, "timeout_keep_alive", 5))
        self.last_active = 0.0
        self.idle_timer: asyncio.TimerHandle | None = None
        # Set when the client goes: what an app waiting for `http.disconnect` waits on.
        self.disconnected = asyncio.Event()
        # Cleared while the transport's write buffer is full (streamed responses wait on it).
        self.writable = asyncio.Event()
        self.writable.set()

    # -- connection ---------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's transports are not asyncio.Transport subclasses
        self.server_state.connections.add(self)
        peer, local = transport.get_extra_info("peername"), transport.get_extra_info("sockname")
        self.client = (peer[0], peer[1]) if isinstance(peer, tuple) else None
        self.server = (local[0], local[1]) if isinstance(local, tuple) else None
        self.last_active = self.loop.time()
        self.idle_timer = self.loop.call_later(self.keep_alive_seconds, self._close_if_idle)

    def connection_lost(self, exc: Exception | None) -> None:
        self.server_state.connections.discard(self)
        self.closing = True
        self.disconnected.set()
        self.writable.set()  # a writer waiting for room learns that the client is gone
        if self.idle_timer is not None:
            self.idle_timer.cancel()

    def pause_writing(self) -> None:
        self.writable.clear()

    def resume_writing(self) -> None:
        self.writable.set()

    def shutdown(self) -> None:
        """uvicorn's graceful shutdown: close when idle, else after the answer in progress."""
        self.closing = True
        if not self.busy and self.transport is not None:
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        self.last_active = self.loop.time()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(400, "upgrades are not supported")
        except httptools.HttpParserError:
            self._fail(400, "malformed HTTP request")

    def _fail(self, status: int, reason: str) -> None:
        """A request that cannot be parsed or read on: answer and close the connection."""
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(response_bytes(status, error_body(reason), [(b"content-type", b"application/json")], close=True))
            self.transport.close()

    def _close_if_idle(self) -> None:
        self.idle_timer = None
        if self.transport is None or self.closing:
            return
        idle_for = self.loop.time() - self.last_active
        if idle_for >= self.keep_alive_seconds and not self.busy and not self.queue:
            self.transport.close()
            return
        # Active since the timer was set, or a request is still being answered: look again later.
        wait = self.keep_alive_seconds - idle_for if idle_for < self.keep_alive_seconds else self.keep_alive_seconds
        self.idle_timer = self.loop.call_later(wait, self._close_if_idle)

    # -- parser callbacks ---------------------------------------------------------------------

    def on_message_begin(self) -> None:
        self.current = Request(started=time.perf_counter())
        self.header_bytes = 0

    def on_url(self, url: bytes) -> None:
        self.current.url += url
        self.header_bytes += len(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self.header_bytes += len(name) + len(value)
        if self.header_bytes > MAX_HEADER_BYTES:
            raise httptools.HttpParserError("headers too large")
        self.current.headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        request = self.current
        request.method = self.parser.get_method()
        request.http_version = self.parser.get_http_version()
        request.keep_alive = self.parser.should_keep_alive()
        request.path = httptools.parse_url(request.url).path.decode("latin-1").rstrip("/")
        request.header_map = headers = dict(request.headers)
        request.endpoint = self.endpoints.get(request.path) if request.method == b"POST" else None
        if request.endpoint is not None:
            declared = headers.get(b"content-length")
            if declared is not None and declared.isdigit() and int(declared) > request.endpoint.max_body_bytes:
                request.too_large = True
        if b"expect" in headers and headers[b"expect"].lower() == b"100-continue" and not request.too_large and self.transport:
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        request = self.current
        request.size += len(body)
        limit = request.endpoint.max_body_bytes if request.endpoint is not None else MAX_OTHER_BODY
        if request.size > limit:
            request.too_large = True
        if not request.too_large:
            request.body.append(body)

    def on_message_complete(self) -> None:
        self.queue.append(self.current)
        if len(self.queue) > 1 and self.transport is not None:
            self.transport.pause_reading()  # pipelined: hold the rest until these are answered
        self._next()

    # -- handling ------------------------------------------------------------------------------

    def _next(self) -> None:
        if self.busy or not self.queue:
            return
        request = self.queue.popleft()
        self.busy = True
        if request.too_large:
            request.keep_alive = False  # do not read on after a client sent too much
            if request.endpoint is not None:
                endpoint = request.endpoint
                endpoint.refuse(request.header_map, endpoint.too_large(), request.started, lambda s, b: self._respond(request, s, b))
            else:
                self._respond(request, 413, error_body("request body too large"))
        elif request.endpoint is not None:
            body = request.body[0] if len(request.body) == 1 else b"".join(request.body)
            request.endpoint.accept(request.header_map, body, lambda s, b: self._respond(request, s, b), request.started)
        elif request.path in self.endpoints:
            self._respond(request, 405, METHOD_NOT_ALLOWED, [(b"allow", b"POST")])
        else:
            task = self.loop.create_task(self._asgi(request))
            self.server_state.tasks.add(task)
            task.add_done_callback(self.server_state.tasks.discard)

    def _respond(self, request: Request, status: int, body: bytes, extra: list[tuple[bytes, bytes]] | None = None) -> None:
        headers = [*self.server_state.default_headers, (b"content-type", b"application/json"), *(extra or ())]
        self._write(request, status, body, headers)

    def _write(self, request: Request, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
        close = not request.keep_alive or self.closing
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(response_bytes(status, body, headers, close=close, head=request.method == b"HEAD"))
        self._done(request, close)

    def _done(self, request: Request, close: bool) -> None:
        """The answer to `request` is written: close, or go on with the next request."""
        if close and self.transport is not None and not self.transport.is_closing():
            self.transport.close()
        self.server_state.total_requests += 1
        self.busy = False
        if close:
            return
        if self.queue:
            self._next()
        else:
            if self.transport is not None:
                self.transport.resume_reading()
            self.last_active = self.loop.time()

    # -- everything else: the Starlette app over ASGI ----------------------------------------------

    async def _asgi(self, request: Request) -> None:
        url = httptools.parse_url(request.url)
        raw_path = url.path
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": request.http_version,
            "server": self.server,
            "client": self.client,
            "scheme": "http",
            "method": request.method.decode("ascii"),
            "root_path": "",
            "path": urllib.parse.unquote(raw_path.decode("latin-1")),
            "raw_path": raw_path,
            "query_string": url.query or b"",
            "headers": request.headers,
            "state": self.app_state.copy(),
        }
        body = b"".join(request.body)
        sent_body = False
        started: dict[str, Any] = {}
        chunks: list[bytes] = []
        stream: Stream | None = None

        async def receive() -> dict[str, Any]:
            nonlocal sent_body
            if not sent_body:
                sent_body = True
                return {"type": "http.request", "body": body, "more_body": False}
            await self.disconnected.wait()  # nothing more will come; wait for the client to go
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            nonlocal stream
            if message["type"] == "http.response.start":
                started.update(message)
                return
            if message["type"] != "http.response.body":
                return
            data, more = message.get("body", b""), message.get("more_body", False)
            if stream is None and not more:
                chunks.append(data)  # the whole answer is known: written in one piece once the app returns
                return
            if stream is None:  # the app streams: send what there is now, and each part as it comes
                stream = Stream(self, request, int(started["status"]), self._headers(started))
                data = b"".join((*chunks, data))
            await stream.write(data)
            if not more:
                stream.end()

        try:
            await self.app(scope, receive, send)
            if stream is None:
                status, headers = int(started["status"]), self._headers(started)
        except Exception as exc:
            if stream is not None:  # part of the answer is out: all that is left is to cut the connection
                if not isinstance(exc, ClientGone):
                    logger.exception("streamed response failed", extra={"path": scope["path"]})
                stream.abort()
                return
            logger.exception("request failed", extra={"path": scope["path"]})
            status, headers, chunks = 500, [(b"content-type", b"text/plain")], [b"Internal Server Error"]
        if stream is not None:
            stream.end()  # an app that returned without saying the body was over
            return
        self._write(request, status, b"".join(chunks), [*self.server_state.default_headers, *headers])

    def _headers(self, started: dict[str, Any]) -> list[tuple[bytes, bytes]]:
        """The app's headers, less those the protocol writes itself."""
        return [(n.lower(), v) for n, v in started.get("headers", []) if n.lower() not in (b"content-length", b"connection", b"transfer-encoding")]


class ClientGone(OSError):
    """The client went away while a response was streamed to it."""


class Stream:
    """A response whose body the app sends in parts: each part is written when it is sent, with
    chunked transfer encoding (HTTP/1.0: until the connection closes). Writing waits while the
    transport's buffer is full, so a slow reader holds the app back rather than the memory growing."""

    def __init__(self, protocol: HTTPProtocol, request: Request, status: int, headers: list[tuple[bytes, bytes]]) -> None:
        self.protocol = protocol
        self.request = request
        self.chunked = request.http_version != "1.0"
        self.head = request.method == b"HEAD"
        self.close = not request.keep_alive or protocol.closing or not self.chunked
        self.ended = False
        lines = [b"HTTP/1.1 %d %s\r\n" % (status, REASONS.get(status, b"Unknown"))]
        for name, value in [*protocol.server_state.default_headers, *headers]:
            lines += [name, b": ", value, b"\r\n"]
        if self.chunked and not self.head:
            lines.append(b"transfer-encoding: chunked\r\n")
        if self.close:
            lines.append(b"connection: close\r\n")
        lines.append(b"\r\n")
        self._send(b"".join(lines))

    def _send(self, data: bytes) -> None:
        transport = self.protocol.transport
        if transport is None or transport.is_closing():
            raise ClientGone("the client closed the connection")
        transport.write(data)

    async def write(self, data: bytes) -> None:
        if self.ended:
            return
        await self.protocol.writable.wait()
        if not data or self.head:
            return
        self._send(b"%x\r\n%s\r\n" % (len(data), data) if self.chunked else data)

    def end(self) -> None:
        if self.ended:
            return
        self.ended = True
        if self.chunked and not self.head:
            try:
                self._send(b"0\r\n\r\n")
            except ClientGone:
                pass
        self.protocol._done(self.request, self.close)

    def abort(self) -> None:
        if not self.ended:
            self.ended = True
            self.protocol._done(self.request, close=True)
