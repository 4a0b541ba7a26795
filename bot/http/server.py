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

Every connection is bounded (bot/limits.py): each phase of a request has a deadline (idle
keep-alive, headers, body), watched by one timer per connection; a body is counted against the
budget of unverified bytes from its headers on, and one that is too large or does not fit is
refused as soon as its headers say so, without reading it. A request head is refused (431) as it
passes 64 KiB or 100 fields, at most MAX_PIPELINED requests wait on one connection, and a client
that does not read its answers is not read either.

An ASGI answer sent in one piece is written in one piece, with its length; one the app sends in
parts (server-sent events, MCP's Streamable HTTP) goes out part by part as it is sent, chunked
(bot/asgi_bridge.py). An app waiting for `http.disconnect` is woken when the client goes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

import httptools

from bot.http.asgi_bridge import ClientGone, Header, call_asgi
from bot.http.limits import ServeLimits
from bot.http.webhooks import METHOD_NOT_ALLOWED, Rejected, WebhookEndpoint, error_body

logger = logging.getLogger(__name__)

MAX_HEADER_BYTES = 64 * 1024
# More header fields than any platform sends (GitHub about 15, Gitea about 20) with room for
# proxies; Apache's default LimitRequestFields. Each costs a tuple and two bytes objects.
MAX_HEADERS = 100
# Requests parsed ahead on one connection: all that one read (up to 256 KiB) holds is parsed at
# once, 4,000 small pipelined requests taking 2 MB. Past this many waiting, the rest of what the
# client sent is dropped and the connection closes after the ones taken in are answered; a client
# that pipelines sends the rest again (RFC 9112, 9.3.2). Neither platform pipelines.
MAX_PIPELINED = 16
MAX_OTHER_BODY = 1024 * 1024  # for requests to the API and operations endpoints
REASONS = {status.value: status.phrase.encode() for status in HTTPStatus}
RETRY_AFTER = [(b"retry-after", b"5")]
# After refusing a body it has not read, the server stops writing and reads and drops what the
# client is still sending for up to this long, so that the client reads the answer rather than
# a reset (closing a socket with unread bytes resets it).
LINGER_SECONDS = 2.0

# Phases of a connection; each but ANSWERING has a deadline.
IDLE, HEADERS, BODY, ANSWERING = range(4)


class _Refused(Exception):
    """Raised from a parser callback to stop parsing a request that has been refused."""


class _TooManyPipelined(Exception):
    """Raised from a parser callback: MAX_PIPELINED requests already wait on this connection."""


class _HeadTooLarge(Exception):
    """Raised from a parser callback: the request line and headers pass MAX_HEADER(S|_BYTES)."""


@dataclass
class Request:
    method: bytes = b""
    url: bytes = b""
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    # The body: its first chunk as it came (most bodies arrive in one), or a buffer once a
    # second chunk arrives, made at the declared length when there is one.
    first: bytes = b""
    buffer: bytearray | None = None
    declared: int | None = None
    size: int = 0
    held: int = 0  # bytes of the unverified-body budget this request holds until answered
    macs: list[Any] | None = None  # HMACs of a webhook body over its chunks so far, one per secret
    refusal: tuple[Rejected, list[tuple[bytes, bytes]]] | None = None
    keep_alive: bool = True
    http_version: str = "1.1"
    endpoint: WebhookEndpoint | None = None
    path: str = ""
    header_map: dict[bytes, bytes] = field(default_factory=dict)
    started: float = 0.0

    def body(self) -> bytes | bytearray:
        return self.first if self.buffer is None else self.buffer


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
        limits = getattr(config.app, "limits", None)
        self.limits: ServeLimits = limits if isinstance(limits, ServeLimits) else ServeLimits()
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.client: tuple[str, int] | None = None
        self.server: tuple[str, int] | None = None
        self.current = Request()
        self.header_bytes = 0
        # Bytes received while the current request's head was incomplete, not counting the
        # chunk it began in (None until that chunk is fed): httptools keeps a header value or URL
        # in memory until it ends, so an endless one must be cut off here, not in on_header.
        self.head_received: int | None = 0
        self.head_held = 0  # bytes of the shared HeadBudget this connection's incomplete head holds
        self.writing_paused = False  # the client does not read its answers (see pause_writing)
        self.paused_since = 0.0
        self.queue: deque[Request] = deque()
        self.busy = False
        self.closing = False
        self.admitted = False
        self.refusing = False  # a refusal was sent: what the client still sends is dropped
        # Each phase has a deadline: idle keep-alive connections close after uvicorn's
        # `timeout_keep_alive` (5 s by default), headers and bodies must arrive within their
        # timeouts. One timer per connection looks at the deadline of the current phase when it
        # fires (at least every `tick`), rather than a timer cancelled and set again per request.
        self.timeouts = {
            IDLE: float(getattr(config, "timeout_keep_alive", 5)),
            HEADERS: self.limits.header_timeout,
            BODY: self.limits.body_timeout,
        }
        self.tick = min(self.timeouts.values())
        self.phase = IDLE
        self.phase_started = 0.0
        self.timer: asyncio.TimerHandle | None = None
        # Set when the client goes: what an app waiting for `http.disconnect` waits on.
        self.disconnected = asyncio.Event()
        # Cleared while the transport's write buffer is full (streamed responses wait on it).
        self.writable = asyncio.Event()
        self.writable.set()

    # -- connection ---------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's transports are not asyncio.Transport subclasses
        if not self.limits.guard.admit(self):
            self.closing = True
            transport.close()
            return
        self.admitted = True
        self.server_state.connections.add(self)
        peer, local = transport.get_extra_info("peername"), transport.get_extra_info("sockname")
        self.client = (peer[0], peer[1]) if isinstance(peer, tuple) else None
        self.server = (local[0], local[1]) if isinstance(local, tuple) else None
        self.phase_started = self.loop.time()
        self.timer = self.loop.call_later(self.tick, self._check_deadline)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        self.disconnected.set()
        self.writable.set()  # a writer waiting for room learns that the client is gone
        if self.timer is not None:
            self.timer.cancel()
        if not self.admitted:
            return
        self.admitted = False
        self.server_state.connections.discard(self)
        self.limits.guard.leave(self)
        self._release_head()
        self._release(self.current)
        for request in self.queue:
            self._release(request)

    def shutdown(self) -> None:
        """uvicorn's graceful shutdown: close when idle, else after the answer in progress."""
        self.closing = True
        if not self.busy and self.transport is not None:
            self.transport.close()

    def evict(self) -> None:
        """Closed to make room for a new connection (see ConnectionGuard)."""
        self.closing = True
        if self.transport is not None:
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        if self.refusing:
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(400, "upgrades are not supported")
        except httptools.HttpParserError as exc:
            if isinstance(exc.__context__, _HeadTooLarge):  # httptools raises from within the callback
                self._fail(431, "request headers too large")
            elif isinstance(exc.__context__, _TooManyPipelined):
                self._stop_after_queue()
            elif not self.refusing:  # a refusal stops the parser on purpose and has answered
                self._fail(400, "malformed HTTP request")
        else:
            if self.phase == HEADERS:
                self.head_received = 0 if self.head_received is None else self.head_received + len(data)
                if self.head_received > MAX_HEADER_BYTES:
                    self._fail(431, "request headers too large")
                # What the parser may keep of the incomplete head: at most what came since it began.
                elif not self.limits.heads.grow(self.head_held, self.head_held + len(data)):
                    self._fail(503, "too many request heads are arriving slowly; retry later", RETRY_AFTER)
                else:
                    self.head_held += len(data)

    def _release_head(self) -> None:
        self.limits.heads.release(self.head_held)
        self.head_held = 0

    def pause_writing(self) -> None:
        """The client has not read the answers buffered for it (past the transport's high-water
        mark): read and answer nothing more until it does, or answers would pile up in memory."""
        self.writing_paused = True
        self.writable.clear()  # a streamed answer waits for room too
        self.paused_since = self.loop.time()
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.writing_paused = False
        self.writable.set()
        if self.transport is None or self.closing:
            return
        if self.queue:
            self._next()
        elif not self.busy and not self.refusing:
            self.transport.resume_reading()

    def _stop_after_queue(self) -> None:
        """Answer the requests taken in, drop anything more, then close (see MAX_PIPELINED)."""
        self.refusing = True
        self.queue[-1].keep_alive = False
        if self.transport is not None:
            self.transport.pause_reading()

    def _fail(self, status: int, reason: str, extra: list[tuple[bytes, bytes]] | None = None) -> None:
        """A request that cannot be parsed or read on: answer and close the connection."""
        self._release_head()
        if self.transport is not None and not self.transport.is_closing():
            headers = [(b"content-type", b"application/json"), *(extra or ())]
            self.transport.write(response_bytes(status, error_body(reason), headers, close=True))
            self.refusing = True  # what the client still sends is dropped, so it reads this answer
            self._close_after_answer()

    def _enter(self, phase: int) -> None:
        self.phase = phase
        self.phase_started = self.loop.time()

    def _check_deadline(self) -> None:
        self.timer = None
        if self.transport is None or self.closing:
            return
        wait = self.tick
        if self.writing_paused and self.loop.time() - self.paused_since > self.timeouts[BODY]:
            self.transport.abort()  # it has not read its answers for as long as a body may take
            return
        if not self.busy and not self.queue and not self.refusing:
            left = self.phase_started + self.timeouts.get(self.phase, float("inf")) - self.loop.time()
            if left <= 0:
                self._expire()
                return
            wait = min(wait, left)
        self.timer = self.loop.call_later(wait, self._check_deadline)

    def _expire(self) -> None:
        """The current phase ran out of time: an idle connection just closes, a request gets 408."""
        assert self.transport is not None
        if self.phase == IDLE:
            self.transport.close()
            return
        part = "headers" if self.phase == HEADERS else "body"
        request = self.current
        rejected = Rejected(408, "timeout", f"request {part} not received within {self.timeouts[self.phase]:g} s")
        if request.endpoint is not None:
            request.endpoint.observe(request.endpoint.platform or "unknown", "", "rejected:timeout", time.perf_counter() - request.started)
        self._release(request)
        self._fail(rejected.status, rejected.reason)

    # -- parser callbacks ---------------------------------------------------------------------

    def on_message_begin(self) -> None:
        if len(self.queue) >= MAX_PIPELINED:
            raise _TooManyPipelined
        self.current = Request(started=time.perf_counter())
        self.header_bytes = 0
        self.head_received = None
        self._enter(HEADERS)

    def on_url(self, url: bytes) -> None:
        self.current.url += url
        self.header_bytes += len(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self.header_bytes += len(name) + len(value)
        if self.header_bytes > MAX_HEADER_BYTES or len(self.current.headers) >= MAX_HEADERS:
            raise _HeadTooLarge
        self.current.headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        self._release_head()
        request = self.current
        self.limits.guard.waiting.pop(self, None)  # a request is under way: not one to evict
        self._enter(BODY)
        request.method = self.parser.get_method()
        request.http_version = self.parser.get_http_version()
        request.keep_alive = self.parser.should_keep_alive()
        request.path = httptools.parse_url(request.url).path.decode("latin-1").rstrip("/")
        request.header_map = headers = dict(request.headers)
        request.endpoint = self.endpoints.get(request.path) if request.method == b"POST" else None
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit():  # the parser refuses any other value
            request.declared = int(declared)
            # Refused before a byte of it is read: too large, or more than the budget has room for.
            if request.declared and not self._hold(request, request.declared):
                raise _Refused
        if b"expect" in headers and headers[b"expect"].lower() == b"100-continue" and self.transport:
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, chunk: bytes) -> None:
        request = self.current
        size = request.size + len(chunk)
        if size > request.held and not self._hold(request, size):  # a chunked body, held as it comes
            raise _Refused
        if request.size == 0:
            request.first = chunk
        else:
            if request.buffer is None:
                request.buffer = self._start_buffer(request)
            if request.declared is not None:
                request.buffer[request.size:size] = chunk
            else:
                request.buffer += chunk
            if request.macs is not None:
                for mac in request.macs:
                    mac.update(chunk)
        request.size = size

    def _start_buffer(self, request: Request) -> bytearray:
        """The second chunk of a body: from now on it is copied into one buffer, and a webhook's
        signature is computed as it arrives, so nothing is joined or read twice at the end."""
        first = request.first
        request.first = b""
        if request.endpoint is not None:
            request.macs = request.endpoint.start_macs(first)
        if request.declared is None:
            return bytearray(first)
        buffer = bytearray(request.declared)  # zero pages, mapped as they are written
        buffer[: len(first)] = first
        return buffer

    def _hold(self, request: Request, size: int) -> bool:
        """Count `size` bytes of this body against the budget, or refuse the request now."""
        endpoint = request.endpoint
        limit = endpoint.max_body_bytes if endpoint is not None else MAX_OTHER_BODY
        if size > limit:
            rejected = endpoint.too_large() if endpoint is not None else Rejected(413, "too_large", "request body too large")
            self._refuse(request, rejected, [])
            return False
        if not self.limits.budget.grow(request.held, size):
            self._refuse(request, Rejected(503, "busy", "too many request bodies in flight; retry later"), RETRY_AFTER)
            return False
        request.held = size
        return True

    def _refuse(self, request: Request, rejected: Rejected, extra: list[tuple[bytes, bytes]]) -> None:
        """Answer in turn without reading on, then close the connection (see LINGER_SECONDS)."""
        request.refusal = (rejected, extra)
        request.keep_alive = False
        self.refusing = True
        self._release(request)
        if self.transport is not None:
            self.transport.pause_reading()
        self.queue.append(request)
        self._next()

    def _release(self, request: Request) -> None:
        if request.held:
            self.limits.budget.release(request.held)
            request.held = 0
        request.buffer, request.first, request.macs = None, b"", None

    def on_message_complete(self) -> None:
        self.phase = ANSWERING
        self.queue.append(self.current)
        if len(self.queue) > 1 and self.transport is not None:
            self.transport.pause_reading()  # pipelined: hold the rest until these are answered
        self._next()

    # -- handling ------------------------------------------------------------------------------

    def _next(self) -> None:
        if self.busy or not self.queue or self.writing_paused:
            return
        request = self.queue.popleft()
        self.busy = True
        if request.refusal is not None:
            rejected, extra = request.refusal
            if request.endpoint is not None:
                request.endpoint.refuse(request.header_map, rejected, request.started, lambda s, b: self._respond(request, s, b, extra))
            else:
                self._respond(request, rejected.status, error_body(rejected.reason), extra)
        elif request.endpoint is not None:
            macs = request.macs
            digests = [mac.digest() for mac in macs] if macs is not None else None
            request.endpoint.accept(request.header_map, request.body(), lambda s, b: self._respond(request, s, b), request.started, digests)
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
        self._release(request)
        if close and self.transport is not None and not self.transport.is_closing():
            self._close_after_answer()
        self.server_state.total_requests += 1
        self.busy = False
        if close:
            return
        if self.queue:
            self._next()
            return
        if self.transport is not None and not self.writing_paused:
            self.transport.resume_reading()
        if self.phase == ANSWERING:
            self._enter(IDLE)
        if self.phase != BODY:
            self.limits.guard.waiting[self] = None  # waiting for a request again

    def _close_after_answer(self) -> None:
        assert self.transport is not None
        if not self.refusing or not self.transport.can_write_eof():
            self.transport.close()
            return
        # The client may still be sending the body we refused: drop it for a moment (data_received
        # ignores it) so that our answer is read before the connection goes.
        self.transport.write_eof()
        self.transport.resume_reading()
        self.loop.call_later(LINGER_SECONDS, self.transport.close)

    # -- everything else: the Starlette app over ASGI ----------------------------------------------

    async def _asgi(self, request: Request) -> None:
        def open_stream(status: int, headers: list[Header]) -> Stream:
            return Stream(self, request, status, [*self.server_state.default_headers, *headers])

        answer = await call_asgi(
            self.app, method=request.method, url=request.url, http_version=request.http_version, headers=request.headers,
            body=bytes(request.body()), server=self.server, client=self.client, state=self.app_state.copy(),
            disconnected=self.disconnected, open_stream=open_stream,
        )
        if answer is not None:
            status, headers, body = answer
            self._write(request, status, body, [*self.server_state.default_headers, *headers])


class Stream:
    """A response whose body the app sends in parts: each part is written when it is sent, with
    chunked transfer encoding (HTTP/1.0: until the connection closes). Writing waits while the
    transport's buffer is full, so a slow reader holds the app back rather than the memory growing."""

    def __init__(self, protocol: HTTPProtocol, request: Request, status: int, headers: list[Header]) -> None:
        self.protocol = protocol
        self.request = request
        self.chunked = request.http_version != "1.0"
        self.head = request.method == b"HEAD"
        self.close = not request.keep_alive or protocol.closing or not self.chunked
        self.ended = False
        lines = [b"HTTP/1.1 %d %s\r\n" % (status, REASONS.get(status, b"Unknown"))]
        for name, value in headers:
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
