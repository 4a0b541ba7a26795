"""The scheduler: jobs from the routers run on their interval with a context; failures are counted."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bot.context import Context
from bot.router import Router
from tests.conftest import make_settings


@pytest.mark.anyio
async def test_jobs_run_on_their_interval_and_failures_do_not_stop_them(harness_factory: Any) -> None:
    router = Router()
    runs: list[str] = []

    @router.job("tick", every=0.05)
    async def tick(ctx: Context) -> None:
        assert ctx.event is None and ctx.store is not None
        runs.append("tick")

    @router.job("broken", every=0.05)
    async def broken(ctx: Context) -> None:
        runs.append("broken")
        raise RuntimeError("job failed")

    async with harness_factory(router=router) as h:
        await asyncio.sleep(0.3)
        assert runs.count("tick") >= 2 and runs.count("broken") >= 2
        assert h.app.metrics.job_runs.labels("broken", "failed")._value.get() >= 2
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
