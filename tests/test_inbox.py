"""The durable inbox: order per subject, parallelism across subjects, retries, dead letters, resume.

Every case runs on GitHub and on Gitea deliveries (recorded payloads, each platform's headers).
"""

from __future__ import annotations

import asyncio
import copy
import json
import time
from typing import Any

import httpx
import pytest

from bot.storage.sqlite import deliveries
from bot.engine.context import Context
from bot.engine.router import Router
from bot.events import Event
from bot.http.webhooks import Delivery
from tests.conftest import PLATFORMS, REFERENCE, db_rows, eventually, read_metric

COMMENTS = {p: json.loads((REFERENCE / f"{p}-webhooks" / "issue_comment.created.json").read_text()) for p in PLATFORMS}
ADMIN = {"authorization": "Bearer admin-t"}


def comment(issue: int, body: str, platform: str = "github") -> dict[str, Any]:
    payload = copy.deepcopy(COMMENTS[platform])
    payload["issue"]["number"] = issue
    payload["comment"]["body"] = body
    return payload


async def post(h: Any, platform: str, payload: dict[str, Any] | bytes, delivery: str, event: str = "issue_comment") -> httpx.Response:
    """POST one delivery as `platform` sends it (Gitea: its event type equals the event here)."""
    if platform == "github":
        return await h.post_github(payload, event, delivery)
    return await h.post_gitea(payload, event, event, delivery)


async def post_comment(h: Any, platform: str, issue: int, body: str, delivery: str) -> httpx.Response:
    return await post(h, platform, comment(issue, body, platform), delivery)


def execute(app: Any, sql: str, *params: Any) -> None:
    """Write to a running app's database behind its back (`?` placeholders, either backend)."""
    if app.storage.backend == "postgresql":
        import psycopg

        with psycopg.connect(app.settings.database_url.get_secret_value(), autocommit=True) as pg:
            pg.execute(sql.replace("?", "%s"), params)
        return
    import sqlite3

    conn = sqlite3.connect(app.settings.database, isolation_level=None)
    try:
        conn.execute(sql, params)
    finally:
        conn.close()


@pytest.fixture(params=PLATFORMS)
def platform(request: pytest.FixtureRequest) -> str:
    return str(request.param)


class Recorder:
    """A router whose issue_comment handler records what it saw, and can be told to fail."""

    def __init__(self, *, delay: float = 0.0, failures: int = 0, always_fail: bool = False) -> None:
        self.router = Router()
        self.seen: list[tuple[int, str]] = []
        self.running = 0
        self.most_at_once = 0
        self.failures_left = failures
        self.always_fail = always_fail
        self.delay = delay
        self.router.on("issue_comment", "created")(self.handle)

    async def handle(self, event: Event, ctx: Context) -> None:
        assert event.issue is not None and event.comment is not None
        self.running += 1
        self.most_at_once = max(self.most_at_once, self.running)
        try:
            await asyncio.sleep(self.delay)
            if self.always_fail or self.failures_left > 0:
                self.failures_left -= 1
                raise RuntimeError("the platform said no")
            self.seen.append((event.issue.number, event.comment.body))
        finally:
            self.running -= 1


@pytest.mark.anyio
async def test_one_subject_in_order_many_subjects_at_once(
    harness_factory: Any, platform: str, database_settings: dict[str, Any]
) -> None:
    recorder = Recorder(delay=0.01)
    async with harness_factory(router=recorder.router, workers=8, **database_settings) as h:
        for n in range(12):
            for issue in (1, 2, 3):
                assert (await post_comment(h, platform, issue, f"c{n}", f"{issue}-{n}")).status_code == 202
        await h.app.wait_idle()
    for issue in (1, 2, 3):
        assert [body for number, body in recorder.seen if number == issue] == [f"c{n}" for n in range(12)]
    assert recorder.most_at_once > 1  # different issues ran side by side


@pytest.mark.anyio
async def test_failures_retry_with_backoff_then_succeed(
    harness_factory: Any, platform: str, database_settings: dict[str, Any]
) -> None:
    recorder = Recorder(failures=2)
    async with harness_factory(router=recorder.router, **database_settings) as h:
        await post_comment(h, platform, 7, "hello", "flaky-1")
        await h.app.wait_idle()
        assert h.rows("SELECT status, attempts, last_error FROM deliveries") == [("done", 3, None)]
        retries = await read_metric(h.client, "forgebot_delivery_retries_total", platform=platform, event="issue_comment")
        assert retries == 2
    assert recorder.seen == [(7, "hello")]


@pytest.mark.anyio
async def test_a_failing_delivery_holds_back_later_ones_of_its_subject(
    harness_factory: Any, platform: str, database_settings: dict[str, Any]
) -> None:
    recorder = Recorder(failures=1)
    async with harness_factory(router=recorder.router, **database_settings) as h:
        await post_comment(h, platform, 5, "first", "a")
        await post_comment(h, platform, 5, "second", "b")
        await h.app.wait_idle()
    assert recorder.seen == [(5, "first"), (5, "second")]


@pytest.mark.anyio
async def test_always_failing_is_dead_lettered_then_replayed(
    harness_factory: Any, platform: str, database_settings: dict[str, Any]
) -> None:
    recorder = Recorder(always_fail=True)
    async with harness_factory(router=recorder.router, max_attempts=3, admin_token="admin-t", **database_settings) as h:
        await post_comment(h, platform, 9, "doomed", "dead-1")
        await h.app.wait_idle()
        [(status, attempts, error)] = h.rows("SELECT status, attempts, last_error FROM deliveries")
        assert (status, attempts) == ("dead", 3)
        assert error == "RuntimeError: the platform said no"
        failed = await h.client.get("/api/deliveries?failed=1", headers=ADMIN)
        assert [d["id"] for d in failed.json()] == ["dead-1"]
        assert await read_metric(h.client, "forgebot_dead_letters_total", platform=platform) == 1

        recorder.always_fail = False
        replay = await h.client.post("/api/deliveries/dead-1/replay", headers=ADMIN)
        assert replay.status_code == 202
        await h.app.wait_idle()
        assert h.rows("SELECT status, attempts FROM deliveries") == [("done", 1)]
    assert recorder.seen == [(9, "doomed")]


@pytest.mark.anyio
async def test_replaying_a_delivery_that_waits_for_its_retry_runs_it_now(
    harness_factory: Any, platform: str, database_settings: dict[str, Any]
) -> None:
    recorder = Recorder(failures=1)
    settings = {"retry_base_seconds": 600, "retry_max_seconds": 600, "admin_token": "admin-t"}
    async with harness_factory(router=recorder.router, **settings, **database_settings) as h:
        await post_comment(h, platform, 9, "again", "wait-1")
        await post_comment(h, platform, 9, "behind it", "wait-2")
        await eventually(lambda: h.rows("SELECT status, last_error FROM deliveries WHERE delivery_id = 'wait-1'")
                         == [("pending", "RuntimeError: the platform said no")])
        [(next_attempt_at,)] = h.rows("SELECT next_attempt_at FROM deliveries WHERE delivery_id = 'wait-1'")
        assert next_attempt_at > time.time() + 250  # parked for minutes
        replay = await h.client.post("/api/deliveries/wait-1/replay", headers=ADMIN)
        assert replay.status_code == 202
        await h.app.wait_idle(timeout=5)
        assert h.rows("SELECT delivery_id, status, attempts FROM deliveries ORDER BY id") == [("wait-1", "done", 1), ("wait-2", "done", 1)]
    assert recorder.seen == [(9, "again"), (9, "behind it")]


@pytest.mark.anyio
async def test_a_signed_but_malformed_payload_is_dead_lettered_at_once(
    harness_factory: Any, platform: str, database_settings: dict[str, Any]
) -> None:
    recorder = Recorder()
    async with harness_factory(router=recorder.router, **database_settings) as h:
        body = b'{"action": "created", "issue": {"title": "no number"}, "comment": {"id": 1}}'
        response = await post(h, platform, body, "bad-1")
        assert response.status_code == 202
        await h.app.wait_idle()
        [(status, error)] = h.rows("SELECT status, last_error FROM deliveries")
    assert status == "dead" and error.startswith("malformed payload")
    assert recorder.seen == []


@pytest.mark.anyio
async def test_a_hanging_handler_times_out_and_counts_as_a_failure(
    harness_factory: Any, platform: str, database_settings: dict[str, Any]
) -> None:
    recorder = Recorder(delay=5)
    async with harness_factory(router=recorder.router, handler_timeout_seconds=0.05, max_attempts=1, **database_settings) as h:
        await post_comment(h, platform, 3, "slow", "slow-1")
        await h.app.wait_idle()
        assert h.rows("SELECT status, last_error FROM deliveries") == [("dead", "handler timed out after 0.05s")]


@pytest.mark.anyio
async def test_pending_and_running_rows_are_resumed_after_a_crash(harness_factory: Any, tmp_path: Any, platform: str) -> None:
    from bot.storage.sqlite.engine import Store

    store = Store(tmp_path / "forgebot.db")
    event_type = "issue_comment" if platform == "gitea" else None
    for n, status in enumerate(("pending", "running")):
        body = json.dumps(comment(11, f"left-{n}", platform)).encode()
        delivery = Delivery(platform, f"old-{n}", "issue_comment", event_type, "application/json", body)
        row_id = store.run_sync(deliveries.insert, delivery, time.time())
        store.run_sync(lambda conn, r=row_id, s=status: conn.execute("UPDATE deliveries SET status = ?, attempts = 1 WHERE id = ?", (s, r)))
    store.close()

    recorder = Recorder()
    async with harness_factory(router=recorder.router) as h:
        await h.app.wait_idle()
        assert h.rows("SELECT status, attempts FROM deliveries ORDER BY id") == [("done", 2), ("done", 2)]
    assert recorder.seen == [(11, "left-0"), (11, "left-1")]


@pytest.mark.anyio
async def test_shutdown_lets_running_handlers_finish_and_leaves_the_rest_pending(
    harness_factory: Any, platform: str, database_settings: dict[str, Any]
) -> None:
    recorder = Recorder(delay=0.3)
    async with harness_factory(router=recorder.router, **database_settings) as h:
        for n in range(3):
            await post_comment(h, platform, 4, f"m{n}", f"s-{n}")
        while recorder.running == 0:
            await asyncio.sleep(0.01)
        await h.app.stop()
        statuses = [row[0] for row in h.rows("SELECT status FROM deliveries ORDER BY id")]
        await h.app.start()  # the fixture stops it again
    assert statuses == ["done", "pending", "pending"]
    assert recorder.seen[0] == (4, "m0")


@pytest.mark.anyio
async def test_events_without_handlers_are_ignored_not_failed(
    harness_factory: Any, platform: str, database_settings: dict[str, Any]
) -> None:
    async with harness_factory(router=Router(), **database_settings) as h:
        await post_comment(h, platform, 1, "nobody listens", "i-1")
        await post(h, platform, {"action": "brand_new_action", "thing": {}}, "i-2", event="some_future_event")
        await h.app.wait_idle()
        assert h.rows("SELECT delivery_id, status, attempts FROM deliveries ORDER BY id") == [
            ("i-1", "ignored", 0), ("i-2", "ignored", 0)]  # nothing ran: no attempt counted


@pytest.mark.anyio
async def test_effect_keys_make_a_second_run_a_no_op(
    harness_factory: Any, platform: str, database_settings: dict[str, Any]
) -> None:
    calls: list[str] = []
    router = Router()

    @router.on("issue_comment")
    async def reply_once(event: Event, ctx: Context) -> None:
        key = f"reply:{event.comment.id if event.comment else 0}"
        if await ctx.already_done(key):
            return
        calls.append(key)
        assert await ctx.mark_done(key, note="replied")

    async with harness_factory(router=router, **database_settings) as h:
        await post_comment(h, platform, 1, "x", "e-1")
        await post_comment(h, platform, 1, "x", "e-2")  # same comment, new delivery
        await h.app.wait_idle()
    assert len(calls) == 1


# -- rate limits, end to end against the forge emulator -----------------------------------------


@pytest.mark.anyio
async def test_a_rate_limited_delivery_waits_for_the_reset_without_using_up_its_attempts(world: Any, bot_factory: Any) -> None:
    from tests.conftest import REPO

    number = await world.actor("bob").open_issue(REPO, "Fix the widget")
    world.fake.faults.add(None, None, status=429, retry_after=2400, times=None)  # the quota resets in 40 minutes
    async with bot_factory(world, max_attempts=1, admin_token="admin-t") as app:
        await world.actor("alice").comment(REPO, number, "/claim")
        await eventually(lambda: db_rows(app, "SELECT last_error FROM deliveries WHERE event = 'issue_comment'") != [(None,)])
        [(status, attempts, next_attempt_at, error)] = db_rows(
            app, "SELECT status, attempts, next_attempt_at, last_error FROM deliveries WHERE event = 'issue_comment'"
        )
        assert (status, attempts) == ("pending", 0) and error.startswith("RateLimited")
        assert next_attempt_at >= time.time() + 2300  # parked until the reset, not retried before it

        world.fake.faults.clear()  # the quota is back; replaying is the same as the reset arriving
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://forgebot.test")
        async with client:
            [delivery] = db_rows(app, "SELECT delivery_id FROM deliveries WHERE event = 'issue_comment'")
            assert (await client.post(f"/api/deliveries/{delivery[0]}/replay", headers=ADMIN)).status_code == 202
        await app.wait_idle(timeout=5)
    assert world.state().issue(number).assignees == ["alice"]


@pytest.mark.anyio
async def test_a_limit_that_lifts_only_after_a_day_dead_letters_the_delivery(world: Any, bot_factory: Any) -> None:
    from tests.conftest import REPO

    number = await world.actor("bob").open_issue(REPO, "Fix the widget")
    world.fake.faults.add(None, None, status=429, retry_after=3 * 86400, times=None)
    async with bot_factory(world) as app:
        await world.actor("alice").comment(REPO, number, "/claim")
        await app.wait_idle()
        [(status, error)] = db_rows(app, "SELECT status, last_error FROM deliveries WHERE event = 'issue_comment'")
    assert status == "dead" and error.startswith("RateLimited") and error.endswith("(still rate limited 24h after it was received)")


@pytest.mark.anyio
async def test_a_day_of_patience_with_a_rate_limit_counts_from_the_replay(world: Any, bot_factory: Any) -> None:
    from tests.conftest import REPO

    class Skewed:
        """The bot's clock: `offset` seconds from now."""

        offset = -2 * 86400.0

        def __call__(self) -> float:
            return time.time() + self.offset

    clock = Skewed()
    number = await world.actor("bob").open_issue(REPO, "Fix the widget")
    async with bot_factory(world, clock=clock, admin_token="admin-t", max_attempts=1) as app:
        broken = world.fake.faults.add(None, None, status=500, retry_after=0, times=None)
        await world.actor("alice").comment(REPO, number, "/claim")  # received two days ago, dead-lettered
        await app.wait_idle()
        world.fake.faults.clear()
        assert broken.hits > 0
        clock.offset = 0.0
        world.fake.faults.add(None, None, status=429, retry_after=2400, times=None)  # lifts in 40 minutes
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://forgebot.test")
        async with client:
            [(row_id, delivery)] = db_rows(app, "SELECT id, delivery_id FROM deliveries WHERE event = 'issue_comment' ORDER BY id LIMIT 1")
            assert (await client.post(f"/api/deliveries/{delivery}/replay", headers=ADMIN)).status_code == 202
        await eventually(lambda: db_rows(app, "SELECT status FROM deliveries WHERE id = ?", row_id) != [("dead",)])
        await eventually(lambda: "RateLimited" in (db_rows(app, "SELECT last_error FROM deliveries WHERE id = ?", row_id)[0][0] or ""))
        [(status, error, replayed_at)] = db_rows(app, "SELECT status, last_error, replayed_at FROM deliveries WHERE id = ?", row_id)
    assert status == "pending" and error.startswith("RateLimited")  # waits for the limit, not dead-lettered
    assert abs(replayed_at - time.time()) < 60


@pytest.mark.anyio
@pytest.mark.parametrize("escaped", [True, False], ids=["percent-encoded", "raw-utf8"])
async def test_form_encoded_deliveries_reach_the_handler_intact(
    harness_factory: Any, platform: str, escaped: bool, database_settings: dict[str, Any]
) -> None:
    from urllib.parse import quote_plus

    from tests.conftest import gitea_headers, github_headers

    text = "ça marche ✓ — /claim & co"
    payload = json.dumps(comment(6, text, platform), ensure_ascii=False).encode()
    body = b"payload=" + (quote_plus(payload).encode() if escaped else payload.replace(b"&", b"%26"))
    if platform == "github":  # GitHub signs the body as sent
        headers = github_headers(body, "issue_comment", "form-1")
    else:  # Gitea signs the JSON inside it
        headers = gitea_headers(payload, "issue_comment", "issue_comment", "form-1")
    headers["content-type"] = "application/x-www-form-urlencoded"
    recorder = Recorder()
    async with harness_factory(router=recorder.router, **database_settings) as h:
        response = await h.client.post(f"/webhooks/{platform}", content=body, headers=headers)
        assert response.status_code == 202
        await h.app.wait_idle()
    assert recorder.seen == [(6, text)]


@pytest.mark.anyio
async def test_when_tests_run_once_per_delivery(harness_factory: Any, platform: str, database_settings: dict[str, Any]) -> None:
    tested: list[str] = []
    ran: list[str] = []
    router = Router()

    def has_command(event: Event) -> bool:
        assert event.comment is not None
        tested.append(event.comment.body)
        return event.comment.body.startswith("/")

    @router.on("issue_comment", "created", when=has_command)
    async def handle(event: Event, ctx: Context) -> None:
        assert event.comment is not None
        ran.append(event.comment.body)

    async with harness_factory(router=router, **database_settings) as h:
        for n, body in enumerate(("chatter", "/claim", "more chatter", "/unclaim")):
            await post_comment(h, platform, 2, body, f"w-{n}")
        await h.app.wait_idle()
    assert ran == ["/claim", "/unclaim"]
    assert sorted(tested) == sorted(["chatter", "/claim", "more chatter", "/unclaim"])


@pytest.mark.anyio
async def test_bodies_are_stored_compressed_and_reach_the_handler_intact(
    harness_factory: Any, platform: str, database_settings: dict[str, Any]
) -> None:
    from bot.storage import bodies

    recorder = Recorder()
    payload = comment(21, "Ship it " * 200, platform)
    sent = json.dumps(payload).encode()
    async with harness_factory(router=recorder.router, **database_settings) as h:
        assert (await post(h, platform, sent, "packed-1")).status_code == 202
        await h.app.wait_idle()
        [(stored, encoding, status)] = h.rows("SELECT body, body_encoding, status FROM deliveries")
    assert encoding == "lz4" and len(stored) < len(sent) // 3
    assert bodies.decode(stored, encoding) == sent  # byte for byte, as signed
    assert status == "done" and recorder.seen == [(21, "Ship it " * 200)]


def _database_before_compression(path: Any, platform: str, rows: list[tuple[str, bytes]]) -> None:
    """A database as the releases before migration 4 left it, holding `rows` (id, raw body)."""
    import sqlite3

    from bot.storage.sqlite.migrations import MIGRATIONS

    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at REAL NOT NULL)")
    for version, script in MIGRATIONS[:3]:
        conn.executescript(f"BEGIN;\n{script}\nINSERT INTO schema_migrations VALUES ({version}, 0);\nCOMMIT;")
    event_type = "issue_comment" if platform == "gitea" else None
    for delivery_id, body in rows:
        conn.execute(
            "INSERT INTO deliveries (platform, delivery_id, event, event_type, content_type, body, received_at)"
            " VALUES (?, ?, 'issue_comment', ?, 'application/json', ?, ?)",
            (platform, delivery_id, event_type, body, time.time()),
        )
    conn.close()


@pytest.mark.anyio
async def test_rows_stored_before_compression_are_migrated_and_processed(
    harness_factory: Any, tmp_path: Any, platform: str
) -> None:
    _database_before_compression(tmp_path / "forgebot.db", platform, [("old-1", json.dumps(comment(5, "from before", platform)).encode())])
    recorder = Recorder()
    async with harness_factory(router=recorder.router) as h:
        await h.app.wait_idle()
        assert h.rows("SELECT status, body_encoding FROM deliveries") == [("done", None)]
    assert recorder.seen == [(5, "from before")]


@pytest.mark.anyio
async def test_a_stored_body_that_does_not_decompress_is_dead_lettered_and_the_rest_go_on(
    harness_factory: Any, tmp_path: Any, platform: str
) -> None:
    import sqlite3

    _database_before_compression(tmp_path / "forgebot.db", platform, [])
    from bot.storage.sqlite.engine import migrate
    from bot.storage.sqlite.migrations import MIGRATIONS

    conn = sqlite3.connect(tmp_path / "forgebot.db", isolation_level=None)
    assert migrate(conn) == [version for version, _ in MIGRATIONS[3:]]
    conn.execute(
        "INSERT INTO deliveries (platform, delivery_id, event, event_type, content_type, body, body_encoding, received_at)"
        " VALUES (?, 'broken-1', 'issue_comment', ?, 'application/json', ?, 'lz4', ?)",
        (platform, "issue_comment" if platform == "gitea" else None, b"\x00\x10\x00\x00 not lz4 at all", time.time()),
    )
    conn.close()
    recorder = Recorder()
    async with harness_factory(router=recorder.router) as h:
        await post_comment(h, platform, 6, "after the broken one", "fine-1")
        await h.app.wait_idle()
        rows = h.rows("SELECT delivery_id, status, last_error FROM deliveries ORDER BY id")
    assert rows[0][:2] == ("broken-1", "dead") and "stored body does not decompress" in rows[0][2]
    assert rows[1][:2] == ("fine-1", "done")
    assert recorder.seen == [(6, "after the broken one")]


@pytest.mark.anyio
async def test_a_delivery_after_pruning_took_every_old_one_is_still_processed(
    harness_factory: Any, platform: str, database_settings: dict[str, Any]
) -> None:
    from bot.app import load_router

    recorder = Recorder()
    router = Router().include(load_router("handlers.housekeeping"), recorder.router)  # the module's own stays as it is
    async with harness_factory(router=router, **database_settings) as h:
        for n in range(3):
            await post_comment(h, platform, 1, f"old {n}", f"old-{n}")
        await h.app.wait_idle()
        month_ago = time.time() - 30 * 86400
        execute(h.app, "UPDATE deliveries SET received_at = ?, finished_at = ?", month_ago, month_ago)
        assert await h.app.scheduler.run_job("prune-deliveries") is True
        assert h.rows("SELECT delivery_id FROM deliveries") == [("old-2",)]  # the newest stays: ids only grow
        assert (await post_comment(h, platform, 2, "after the prune", "new-1")).status_code == 202
        await h.app.wait_idle()
        assert h.rows("SELECT id, status FROM deliveries WHERE delivery_id = 'new-1'") == [(4, "done")]
    assert recorder.seen[-1] == (2, "after the prune")


@pytest.mark.anyio
async def test_the_sorter_survives_a_database_that_fails_for_a_while(
    harness_factory: Any, platform: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read that fails (another process held the write lock past the store's patience, an
    I/O error) is tried again later; the deliveries stored meanwhile are still processed."""
    import sqlite3

    from bot.engine import inbox

    real = deliveries.open_after
    failures = [sqlite3.OperationalError("database is locked")] * 2

    def flaky(*args: Any) -> Any:
        if failures:
            raise failures.pop()
        return real(*args)

    monkeypatch.setattr(deliveries, "open_after", flaky)
    monkeypatch.setattr(inbox, "STORE_RETRY_SECONDS", 0.01)
    recorder = Recorder()
    async with harness_factory(router=recorder.router) as h:
        await eventually(lambda: not failures)
        assert (await post_comment(h, platform, 7, "after the outage", "after-1")).status_code == 202
        await h.app.wait_idle()
        assert h.app.inbox.running
    assert recorder.seen == [(7, "after the outage")]
