"""The floor for `make bench-ingest`: a bare ASGI app that reads the body, checks the HMAC, answers 202.

Run: python -m bench.floor PORT SECRET
"""

from __future__ import annotations

import hashlib
import hmac
import sys
from typing import Any

import uvicorn


def make_app(secret: bytes) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        given = dict(scope["headers"]).get(b"x-hub-signature-256", b"")
        wanted = b"sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest().encode()
        status = 202 if hmac.compare_digest(given, wanted) else 401
        await send({"type": "http.response.start", "status": status, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"{}"})

    return app


if __name__ == "__main__":
    port, secret = int(sys.argv[1]), sys.argv[2].encode()
    uvicorn.run(make_app(secret), host="127.0.0.1", port=port, access_log=False, log_level="warning", lifespan="off")
