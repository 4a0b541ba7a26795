"""The inbox for several replicas on PostgreSQL: each replica leases deliveries from the shared table.

A dispatcher takes one delivery at a time with one statement (`LeasedDeliveries.lease`: FOR
UPDATE SKIP LOCKED, the oldest due delivery whose subject has nothing earlier open), as long as
fewer than `workers` handlers run, and runs it in a task of its own. The lease names this replica
and ends `lease_seconds` later; a renewer extends every held lease each third of that while the
handlers run. A replica that dies stops renewing, and once its leases end another replica leases
those deliveries again (the attempt counts, as a crash does on SQLite). So one subject runs on one
replica at a time, in arrival order, and nothing stored is lost with a replica.

Outcomes follow the SQLite inbox's rules exactly (bot/engine/inbox.py: `judge_failure`): retry
with backoff, dead letter after `max_attempts`, a rate limit's wait not counted up to its
patience, a malformed payload dead at once, `select` once per attempt, the handler timeout.

A delivery whose selected handlers need a capability this replica lacks right now (`needs`, e.g.
"worktrees": the worktree root is on another host) is handed over, not run: it goes back with
`needs` set and the attempt not counted, and only a replica with that capability leases it.

Wake-ups: LISTEN forgebot_inbox on a connection of its own, a hint only (one NOTIFY per
transaction that stores or requeues); the dispatcher looks every `poll_seconds` anyway, and the
listener reconnects when its connection drops.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable
from typing import Any

from bot.engine.inbox import RESTART_SECONDS, STORE_RETRY_SECONDS, Process, RetryPolicy, Select, decode, judge_failure, log_fields
from bot.engine.metrics import Metrics
from bot.engine.supervision import Supervisor
from bot.events import Event, MalformedPayload
from bot.storage.deliveries import DEAD, IGNORED, DeliveryRow, LeasedDeliveries

logger = logging.getLogger(__name__)

POLL_SECONDS = 1.0
LISTEN_RETRY_SECONDS = 1.0

Needs = Callable[[Any], str | None]
Capabilities = Callable[[], frozenset[str]]


class LeasedInbox:
    def __init__(
        self,
        deliveries: LeasedDeliveries,
        process: Process,
        *,
        select: Select,
        replica: str,
        workers: int,
        policy: RetryPolicy,
        needs: Needs | None = None,
        capabilities: Capabilities | None = None,
        handler_timeout: float = 300.0,
        lease_seconds: float = 30.0,
        metrics: Metrics | None = None,
        clock: Callable[[], float] = time.time,
        poll_seconds: float = POLL_SECONDS,
        restart_seconds: float = RESTART_SECONDS,
    ) -> None:
        self.deliveries = deliveries
        self.process = process
        self.select = select
        self.needs = needs or (lambda _selection: None)
        self.capabilities = capabilities  # None: every capability
        self.replica = replica
        self.workers = workers
        self.policy = policy
        self.handler_timeout = handler_timeout
        self.lease_seconds = lease_seconds
        self.metrics = metrics or Metrics()
        self.clock = clock
        self.poll_seconds = poll_seconds

        self._tasks: list[asyncio.Task[None]] = []
        self._held: dict[int, asyncio.Task[None]] = {}  # row id -> the task running it
        self._recording: set[int] = set()  # held rows whose outcome is being written (their leases end with it)
        self._slots = asyncio.Semaphore(workers)
        self._wake = asyncio.Event()
        self._hints = 0
        self._timers: set[asyncio.TimerHandle] = set()
        self._depth = 0
        self._arrivals = 0  # deliveries this replica stored or requeued, ever
        self._stopping = False
        self._supervisor = Supervisor(logger, restart_seconds)

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        self._stopping = False
        self._depth = await self.deliveries.open_count()

        def stopping() -> bool:
            return self._stopping

        keep = self._supervisor.keep_running
        for name, loop in (("inbox dispatcher", self._dispatch), ("inbox lease renewer", self._renew),
                           ("inbox listener", self._listen)):
            self._tasks.append(asyncio.create_task(keep(name, loop, stopping), name=name.replace(" ", "-")))

    async def stop(self, grace: float) -> None:
        """Stop leasing; give running handlers `grace` seconds; give the rest of the leases back."""
        self._stopping = True
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        busy = dict(self._held)
        if busy:
            _, unfinished = await asyncio.wait(busy.values(), timeout=grace)
            for task in unfinished:
                task.cancel()
            await asyncio.gather(*unfinished, return_exceptions=True)
            left = [row_id for row_id, task in busy.items() if task in unfinished]
            if left:
                logger.warning("%d handlers still running at shutdown; their deliveries go back to the inbox", len(left))
                try:
                    await self.deliveries.release(left, self.replica)
                except Exception:  # their leases end by themselves
                    logger.exception("could not give the leases back; they end in %gs", self.lease_seconds)

    @property
    def problems(self) -> list[str]:
        """Why the inbox is not processing deliveries (for /readyz); empty while it is."""
        return self._supervisor.problems(self._tasks)

    @property
    def running(self) -> bool:
        return not self.problems

    @property
    def depth(self) -> int:
        """Deliveries stored but not finished, on every replica, as last counted."""
        return self._depth

    def notify(self, row_id: int) -> None:
        """Called after this replica committed a new delivery."""
        self._depth += 1
        self._arrivals += 1
        self._hint()

    async def requeue(self, row_id: int) -> None:
        """Replay a delivery now, with a fresh set of attempts."""
        await self.deliveries.requeue(row_id, self.clock())
        self._depth += 1  # until the dispatcher counts again
        self._arrivals += 1
        self._hint()

    def _hint(self) -> None:
        self._hints += 1
        self._wake.set()

    # -- leasing ---------------------------------------------------------------------------

    async def _dispatch(self) -> None:
        while not self._stopping:
            seen = self._hints
            if await self._take_one():
                continue
            if self._hints == seen:  # nothing came in while we looked: wait for a hint or the poll
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
                except TimeoutError:
                    pass

    async def _take_one(self) -> bool:
        """Once a worker is free, lease a delivery and start running it; False when none was ready."""
        await self._slots.acquire()
        started = False
        try:
            try:
                row = await self._lease()
            except Exception:
                logger.exception("could not lease a delivery; retrying")
                await asyncio.sleep(STORE_RETRY_SECONDS)
                return True  # look again at once
            if row is None:
                await self._count()
                return False
            task = asyncio.create_task(self._run(row), name=f"delivery-{row.id}")
            self._held[row.id] = task
            task.add_done_callback(functools.partial(self._done, row.id))
            started = True
            return True
        finally:
            if not started:  # the slot goes back with the task's end otherwise (`_done`)
                self._slots.release()

    async def _count(self) -> None:
        """Count the open deliveries again. Those this replica stored or requeued while the count
        ran may be missing from it: they are added, rather than have `depth` say 0 too early."""
        arrivals = self._arrivals
        try:
            count = await self.deliveries.open_count()
        except Exception as exc:  # only the gauge waits for the next count
            logger.warning("could not count the open deliveries (%s)", type(exc).__name__)
            return
        self._depth = max(count + self._arrivals - arrivals, len(self._held))

    async def _lease(self) -> DeliveryRow | None:
        now = self.clock()
        capabilities = self.capabilities() if self.capabilities is not None else None
        return await self.deliveries.lease(self.replica, now, now + self.lease_seconds, capabilities)

    def _done(self, row_id: int, _task: object = None) -> None:
        self._held.pop(row_id, None)
        self._recording.discard(row_id)
        self._slots.release()
        self._hint()  # a finished delivery may let the next of its subject go

    async def _renew(self) -> None:
        while not self._stopping:
            await asyncio.sleep(self.lease_seconds / 3)
            ids = set(self._held) - self._recording
            if not ids:
                continue
            try:
                kept = await self.deliveries.renew(ids, self.replica, self.clock() + self.lease_seconds)
            except Exception:
                logger.exception("could not renew the leases of %d deliveries; retrying", len(ids))
                continue
            for row_id in ids - kept:
                if row_id in self._held and row_id not in self._recording:
                    logger.warning("lease lost: another replica may run this delivery too", extra={"row": row_id})

    async def _listen(self) -> None:
        while not self._stopping:
            try:
                async for _ in self.deliveries.wakeups():
                    self._hint()
            except Exception as exc:  # a hint only: polling goes on meanwhile
                logger.warning("inbox listener lost its connection (%s); reconnecting", type(exc).__name__)
            await asyncio.sleep(LISTEN_RETRY_SECONDS)

    # -- running one delivery ------------------------------------------------------------------

    async def _run(self, row: DeliveryRow) -> None:
        try:
            await self._attempt(row)
        except asyncio.CancelledError:
            raise
        except Exception:  # a bug: the lease ends and the delivery runs again, here or elsewhere
            logger.exception("delivery attempt failed unexpectedly", extra=log_fields(row, None, None))

    async def _attempt(self, row: DeliveryRow) -> None:
        try:
            event = decode(row)
        except MalformedPayload as exc:  # whatever the payload holds
            await self._record(row, self.deliveries.finish, row.id, DEAD, self.clock(), f"malformed payload: {exc}")
            logger.error("delivery dead-lettered: malformed payload", extra=log_fields(row, None, str(exc)))
            self.metrics.dead_letters.labels(row.platform, row.event).inc()
            return
        row.body = b""
        try:
            selection = self.select(event)
        except Exception as exc:  # a handler's `when` test failed: this delivery's failure
            await self._failed(row, event, exc)
            return
        if not selection:  # ignored without counting an attempt, as on SQLite
            now = self.clock()
            repo = event.repo.full_name if event.repo else None
            await self._record(row, self.deliveries.finish_ignored, [(row.id, event.action, repo, event.subject)], now)
            self.metrics.processed.labels(row.platform, event.name, IGNORED).inc()
            self.metrics.lag_seconds.observe(max(0.0, now - row.received_at))
            return
        need = self.needs(selection)
        if need is not None and self.capabilities is not None and need not in self.capabilities():
            await self._record(row, self.deliveries.hand_over, row.id, self.replica, need)
            logger.info("delivery handed over to the replica with %s", need, extra=log_fields(row, event, None))
            return

        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.handler_timeout):
                outcome = await self.process(row, event, selection)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            await self._failed(row, event, exc)
            return
        finally:
            self.metrics.processing_seconds.labels(row.platform).observe(time.perf_counter() - started)
        now = self.clock()
        await self._record(row, self.deliveries.finish, row.id, outcome, now)
        self.metrics.processed.labels(row.platform, event.name, outcome).inc()
        self.metrics.lag_seconds.observe(max(0.0, now - row.received_at))
        logger.info("delivery %s", outcome, extra=log_fields(row, event, None))

    async def _failed(self, row: DeliveryRow, event: Event, exc: Exception) -> None:
        failure = judge_failure(self.policy, row, exc, self.clock(), self.handler_timeout)
        if failure.dead:
            await self._record(row, self.deliveries.finish, row.id, DEAD, self.clock(), failure.error)
            self.metrics.dead_letters.labels(row.platform, event.name).inc()
            logger.error("delivery dead-lettered after %d attempts", row.attempts, extra=log_fields(row, event, failure.error))
            return
        assert failure.next_attempt_at is not None
        await self._record(row, self.deliveries.retry_later, row.id, failure.next_attempt_at, failure.error, failure.counted)
        self.metrics.retries.labels(row.platform, event.name).inc()
        wait = failure.next_attempt_at - self.clock()
        logger.warning("delivery failed; retrying in %.1fs", wait, extra=log_fields(row, event, failure.error))
        if not self._stopping:  # look again when it is due rather than at the next poll
            self._hint_in(wait)

    def _hint_in(self, delay: float) -> None:
        def fire() -> None:
            self._timers.discard(timer)
            self._hint()

        timer = asyncio.get_running_loop().call_later(max(0.0, delay), fire)
        self._timers.add(timer)

    async def _record(self, row: DeliveryRow, write: Callable[..., Any], *args: Any) -> None:
        """Write a delivery's outcome, trying again while the database fails (the lease is still
        renewed meanwhile, so no other replica runs it)."""
        self._recording.add(row.id)
        while True:
            try:
                await write(*args)
                return
            except Exception:
                if self._stopping:
                    raise
                logger.exception("could not record a delivery's outcome; retrying", extra={"delivery": row.delivery_id})
                self._recording.discard(row.id)
                await asyncio.sleep(STORE_RETRY_SECONDS)
                self._recording.add(row.id)
