"""The scheduler: jobs from the routers run on their interval with a context; failures are counted."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import anyio
import pytest

from bot.engine.context import Context
from bot.engine.router import Router
from tests.conftest import make_settings


@pytest.mark.anyio
async def test_jobs_run_on_their_interval_and_failures_do_not_stop_them(harness_factory: Any) -> None:
    router = Router()
    runs: list[str] = []

    @router.job("tick", every=0.05)
    async def tick(ctx: Context) -> None:
        assert ctx.event is None and ctx.storage is not None
        runs.append("tick")

    @router.job("broken", every=0.05)
    async def broken(ctx: Context) -> None:
        runs.append("broken")
        raise RuntimeError("job failed")

    async with harness_factory(router=router) as h:
        # Waits for the runs, not for a time: the bound only ends a test whose jobs never repeat.
        with anyio.fail_after(30):
            while runs.count("tick") < 2 or runs.count("broken") < 2:
                await asyncio.sleep(0.01)
        metrics = (await h.client.get("/metrics")).text
        failed = re.search(r'^forgebot_job_runs_total\{job="broken",outcome="failed"\} (\S+)$', metrics, re.M)
        assert failed is not None and float(failed.group(1)) >= 2
        assert await h.app.scheduler.run_job("tick") is True
        assert await h.app.scheduler.run_job("broken") is False


@pytest.mark.anyio
async def test_job_contexts_can_write_the_activity_log(harness_factory: Any) -> None:
    router = Router()

    @router.job("audit", every=3600)
    async def audit(ctx: Context) -> None:
        await ctx.record("sweep.finished", repo="o/r", checked=3)

    async with harness_factory(router=router) as h:
        assert await h.app.scheduler.run_job("audit")
        rows = h.rows("SELECT kind, repo, detail FROM activity")
    assert rows == [("sweep.finished", "o/r", '{"checked":3}')]


def test_intervals_can_come_from_settings(tmp_path: Any) -> None:
    router = Router()
    router.job("reconcile", every=lambda s: s.retry_max_seconds * 2)(lambda ctx: None)  # type: ignore[arg-type,return-value]
    assert router.jobs[0].interval(make_settings(tmp_path)) == 0.1


def test_old_deliveries_are_pruned_and_dead_letters_kept_longer(tmp_path: Any) -> None:
    from bot.storage.sqlite import deliveries
    from bot.app import load_router
    from bot.http.webhooks import Delivery
    from bot.storage.sqlite.engine import Store

    day, now = 86400.0, 1_800_000_000.0
    store = Store(tmp_path / "db")
    for n, (status, age) in enumerate((("done", 2), ("ignored", 0.5), ("dead", 2), ("dead", 5), ("pending", 9))):
        row = store.run_sync(deliveries.insert, Delivery("github", f"old-{n}", "ping", None, "application/json", b"{}"), now - age * day)
        if status != "pending":
            store.run_sync(deliveries.finish, row, status, now - age * day)
    assert store.run_sync(deliveries.prune, now - day, now - 4 * day) == 2
    left = store.run_sync(lambda conn: [r[0] for r in conn.execute("SELECT delivery_id FROM deliveries ORDER BY id")])
    store.close()
    assert left == ["old-1", "old-2", "old-4"]  # recent, dead but young, and not finished
    assert [j.name for j in load_router("handlers.housekeeping").jobs] == ["prune-deliveries"]


@pytest.mark.anyio
async def test_the_prune_job_goes_chunk_by_chunk_through_a_flood_of_old_rows(harness_factory: Any) -> None:
    import sqlite3
    import time

    from bot.storage.sqlite import deliveries
    from bot.app import load_router

    day, now = 86400.0, time.time()
    old, young = 2 * deliveries.PRUNE_CHUNK + 500, 3  # more than two chunks' worth come due at once

    def fill(conn: sqlite3.Connection) -> None:
        rows = [(f"old-{n}", now - 20 * day, "ignored", now - 20 * day) for n in range(old)]
        rows += [(f"dead-{n}", now - 20 * day, "dead", now - 20 * day) for n in range(young)]  # kept 4x longer
        rows += [(f"new-{n}", now, "done", now) for n in range(young)]
        conn.executemany(
            "INSERT INTO deliveries (platform, delivery_id, event, content_type, body, received_at, status, finished_at)"
            " VALUES ('github', ?, 'ping', 'application/json', x'7b7d', ?, ?, ?)",
            rows,
        )
        conn.executemany("INSERT INTO effects (key, created_at) VALUES (?, ?)", [(f"e-{n}", now - 90 * day) for n in range(old)])
        conn.executemany("INSERT INTO effects (key, created_at) VALUES (?, ?)", [(f"young-{n}", now) for n in range(young)])
        runs = [("o/busy", "schedule", now - 20 * day)] * old + [("o/busy", "push", now - 20 * day)]  # the only push run
        runs += [("o/quiet", "schedule", now - 30 * day), ("o/busy", "schedule", now)]
        conn.executemany(
            "INSERT INTO reconcile_runs (platform, repo, trigger, mode, outcome, plan, results, errors, started_at, finished_at)"
            " VALUES ('github', ?, ?, 'auto', 'clean', '[]', '[]', '[]', ?, ?)",
            [(repo, trigger, at, at) for repo, trigger, at in runs],
        )

    async with harness_factory(router=load_router("handlers.housekeeping")) as h:
        await h.app.storage.engine.run(fill)
        assert await h.app.scheduler.run_job("prune-deliveries") is True
        left = h.rows("SELECT substr(delivery_id, 1, 4), count(*) FROM deliveries GROUP BY 1 ORDER BY 1")
        effects = h.rows("SELECT count(*) FROM effects")
        runs_left = h.rows("SELECT repo, trigger, finished_at > ? FROM reconcile_runs ORDER BY id", now - day)
    assert left == [("dead", young), ("new-", young)]
    assert effects == [(young,)]
    # The newest run of each repository and trigger stays, however old.
    assert runs_left == [("o/busy", "push", 0), ("o/quiet", "schedule", 0), ("o/busy", "schedule", 1)]


def test_a_prune_chunk_stops_where_every_row_is_recent(tmp_path: Any) -> None:
    from bot.storage.sqlite import deliveries
    from bot.http.webhooks import Delivery
    from bot.storage.sqlite.engine import Store

    day, now = 86400.0, 1_800_000_000.0
    store = Store(tmp_path / "db")
    for n, age in enumerate((3, 3, 0, 0, 0, 0)):
        row = store.run_sync(deliveries.insert, Delivery("github", f"d-{n}", "ping", None, "application/json", b"{}"), now - age * day)
        store.run_sync(deliveries.finish, row, "done", now - age * day)
    first = store.run_sync(deliveries.prune_chunk, now - day, now - 4 * day, 0, 2)
    second = store.run_sync(deliveries.prune_chunk, now - day, now - 4 * day, 2, 2)
    store.close()
    assert first == (2, 2)  # both old rows went; more may follow
    assert second == (0, None)  # a chunk received entirely after the cut: nothing older follows


@pytest.mark.anyio
async def test_a_job_can_first_run_soon_after_start_then_on_its_interval(harness_factory: Any) -> None:
    router = Router()
    runs: list[str] = []

    @router.job("hourly", every=3600, first=0.05)
    async def hourly(ctx: Context) -> None:
        runs.append("hourly")

    async with harness_factory(router=router) as h:
        with anyio.fail_after(30):
            while not runs:
                await asyncio.sleep(0.01)
        after_the_first = h.app.scheduler.next_run_in("hourly")
    assert runs == ["hourly"]
    assert after_the_first is not None and 3500 < after_the_first <= 3600


@pytest.mark.anyio
async def test_pruning_first_runs_within_a_minute_of_start(harness_factory: Any) -> None:
    """Not an hour after: a service restarted more often than that would never prune."""
    from bot.app import load_router

    async with harness_factory(router=load_router("handlers.housekeeping")) as h:
        wait = h.app.scheduler.next_run_in("prune-deliveries")
    assert wait is not None and 0 < wait <= 60
