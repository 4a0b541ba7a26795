"""Leadership: this replica's hold on one named lease (bot/storage/leases.py), kept by renewing it.

Replicas sharing a database each run a `Leadership` for the 'scheduler' lease (only its holder
runs scheduled jobs) and, where FORGEBOT_WORKTREE_HOST is on, for the 'worktrees' lease (its
holder owns the worktree root). Each renews every third of the lease, so one failed renewal
never costs the lease; a replica that dies stops renewing and another one takes the lease
at its first renewal after `until`: within one lease length (plus a renewal period).

A replica acts on its lease only while it has a margin left (`leads()`): a replica that stalls
past its lease may still finish what it started, but never starts something after its
successor could have. On SQLite the one process always leads: the same code, its own leases,
except that a lease found held at start is a killed former self's and is taken at once (`sole`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from bot.storage.leases import Lease, Leases

if TYPE_CHECKING:
    from bot.engine.metrics import Metrics

logger = logging.getLogger(__name__)

SCHEDULER = "scheduler"  # the replica that runs scheduled jobs
WORKTREES = "worktrees"  # the replica whose disk holds the worktree root


class Leadership:
    def __init__(
        self,
        leases: Leases,
        name: str,
        holder: str,
        ttl: float,
        *,
        metrics: Metrics | None = None,
        sole: bool = False,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.leases = leases
        self.name = name
        self.holder = holder
        self.ttl = ttl
        # Renew at a third of the lease; act only with a third left: one missed renewal is survived.
        self.renew_every = ttl / 3
        self.margin = ttl / 3
        self.metrics = metrics
        self.sole = sole  # the only process on its database: any other holder is a dead former self
        self.wall = wall
        self.lease: Lease | None = None  # the lease in force as last read, whoever holds it
        self._leading = False
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Try for the lease at once (a lone replica leads from its first moment), then keep trying."""
        await self.renew()
        if self.sole and self.lease is not None and self.lease.holder != self.holder:
            logger.info(f"{self.name} lease taken from a former process", extra={"lease": self.name, "holder": self.lease.holder})
            await self.leases.release(self.name, self.lease.holder)
            await self.renew()
        self._task = asyncio.create_task(self._keep(), name=f"lease-{self.name}")

    async def stop(self, *, release: bool = True) -> None:
        """Stop renewing; with `release`, end the lease so a successor takes over at once rather
        than after it runs out (`release=False` is a replica dying, for tests)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if release and self.lease is not None and self.lease.holder == self.holder:
            try:
                await self.leases.release(self.name, self.holder)
            except Exception as exc:  # stopping: the lease then ends on its own
                logger.warning("lease release failed", extra={"lease": self.name, "error": type(exc).__name__})
            self.lease = None
        self._note()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def leads(self) -> bool:
        """Whether this replica holds the lease now, with the margin left to start something."""
        return self.lease is not None and self.lease.held_by(self.holder, self.wall(), self.margin)

    async def renew(self) -> None:
        """Take or renew the lease once. A database error keeps what was last known: a lease
        this replica holds stays valid until its `until`, and `leads()` ends on time by itself."""
        try:
            self.lease = await self.leases.acquire(self.name, self.holder, self.ttl, self.wall())
        except Exception as exc:
            logger.warning("lease renewal failed", extra={"lease": self.name, "error": type(exc).__name__})
        self._note()

    async def _keep(self) -> None:
        while True:
            await asyncio.sleep(self.renew_every)
            await self.renew()

    def _note(self) -> None:
        """Say, once, when this replica starts or stops leading."""
        leading = self.leads()
        if leading == self._leading:
            return
        self._leading = leading
        lease = self.lease
        logger.info(
            f"{self.name} lease {'gained' if leading else 'lost'}",
            extra={"lease": self.name, "replica": self.holder, "holder": lease.holder if lease else None},
        )
        if self.metrics is not None:
            self.metrics.lease_held.labels(self.name).set(1 if leading else 0)
            self.metrics.lease_changes.labels(self.name, "gained" if leading else "lost").inc()
