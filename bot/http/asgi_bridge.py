"""The small ASGI bridge of forgebot's HTTP protocol: every request that is not a webhook POST
(the API, MCP, the status page, health and metrics) goes to the Starlette app through it, with its
body already read.

An answer the app sends in one piece comes back whole, for the protocol to write in one piece with
its length. One the app sends in parts (`more_body`: server-sent events, MCP's Streamable HTTP) is
handed, part by part as it comes, to a stream the protocol opens (chunked on the wire). An app
waiting for `http.disconnect` is woken when the client goes.
"""

from __future__ import annotations

import asyncio
import logging
import urllib.parse
from collections.abc import Callable
from typing import Any, Protocol

import httptools

logger = logging.getLogger(__name__)

Header = tuple[bytes, bytes]


class ClientGone(OSError):
    """The client went away while a response was streamed to it."""


class ResponseStream(Protocol):
    async def write(self, data: bytes) -> None: ...

    def end(self) -> None: ...

    def abort(self) -> None: ...


async def call_asgi(
    app: Any,
    *,
    method: bytes,
    url: bytes,
    http_version: str,
    headers: list[Header],
    body: bytes,
    server: tuple[str, int] | None,
    client: tuple[str, int] | None,
    state: dict[str, Any],
    disconnected: asyncio.Event,
    open_stream: Callable[[int, list[Header]], ResponseStream],
) -> tuple[int, list[Header], bytes] | None:
    """Run one request through `app`; the answer's status, headers (less those the protocol
    writes itself) and body, or None when the answer was streamed through `open_stream(status,
    headers)`. `disconnected` is set when the client has left."""
    parsed = httptools.parse_url(url)
    raw_path = parsed.path
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": http_version,
        "server": server,
        "client": client,
        "scheme": "http",
        "method": method.decode("ascii"),
        "root_path": "",
        "path": urllib.parse.unquote(raw_path.decode("latin-1")),
        "raw_path": raw_path,
        "query_string": parsed.query or b"",
        "headers": headers,
        "state": state,
    }
    sent_body = False
    started: dict[str, Any] = {}
    chunks: list[bytes] = []
    stream: ResponseStream | None = None

    async def receive() -> dict[str, Any]:
        nonlocal sent_body
        if not sent_body:
            sent_body = True
            return {"type": "http.request", "body": body, "more_body": False}
        await disconnected.wait()  # nothing more will come; wait for the client to go
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
            stream = open_stream(int(started["status"]), _answer_headers(started))
            data = b"".join((*chunks, data))
        await stream.write(data)
        if not more:
            stream.end()

    try:
        await app(scope, receive, send)
        if stream is None:
            return int(started["status"]), _answer_headers(started), b"".join(chunks)
    except Exception as exc:
        if stream is None:
            logger.exception("request failed", extra={"path": scope["path"]})
            return 500, [(b"content-type", b"text/plain")], b"Internal Server Error"
        if not isinstance(exc, ClientGone):  # part of the answer is out: all that is left is to cut the connection
            logger.exception("streamed response failed", extra={"path": scope["path"]})
        stream.abort()
        return None
    stream.end()  # an app that returned without saying the body was over
    return None


def _answer_headers(started: dict[str, Any]) -> list[Header]:
    """The app's headers, less those the protocol writes itself."""
    return [(n.lower(), v) for n, v in started.get("headers", [])
            if n.lower() not in (b"content-length", b"connection", b"transfer-encoding")]
