"""What an unauthenticated client may hold of the server, over real loopback sockets: time
(header and body deadlines), memory (declared sizes refused before reading, a budget of
unverified bytes, signatures computed as bodies arrive) and connections (a cap, making room)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import urllib.parse
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import db_rows, gitea_headers, github_headers
from tests.test_http_protocol import BODY, closed, raw_post, read_responses, serving, stored

pytestmark = pytest.mark.anyio


def request_head(path: str, headers: dict[str, str], length: int | None) -> bytes:
    sized = {**headers, "host": "bot"} | ({"content-length": str(length)} if length is not None else {"transfer-encoding": "chunked"})
    return f"POST {path} HTTP/1.1\r\n".encode() + "".join(f"{k}: {v}\r\n" for k, v in sized.items()).encode() + b"\r\n"


def signed(platform: str, body: bytes, delivery: str) -> dict[str, str]:
    return github_headers(body, "ping", delivery) if platform == "github" else gitea_headers(body, "ping", "ping", delivery)


async def answer_within(reader: asyncio.StreamReader, seconds: float) -> tuple[int, dict[str, str], bytes]:
    [answer] = await asyncio.wait_for(read_responses(reader, 1), timeout=seconds)
    return answer


async def trickled(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, data: bytes, every: float, seconds: float) -> Any:
    """Send `data` a byte every `every` seconds while waiting for the server's answer."""

    async def drip() -> None:
        for byte in data:
            writer.write(bytes([byte]))
            await asyncio.sleep(every)

    dripping = asyncio.create_task(drip())
    try:
        return await answer_within(reader, seconds)
    finally:
        dripping.cancel()


async def test_headers_trickled_a_byte_at_a_time_get_408_at_the_header_deadline(tmp_path: Path) -> None:
    async with serving(tmp_path, {"header_timeout_seconds": 0.5}, timeout_keep_alive=5) as (host, port, app):
        reader, writer = await asyncio.open_connection(host, port)
        request = raw_post("/webhooks", "slow-1")
        started = time.monotonic()
        # Slow loris: every byte is fresh activity, so only a deadline on the headers ends it.
        status, _, body = await trickled(reader, writer, request[:60], 0.05, 3)
        assert status == 408 and b"headers not received within 0.5 s" in body
        assert await asyncio.wait_for(reader.read(), timeout=2) == b""
        assert time.monotonic() - started < 3
        await closed(writer)
        assert stored(app) == 0


@pytest.mark.parametrize("platform", ["github", "gitea"])
async def test_a_body_trickled_past_its_deadline_gets_408_and_frees_its_bytes(tmp_path: Path, platform: str) -> None:
    async with serving(tmp_path, {"body_timeout_seconds": 0.5}) as (host, port, app):
        headers = signed(platform, BODY, "b-1")
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(request_head(f"/webhooks/{platform}", headers, len(BODY)))
        status, _, body = await trickled(reader, writer, BODY[:40], 0.05, 3)
        assert status == 408 and b"body not received within 0.5 s" in body
        await closed(writer)
        await asyncio.sleep(0.05)
        assert app.limits.budget.held == 0 and stored(app) == 0


@pytest.mark.parametrize("platform", ["github", "gitea"])
async def test_a_declared_length_over_the_limit_gets_413_before_the_body_is_read(tmp_path: Path, platform: str) -> None:
    async with serving(tmp_path) as (host, port, app):
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(request_head(f"/webhooks/{platform}", signed(platform, BODY, "huge-1"), 10 * 1024**3))  # 10 GiB, none sent
        status, headers, body = await answer_within(reader, 2)
        assert status == 413 and headers["connection"] == "close" and b"4096-byte limit" in body
        await closed(writer)

        # A client that goes on sending anyway still reads the answer, then the connection ends.
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(request_head(f"/webhooks/{platform}", signed(platform, BODY, "huge-2"), 10 * 1024**3) + b"x" * 200_000)
        status, _, _ = await answer_within(reader, 2)
        assert status == 413
        assert await asyncio.wait_for(reader.read(), timeout=5) == b""
        await closed(writer)
        assert stored(app) == 0 and app.limits.budget.held == 0


@pytest.mark.parametrize("platform", ["github", "gitea"])
async def test_unverified_bodies_past_the_budget_get_503_with_retry_after_and_the_budget_comes_back(
    tmp_path: Path, platform: str
) -> None:
    async with serving(tmp_path, {"max_unverified_bytes": 3 * 4096}) as (host, port, app):
        holders = []
        for n in range(3):  # three senders each declare 4096 bytes and send a little: the budget is spent
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(request_head(f"/webhooks/{platform}", signed(platform, b"{}", f"hold-{n}"), 4096) + b"{")
            holders.append((reader, writer))
        await asyncio.sleep(0.2)
        assert app.limits.budget.held == 3 * 4096

        reader, writer = await asyncio.open_connection(host, port)
        writer.write(request_head(f"/webhooks/{platform}", signed(platform, BODY, "late-1"), len(BODY)) + BODY)
        status, headers, body = await answer_within(reader, 2)
        assert status == 503 and headers["retry-after"] == "5" and b"retry later" in body
        await closed(writer)

        for _, holder in holders:  # the holders go away: what they held is free again
            await closed(holder)
        await asyncio.sleep(0.2)
        assert app.limits.budget.held == 0
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(request_head(f"/webhooks/{platform}", signed(platform, BODY, "late-1"), len(BODY)) + BODY)
        status, _, _ = await answer_within(reader, 2)
        assert status == 202 and stored(app) == 1
        await closed(writer)


def form_body(payload: bytes) -> bytes:
    return b"payload=" + urllib.parse.quote_from_bytes(payload).encode()


@pytest.mark.parametrize("platform", ["github", "gitea"])
@pytest.mark.parametrize("encoding", ["json", "form"])
async def test_a_body_arriving_in_pieces_is_taken_when_signed_and_refused_when_not(tmp_path: Path, platform: str, encoding: str) -> None:
    payload = json.dumps({"zen": "Keep it logically awesome.", "pad": "p" * 3000}).encode()
    body = payload if encoding == "json" else form_body(payload)
    signed = body if platform == "github" else payload  # Gitea signs the JSON inside a form, GitHub the body as sent

    def headers(delivery: str, secret_ok: bool = True) -> dict[str, str]:
        made = github_headers(signed, "ping", delivery) if platform == "github" else gitea_headers(signed, "ping", "ping", delivery)
        made["content-type"] = "application/json" if encoding == "json" else "application/x-www-form-urlencoded"
        if not secret_ok:
            made = github_headers(signed, "ping", delivery, secret="other") if platform == "github" else gitea_headers(
                signed, "ping", "ping", delivery, secret="other")
            made["content-type"] = "application/json" if encoding == "json" else "application/x-www-form-urlencoded"
        return made

    async with serving(tmp_path) as (host, port, app):
        answers = []
        for delivery, good in (("piece-1", True), ("piece-2", False)):
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(request_head(f"/webhooks/{platform}", headers(delivery, good), len(body)))
            for start in range(0, len(body), 700):  # several reads on the server's side
                writer.write(body[start:start + 700])
                await writer.drain()
                await asyncio.sleep(0.02)
            answers.append((await answer_within(reader, 3))[0])
            await closed(writer)
        assert answers == [202, 401]
        assert db_rows(app, "SELECT delivery_id FROM deliveries") == [("piece-1",)] and app.limits.budget.held == 0


async def test_at_the_connection_cap_the_longest_waiting_connection_makes_room(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="bot.http.limits")
    async with serving(tmp_path, {"max_connections": 8}) as (host, port, app):
        waiting = []
        for _ in range(8):  # eight clients that never finish their headers
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(b"POST /webhooks HTTP/1.1\r\n")
            waiting.append((reader, writer))
            await asyncio.sleep(0.02)
        answers, delivering = [], []
        for n in range(3):  # each delivery still gets in, closing the oldest of them (they stay open: idle)
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(raw_post("/webhooks", f"cap-{n}"))
            answers.append((await answer_within(reader, 2))[0])
            delivering.append(writer)
        assert answers == [202, 202, 202]
        gone = [await asyncio.wait_for(r.read(), timeout=2) == b"" for r, _ in waiting[:3]]
        assert gone == [True, True, True] and not any(r.at_eof() for r, _ in waiting[3:])
        assert app.limits.guard.open <= 8
        lines = [r for r in caplog.records if "connection cap reached" in r.getMessage()]
        assert len(lines) == 1  # one line however often the cap is hit within the minute
        for writer in [w for _, w in waiting] + delivering:
            await closed(writer)


async def test_heads_arriving_slowly_share_a_budget_and_a_refused_one_frees_nothing_it_did_not_hold(tmp_path: Path) -> None:
    """Slow heads on many connections cannot hold more than `max_incomplete_head_bytes` between
    them; a whole head in one read is never counted, so deliveries go on being taken."""
    async with serving(tmp_path, {"max_incomplete_head_bytes": 3 * 8192}) as (host, port, app):
        holders = []
        for n in range(3):  # three senders each send 8,000 bytes of a head that never ends
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(b"POST /webhooks HTTP/1.1\r\nx-padding: " + b"a" * (8000 - 36))
            holders.append((reader, writer))
            await asyncio.sleep(0.05)
            writer.write(b"b")  # the head is still incomplete on a later read: now it holds
        await asyncio.sleep(0.3)
        assert app.limits.heads.held == 3 * 8001

        reader, writer = await asyncio.open_connection(host, port)  # a fourth slow head does not fit
        writer.write(b"POST /webhooks HTTP/1.1\r\nx-padding: " + b"c" * 4000)
        await asyncio.sleep(0.05)
        writer.write(b"c" * 4096)
        status, headers, body = await answer_within(reader, 2)
        assert status == 503 and headers["retry-after"] == "5" and b"retry later" in body
        await closed(writer)

        reader, writer = await asyncio.open_connection(host, port)  # a whole signed delivery still gets in
        writer.write(request_head("/webhooks/github", signed("github", BODY, "whole-1"), len(BODY)) + BODY)
        status, _, _ = await answer_within(reader, 2)
        assert status == 202 and stored(app) == 1
        await closed(writer)

        for _, holder in holders:
            await closed(holder)
        await asyncio.sleep(0.2)
        assert app.limits.heads.held == 0
