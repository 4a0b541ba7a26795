"""The status page's sections about the engine: the replicas, the queue, failed deliveries, scheduled jobs."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from bot.engine.context import Context
from bot.status.sections import Cell, StatusSections, Table, when

sections = StatusSections()

MAX_FAILURES_SHOWN = 20


RUNS_ON = {"scheduler": "the scheduler leader", "worktrees": "the worktree host"}
LEASE_ROLES = (("scheduler", "Scheduler leader (runs the scheduled jobs)"), ("worktrees", "Worktree host (owns the worktree root)"))


@sections.engine("replicas", title="Replicas", order=5)
async def replicas_section(ctx: Context, engine: Any) -> Table:
    """Which replica this page came from, and which replica holds each lease and until when."""
    now = time.time()
    leases = {lease.name: lease for lease in await ctx.storage.leases.all()}
    rows: list[tuple[Cell, ...]] = [("This replica", ctx.storage.replica, "")]
    for name, role in LEASE_ROLES:
        lease = leases.get(name)
        if lease is None or lease.until <= now:
            rows.append((role, "none", "" if lease is None else f"lapsed at {when_exactly(lease.until)}"))
            continue
        mine = " (this replica)" if lease.holder == ctx.storage.replica else ""
        rows.append((role, lease.holder + mine, f"until {when_exactly(lease.until)}, since {when_exactly(lease.since)}"))
    return Table(("Role", "Replica", "Lease"), rows)


def when_exactly(epoch: float) -> str:
    """To the second: leases last seconds."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%H:%M:%S UTC")


@sections.engine("queue", title="Queue", order=10)
async def queue_section(ctx: Context, engine: Any) -> Table:
    counts = await ctx.storage.deliveries.counts()
    rows: list[tuple[Cell, ...]] = [("waiting or running", str(engine.inbox.depth))]
    rows += [(status, str(n)) for status, n in sorted(counts.items())]
    return Table(("Deliveries", "Count"), rows)


@sections.engine("failures", title="Recent failures and dead letters", order=20)
async def failures_section(ctx: Context, engine: Any) -> Table:
    failed = await ctx.storage.deliveries.listing(True, MAX_FAILURES_SHOWN)
    rows: list[tuple[Cell, ...]] = [
        (row.delivery_id, row.platform, row.full_event, row.repo or "", row.status, str(row.attempts),
         (row.last_error or "")[:200], f"forgebot replay {row.delivery_id} --platform {row.platform}")
        for row in failed
    ]
    return Table(("Delivery", "Platform", "Event", "Repository", "Status", "Attempts", "Error", "Replay with"), rows,
                 empty="no failed delivery")


@sections.engine("jobs", title="Scheduled jobs", order=30)
async def jobs_section(ctx: Context, engine: Any) -> Table:
    scheduler = engine.scheduler
    rows: list[tuple[Cell, ...]] = []
    for name, job in sorted(scheduler.jobs.items()):
        last = scheduler.last_runs.get(name)
        wait = scheduler.next_run_in(name)
        upcoming = time.time() + wait if wait is not None else None
        rows.append((
            name, f"every {int(job.interval(ctx.settings))} s",
            f"{when(last[0])}: {last[1]} in {last[2]:.2f} s" if last else "not yet on this replica",
            when(upcoming) if upcoming else "", RUNS_ON.get(job.lease, job.lease),
        ))
    return Table(("Job", "Interval", "Last run", "Next run", "Runs on"), rows, empty="no scheduled job")
