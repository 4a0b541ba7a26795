"""The small ASGI bridge of forgebot's HTTP protocol: every request that is not a webhook POST
(the API, health and metrics) goes to the Starlette app through it, with its body already read."""

from __future__ import annotations

import asyncio
import logging
import urllib.parse
from collections.abc import Callable
from typing import Any

import httptools

logger = logging.getLogger(__name__)

Header = tuple[bytes, bytes]


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
    gone: Callable[[], bool],
) -> tuple[int, list[Header], bytes]:
    """Run one request through `app`; the answer's status, headers (less those the protocol
    writes itself) and body. `gone()` says whether the client has left."""
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

    async def receive() -> dict[str, Any]:
        nonlocal sent_body
        if not sent_body:
            sent_body = True
            return {"type": "http.request", "body": body, "more_body": False}
        while not gone():  # nothing more will come; wait for the client to go
            await asyncio.sleep(1.0)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            started.update(message)
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    try:
        await app(scope, receive, send)
        status = int(started["status"])
        answer_headers = [(n.lower(), v) for n, v in started.get("headers", []) if n.lower() not in (b"content-length", b"connection")]
    except Exception:
        logger.exception("request failed", extra={"path": scope["path"]})
        status, answer_headers, chunks = 500, [(b"content-type", b"text/plain")], [b"Internal Server Error"]
    return status, answer_headers, b"".join(chunks)
