"""Random requests at the receiver: never a 5xx, never a partial row, and a row only on 202."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from bot.bodies import decode as decode_body
from bot.app import ForgebotApp
from bot.router import Router
from tests.conftest import SECRET, make_settings, sign

HEADER_NAMES = [
    "x-github-event", "x-github-delivery", "x-hub-signature-256", "x-gitea-event", "x-gitea-event-type",
    "x-gitea-delivery", "x-gitea-signature", "x-forgejo-event-type", "x-forgejo-signature", "content-type",
]
ALLOWED = {200, 202, 400, 401, 405, 413}

header_values = st.one_of(
    st.sampled_from(["issue_comment", "push", "ping", "application/json", "application/x-www-form-urlencoded", "", "sha256="]),
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40),
)
bodies = st.one_of(
    st.binary(max_size=300),
    st.just(b'{"zen": "x"}'),
    st.just(b'{"pad": "' + b"x" * 3000 + b'"}'),  # over the 2 KiB test limit
    st.builds(lambda d: json.dumps(d).encode(), st.dictionaries(st.text(max_size=8), st.integers() | st.text(max_size=8), max_size=4)),
    st.sampled_from([b"", b"{", b"[]", b"payload=", b"payload=%7B%7D", b"{}"]),
)


class Rig:
    def __init__(self, tmp: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.app = ForgebotApp(make_settings(tmp, max_body_bytes=2048), router=Router())
        self.loop.run_until_complete(self.app.start())
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://t")
        self.db = tmp / "forgebot.db"

    def request(self, method: str, path: str, headers: dict[str, str], body: bytes) -> httpx.Response:
        return self.loop.run_until_complete(self.client.request(method, path, headers=headers, content=body))

    def stored(self) -> list[tuple[Any, ...]]:
        self.loop.run_until_complete(asyncio.sleep(0))
        conn = sqlite3.connect(self.db)
        try:
            rows = conn.execute("SELECT platform, delivery_id, event, body, body_encoding FROM deliveries").fetchall()
            return [(platform, delivery, event, decode_body(body, encoding)) for platform, delivery, event, body, encoding in rows]
        finally:
            conn.close()

    def close(self) -> None:
        self.loop.run_until_complete(self.client.aclose())
        self.loop.run_until_complete(self.app.stop())
        self.loop.close()


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    rig = Rig(tmp_path_factory.mktemp("fuzz"))
    yield rig
    rig.close()


# Half the time start from a complete, plausible set of headers, so that mutations reach the
# checks past the signature and some requests are accepted.
PLAUSIBLE = st.fixed_dictionaries(
    {
        "x-github-event": st.sampled_from(["issue_comment", "push", "ping"]),
        "x-github-delivery": st.sampled_from(["a-1", "a-2", "b-7", "c-3"]) | st.uuids().map(str),
        "content-type": st.sampled_from(["application/json", "application/x-www-form-urlencoded", ""]),
    },
    optional={"x-gitea-event-type": st.sampled_from(["issue_comment", "push"]), "x-gitea-delivery": st.uuids().map(str)},
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    path=st.sampled_from(["/webhooks", "/webhooks/github", "/webhooks/gitea"]),
    base=st.one_of(st.just({}), PLAUSIBLE),
    extra=st.dictionaries(st.sampled_from(HEADER_NAMES), header_values, max_size=4),
    body=bodies,
    signed=st.sampled_from([None, "x-hub-signature-256", "x-hub-signature-256", "x-gitea-signature"]),
    method=st.sampled_from(["POST"] * 9 + ["GET"]),
)
def test_random_requests_never_break_the_receiver(
    rig: Rig, path: str, base: dict[str, str], extra: dict[str, str], body: bytes, signed: str | None, method: str
) -> None:
    headers = {**base, **extra} if len(extra) % 2 else dict(base or extra)
    if signed == "x-hub-signature-256":
        headers[signed] = "sha256=" + sign(body, SECRET)
    elif signed:
        headers[signed] = sign(body, SECRET)
    before = rig.stored()
    response = rig.request(method, path, headers, body)
    after = rig.stored()

    assert response.status_code in ALLOWED, response.text
    answer = response.json()
    if response.status_code >= 400:
        assert "\n" not in answer["error"] and answer["error"]
    if response.status_code == 202:
        assert len(after) == len(before) + 1
        new = set(after) - set(before)
        assert len(new) == 1 and next(iter(new))[3] == body  # the whole body, byte for byte
    else:
        assert after == before  # nothing stored, nothing half-stored
    if response.status_code == 200:
        assert answer["status"] == "duplicate" and any(row[1] == answer["delivery"] for row in before)
    event(f"status {response.status_code}")
