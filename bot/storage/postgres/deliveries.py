"""Deliveries on PostgreSQL: several replicas store into one table and lease from it.

Intake: the receiver's deliveries are inserted through the pool, those arriving together in one
multi-row INSERT and one COMMIT, and each caller is told after that COMMIT (so the 202 follows a
durable row, as on SQLite). The delivery's subject (one issue, PR or ref) is read from its payload
at intake, so that any replica can lease one subject at a time; a payload that does not decode
gets a subject of its own (`malformed:<platform>:<delivery id>`), never blocking others, and
becomes a dead letter when it is processed. Each transaction that stores or requeues deliveries
sends one `NOTIFY forgebot_inbox`: a hint that wakes the replicas' workers, who poll anyway.

Processing: `lease` takes one delivery with `FOR UPDATE SKIP LOCKED` (see its SQL). The lease
names its replica and ends at `lease_until`; the running replica renews it, and when a replica
dies its deliveries are leased again by another once their leases end.

Size: finished rows are deleted in chunks of `PRUNE_CHUNK` (by id, through a LIMITed subquery),
each its own short transaction. Autovacuum then marks the dead tuples' space free and later
inserts reuse it, so the table's size stays bounded by what the retention window holds rather
than growing with every delivery ever received; no VACUUM FULL (which would lock the table) is
needed or run.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Collection
from typing import TYPE_CHECKING, Any

from bot.events import GITEA, GITHUB, MalformedPayload, read_event
from bot.storage import bodies
from bot.storage.deliveries import COLUMNS, PRUNE_CHUNK, DeliveryRow, Then

if TYPE_CHECKING:
    from bot.http.webhooks import Delivery
    from bot.storage.postgres.engine import PostgresEngine

logger = logging.getLogger(__name__)

CHANNEL = "forgebot_inbox"
# Deliveries per INSERT at most, and INSERTs under way at once from one replica's intake.
MAX_BATCH = 256
MAX_FLUSHES = 4
# Bodies larger than this are compressed and decoded on a thread (webhook bodies go up to 25 MiB).
LARGE_BODY = 256 * 1024

_INSERT_COLUMNS = (
    "(platform, delivery_id, event, event_type, content_type, body, body_encoding, received_at, action, repo, subject)"
)
FAILED = "status IN ('pending', 'running', 'dead') AND (status = 'dead' OR last_error IS NOT NULL)"

# The lease, in one statement. The candidate is the oldest open delivery that is due, not leased
# (or whose lease ended), that this replica can run, and that has no earlier open delivery of its
# subject: so one subject never runs on two replicas at once and runs in arrival order, and a
# failed delivery waiting for its retry holds back the later ones of its subject. SKIP LOCKED
# passes over a candidate another replica is leasing at this moment; the earlier open row it is
# leasing still blocks the rest of that subject, since NOT EXISTS sees it as open either way.
_LEASE = f"""
UPDATE deliveries SET status = 'running', attempts = attempts + 1, lease_owner = %(owner)s, lease_until = %(until)s
WHERE id = (
    SELECT c.id FROM deliveries c
    WHERE c.status IN ('pending', 'running')
      AND (c.next_attempt_at IS NULL OR c.next_attempt_at <= %(now)s)
      AND (c.lease_until IS NULL OR c.lease_until < %(now)s)
      AND (%(anything)s OR c.needs IS NULL OR c.needs = ANY(%(capabilities)s::text[]))
      AND NOT EXISTS (
          SELECT 1 FROM deliveries e
          WHERE e.subject = c.subject AND e.id < c.id AND e.status IN ('pending', 'running')
      )
    ORDER BY c.id
    LIMIT 1
    FOR UPDATE SKIP LOCKED
)
RETURNING {COLUMNS}
"""


def describe(delivery: Delivery) -> tuple[str | None, str | None, str]:
    """(action, repo, subject) of a delivery, read from its payload."""
    try:
        event = read_event(delivery.platform, delivery.event, delivery.body, delivery.content_type,
                           delivery_id=delivery.delivery_id, event_type=delivery.event_type)
    except MalformedPayload:
        return None, None, f"malformed:{delivery.platform}:{delivery.delivery_id}"
    repo = event.repo.full_name if event.repo else None
    # An event of no issue, PR or ref depends on no other: a subject of its own.
    return event.action, repo, event.subject or f"delivery:{delivery.platform}:{delivery.delivery_id}"


def _row(delivery: Delivery, received_at: float) -> tuple[object, ...]:
    """The values of one delivery's row: its body as stored, and what its payload says."""
    stored, encoding = bodies.encode(delivery.body)
    return (delivery.platform, delivery.delivery_id, delivery.event, delivery.event_type,
            delivery.content_type, stored, encoding, received_at, *describe(delivery))


def _tell(then: Then, row_id: int | None, error: BaseException | None) -> None:
    """Answer one caller; a callback that fails must not leave the others unanswered."""
    try:
        then(row_id, error)
    except Exception:
        logger.exception("a stored delivery's callback failed")


class PostgresDeliveries:
    def __init__(self, engine: PostgresEngine) -> None:
        self._engine = engine
        self._waiting: list[tuple[Delivery, float, Then]] = []
        self._flushes = 0
        self._tasks: set[asyncio.Task[None]] = set()

    # -- intake ----------------------------------------------------------------------------

    def insert_soon(self, delivery: Delivery, received_at: float, then: Then) -> None:
        if not self._engine.running:
            from bot.storage.sqlite.engine import StoreClosed

            then(None, StoreClosed("the database is not running"))
            return
        self._waiting.append((delivery, received_at, then))
        if self._flushes < MAX_FLUSHES:
            self._flushes += 1
            task = asyncio.get_running_loop().create_task(self._flush(), name="deliveries-intake")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _flush(self) -> None:
        """Insert what is waiting, a batch per transaction, until nothing is; then tell the callers."""
        try:
            while self._waiting:
                group, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
                try:
                    ids = await self.insert_many([(delivery, at) for delivery, at, _ in group])
                except Exception as exc:  # each caller answers 503 with it: nothing was stored
                    for *_, then in group:
                        _tell(then, None, exc)
                else:
                    for (*_, then), row_id in zip(group, ids, strict=True):
                        _tell(then, row_id, None)
        finally:
            self._flushes -= 1

    async def insert(self, delivery: Delivery, received_at: float) -> int | None:
        return (await self.insert_many([(delivery, received_at)]))[0]

    async def insert_many(self, calls: list[tuple[Delivery, float]]) -> list[int | None]:
        if not calls:
            return []
        params: list[object] = []
        for delivery, received_at in calls:
            if len(delivery.body) > LARGE_BODY:  # decoding megabytes would hold up the event loop
                params += await asyncio.to_thread(_row, delivery, received_at)
            else:
                params += _row(delivery, received_at)
        values = ",".join(["(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"] * len(calls))
        async with self._engine.transaction() as conn:
            cursor = await conn.execute(
                f"INSERT INTO deliveries {_INSERT_COLUMNS} VALUES {values}"
                " ON CONFLICT (platform, delivery_id) DO NOTHING RETURNING id, platform, delivery_id",
                params,
            )
            inserted = {(platform, delivery_id): row_id for row_id, platform, delivery_id in await cursor.fetchall()}
            if inserted:
                await conn.execute(f"NOTIFY {CHANNEL}")
        # RETURNING says nothing of order: match by key; a second copy in the batch was not inserted.
        return [inserted.pop((delivery.platform, delivery.delivery_id), None) for delivery, _ in calls]

    # -- reading ---------------------------------------------------------------------------

    async def _rows(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> list[DeliveryRow]:
        async with self._engine.connection() as conn:
            cursor = await conn.execute(sql, params)
            return [DeliveryRow.from_row(row) for row in await cursor.fetchall()]

    async def _value(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        async with self._engine.connection() as conn:
            row = await (await conn.execute(sql, params)).fetchone()
            return row[0] if row else None

    async def _write(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = (), *, notify: bool = False) -> list[Any]:
        """One statement in its own transaction (with a NOTIFY when it makes work for the inbox);
        the rows it returned."""
        async with self._engine.transaction() as conn:
            cursor = await conn.execute(sql, params)
            rows = await cursor.fetchall() if cursor.description else []
            if notify:
                await conn.execute(f"NOTIFY {CHANNEL}")
            return list(rows)

    async def open_after(self, after_id: int, limit: int) -> list[DeliveryRow]:
        return await self._rows(
            f"SELECT {COLUMNS} FROM deliveries WHERE status IN ('pending', 'running') AND id > %s ORDER BY id LIMIT %s",
            (after_id, limit),
        )

    async def last_open_id(self) -> int:
        return int(await self._value("SELECT max(id) FROM deliveries WHERE status IN ('pending', 'running')") or 0)

    async def open_count(self) -> int:
        return int(await self._value("SELECT count(*) FROM deliveries WHERE status IN ('pending', 'running')"))

    async def find(self, delivery_id: str, platform: str | None = None) -> list[DeliveryRow]:
        platforms = [platform] if platform else [GITHUB, GITEA]
        return await self._rows(
            f"SELECT {COLUMNS} FROM deliveries WHERE platform = ANY(%s::text[]) AND delivery_id = %s ORDER BY id",
            (platforms, delivery_id),
        )

    async def by_row_id(self, row_id: int) -> DeliveryRow | None:
        rows = await self._rows(f"SELECT {COLUMNS} FROM deliveries WHERE id = %s", (row_id,))
        return rows[0] if rows else None

    async def listing(self, failed_only: bool, limit: int) -> list[DeliveryRow]:
        where = f"WHERE {FAILED}" if failed_only else ""
        return await self._rows(f"SELECT {COLUMNS} FROM deliveries {where} ORDER BY id DESC LIMIT %s", (limit,))

    async def counts(self) -> dict[str, int]:
        async with self._engine.connection() as conn:
            cursor = await conn.execute("SELECT status, count(*) FROM deliveries GROUP BY status")
            return {status: int(n) for status, n in await cursor.fetchall()}

    # -- outcomes --------------------------------------------------------------------------

    async def start_attempt(self, row_id: int, action: str | None, repo: str | None, subject: str | None) -> int:
        rows = await self._write(
            "UPDATE deliveries SET status = 'running', attempts = attempts + 1, action = %s, repo = %s,"
            " subject = coalesce(%s, subject) WHERE id = %s RETURNING attempts",
            (action, repo, subject, row_id),
        )
        return int(rows[0][0])

    async def finish(self, row_id: int, status: str, now: float, error: str | None = None) -> None:
        await self._write(
            "UPDATE deliveries SET status = %s, finished_at = %s, last_error = %s, next_attempt_at = NULL,"
            " lease_owner = NULL, lease_until = NULL, needs = NULL WHERE id = %s",
            (status, now, error, row_id),
        )

    async def finish_ignored(self, described: list[tuple[int, str | None, str | None, str | None]], now: float) -> None:
        async with self._engine.transaction() as conn, conn.cursor() as cursor:
            await cursor.executemany(
                # A leased delivery's attempt was counted by the lease: nothing ran, so it is taken back.
                "UPDATE deliveries SET status = 'ignored', finished_at = %s, action = %s, repo = %s,"
                " subject = coalesce(%s, subject), attempts = attempts - (lease_owner IS NOT NULL)::int,"
                " lease_owner = NULL, lease_until = NULL WHERE id = %s",
                [(now, action, repo, subject, row_id) for row_id, action, repo, subject in described],
            )

    async def retry_later(self, row_id: int, next_attempt_at: float, error: str, counted: bool = True) -> None:
        await self._write(
            "UPDATE deliveries SET status = 'pending', next_attempt_at = %s, last_error = %s, attempts = attempts - %s,"
            " lease_owner = NULL, lease_until = NULL WHERE id = %s",
            (next_attempt_at, error, 0 if counted else 1, row_id),
        )

    async def mark_replayed(self, row_id: int, now: float) -> None:
        await self._write("UPDATE deliveries SET replayed_at = %s WHERE id = %s", (now, row_id))

    async def requeue(self, row_id: int, now: float) -> None:
        await self._write(
            "UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = NULL, finished_at = NULL,"
            " replayed_at = %s, lease_owner = NULL, lease_until = NULL WHERE id = %s",
            (now, row_id),
            notify=True,
        )

    # -- leases ----------------------------------------------------------------------------

    async def lease(
        self, owner: str, now: float, until: float, capabilities: Collection[str] | None = None
    ) -> DeliveryRow | None:
        params = {"owner": owner, "now": now, "until": until, "anything": capabilities is None,
                  "capabilities": list(capabilities or ())}
        rows = await self._write(_LEASE, params)
        return DeliveryRow.from_row(rows[0]) if rows else None

    async def renew(self, row_ids: Collection[int], owner: str, until: float) -> set[int]:
        if not row_ids:
            return set()
        rows = await self._write(
            "UPDATE deliveries SET lease_until = %s WHERE id = ANY(%s::bigint[]) AND lease_owner = %s AND status = 'running'"
            " RETURNING id",
            (until, list(row_ids), owner),
        )
        return {int(row[0]) for row in rows}

    async def hand_over(self, row_id: int, owner: str, needs: str) -> bool:
        rows = await self._write(
            "UPDATE deliveries SET needs = %s, status = 'pending', attempts = attempts - 1, lease_owner = NULL,"
            " lease_until = NULL WHERE id = %s AND lease_owner = %s AND status = 'running' RETURNING id",
            (needs, row_id, owner),
            notify=True,
        )
        return bool(rows)

    async def release(self, row_ids: Collection[int], owner: str) -> None:
        if row_ids:
            await self._write(
                "UPDATE deliveries SET status = 'pending', lease_owner = NULL, lease_until = NULL"
                " WHERE id = ANY(%s::bigint[]) AND lease_owner = %s AND status = 'running'",
                (list(row_ids), owner),
                notify=True,
            )

    async def wakeups(self) -> AsyncIterator[None]:
        conn = await self._engine.dedicated_connection()
        async with conn:
            await conn.execute(f"LISTEN {CHANNEL}")
            yield None  # listening from now on: what was stored before is found by looking
            async for _ in conn.notifies():
                yield None

    # -- housekeeping ----------------------------------------------------------------------

    async def prune_chunk(
        self, finished_before: float, dead_before: float, after_id: int, limit: int = PRUNE_CHUNK
    ) -> tuple[int, int | None]:
        """Delete up to `limit` rows past their retention, oldest id first, in one short
        transaction; the chunks go on after the last id deleted until one comes back short.
        The newest delivery stays, as on SQLite (the contract says so; PostgreSQL's identity
        would not need it)."""
        rows = await self._write(
            "DELETE FROM deliveries WHERE id IN ("
            " SELECT id FROM deliveries WHERE id > %s AND finished_at IS NOT NULL"
            " AND ((status IN ('done', 'ignored') AND finished_at < %s) OR (status = 'dead' AND finished_at < %s))"
            " AND id < (SELECT max(id) FROM deliveries)"
            " ORDER BY id LIMIT %s) RETURNING id",
            (after_id, finished_before, dead_before, limit),
        )
        if len(rows) < limit:
            return len(rows), None
        return len(rows), max(int(row[0]) for row in rows)

    async def beat(self, now: float) -> None:
        await self._write(
            "INSERT INTO heartbeat (id, at) VALUES (1, %s) ON CONFLICT (id) DO UPDATE SET at = EXCLUDED.at", (now,)
        )
