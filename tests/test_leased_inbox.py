"""Two replicas on one PostgreSQL database share the inbox: each delivery runs once, each subject in
order, a replica that stops dead has its leased work taken over once the leases end, and work that
needs the worktree host reaches the replica that has it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.app import ForgebotApp
from bot.engine.context import Context
from bot.engine.router import Router
from bot.events import Event
from tests.conftest import Harness, eventually, make_settings
from tests.storage.test_deliveries import comment as stored_comment
from tests.test_inbox import comment, post

pytestmark = pytest.mark.anyio


class Replica:
    """A ForgebotApp of its own, with a handler that records what it ran and can be frozen
    (its handlers then hang before doing anything, as in a process about to be killed)."""

    def __init__(self, name: str, seen: list[tuple[str, int, str]], *, delay: float = 0.005) -> None:
        self.name = name
        self.seen = seen
        self.delay = delay
        self.frozen = asyncio.Event()
        self.hanging = 0
        self.router = Router()
        self.router.on("issue_comment", "created")(self.handle)

    async def handle(self, event: Event, ctx: Context) -> None:
        assert event.issue is not None and event.comment is not None
        if self.frozen.is_set():
            self.hanging += 1
            await asyncio.Event().wait()  # never returns: cancelled when the replica dies
        await asyncio.sleep(self.delay)
        self.seen.append((f"#{event.issue.number}", int(event.comment.body), self.name))


@asynccontextmanager
async def running(app: ForgebotApp) -> AsyncIterator[httpx.AsyncClient]:
    await app.start()
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://forgebot.test") as client:
            yield client
    finally:
        await app.stop()


def make_app(
    tmp_path: Path, url: str, name: str, router: Router, capabilities: Callable[[], frozenset[str]] | None = None, **overrides: Any
) -> ForgebotApp:
    settings = make_settings(tmp_path / name, database_url=url, replica_id=name, **overrides)
    return ForgebotApp(settings, router=router, capabilities=capabilities)


def die(app: ForgebotApp) -> int:
    """Stop a replica dead: every task of its inbox cancelled, nothing finished or given back
    (its leases stay in the database until they end). How many deliveries it held."""
    inbox: Any = app.inbox
    held = list(inbox._held.values())
    for task in [*inbox._tasks, *held]:
        task.cancel()
    inbox._stopping = True
    return len(held)


async def test_two_replicas_run_every_delivery_once_in_order_and_take_over_a_dead_ones_work(
    tmp_path: Path, postgres_url: str
) -> None:
    seen: list[tuple[str, int, str]] = []
    one, two = Replica("one", seen), Replica("two", seen)
    lease = 1.0
    apps = [make_app(tmp_path, postgres_url, r.name, r.router, workers=4, delivery_lease_seconds=lease) for r in (one, two)]
    async with AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(running(app)) for app in apps]
        posters = [Harness(app, c) for app, c in zip(apps, clients, strict=True)]
        for n in range(10):  # 20 subjects (issues), 10 deliveries each, sent to either replica
            answers = await asyncio.gather(*(
                post(posters[(s + n) % 2], "github", comment(s, str(n)), f"d-{s}-{n}") for s in range(1, 21)
            ))
            assert {a.status_code for a in answers} == {202}
            if n == 4:
                await eventually(lambda: len(seen) >= 40)
                one.frozen.set()  # replica one hangs from here on, then dies with its leases
        inbox: Any = apps[0].inbox
        # every delivery one holds hangs in its handler: none is half recorded when it dies
        await eventually(lambda: 0 < one.hanging == len(inbox._held), timeout=20)
        held = die(apps[0])
        died_at = time.monotonic()
        assert held >= 1
        await eventually(lambda: len(seen) >= 200, timeout=30)
        taken_over_after = time.monotonic() - died_at
        await asyncio.sleep(2 * lease)  # nothing runs twice later on either
        counts = await apps[1].storage.deliveries.counts()
        rows = await apps[1].storage.deliveries.listing(False, 1000)
    assert len(seen) == 200 and len({(s, n) for s, n, _ in seen}) == 200  # each delivery exactly once
    for subject in {s for s, _, _ in seen}:
        assert [n for s, n, _ in seen if s == subject] == list(range(10)), subject  # per-subject order
    assert {name for *_, name in seen} == {"one", "two"}  # both replicas took work
    assert counts == {"done": 200}
    # what one held when it died ran again on two, as a second attempt
    assert len([r for r in rows if r.attempts == 2]) >= held
    assert taken_over_after < lease + 5


async def test_work_that_needs_the_worktree_host_is_handed_to_the_replica_that_holds_it(
    tmp_path: Path, postgres_url: str
) -> None:
    ran: list[tuple[str, str]] = []

    def router_for(name: str) -> Router:
        router = Router()

        @router.on("issue_comment", "created", needs="worktrees")
        async def touch_worktree(event: Event, ctx: Context) -> None:
            assert event.comment is not None
            ran.append((event.comment.body, name))

        return router

    host_has_it: Callable[[], frozenset[str]] = lambda: frozenset({"worktrees"})  # noqa: E731
    apps = [
        make_app(tmp_path, postgres_url, "plain", router_for("plain"), capabilities=lambda: frozenset()),
        make_app(tmp_path, postgres_url, "host", router_for("host"), capabilities=host_has_it),
    ]
    async with AsyncExitStack() as stack:
        plain, _ = [await stack.enter_async_context(running(app)) for app in apps]
        for n in range(6):  # all sent to the replica without the worktree root
            assert (await post(Harness(apps[0], plain), "github", comment(3 + n % 2, f"w{n}"), f"w-{n}")).status_code == 202
        await eventually(lambda: len(ran) == 6, timeout=15)
        await apps[1].wait_idle()
        rows = [(r.delivery_id, r.status, r.attempts) for r in await apps[0].storage.deliveries.listing(False, 10)]
    assert {name for _, name in ran} == {"host"}
    assert [body for body, _ in ran if body in ("w0", "w2", "w4")] == ["w0", "w2", "w4"]  # issue 3 in order
    assert sorted(rows) == [(f"w-{n}", "done", 1) for n in range(6)]  # a hand-over is not an attempt


async def test_a_notify_wakes_the_replica_at_once_and_a_lost_listener_reconnects(tmp_path: Path, postgres_url: str) -> None:
    import psycopg

    from bot.storage.open import open_storage

    seen: list[tuple[str, int, str]] = []
    replica = Replica("listening", seen, delay=0)
    app = make_app(tmp_path, postgres_url, "listening", replica.router)
    inbox: Any = app.inbox
    inbox.poll_seconds = 120  # only a NOTIFY can wake it within this test
    other = open_storage(make_settings(tmp_path / "other", database_url=postgres_url, replica_id="other"))
    await other.start()

    def listeners() -> list[int]:
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            return [r[0] for r in conn.execute("SELECT pid FROM pg_stat_activity WHERE query = 'LISTEN forgebot_inbox'")]

    try:
        async with running(app):
            await eventually(lambda: len(listeners()) == 1)
            await asyncio.sleep(0.2)  # the dispatcher has looked once and now waits
            await other.deliveries.insert(stored_comment("n-1", 1, "1"), time.time())  # stored by another replica
            await eventually(lambda: len(seen) == 1, timeout=5)

            [pid] = listeners()
            with psycopg.connect(postgres_url, autocommit=True) as conn:
                conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
            await eventually(lambda: listeners() not in ([], [pid]), timeout=10)
            await asyncio.sleep(0.2)
            await other.deliveries.insert(stored_comment("n-2", 1, "2"), time.time())
            await eventually(lambda: len(seen) == 2, timeout=5)
            assert app.inbox.running
    finally:
        await other.stop()
    assert [n for _, n, _ in seen] == [1, 2]


async def test_a_lease_is_renewed_while_a_slow_handler_runs_so_no_other_replica_takes_it(
    tmp_path: Path, postgres_url: str
) -> None:
    seen: list[tuple[str, int, str]] = []
    slow, idle = Replica("slow", seen, delay=2.0), Replica("idle", seen, delay=0)
    lease = 0.6  # a third of the handler's time: only renewal keeps it
    apps = [make_app(tmp_path, postgres_url, r.name, r.router, delivery_lease_seconds=lease) for r in (slow, idle)]
    async with running(apps[0]) as client:
        assert (await post(Harness(apps[0], client), "github", comment(9, "1"), "slow-1")).status_code == 202
        await eventually(lambda: len(apps[0].inbox._held) == 1)  # type: ignore[union-attr]
        async with running(apps[1]):  # another replica, free, looking for work the whole time
            await eventually(lambda: len(seen) == 1, timeout=10)
            await asyncio.sleep(3 * lease)
        [row] = await apps[0].storage.deliveries.find("slow-1")
    assert seen == [("#9", 1, "slow")]
    assert (row.status, row.attempts) == ("done", 1)


async def test_a_handler_still_running_at_shutdown_gives_its_delivery_back_at_once(tmp_path: Path, postgres_url: str) -> None:
    seen: list[tuple[str, int, str]] = []
    hung = Replica("hung", seen)
    hung.frozen.set()
    app = make_app(tmp_path, postgres_url, "hung", hung.router, shutdown_grace_seconds=0.1, delivery_lease_seconds=600)
    async with running(app) as client:
        assert (await post(Harness(app, client), "github", comment(2, "1"), "hung-1")).status_code == 202
        await eventually(lambda: hung.hanging == 1)
    again = Replica("next", seen)
    app = make_app(tmp_path, postgres_url, "next", again.router, delivery_lease_seconds=600)
    async with running(app):  # long before the 10 minutes of the lease
        await eventually(lambda: len(seen) == 1, timeout=10)
        await app.wait_idle()
        [row] = await app.storage.deliveries.find("hung-1")
    assert seen == [("#2", 1, "next")]
    assert (row.status, row.attempts) == ("done", 2)  # the interrupted attempt counted, as a crash does on SQLite
