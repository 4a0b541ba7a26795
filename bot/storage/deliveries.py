"""Deliveries: every webhook delivery stored, and its way through the inbox to done, ignored or dead.

The records (`DeliveryRow`, the statuses) and the interface both backends implement. A delivery
is stored before the platform is answered 202; `id` is the arrival order. SQLite's inbox reads
open rows by an id watermark (`open_after`); PostgreSQL's replicas lease them one at a time
(`LeasedDeliveries.lease`), one subject at a time across every replica.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from bot.storage import bodies

if TYPE_CHECKING:
    from bot.http.webhooks import Delivery

PENDING, RUNNING, DONE, IGNORED, DEAD = "pending", "running", "done", "ignored", "dead"
OPEN = (PENDING, RUNNING)

# Rows looked at (SQLite) or deleted (PostgreSQL) per pruning transaction: deleting 500 took
# 2.9 ms (median) on the bench machine, 2,000 took 17 ms; this is how long a chunk holds the
# event loop (SQLite) or its row locks (PostgreSQL).
PRUNE_CHUNK = 500

# `then(row_id, error)`: called once the delivery is committed, with its row id (None when the
# delivery id was stored before), or with the error that kept it from being stored.
Then = Callable[[Any, BaseException | None], None]


@dataclass(slots=True)
class DeliveryRow:
    id: int
    platform: str
    delivery_id: str
    event: str
    event_type: str | None
    content_type: str
    body: bytes  # as stored: see `body_encoding` and `original_body`
    body_encoding: str | None
    received_at: float
    status: str
    attempts: int
    next_attempt_at: float | None
    action: str | None
    repo: str | None
    subject: str | None
    last_error: str | None
    finished_at: float | None
    replayed_at: float | None

    @classmethod
    def from_row(cls, row: Any) -> DeliveryRow:
        return cls(*row)

    def original_body(self) -> bytes:
        """The body as it was received; MalformedPayload if the stored bytes do not decode."""
        return bodies.decode(bytes(self.body), self.body_encoding)

    @property
    def full_event(self) -> str:
        """`event.action`, or just the event before the action is known or when there is none."""
        return f"{self.event}.{self.action}" if self.action else self.event


# Every column of a DeliveryRow, in its order.
COLUMNS = (
    "id, platform, delivery_id, event, event_type, content_type, body, body_encoding, received_at, status,"
    " attempts, next_attempt_at, action, repo, subject, last_error, finished_at, replayed_at"
)


class Deliveries(Protocol):
    """What both backends do with deliveries. Every method is atomic (one transaction)."""

    def insert_soon(self, delivery: Delivery, received_at: float, then: Then) -> None:
        """Store a delivery and call `then(row_id, error)` once it is committed (durable). Not a
        coroutine: the webhook receiver's hot path. Deliveries arriving together share a commit."""

    async def insert(self, delivery: Delivery, received_at: float) -> int | None:
        """Store a delivery; its row id, or None when this (platform, delivery id) is stored already."""

    async def insert_many(self, calls: list[tuple[Delivery, float]]) -> list[int | None]:
        """Store several in one transaction; per call its row id or None (known before, or a
        second copy in this very batch)."""

    async def open_after(self, after_id: int, limit: int) -> list[DeliveryRow]:
        """Pending or running deliveries after `after_id`, in arrival order."""

    async def last_open_id(self) -> int:
        """The highest id of a pending or running delivery; 0 when there is none."""

    async def open_count(self) -> int:
        """How many deliveries are pending or running."""

    async def start_attempt(self, row_id: int, action: str | None, repo: str | None, subject: str | None) -> int:
        """Mark a delivery running and count the attempt (before running it, so a crash counts);
        the attempts so far."""

    async def finish(self, row_id: int, status: str, now: float, error: str | None = None) -> None:
        """Done, ignored or dead: finished at `now`, with `error` as its last error."""

    async def finish_ignored(self, described: list[tuple[int, str | None, str | None, str | None]], now: float) -> None:
        """Finish deliveries no handler wanted: (row id, action, repo, subject) each."""

    async def retry_later(self, row_id: int, next_attempt_at: float, error: str, counted: bool = True) -> None:
        """Put a failed delivery back to wait; an attempt that is not `counted` is taken off its count."""

    async def find(self, delivery_id: str, platform: str | None = None) -> list[DeliveryRow]:
        """The delivery with this id, on `platform` or on either (one row per platform)."""

    async def by_row_id(self, row_id: int) -> DeliveryRow | None: ...

    async def mark_replayed(self, row_id: int, now: float) -> None:
        """Note that a delivery was replayed now (`forgebot replay` runs it in its own process):
        a rate limit's patience counts from here."""

    async def requeue(self, row_id: int, now: float) -> None:
        """Give a delivery a fresh set of attempts, to run as soon as its subject allows (replay)."""

    async def listing(self, failed_only: bool, limit: int) -> list[DeliveryRow]:
        """Newest first; `failed_only` keeps dead letters and deliveries waiting for a retry."""

    async def counts(self) -> dict[str, int]:
        """How many deliveries are in each status."""

    async def prune_chunk(
        self, finished_before: float, dead_before: float, after_id: int, limit: int = PRUNE_CHUNK
    ) -> tuple[int, int | None]:
        """Forget up to about `limit` finished deliveries past their retention (done and ignored
        ones finished before `finished_before`, dead letters before `dead_before`), among those
        after `after_id`. Returns how many went and the id to go on after, or None when done.
        The newest delivery always stays."""

    async def beat(self, now: float) -> None:
        """Write the heartbeat row: proof for /readyz that the database takes writes."""


class LeasedDeliveries(Deliveries, Protocol):
    """What several replicas on one database add: leases (PostgreSQL)."""

    async def lease(
        self, owner: str, now: float, until: float, capabilities: Collection[str] | None = None
    ) -> DeliveryRow | None:
        """In one statement: take the oldest open delivery that is due, not leased by anyone (or
        whose lease ended), whose `needs` is none or among `capabilities` (None: any), with no earlier open
        delivery of its subject; mark it running, leased by `owner` until `until`, and count the
        attempt. Rows other replicas are leasing at the same moment are skipped, not waited for.
        None when nothing is ready."""

    async def renew(self, row_ids: Collection[int], owner: str, until: float) -> set[int]:
        """Extend `owner`'s leases on these deliveries; the ids whose lease it still held."""

    async def hand_over(self, row_id: int, owner: str, needs: str) -> bool:
        """Give a leased delivery back for a replica that has `needs`: lease cleared, attempt not
        counted. False when `owner` no longer held it."""

    async def release(self, row_ids: Collection[int], owner: str) -> None:
        """Give up `owner`'s leases at once (shutdown), so another replica may take them now."""

    def wakeups(self) -> AsyncIterator[None]:
        """One item per notification that deliveries were stored or requeued (a hint, not a
        count); ends or raises when the listening connection is lost."""
