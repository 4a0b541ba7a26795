"""The durable inbox on SQLite: stored deliveries -> worker pool -> done, retry, or dead letter.

(On PostgreSQL, where several replicas share the deliveries, bot/engine/leased_inbox.py leases
them instead; both have the same outward interface and the same retry and dead-letter rules.)

The database is the queue. A sorter reads pending rows in arrival order, a window at a time,
decodes each into an Event and files it under its subject (one issue, PR or ref). Workers take
subjects, never two workers on one subject, so each subject's deliveries run in the order they
arrived while different subjects run in parallel. A failed delivery stays at the head of its
subject until its retry (later deliveries of that subject wait behind it); after `max_attempts`
it is dead-lettered and the subject moves on.

A platform's rate limit is not the delivery's fault: when a handler fails with `RateLimited` that
says when the limit lifts, the delivery waits until then (or its backoff, if longer), and the
attempt does not count toward `max_attempts`. So that a limit that never lifts cannot keep a
delivery forever, it is dead-lettered once it would wait past `rate_limit_patience` (a day)
after it was received, or last replayed. A `RateLimited` without a time counts as an ordinary
failure.

A restart resumes every pending or running row, since the sorter starts from the beginning.

No payload can stop the inbox: decoding turns anything wrong with a body into a dead letter
(`decode`), and a handler's `when` test that raises is that delivery's failed attempt, like an
exception in the handler itself. Should the sorter or a worker die anyway, of a bug, it is
logged and started again, and `problems` (hence /readyz) says so until it is back.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from bot.engine.metrics import Metrics
from bot.engine.pressure import BUSY_BATCH, YIELD_SECONDS, IntakePressure
from bot.engine.supervision import Supervisor
from bot.events import Event, MalformedPayload, read_event
from bot.forges.base import RateLimited
from bot.forges.common import backoff_delay
from bot.storage.deliveries import DEAD, IGNORED, Deliveries, DeliveryRow

logger = logging.getLogger(__name__)

STORE_RETRY_SECONDS = 5.0
RESTART_SECONDS = 1.0  # how long a sorter or worker that died stays down before it starts again

# What `select` found for an event (its handlers), kept with the delivery and handed back to
# `process`, so that the handlers' `when` tests run once per delivery. Opaque to the inbox.
Selection = Sequence[Any]
Select = Callable[[Event], Selection]
Process = Callable[[DeliveryRow, Event, Selection | None], Awaitable[str]]


@dataclass(slots=True)
class _Item:
    row: DeliveryRow
    event: Event | None
    malformed: str | None = None
    selection: Selection | None = None  # None: not selected yet
    unselectable: Exception | None = None  # what `select` raised: its next attempt fails with it


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 8
    base_seconds: float = 2.0
    max_seconds: float = 600.0
    rate_limit_patience: float = 24 * 3600.0

    def delay(self, attempts: int) -> float:
        """How long to wait after the `attempts`-th failed attempt."""
        return backoff_delay(attempts - 1, self.base_seconds, self.max_seconds)


@dataclass(frozen=True, slots=True)
class Failure:
    """What becomes of a delivery whose attempt failed: dead, or back to wait until `next_attempt_at`."""

    error: str  # its last_error
    dead: bool
    next_attempt_at: float | None = None
    counted: bool = True  # whether the attempt counts toward max_attempts (a rate limit's does not)


def judge_failure(policy: RetryPolicy, row: DeliveryRow, exc: Exception, now: float, handler_timeout: float) -> Failure:
    """The retry rules, for both inboxes: backoff, `max_attempts`, and a rate limit's patience."""
    error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if isinstance(exc, TimeoutError):
        error = f"handler timed out after {handler_timeout:g}s"
    backoff = now + policy.delay(row.attempts)
    limited_until = exc.retry_at if isinstance(exc, RateLimited) else None
    if limited_until is not None:
        since, what = (row.received_at, "received") if row.replayed_at is None else (row.replayed_at, "replayed")
        if limited_until - since > policy.rate_limit_patience:
            patience = f"{policy.rate_limit_patience / 3600:g}h"
            return Failure(f"{error} (still rate limited {patience} after it was {what})", dead=True)
        # Trying before the limit lifts cannot succeed: wait for it, and keep the attempt.
        return Failure(error, dead=False, next_attempt_at=max(backoff, limited_until), counted=False)
    if row.attempts >= policy.max_attempts:
        return Failure(error, dead=True)
    return Failure(error, dead=False, next_attempt_at=backoff)


def decode(row: DeliveryRow) -> Event:
    """The Event a stored delivery holds; MalformedPayload, and nothing else, when it holds none."""
    body = row.original_body()
    return read_event(row.platform, row.event, body, row.content_type, delivery_id=row.delivery_id, event_type=row.event_type)


class DeliveryQueue(Protocol):
    """What the app, the API and the status page use of an inbox: this module's `Inbox` on SQLite,
    `LeasedInbox` (bot/engine/leased_inbox.py) on PostgreSQL."""

    async def start(self) -> None: ...

    async def stop(self, grace: float) -> None: ...

    def notify(self, row_id: int) -> None: ...

    async def requeue(self, row_id: int) -> None: ...

    @property
    def depth(self) -> int: ...

    @property
    def running(self) -> bool: ...

    @property
    def problems(self) -> list[str]: ...


class Inbox:
    def __init__(
        self,
        deliveries: Deliveries,
        process: Process,
        *,
        select: Select,
        workers: int,
        policy: RetryPolicy,
        handler_timeout: float = 300.0,
        metrics: Metrics | None = None,
        clock: Callable[[], float] = time.time,
        window: int | None = None,
        pressure: IntakePressure | None = None,
        restart_seconds: float = RESTART_SECONDS,
    ) -> None:
        self.deliveries = deliveries
        self.process = process
        self.workers = workers
        self.policy = policy
        self.handler_timeout = handler_timeout
        self.metrics = metrics or Metrics()
        self.clock = clock
        self.window = window or max(64, workers * 32)
        self.pressure = pressure or IntakePressure()
        self.select = select

        self._subjects: dict[str, deque[_Item]] = {}
        self._ready: asyncio.Queue[str] = asyncio.Queue()
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._wake = asyncio.Event()
        self._room = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._busy: set[asyncio.Task[None]] = set()
        self._in_memory = 0
        self._queued: dict[int, str] = {}  # row id -> subject, for every delivery in memory
        self._last_loaded = 0
        self._last_stored = 0
        self._stopping = False
        self._turns = asyncio.Lock()
        self._supervisor = Supervisor(logger, restart_seconds)

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        # Resume whatever a previous run left pending or running.
        self._last_stored = max(self._last_stored, await self.deliveries.last_open_id())
        self._wake.set()
        # Nothing a delivery holds should make these loops die (see `decode` and `_step`): if
        # a bug does, they are started again rather than leave deliveries stored and never run.
        def stopping() -> bool:
            return self._stopping

        keep = self._supervisor.keep_running
        self._tasks.append(asyncio.create_task(keep("inbox sorter", self._sort, stopping), name="inbox-sorter"))
        for n in range(self.workers):
            self._tasks.append(asyncio.create_task(keep(f"inbox worker {n}", self._work, stopping), name=f"inbox-worker-{n}"))

    async def stop(self, grace: float) -> None:
        """Stop taking work; give running handlers `grace` seconds; leave the rest pending."""
        self._stopping = True
        for timer in self._timers.values():
            timer.cancel()
        busy = set(self._busy)
        for task in self._tasks:
            if task not in busy:
                task.cancel()
        if busy:
            _, unfinished = await asyncio.wait(busy, timeout=grace)
            for task in unfinished:
                logger.warning("handler still running at shutdown; it will be resumed on restart")
                task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    @property
    def problems(self) -> list[str]:
        """Why the inbox is not processing deliveries (for /readyz); empty while it is."""
        return self._supervisor.problems(self._tasks)

    @property
    def running(self) -> bool:
        return not self.problems

    @property
    def depth(self) -> int:
        """Deliveries stored but not finished: those in memory plus those not yet loaded."""
        return self._in_memory + max(0, self._last_stored - self._last_loaded)

    async def requeue(self, row_id: int) -> None:
        """Replay a delivery now, with a fresh set of attempts: a finished one, or one waiting for a retry."""
        now = self.clock()
        await self.deliveries.requeue(row_id, now)
        subject = self._queued.get(row_id)
        if subject is not None:
            self._retry_now(subject, row_id, now)
            return
        if row_id > self._last_loaded:
            self._wake.set()  # the sorter has yet to reach it
            return
        row = await self.deliveries.by_row_id(row_id)
        if row is not None and row.id not in self._queued:
            self._admit(row)

    def _retry_now(self, subject: str, row_id: int, replayed_at: float) -> None:
        """Forget the retry time of a delivery in memory; if it heads a parked subject, unpark it."""
        queue = self._subjects[subject]
        for item in queue:
            if item.row.id == row_id:
                item.row.attempts, item.row.next_attempt_at, item.row.replayed_at = 0, None, replayed_at
        timer = self._timers.get(subject)
        if timer is not None and queue[0].row.id == row_id:
            # Parked on a timer: no worker holds the subject, so it may go back on the ready queue.
            timer.cancel()
            del self._timers[subject]
            self._ready.put_nowait(subject)

    def notify(self, row_id: int) -> None:
        """Called after a new delivery has been committed."""
        if row_id > self._last_stored:
            self._last_stored = row_id
        self._wake.set()

    # -- sorting: database -> subjects -----------------------------------------------------

    async def _sort(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while True:
                if self._in_memory >= self.window:
                    self._room.clear()
                    await self._room.wait()
                limit = min(self.window - self._in_memory, 256)
                if self.pressure.busy:
                    # Decoding is the costly part of processing: ration it while webhooks arrive.
                    await self._background_turn()
                    limit = min(limit, BUSY_BATCH)
                try:
                    rows = await self.deliveries.open_after(self._last_loaded, limit)
                except Exception:  # the store failed (locked past its patience, I/O): try later
                    logger.exception("could not read pending deliveries; retrying")
                    await asyncio.sleep(STORE_RETRY_SECONDS)
                    continue
                if not rows:
                    break
                for row in rows:
                    self._admit(row)

    def _admit(self, row: DeliveryRow) -> None:
        self._last_loaded = max(self._last_loaded, row.id)
        self._last_stored = max(self._last_stored, row.id)
        try:
            item = _Item(row, decode(row))
        except MalformedPayload as exc:  # the only exception `decode` raises, whatever the payload
            item = _Item(row, None, str(exc))
        row.body = b""  # decoded; no need to hold the bytes as well
        subject = (item.event.subject if item.event else None) or f"delivery:{row.id}"
        self._queued[row.id] = subject
        queue = self._subjects.get(subject)
        if queue is None:
            queue = self._subjects[subject] = deque()
            self._ready.put_nowait(subject)
        queue.append(item)
        self._in_memory += 1

    # -- working: subjects -> handlers -----------------------------------------------------

    async def _work(self) -> None:
        while not self._stopping:
            subject = await self._ready.get()
            try:
                await self._take(subject)
            except Exception:
                # The worker dies (and is started again); the subject it held must not die
                # with it, or its deliveries would wait for ever: it is taken up again later.
                if subject in self._subjects and subject not in self._timers:
                    self._park(subject, self._supervisor.restart_seconds)
                raise

    async def _take(self, subject: str) -> None:
        """Work on one subject, then hand it back: ready again, parked until its retry, or done."""
        queue = self._subjects[subject]
        wait = (queue[0].row.next_attempt_at or 0.0) - self.clock()
        if wait > 0:
            self._park(subject, wait)
            return
        if self.pressure.busy:
            await self._background_turn()
        task = asyncio.current_task()
        assert task is not None
        self._busy.add(task)
        try:
            finished = await self._step(queue)
        except Exception:  # the store itself failed (disk full...): keep the work, try later
            logger.exception("could not record a delivery's outcome; retrying", extra={"subject": subject})
            self._park(subject, STORE_RETRY_SECONDS)
            return
        finally:
            self._busy.discard(task)
        for _ in range(finished):
            done = queue.popleft()
            self._queued.pop(done.row.id, None)
            self._in_memory -= 1
        if finished:
            self._room.set()
        if not queue:
            del self._subjects[subject]
        elif finished:
            self._ready.put_nowait(subject)
        else:
            self._park(subject, (queue[0].row.next_attempt_at or 0.0) - self.clock())

    async def _step(self, queue: deque[_Item]) -> int:
        """Work on the head of one subject's queue; return how many deliveries it finished.

        A run of deliveries that no handler wants is finished with one write (bursts of
        events nobody listens to are common); anything else runs alone.
        """
        unwanted: list[_Item] = []
        for item in queue:
            if item.event is None or item.row.attempts or len(unwanted) == 256:
                break
            if item.selection is None and item.unselectable is None:
                try:
                    item.selection = self.select(item.event)
                except Exception as exc:  # a handler's `when` test failed: this delivery's failure, not ours
                    item.unselectable = exc
            if item.unselectable is not None or item.selection:
                break
            unwanted.append(item)
        if unwanted:
            await self._ignore(unwanted)
            return len(unwanted)
        return 1 if await self._attempt(queue[0]) else 0

    async def _ignore(self, items: list[_Item]) -> None:
        now = self.clock()
        described = []
        for item in items:
            event = item.event
            assert event is not None
            described.append((item.row.id, event.action, event.repo.full_name if event.repo else None, event.subject))
            self.metrics.processed.labels(item.row.platform, event.name, IGNORED).inc()
            self.metrics.lag_seconds.observe(max(0.0, now - item.row.received_at))
        await self.deliveries.finish_ignored(described, now)

    async def _background_turn(self) -> None:
        """While intake is busy, the sorter and all workers share one step per YIELD_SECONDS."""
        async with self._turns:
            await asyncio.sleep(YIELD_SECONDS)

    def _park(self, subject: str, delay: float) -> None:
        def wake() -> None:
            self._timers.pop(subject, None)
            self._ready.put_nowait(subject)

        self._timers[subject] = asyncio.get_running_loop().call_later(max(0.0, delay), wake)

    async def _attempt(self, item: _Item) -> bool:
        """Run one delivery once; True when it is finished (done, ignored or dead)."""
        row, event = item.row, item.event
        platform = row.platform
        if event is None:
            await self.deliveries.finish(row.id, DEAD, self.clock(), f"malformed payload: {item.malformed}")
            logger.error("delivery dead-lettered: malformed payload", extra=log_fields(row, None, item.malformed))
            self.metrics.dead_letters.labels(platform, row.event).inc()
            return True

        repo = event.repo.full_name if event.repo else None
        row.attempts = await self.deliveries.start_attempt(row.id, event.action, repo, event.subject)
        if item.unselectable is not None:
            # A failed attempt like any other. The next one runs the `when` tests again
            # (`process` selects when given no selection).
            failure, item.unselectable = item.unselectable, None
            return await self._failed(row, event, failure)
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.handler_timeout):
                outcome = await self.process(row, event, item.selection)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            return await self._failed(row, event, exc)
        finally:
            self.metrics.processing_seconds.labels(platform).observe(time.perf_counter() - started)

        now = self.clock()
        await self.deliveries.finish(row.id, outcome, now)
        self.metrics.processed.labels(platform, event.name, outcome).inc()
        self.metrics.lag_seconds.observe(max(0.0, now - row.received_at))
        logger.info("delivery %s", outcome, extra=log_fields(row, event, None))
        return True

    async def _failed(self, row: DeliveryRow, event: Event, exc: Exception) -> bool:
        failure = judge_failure(self.policy, row, exc, self.clock(), self.handler_timeout)
        if failure.dead:
            return await self._dead(row, event, failure.error)
        assert failure.next_attempt_at is not None
        row.next_attempt_at = failure.next_attempt_at
        await self.deliveries.retry_later(row.id, failure.next_attempt_at, failure.error, failure.counted)
        if not failure.counted:
            row.attempts -= 1
        self.metrics.retries.labels(row.platform, event.name).inc()
        logger.warning(
            "delivery failed; retrying in %.1fs", row.next_attempt_at - self.clock(), extra=log_fields(row, event, failure.error)
        )
        return False

    async def _dead(self, row: DeliveryRow, event: Event, error: str) -> bool:
        await self.deliveries.finish(row.id, DEAD, self.clock(), error)
        self.metrics.dead_letters.labels(row.platform, event.name).inc()
        logger.error("delivery dead-lettered after %d attempts", row.attempts, extra=log_fields(row, event, error))
        return True


def log_fields(row: DeliveryRow, event: Event | None, error: str | None) -> dict[str, object]:
    fields: dict[str, object] = {"delivery": row.delivery_id, "platform": row.platform, "attempt": row.attempts}
    if event is not None:
        fields["event"] = event.full_name
        if event.repo is not None:
            fields["repo"] = event.repo.full_name
        if event.issue is not None:
            fields["issue"] = event.issue.number
    else:
        fields["event"] = row.event
    if error:
        fields["error"] = error
    return fields
