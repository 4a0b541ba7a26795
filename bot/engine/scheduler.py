"""Scheduled jobs: APScheduler's asyncio scheduler, started and stopped with the app.

Handler modules declare jobs on their router (`@router.job(...)`); this module only runs them,
each with a fresh Context, one instance at a time, and records failures without stopping.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from prometheus_client import Counter

from bot.engine.context import Context
from bot.engine.router import JobSpec

logger = logging.getLogger(__name__)


class Scheduler:
    def __init__(
        self,
        jobs: Iterable[JobSpec],
        *,
        settings: Any,
        make_context: Callable[[], Context],
        runs: Counter | None = None,
    ) -> None:
        self.jobs = {job.name: job for job in jobs}
        self.settings = settings
        self.make_context = make_context
        self.runs = runs
        self._scheduler: AsyncIOScheduler | None = None
        # This replica's last run of each job: (finished at, outcome, seconds), for the status page.
        self.last_runs: dict[str, tuple[float, str, float]] = {}

    def start(self) -> None:
        scheduler = AsyncIOScheduler(timezone=UTC)
        now = datetime.now(UTC)
        for job in self.jobs.values():
            # APScheduler's default first run is one interval after start; a job that says
            # otherwise runs `first` seconds after start, then on its interval.
            first = {} if job.first is None else {"next_run_time": now + timedelta(seconds=job.first)}
            scheduler.add_job(
                self.run_job,
                "interval",
                seconds=job.interval(self.settings),
                jitter=job.jitter or None,
                id=job.name,
                args=[job.name],
                coalesce=True,
                max_instances=1,
                misfire_grace_time=None,
                **first,
            )
        scheduler.start()
        self._scheduler = scheduler

    def stop(self) -> None:
        if self._scheduler is not None and self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        self._scheduler = None

    def next_run_in(self, name: str) -> float | None:
        """Seconds until job `name` runs next; None when it is not scheduled."""
        job = self._scheduler.get_job(name) if self._scheduler is not None else None
        if job is None or job.next_run_time is None:
            return None
        return float((job.next_run_time - datetime.now(UTC)).total_seconds())

    @property
    def running(self) -> bool:
        return self._scheduler is not None and self._scheduler.running

    async def run_job(self, name: str) -> bool:
        """Run one job now; True when it succeeded. A failure is logged and counted, not raised."""
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
