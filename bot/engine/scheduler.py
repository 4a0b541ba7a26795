"""Scheduled jobs: each on its interval, run by one replica at a time, once per fire time.

Handler modules declare jobs on their router (`@router.job(...)`); this module runs them, each
with a fresh Context, one run of a job at a time, and records failures without stopping.

Several replicas share one database but not a job store (APScheduler 3 cannot share one), so:
- every replica keeps the schedule, but only the holder of the job's lease runs a job
  (`JobSpec.lease`: 'scheduler' for most, 'worktrees' for those that touch the worktree root),
  and only while the lease has its margin left (bot/engine/leadership.py);
- each run is first recorded as (job, fire time) in the database (`leases.take_run`): of two
  replicas that both believe they lead across a handover, one runs that fire time, and no run
  comes within half an interval of the one before (even from a schedule out of phase);
- the fire times are shared: after each fire every replica continues from the last fire time
  the database recorded, so a replica taking over fires where its predecessor would have, not
  on a phase of its own. A job's first fire continues the recorded schedule too (restarts do
  not reset it); with nothing recorded it is `first` seconds after start, or one interval.

Jitter delays a run but not its fire time (the run's identity).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from prometheus_client import Counter

from bot.engine.context import Context
from bot.engine.router import JobSpec

if TYPE_CHECKING:
    from bot.engine.leadership import Leadership
    from bot.storage.leases import Leases

logger = logging.getLogger(__name__)


def next_fire(base: float, interval: float, now: float) -> float:
    """The first fire time of the schedule `base + k * interval` (k >= 1) that is after `now`."""
    steps = max(1, math.floor((now - base) / interval) + 1)
    return base + steps * interval


class Scheduler:
    def __init__(
        self,
        jobs: Iterable[JobSpec],
        *,
        settings: Any,
        make_context: Callable[[], Context],
        leases: Leases,
        replica: str,
        leaderships: Mapping[str, Leadership],
        runs: Counter | None = None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.jobs = {job.name: job for job in jobs}
        self.settings = settings
        self.make_context = make_context
        self.leases = leases
        self.replica = replica
        # The leases this replica may hold, by name; a job whose lease is not here never runs here.
        self.leaderships = leaderships
        self.runs = runs
        self.wall = wall
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._started = False
        self._next: dict[str, float] = {}  # each job's next fire time
        # This replica's last run of each job: (finished at, outcome, seconds), for the status page.
        self.last_runs: dict[str, tuple[float, str, float]] = {}

    async def start(self) -> None:
        started = self.wall()
        for job in self.jobs.values():
            self._next[job.name] = await self._first_fire(job, started)
        for job in self.jobs.values():
            self._tasks[job.name] = asyncio.create_task(self._keep_schedule(job), name=f"job-{job.name}")
        self._started = True

    async def stop(self) -> None:
        self._started = False
        tasks, self._tasks = list(self._tasks.values()), {}
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def next_run_in(self, name: str) -> float | None:
        """Seconds until job `name` fires next; None when it is not scheduled."""
        if name not in self._tasks or name not in self._next:
            return None
        return self._next[name] - self.wall()

    @property
    def running(self) -> bool:
        return self._started and all(not task.done() for task in self._tasks.values())

    def leads(self, job: JobSpec) -> bool:
        """Whether this replica may start job `job` now: it holds the job's lease with margin."""
        leadership = self.leaderships.get(job.lease)
        return leadership is not None and leadership.leads()

    async def run_job(self, name: str) -> bool:
        """Run one job now, here; True when it succeeded. A failure is logged and counted, not raised."""
        job = self.jobs[name]
        started = time.perf_counter()
        try:
            await job.func(self.make_context())
        except Exception:
            logger.exception("scheduled job failed", extra={"job": name})
            outcome = "failed"
        else:
            outcome = "ok"
        if self.runs is not None:
            self.runs.labels(name, outcome).inc()
        seconds = time.perf_counter() - started
        self.last_runs[name] = (time.time(), outcome, seconds)
        logger.debug("scheduled job ran", extra={"job": name, "seconds": round(seconds, 3)})
        return outcome == "ok"

    # -- the schedule --------------------------------------------------------------------------

    async def _keep_schedule(self, job: JobSpec) -> None:
        interval = job.interval(self.settings)
        while True:
            fire_at = self._next[job.name]
            delay = fire_at - self.wall() + (random.uniform(0, job.jitter) if job.jitter else 0.0)
            await asyncio.sleep(max(0.0, delay))
            await self._fire(job, fire_at, interval)
            self._next[job.name] = next_fire(await self._base(job, fire_at), interval, self.wall())

    async def _fire(self, job: JobSpec, fire_at: float, interval: float) -> None:
        if not self.leads(job):
            return
        try:
            taken = await self.leases.take_run(job.name, fire_at, self.replica, self.wall(), apart=interval / 2)
        except Exception as exc:  # the database is away: skip this fire, the next one may run
            logger.warning("scheduled job skipped", extra={"job": job.name, "error": type(exc).__name__})
            return
        if taken:
            await self.run_job(job.name)

    async def _first_fire(self, job: JobSpec, started: float) -> float:
        interval = job.interval(self.settings)
        last = await self._last_run(job)
        if last is not None and last + interval > started:
            return last + interval  # the schedule the replicas (or this one's former self) keep
        return started + (job.first if job.first is not None else interval)

    async def _base(self, job: JobSpec, fire_at: float) -> float:
        """Where the schedule goes on from: the last fire time run by any replica (so every
        replica keeps the same phase), or this replica's own when none is recorded."""
        last = await self._last_run(job)
        return last if last is not None else fire_at

    async def _last_run(self, job: JobSpec) -> float | None:
        try:
            return await self.leases.last_run(job.name)
        except Exception as exc:
            logger.warning("scheduled job's last run unknown", extra={"job": job.name, "error": type(exc).__name__})
            return None
