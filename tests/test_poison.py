"""No delivery stops the inbox: poisoned payloads and `when` tests that raise are that delivery's
dead letter, the deliveries behind them are processed, and a loop that dies anyway comes back.

Every case runs on GitHub and on Gitea deliveries.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.storage.sqlite import deliveries
from bot.app import ForgebotApp
from bot.engine.context import Context
from bot.engine.pressure import IntakePressure
from bot.engine.router import Router
from bot.events import Event
from bot.http.webhooks import Delivery
from bot.storage.sqlite.engine import Store
from tests.conftest import PLATFORMS, eventually, make_settings, read_metric
from tests.test_inbox import ADMIN, Recorder, comment, post, post_comment

ROOT = Path(__file__).resolve().parents[1]


def with_raw(payload: dict[str, Any], path: tuple[str, ...], raw: bytes) -> bytes:
    """`payload` as JSON with the value at `path` replaced by `raw`, bytes json.dumps cannot write."""
    target = payload
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = "@@RAW@@"
    return json.dumps(payload).encode().replace(b'"@@RAW@@"', raw)


def poisons(platform: str) -> dict[str, tuple[bytes, str]]:
    """Signed, well-formed HTTP deliveries whose payloads no handler can be given, each with
    what its dead letter must say. All of them are comments on issue 5."""
    listed_body = comment(5, "x", platform)
    listed_body["comment"]["body"] = ["/claim"]
    surrogate_action = comment(5, "x", platform)
    surrogate_action["action"] = "\ud800"  # json.dumps writes the escape, which JSON allows
    return {
        "nesting": (b'{"a":' * 1500 + b"1" + b"}" * 1500, "body nests too deeply to be read"),
        "huge-integer": (with_raw(comment(5, "x", platform), ("issue", "id"), b"7" * 4301), "integer of more than 4300 digits"),
        "infinite-number": (with_raw(comment(5, "x", platform), ("issue", "number"), b"1e999"), "number too large"),
        "nan": (with_raw(comment(5, "x", platform), ("comment", "id"), b"NaN"), "holds NaN, which is not JSON"),
        "list-for-a-string": (json.dumps(listed_body).encode(), "comment.body is a list, not a string"),
        "lone-surrogate": (json.dumps(surrogate_action).encode(), "action holds a lone surrogate"),
        "float-for-a-number": (with_raw(comment(5, "x", platform), ("issue", "number"), b"5.5"), "issue.number is a number, not an integer"),
        "number-past-64-bits": (with_raw(comment(5, "x", platform), ("issue", "number"), b"9" * 30), "issue.number is out of range"),
    }


POISONS = sorted(poisons("github"))


@pytest.mark.anyio
@pytest.mark.parametrize("platform", PLATFORMS)
@pytest.mark.parametrize("poison", POISONS)
async def test_a_poisoned_delivery_is_dead_lettered_in_one_line_and_the_rest_go_on(
    harness_factory: Any, platform: str, poison: str, database_settings: dict[str, Any]) -> None:
    body, reason = poisons(platform)[poison]
    recorder = Recorder()
    async with harness_factory(router=recorder.router, admin_token="admin-t", **database_settings) as h:
        assert (await post(h, platform, body, "poison-1")).status_code == 202
        assert (await post_comment(h, platform, 5, "behind it, same issue", "after-1")).status_code == 202
        assert (await post_comment(h, platform, 6, "another issue", "after-2")).status_code == 202
        await h.app.wait_idle()
        rows = h.rows("SELECT delivery_id, status, last_error FROM deliveries ORDER BY id")
        failed = (await h.client.get("/api/deliveries?failed=1", headers=ADMIN)).json()
        ready = await h.client.get("/readyz")
        dead = await read_metric(h.client, "forgebot_dead_letters_total", platform=platform)
    [(_, status, error), *rest] = rows
    assert status == "dead" and error.startswith("malformed payload: ") and reason in error and "\n" not in error
    assert rest == [("after-1", "done", None), ("after-2", "done", None)]
    assert [d["id"] for d in failed] == ["poison-1"] and failed[0]["error"] == error
    assert dead == 1
    assert ready.status_code == 200
    assert sorted(recorder.seen) == [(5, "behind it, same issue"), (6, "another issue")]


@pytest.mark.anyio
@pytest.mark.parametrize("platform", PLATFORMS)
async def test_poison_left_in_the_database_does_not_stop_the_next_start(
    harness_factory: Any, tmp_path: Path, platform: str
) -> None:
    """What a crash or a restart finds stored is loaded at start: every poison, then a fine one."""
    store = Store(tmp_path / "forgebot.db")
    event_type = "issue_comment" if platform == "gitea" else None
    for n, (body, _) in enumerate(poisons(platform).values()):
        delivery = Delivery(platform, f"poison-{n}", "issue_comment", event_type, "application/json", body)
        store.run_sync(deliveries.insert, delivery, time.time())
    fine = Delivery(platform, "fine-1", "issue_comment", event_type, "application/json", json.dumps(comment(5, "fine", platform)).encode())
    store.run_sync(deliveries.insert, fine, time.time())
    store.close()

    recorder = Recorder()
    async with harness_factory(router=recorder.router) as h:
        await h.app.wait_idle()
        statuses = h.rows("SELECT status, count(*) FROM deliveries GROUP BY status ORDER BY status")
        assert h.app.inbox.running
    assert statuses == [("dead", len(POISONS)), ("done", 1)]
    assert recorder.seen == [(5, "fine")]


# -- a `when` test that raises --------------------------------------------------------------


def reacted(event: Event) -> bool:
    """A `when` test reading a field the normalizer does not: it raises when that field is a list."""
    return bool(event.payload["comment"]["reactions"]["total_count"])


@pytest.mark.anyio
@pytest.mark.parametrize("platform", PLATFORMS)
async def test_a_when_test_that_raises_fails_its_delivery_like_a_handler_would(
    harness_factory: Any, platform: str, database_settings: dict[str, Any]
) -> None:
    ran: list[str] = []
    router = Router()

    @router.on("issue_comment", "created", when=reacted)
    async def thank_reactions(event: Event, ctx: Context) -> None:
        assert event.comment is not None
        ran.append(event.comment.body)

    broken = comment(8, "reactions as a list", platform)
    broken["comment"]["reactions"] = ["+1"]
    fine = comment(8, "reactions as they come", platform)
    fine["comment"]["reactions"] = {"total_count": 2}
    async with harness_factory(router=router, max_attempts=3, **database_settings) as h:
        await post(h, platform, broken, "when-1")
        await post(h, platform, fine, "when-2")
        await h.app.wait_idle()
        rows = h.rows("SELECT delivery_id, status, attempts, last_error FROM deliveries ORDER BY id")
        retries = await read_metric(h.client, "forgebot_delivery_retries_total", platform=platform, event="issue_comment")
    [(_, status, attempts, error), after] = rows
    assert (status, attempts) == ("dead", 3)  # every attempt counted, then dead-lettered
    assert error == (
        "WhenFailed: the when test of tests.test_poison.test_a_when_test_that_raises_fails_its_delivery_like_a_handler_would"
        ".<locals>.thank_reactions raised TypeError: list indices must be integers or slices, not str"
    )
    assert retries == 2
    assert after == ("when-2", "done", 1, None)  # the same issue went on afterwards
    assert ran == ["reactions as they come"]


# -- the loops themselves --------------------------------------------------------------------


class BrokenGauge(IntakePressure):
    """An intake gauge that fails the `failing`-th time it is read: a bug in what the inbox's
    loops rely on. The sorter reads it once at start and once per batch it loads, a worker once
    per subject it takes."""

    def __init__(self, failing: int) -> None:
        super().__init__()
        self.reads = 0
        self.failing = failing

    @property
    def busy(self) -> bool:
        self.reads += 1
        if self.reads == self.failing:
            raise RuntimeError("gauge broke")
        return super().busy


@pytest.mark.anyio
@pytest.mark.parametrize("platform", PLATFORMS)
async def test_a_sorter_that_dies_is_restarted_with_a_log_line_and_readyz_says_so_meanwhile(
    tmp_path: Path, platform: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The sorter reads the gauge first, at start, so the failure is the sorter's."""
    recorder = Recorder()
    app = ForgebotApp(make_settings(tmp_path), router=recorder.router, pressure=BrokenGauge(failing=1))
    caplog.set_level(logging.INFO, logger="bot.engine.inbox")
    await app.start()
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://forgebot.test") as client:
            await eventually(lambda: bool(app.inbox.problems))
            down = await client.get("/readyz")
            assert (await _post(client, platform, comment(3, "while it was down", platform), "down-1")).status_code == 202
            await app.wait_idle(timeout=10)
            up = await client.get("/readyz")
    finally:
        await app.stop()
    assert down.status_code == 503
    assert down.json()["problems"] == ["inbox sorter died (RuntimeError: gauge broke); restarting"]
    assert up.status_code == 200
    assert recorder.seen == [(3, "while it was down")]
    messages = [r.getMessage() for r in caplog.records if r.name == "bot.engine.inbox"]
    assert "inbox sorter died; restarting it in 1s" in messages and "inbox sorter restarted" in messages


@pytest.mark.anyio
@pytest.mark.parametrize("platform", PLATFORMS)
async def test_a_worker_that_dies_is_restarted_and_the_subject_it_held_is_not_lost(
    tmp_path: Path, platform: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Read 1: the sorter at start; 2: the sorter loading the delivery; 3: the worker taking it."""
    recorder = Recorder()
    app = ForgebotApp(make_settings(tmp_path), router=recorder.router, pressure=BrokenGauge(failing=3))
    await app.start()
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://forgebot.test") as client:
            assert (await _post(client, platform, comment(4, "held by a dying worker", platform), "held-1")).status_code == 202
            await app.wait_idle(timeout=10)
            assert (await client.get("/readyz")).status_code == 200
    finally:
        await app.stop()
    assert recorder.seen == [(4, "held by a dying worker")]
    assert any(r.getMessage().startswith("inbox worker ") and "died" in r.getMessage() for r in caplog.records)


async def _post(client: httpx.AsyncClient, platform: str, payload: dict[str, Any], delivery: str) -> httpx.Response:
    from tests.conftest import gitea_headers, github_headers

    body = json.dumps(payload).encode()
    if platform == "github":
        headers = github_headers(body, "issue_comment", delivery)
    else:
        headers = gitea_headers(body, "issue_comment", "issue_comment", delivery)
    return await client.post(f"/webhooks/{platform}", content=body, headers=headers)


# -- the command line ----------------------------------------------------------------------


def _cli(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FORGEBOT_")}
    env = {**clean, "FORGEBOT_DATABASE": str(db)}
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], capture_output=True, text=True, cwd=ROOT, env=env, timeout=60)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_replaying_a_poisoned_delivery_prints_one_line_and_notes_the_replay(tmp_path: Path, platform: str) -> None:
    db = tmp_path / "forgebot.db"
    store = Store(db)
    event_type = "issue_comment" if platform == "gitea" else None
    for name, (body, _) in poisons(platform).items():
        row_id = store.run_sync(deliveries.insert, Delivery(platform, name, "issue_comment", event_type, "application/json", body), 0.0)
        store.run_sync(deliveries.finish, row_id, "dead", 1.0, "malformed payload")
    store.close()

    started = time.time()
    for name, (_, reason) in poisons(platform).items():
        result = _cli(db, "replay", name)
        assert result.returncode == 1, name
        assert result.stderr.startswith(f"forgebot: cannot replay {name}: ") and reason in result.stderr, name
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, name
    conn = sqlite3.connect(db)
    replayed = [at for (at,) in conn.execute("SELECT replayed_at FROM deliveries")]
    conn.close()
    assert len(replayed) == len(POISONS) and all(at is not None and at >= started - 1 for at in replayed)


def test_a_replay_from_the_command_line_restarts_a_rate_limits_patience(tmp_path: Path) -> None:
    """As the admin API's replay does: `replayed_at` is when it was replayed."""
    from tests.conftest import REFERENCE

    db = tmp_path / "forgebot.db"
    store = Store(db)
    ping = (REFERENCE / "github-webhooks" / "ping.json").read_bytes()
    row_id = store.run_sync(deliveries.insert, Delivery("github", "ping-1", "ping", None, "application/json", ping), 0.0)
    store.run_sync(deliveries.finish, row_id, "dead", 1.0, "RateLimited: still rate limited 24h after it was received")
    store.close()
    before = time.time()
    result = _cli(db, "replay", "ping-1")
    assert result.returncode == 0, result.stderr
    conn = sqlite3.connect(db)
    [(status, replayed_at)] = conn.execute("SELECT status, replayed_at FROM deliveries").fetchall()
    conn.close()
    assert status == "done" and before - 1 <= replayed_at <= time.time() + 1


def test_listing_failed_deliveries_reads_only_the_failed_ones(tmp_path: Path) -> None:
    """A backlog of pending deliveries is not read to find the few that failed: the query the
    listing runs is planned on the index of failed deliveries."""
    store = Store(tmp_path / "forgebot.db")
    for n in range(300):
        store.run_sync(deliveries.insert, Delivery("github", f"backlog-{n}", "ping", None, "application/json", b"{}"), 0.0)
    store.run_sync(deliveries.retry_later, 7, 10.0, "RuntimeError: once")
    store.run_sync(deliveries.finish, 9, "dead", 10.0, "RuntimeError: always")

    def listing_and_its_plan(conn: sqlite3.Connection) -> tuple[list[str], list[str]]:
        statements: list[str] = []
        conn.set_trace_callback(statements.append)
        try:
            listed = deliveries.listing(conn, True, 20)
        finally:
            conn.set_trace_callback(None)
        [query] = [s for s in statements if s.lstrip().startswith("SELECT")]
        return [row.delivery_id for row in listed], [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {query}")]

    listed, plan = store.run_sync(listing_and_its_plan)
    store.close()
    assert listed == ["backlog-8", "backlog-6"]
    assert plan == ["SCAN deliveries USING INDEX deliveries_failed"]
