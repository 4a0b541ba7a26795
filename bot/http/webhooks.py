"""Webhook intake: platform detection, signature check, delivery parsing, and the ASGI endpoint.

The endpoint is a bare ASGI callable rather than a Starlette route: it is the one hot path of
the service, and it does only what must happen before the answer (read the body, check the
signature and headers, store the row). It never parses the JSON; the workers do that.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.engine.pressure import IntakePressure
from bot.events import GITEA, GITHUB, form_payload

logger = logging.getLogger(__name__)

DELIVERY_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
EVENT_NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,63}")
GITEA_MARKERS = (b"x-gitea-event-type", b"x-forgejo-event-type", b"x-gitea-event", b"x-forgejo-event")

JSON_TYPE = "application/json"
FORM_TYPE = "application/x-www-form-urlencoded"


class Rejected(Exception):
    """A delivery that is refused; `status` is the HTTP answer, `reason` a one-line message."""

    def __init__(self, status: int, code: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.code = code
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Delivery:
    """A verified delivery, ready to store. `event_type` is Gitea's fine-grained event name."""

    platform: str
    delivery_id: str
    event: str
    event_type: str | None
    content_type: str
    body: bytes


Headers = Mapping[bytes, bytes]
# A body as the HTTP protocol holds it: one chunk, or the buffer a longer body was read into.
Body = bytes | bytearray


def detect_platform(headers: Headers) -> str:
    """Gitea and Forgejo also send GitHub's headers, so look for theirs first."""
    return GITEA if any(name in headers for name in GITEA_MARKERS) else GITHUB


def _header(headers: Headers, *names: bytes) -> str | None:
    """The first of `names` present, decoded; an empty value counts as present."""
    for name in names:
        value = headers.get(name)
        if value is not None:
            return value.decode("latin-1").strip()
    return None


def _matches(candidates: Sequence[Body], wanted: bytes, secrets: Sequence[bytes]) -> bool:
    for secret in secrets:
        for body in candidates:
            if hmac.compare_digest(hmac.digest(secret, body, "sha256"), wanted):
                return True
    return False


def _signed_digest(platform: str, headers: Headers) -> bytes | None:
    """The digest the sender claims; Rejected(401) without one, None when it is not hex."""
    hex_signature = None
    if platform == GITEA:
        # Gitea/Forgejo send the bare hex digest; an unsigned hook sends the header empty.
        hex_signature = _header(headers, b"x-forgejo-signature", b"x-gitea-signature")
    if not hex_signature:
        prefixed = _header(headers, b"x-hub-signature-256")
        if prefixed is None or not prefixed.startswith("sha256=") or len(prefixed) == len("sha256="):
            raise Rejected(401, "signature_missing", "missing or empty signature header")
        hex_signature = prefixed[len("sha256="):]
    try:
        return bytes.fromhex(hex_signature)
    except ValueError:
        return None


def verify_signature(
    platform: str, headers: Headers, body: Body, secrets: Sequence[bytes], digests: Sequence[bytes] | None = None
) -> None:
    """Raise Rejected(401) unless the body is signed with one of `secrets`.

    `digests`, when given, are the body's HMAC-SHA256 under each secret, computed as it arrived
    (bot/server.py), so a large body is not read a second time here.
    """
    if not secrets:
        raise Rejected(401, "no_secret", "no webhook secret is configured; unsigned deliveries are refused")
    wanted = _signed_digest(platform, headers)
    if wanted is not None:
        if digests is not None:
            # Every digest is compared, in constant time each, whichever matches.
            if sum(hmac.compare_digest(digest, wanted) for digest in digests):
                return
            candidates: list[Body] = []
        else:
            candidates = [body]
        if platform == GITEA and body.startswith(b"payload="):
            # Gitea signs the JSON text, not the form encoding of it.
            candidates.append(form_payload(bytes(body)) or b"")
        if _matches(candidates, wanted, secrets):
            return
    raise Rejected(401, "signature_mismatch", "signature does not match any configured secret")


def body_kind(content_type: str | None, body: Body) -> str:
    """JSON or form, by declared type or, without one, by shape; Rejected(400) otherwise.

    Only the shape is checked here (an object in braces, or a `payload=` field): the full parse
    happens in a worker, which dead-letters a signed body that still turns out to be malformed.
    """
    declared = (content_type or "").split(";", 1)[0].strip().lower()
    stripped = body.strip()
    looks_json = stripped.startswith(b"{") and stripped.endswith(b"}")
    looks_form = body.startswith(b"payload=")
    if declared == JSON_TYPE or (not declared and looks_json):
        if looks_json:
            return JSON_TYPE
        raise Rejected(400, "body", "body is not a JSON object")
    if declared == FORM_TYPE or (not declared and looks_form):
        if looks_form:
            return FORM_TYPE
        raise Rejected(400, "body", "form body has no payload= field")
    raise Rejected(400, "body", f"unsupported content type {declared or '(none)'!r}; use application/json")


def inspect_delivery(
    route_platform: str | None, headers: Headers, body: Body, secrets: Sequence[bytes], digests: Sequence[bytes] | None = None
) -> Delivery:
    """Check one request and return the delivery to store, or raise Rejected."""
    platform = detect_platform(headers)
    if route_platform is not None and route_platform != platform:
        if platform == GITEA:
            raise Rejected(400, "platform", "this is a Gitea/Forgejo delivery; send it to /webhooks/gitea")
        raise Rejected(400, "platform", "no Gitea/Forgejo event header; GitHub deliveries go to /webhooks/github")
    verify_signature(platform, headers, body, secrets, digests)

    if platform == GITEA:
        delivery_id = _header(headers, b"x-forgejo-delivery", b"x-gitea-delivery", b"x-github-delivery")
        event = _header(headers, b"x-forgejo-event", b"x-gitea-event", b"x-github-event")
        event_type = _header(headers, b"x-forgejo-event-type", b"x-gitea-event-type")
    else:
        delivery_id = _header(headers, b"x-github-delivery")
        event = _header(headers, b"x-github-event")
        event_type = None
    if not delivery_id or not DELIVERY_ID_RE.fullmatch(delivery_id):
        raise Rejected(400, "headers", "missing or malformed delivery id header")
    if not event and event_type:
        event = event_type
    if not event or not EVENT_NAME_RE.fullmatch(event):
        raise Rejected(400, "headers", "missing or malformed event header")
    if event_type is not None and not EVENT_NAME_RE.fullmatch(event_type):
        raise Rejected(400, "headers", "malformed event type header")
    kind = body_kind(_header(headers, b"content-type"), body)
    # Only now, signed, is a long body's buffer copied into the bytes that are stored.
    return Delivery(platform, delivery_id, event, event_type or None, kind, body if isinstance(body, bytes) else bytes(body))


# -- the endpoint -------------------------------------------------------------------------------

# Store a delivery, then call back with (row id, None), (None, None) for a known delivery id,
# or (None, error) when it could not be stored.
Stored = Callable[[int | None, BaseException | None], None]
StoreDelivery = Callable[[Delivery, Stored], None]
Respond = Callable[[int, bytes], None]

METHOD_NOT_ALLOWED = b'{"error":"use POST"}'
STORAGE_DOWN = b'{"error":"storage unavailable; retry the delivery"}'


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def error_body(reason: str) -> bytes:
    return f'{{"error":"{_escape(reason)}"}}'.encode()


class WebhookEndpoint:
    """Decides the answer to one delivery request: 202 stored, 200 duplicate, 4xx refused, 503.

    `accept` is callback-style so that the lean HTTP protocol (bot/server.py) can answer without
    a task per request; the ASGI `__call__` wraps it for in-process use and for any ASGI server.
    """

    def __init__(
        self,
        *,
        platform: str | None,
        secrets: Sequence[bytes],
        max_body_bytes: int,
        store_delivery: StoreDelivery,
        observe: Callable[[str, str, str, float], None] | None = None,
        pressure: IntakePressure | None = None,
    ) -> None:
        self.platform = platform
        self.secrets = tuple(secrets)
        self.max_body_bytes = max_body_bytes
        self.store_delivery = store_delivery
        self.observe = observe or (lambda platform, event, outcome, seconds: None)
        self.pressure = pressure or IntakePressure()

    def too_large(self) -> Rejected:
        return Rejected(413, "too_large", f"body over the {self.max_body_bytes}-byte limit")

    def refuse(self, headers: Headers, rejected: Rejected, started: float, respond: Respond) -> None:
        logger.warning("delivery refused", extra={"reason": rejected.reason, "status": rejected.status})
        platform = self.platform or detect_platform(headers)
        self.observe(platform, "", "rejected:" + rejected.code, time.perf_counter() - started)
        respond(rejected.status, error_body(rejected.reason))

    def start_macs(self, first: bytes) -> list[Any]:
        """HMACs under every secret, fed `first`, for a body that arrives in several chunks."""
        return [hmac.new(secret, first, "sha256") for secret in self.secrets]

    def accept(self, headers: Headers, body: Body, respond: Respond, started: float, digests: Sequence[bytes] | None = None) -> None:
        """Check and store one POSTed delivery; `respond(status, json)` is called exactly once.
        `digests`: see verify_signature."""
        try:
            delivery = inspect_delivery(self.platform, headers, body, self.secrets, digests)
        except Rejected as rejected:
            self.refuse(headers, rejected, started, respond)
            return
        self.pressure.enter()

        def stored(row_id: int | None, error: BaseException | None) -> None:
            self.pressure.leave()
            if error is not None:
                logger.error("could not store delivery: %s", error, extra={"delivery": delivery.delivery_id})
                self.observe(delivery.platform, delivery.event, "rejected:storage", time.perf_counter() - started)
                respond(503, STORAGE_DOWN)
                return
            status, word = (202, "accepted") if row_id is not None else (200, "duplicate")
            self.observe(delivery.platform, delivery.event, word, time.perf_counter() - started)
            respond(status, f'{{"status":"{word}","delivery":"{delivery.delivery_id}"}}'.encode())

        self.store_delivery(delivery, stored)

    # -- as an ASGI application ------------------------------------------------------------

    async def __call__(self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        started = time.perf_counter()
        if scope["method"] != "POST":
            self.observe(self.platform or "unknown", "", "rejected:method", time.perf_counter() - started)
            await _send(send, 405, METHOD_NOT_ALLOWED, [(b"allow", b"POST")])
            return
        headers = dict(scope["headers"])
        answer: asyncio.Future[tuple[int, bytes]] = asyncio.get_running_loop().create_future()
        try:
            body = await self._read_body(headers, receive)
        except Rejected as rejected:
            self.refuse(headers, rejected, started, lambda status, text: answer.set_result((status, text)))
        else:
            self.accept(headers, body, lambda status, text: answer.set_result((status, text)), started)
        status, text = await answer
        await _send(send, status, text)

    async def _read_body(self, headers: dict[bytes, bytes], receive: Callable[..., Any]) -> bytes:
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                if int(declared) > self.max_body_bytes:
                    raise self.too_large()
            except ValueError:
                raise Rejected(400, "headers", "malformed content-length") from None
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise Rejected(400, "body", "client disconnected before sending the body")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise self.too_large()
            chunks.append(chunk)
            if not message.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def _send(send: Callable[..., Any], status: int, body: bytes, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *(extra or ())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
