"""Signing in to the status page: a token once, then a signed cookie.

Decisions (README, "Status page"):
- The cookie holds no secret and the server keeps nothing: it is `EXPIRY.NONCE.MAC`, the MAC an
  HMAC-SHA256 of `EXPIRY.NONCE` under a key derived from the token that signed in. Any replica
  checks it against the configured tokens; removing or rotating a token ends its sessions.
- A session lasts SESSION_SECONDS (12 h) from sign-in, not renewed by use; signing out clears the
  cookie in that browser (a copied cookie stays valid until it expires or its token is rotated).
- CSRF: the only forms are sign-in and sign-out. Both must come from the page's own origin
  (the Origin header, or Referer when a browser sends no Origin; a POST with neither is refused),
  and the cookie is SameSite=Strict, so another site can neither sign a browser out nor sign it in
  to a session of its choosing.
- What an unauthenticated client can make the server hold is bounded: a sign-in body of at most
  MAX_FORM_BYTES, and failed sign-ins counted per client address in a table of at most
  MAX_TRACKED_CLIENTS entries (the oldest dropped), MAX_FAILURES per FAILURE_WINDOW each.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable

COOKIE = "forgebot_status"
SESSION_SECONDS = 12 * 3600
MAX_FORM_BYTES = 4096
MAX_TRACKED_CLIENTS = 4096
MAX_FAILURES = 10
FAILURE_WINDOW = 300.0


def _key(token: str) -> bytes:
    return hashlib.sha256(b"forgebot status session\0" + token.encode()).digest()


def _mac(key: bytes, payload: str) -> str:
    return base64.urlsafe_b64encode(hmac.new(key, payload.encode(), hashlib.sha256).digest()).decode().rstrip("=")


def matching_token(given: str, tokens: Iterable[str]) -> str | None:
    """The configured token equal to `given` (every one compared, in constant time), or None."""
    found = None
    for token in tokens:
        if hmac.compare_digest(given.encode(), token.encode()):
            found = token
    return found


def new_session(token: str, now: float) -> str:
    payload = f"{int(now + SESSION_SECONDS)}.{secrets.token_urlsafe(16)}"
    return f"{payload}.{_mac(_key(token), payload)}"


def valid_session(cookie: str | None, tokens: Iterable[str], now: float) -> bool:
    if not cookie or len(cookie) > 200:
        return False
    payload, _, mac = cookie.rpartition(".")
    expiry, _, nonce = payload.partition(".")
    if not expiry.isdigit() or not nonce or not now < int(expiry) <= now + SESSION_SECONDS:
        return False
    valid = False
    for token in tokens:
        if hmac.compare_digest(mac.encode(), _mac(_key(token), payload).encode()):
            valid = True
    return valid


def same_origin(headers: dict[str, str], own_origins: set[str]) -> bool:
    """Whether a form POST came from one of the page's own origins."""
    origin = headers.get("origin")
    if origin is not None:
        return origin in own_origins
    referer = headers.get("referer")
    return referer is not None and any(referer == o or referer.startswith(o + "/") for o in own_origins)


class FailedSignIns:
    """Failed sign-ins per client address, in a table that never grows past `limit` entries."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, limit: int = MAX_TRACKED_CLIENTS) -> None:
        self.clock = clock
        self.limit = limit
        self._seen: OrderedDict[str, tuple[float, int]] = OrderedDict()

    def _current(self, client: str) -> int:
        entry = self._seen.get(client)
        if entry is None or self.clock() - entry[0] > FAILURE_WINDOW:
            return 0
        return entry[1]

    def blocked(self, client: str) -> bool:
        return self._current(client) >= MAX_FAILURES

    def failed(self, client: str) -> None:
        count = self._current(client)
        started = self._seen[client][0] if count else self.clock()
        self._seen[client] = (started, count + 1)
        self._seen.move_to_end(client)
        while len(self._seen) > self.limit:
            self._seen.popitem(last=False)

    def __len__(self) -> int:
        return len(self._seen)
