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

from bot.app import ForgebotApp
from bot.engine.router import Router
from bot.storage.bodies import decode as decode_body
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
    """forgebot in-process on an event loop of its own, driven from hypothesis' synchronous tests."""

    def __init__(self, tmp: Path, router: Router | None = None, **settings: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self.app = ForgebotApp(make_settings(tmp, **settings), router=router or Router())
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
    rig = Rig(tmp_path_factory.mktemp("fuzz"), max_body_bytes=2048)
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


# -- no payload stops the inbox -------------------------------------------------------------------
#
# Signed deliveries whose JSON is hostile: a recorded payload of either platform with one value,
# anywhere in it (every field the normalizer reads is somewhere in the recorded set), replaced by
# a value of another type, an integer past Python's digit limit or SQLite's 64 bits, 1e999, NaN,
# a string holding a lone surrogate, or nesting past the parser's depth. Reading one gives a
# well-typed Event or a one-line MalformedPayload; in the running service it is finished
# (dead-lettered at worst) and a normal delivery behind it is processed.


class Raw(bytes):
    """JSON text to splice in as is: what json.dumps refuses to write."""


RAW_VALUES = st.one_of(
    st.sampled_from([Raw(b"1e999"), Raw(b"-1e999"), Raw(b"NaN"), Raw(b"Infinity")]),
    st.integers(4301, 5000).map(lambda n: Raw(b"9" * n)),
    st.integers(900, 2000).map(lambda n: Raw(b"[" * n + b"]" * n)),
    st.integers(900, 2000).map(lambda n: Raw(b'{"a":' * n + b"1" + b"}" * n)),
)
HOSTILE_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=6), st.sampled_from(["\ud800", "a\udfffb"]), st.lists(st.integers() | st.text(max_size=3), max_size=3),
    st.dictionaries(st.text(max_size=4), st.integers() | st.none(), max_size=3), RAW_VALUES,
)
# Fields the normalizer reads that the recorded payloads may lack; added, then made hostile.
MAYBE_ABSENT = ("number", "is_pull", "total_commits", "label", "changes", "installation", "review", "commit_id", "ref_type")


def recorded(platform: str) -> list[tuple[str, str | None, dict[str, Any]]]:
    """(event, Gitea event type, payload) for every recorded payload of `platform`."""
    from tests.conftest import reference_payloads

    return [
        (entry["event"], entry.get("x_gitea_event_type_inferred"), json.loads(raw))
        for entry, raw in reference_payloads(platform)
    ]


RECORDED = {platform: recorded(platform) for platform in ("github", "gitea")}


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON value where a value sits: object keys and list indexes."""
    found: list[tuple[Any, ...]] = []
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in items:
        found.append((*prefix, key))
        found.extend(paths(child, (*prefix, key)))
    return found


def dumps_with(payload: Any, path: tuple[Any, ...], value: Any) -> bytes:
    """`payload` as JSON bytes with `value` at `path` (a Raw value spliced in as it is)."""
    import copy

    changed = copy.deepcopy(payload)
    target = changed
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = "\x00RAW\x00" if isinstance(value, Raw) else value
    body = json.dumps(changed).encode()
    return body.replace(b'"\\u0000RAW\\u0000"', bytes(value)) if isinstance(value, Raw) else body


@st.composite
def hostile_payloads(draw: Any, platform: str) -> tuple[str, str | None, bytes]:
    event, event_type, payload = draw(st.sampled_from(RECORDED[platform]))
    where = draw(st.sampled_from(paths(payload) + [(key,) for key in MAYBE_ABSENT]))
    return event, event_type, dumps_with(payload, where, draw(HOSTILE_VALUES))


def assert_well_typed(value: Any, hint: Any, where: str) -> None:
    """`value` is what the type hint `hint` of an Event field says (dataclasses field by field)."""
    import dataclasses
    import types
    import typing

    origin = typing.get_origin(hint)
    if hint is Any:
        return
    if origin in (typing.Union, types.UnionType):
        errors = []
        for option in typing.get_args(hint):
            try:
                assert_well_typed(value, option, where)
                return
            except AssertionError as exc:
                errors.append(str(exc))
        raise AssertionError("; ".join(errors))
    if hint is type(None):
        assert value is None, f"{where} is {value!r}, not None"
    elif origin is tuple:
        assert isinstance(value, tuple), f"{where} is {type(value).__name__}, not a tuple"
        item_hint = typing.get_args(hint)[0]
        for n, item in enumerate(value):
            assert_well_typed(item, item_hint, f"{where}[{n}]")
    elif origin is dict:
        assert isinstance(value, dict), f"{where} is {type(value).__name__}, not a dict"
    elif dataclasses.is_dataclass(hint):
        assert isinstance(value, hint), f"{where} is {type(value).__name__}, not {hint.__name__}"
        hints = typing.get_type_hints(hint)
        for field in dataclasses.fields(hint):
            assert_well_typed(getattr(value, field.name), hints[field.name], f"{where}.{field.name}")
    else:
        assert isinstance(value, hint) and not (hint is int and isinstance(value, bool)), (
            f"{where} is {type(value).__name__}, not {hint.__name__}"
        )
        if hint is int:
            assert -(2**63) <= value < 2**63, f"{where} is past 64 bits"
        if hint is str:
            value.encode()  # text SQLite and the forges take: no lone surrogate


@pytest.mark.parametrize("platform", ["github", "gitea"])
@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_any_payload_reads_as_a_well_typed_event_or_one_line_of_why_not(platform: str, data: Any) -> None:
    from bot.events import Event, MalformedPayload, read_event

    name, event_type, body = data.draw(hostile_payloads(platform))
    try:
        read = read_event(platform, name, body, "application/json", delivery_id="d", event_type=event_type)
    except MalformedPayload as exc:
        assert str(exc) and "\n" not in str(exc) and len(str(exc)) <= 300
        event(f"{platform}: malformed")
    else:
        assert_well_typed(read, Event, "event")
        event(f"{platform}: read")


class InboxRig(Rig):
    """With every built-in handler (no forge configured: those needing one are skipped) and a
    recorder of normal comments."""

    def __init__(self, tmp: Path) -> None:
        from bot.app import build_router
        from tests.test_inbox import Recorder

        self.recorder = Recorder()
        super().__init__(tmp, build_router(make_settings(tmp)).include(self.recorder.router), max_attempts=2)
        self.sent = 0

    def post(self, platform: str, event: str, event_type: str | None, body: bytes) -> tuple[str, httpx.Response]:
        from tests.conftest import gitea_headers, github_headers

        self.sent += 1
        delivery = f"d-{self.sent}"
        if platform == "github":
            headers = github_headers(body, event, delivery)
        else:
            headers = gitea_headers(body, event, event_type or event, delivery)
        return delivery, self.request("POST", f"/webhooks/{platform}", headers, body)

    def settle(self) -> None:
        self.loop.run_until_complete(self.app.wait_idle(timeout=30))


@pytest.fixture(scope="module")
def inbox_rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InboxRig]:
    rig = InboxRig(tmp_path_factory.mktemp("inbox-fuzz"))
    yield rig
    rig.close()


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(platform=st.sampled_from(["github", "gitea"]), data=st.data())
def test_no_payload_stops_the_inbox(inbox_rig: InboxRig, platform: str, data: Any) -> None:
    from tests.test_inbox import COMMENTS, comment

    name, event_type, body = data.draw(hostile_payloads(platform))
    bad, response = inbox_rig.post(platform, name, event_type, body)
    assert response.status_code == 202, response.text
    # A normal comment on the recorded comment's issue: behind the hostile one when that one is
    # a comment on the same issue still, on its own subject otherwise.
    text = f"normal {inbox_rig.sent}"
    number = COMMENTS[platform]["issue"]["number"]
    normal, response = inbox_rig.post(platform, "issue_comment", "issue_comment", json.dumps(comment(number, text, platform)).encode())
    assert response.status_code == 202
    inbox_rig.settle()

    assert inbox_rig.app.inbox.running
    conn = sqlite3.connect(inbox_rig.app.settings.database)
    try:
        rows = dict(
            conn.execute("SELECT delivery_id, status || ' ' || coalesce(last_error, '') FROM deliveries WHERE delivery_id IN (?, ?)", (bad, normal))
        )
    finally:
        conn.close()
    assert rows[normal] == "done "
    status, _, error = rows[bad].partition(" ")
    assert status in ("done", "ignored", "dead") and "\n" not in error
    assert (number, text) in inbox_rig.recorder.seen
    event(f"hostile delivery {status}")
