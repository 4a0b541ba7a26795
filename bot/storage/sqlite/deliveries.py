"""Deliveries on SQLite: store jobs (`job(conn, ...)`, run by the group-commit engine) and
`SqliteDeliveries`, the interface (bot/storage/deliveries.py) on top of them.

The webhook's hot path is `insert_soon`: the engine's `submit` with a callback, and the batch
form `insert_many`, so a turn's deliveries share one multi-row INSERT and one commit.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

from bot.events import GITEA, GITHUB
from bot.http.webhooks import Delivery
from bot.storage import bodies
from bot.storage.deliveries import COLUMNS, DEAD, DONE, IGNORED, PRUNE_CHUNK, DeliveryRow, Then
from bot.storage.sqlite import effects as effect_keys
from bot.storage.sqlite.engine import batch, single_statement

if TYPE_CHECKING:
    from bot.storage.sqlite.engine import Store

_COLUMNS = COLUMNS

_INSERT_COLUMNS = "(platform, delivery_id, event, event_type, content_type, body, body_encoding, received_at)"


def insert_many(conn: sqlite3.Connection, calls: list[tuple[Delivery, float]]) -> list[int | None]:
    """Store deliveries with one multi-row INSERT; per call, the new row id or None if known.

    One statement for the whole group costs one parse and one trip into SQLite per commit,
    whatever the batch size. Bodies are stored compressed when that pays (bot/bodies.py).
    Duplicates are rare, so they are sorted out after the fact, only when the insert reports
    fewer rows than it was given.
    """
    params: list[object] = []
    for d, received_at in calls:
        stored, encoding = bodies.encode(d.body)
        params += (d.platform, d.delivery_id, d.event, d.event_type, d.content_type, stored, encoding, received_at)
    cursor = conn.execute(
        f"INSERT OR IGNORE INTO deliveries {_INSERT_COLUMNS} VALUES "
        + ",".join(["(?, ?, ?, ?, ?, ?, ?, ?)"] * len(calls)),
        params,
    )
    inserted, last = cursor.rowcount, cursor.lastrowid
    if inserted == len(calls):
        # `id` is a rowid alias and the write lock was ours: the ids are consecutive, in order.
        assert last is not None
        return list(range(last - inserted + 1, last + 1))
    return _sort_out_duplicates(conn, calls, inserted, last)


def _sort_out_duplicates(
    conn: sqlite3.Connection, calls: list[tuple[Delivery, float]], inserted: int, last: int | None
) -> list[int | None]:
    """After a partial insert: the rows with the new ids are this batch's, the rest were known."""
    new_ids = range(last - inserted + 1, last + 1) if inserted and last is not None else range(0)
    ids: dict[tuple[str, str], int] = {}
    for d, _ in calls:
        key = (d.platform, d.delivery_id)
        if key not in ids:
            row = conn.execute(
                "SELECT id FROM deliveries WHERE platform = ? AND delivery_id = ?", key
            ).fetchone()
            ids[key] = row[0]
    results: list[int | None] = []
    claimed: set[int] = set()
    for d, _ in calls:
        row_id = ids[(d.platform, d.delivery_id)]
        if row_id in new_ids and row_id not in claimed:
            claimed.add(row_id)  # a second copy in the same batch is a duplicate
            results.append(row_id)
        else:
            results.append(None)
    return results


@batch(insert_many)
def insert(conn: sqlite3.Connection, delivery: Delivery, received_at: float) -> int | None:
    """Store a delivery; return its row id, or None when this delivery id is already stored."""
    return insert_many(conn, [(delivery, received_at)])[0]


@single_statement
def open_after(conn: sqlite3.Connection, after_id: int, limit: int) -> list[DeliveryRow]:
    """Pending or running deliveries after `after_id`, in arrival order."""
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM deliveries WHERE status IN ('pending', 'running') AND id > ?"
        " ORDER BY id LIMIT ?",
        (after_id, limit),
    )
    return [DeliveryRow.from_row(row) for row in rows]


@single_statement
def last_open_id(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT max(id) FROM deliveries WHERE status IN ('pending', 'running')").fetchone()
    return int(row[0] or 0)


@single_statement
def open_count(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT count(*) FROM deliveries WHERE status IN ('pending', 'running')").fetchone()
    return int(row[0])


@single_statement
def beat(conn: sqlite3.Connection, now: float) -> None:
    conn.execute("INSERT OR REPLACE INTO heartbeat (id, at) VALUES (1, ?)", (now,))


@single_statement
def start_attempt(
    conn: sqlite3.Connection, row_id: int, action: str | None, repo: str | None, subject: str | None
) -> int:
    """Mark a delivery running and count the attempt (before running it, so a crash counts)."""
    (attempts,) = conn.execute(
        "UPDATE deliveries SET status = 'running', attempts = attempts + 1,"
        " action = ?, repo = ?, subject = ? WHERE id = ? RETURNING attempts",
        (action, repo, subject, row_id),
    ).fetchone()
    return int(attempts)


@single_statement
def finish(conn: sqlite3.Connection, row_id: int, status: str, now: float, error: str | None = None) -> None:
    conn.execute(
        "UPDATE deliveries SET status = ?, finished_at = ?, last_error = ?, next_attempt_at = NULL WHERE id = ?",
        (status, now, error, row_id),
    )


def finish_ignored(conn: sqlite3.Connection, described: list[tuple[int, str | None, str | None, str | None]], now: float) -> None:
    """Finish deliveries no handler wanted: (row id, action, repo, subject) each."""
    conn.executemany(
        "UPDATE deliveries SET status = 'ignored', finished_at = ?, action = ?, repo = ?, subject = ? WHERE id = ?",
        [(now, action, repo, subject, row_id) for row_id, action, repo, subject in described],
    )


@single_statement
def retry_later(conn: sqlite3.Connection, row_id: int, next_attempt_at: float, error: str, counted: bool = True) -> None:
    """Put a failed delivery back to wait; an attempt that is not `counted` is taken off its count."""
    conn.execute(
        "UPDATE deliveries SET status = 'pending', next_attempt_at = ?, last_error = ?,"
        " attempts = attempts - ? WHERE id = ?",
        (next_attempt_at, error, 0 if counted else 1, row_id),
    )


@single_statement
def find(conn: sqlite3.Connection, delivery_id: str, platform: str | None = None) -> list[DeliveryRow]:
    """The delivery with this id, on `platform` or on either. Naming the platforms keeps the
    lookup on the (platform, delivery_id) index instead of a scan of the whole table."""
    platforms = (platform,) if platform else (GITHUB, GITEA)
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM deliveries WHERE platform IN ({','.join('?' * len(platforms))}) AND delivery_id = ?"
        " ORDER BY id",
        (*platforms, delivery_id),
    )
    return [DeliveryRow.from_row(row) for row in rows]


@single_statement
def by_row_id(conn: sqlite3.Connection, row_id: int) -> DeliveryRow | None:
    row = conn.execute(f"SELECT {_COLUMNS} FROM deliveries WHERE id = ?", (row_id,)).fetchone()
    return DeliveryRow.from_row(row) if row else None


@single_statement
def mark_replayed(conn: sqlite3.Connection, row_id: int, now: float) -> None:
    """Note that a delivery was replayed now (`forgebot replay`, which runs it in its own process)."""
    conn.execute("UPDATE deliveries SET replayed_at = ? WHERE id = ?", (now, row_id))


@single_statement
def requeue(conn: sqlite3.Connection, row_id: int, now: float) -> None:
    """Give a delivery a fresh set of attempts (replay)."""
    conn.execute(
        "UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = NULL,"
        " finished_at = NULL, replayed_at = ? WHERE id = ?",
        (now, row_id),
    )


# Dead letters and deliveries waiting for a retry. Written exactly as the WHERE of the
# `deliveries_failed` index (migration 7), so that the listing reads that index alone.
FAILED = "status IN ('pending', 'running', 'dead') AND (status = 'dead' OR last_error IS NOT NULL)"


@single_statement
def listing(conn: sqlite3.Connection, failed_only: bool, limit: int) -> list[DeliveryRow]:
    """Newest first; `failed_only` keeps dead letters and deliveries waiting for a retry."""
    where = f"WHERE {FAILED}" if failed_only else ""
    rows = conn.execute(f"SELECT {_COLUMNS} FROM deliveries {where} ORDER BY id DESC LIMIT ?", (limit,))
    return [DeliveryRow.from_row(row) for row in rows]


@single_statement
def counts(conn: sqlite3.Connection) -> dict[str, int]:
    return {status: n for status, n in conn.execute("SELECT status, count(*) FROM deliveries GROUP BY status")}


def prune_chunk(
    conn: sqlite3.Connection, finished_before: float, dead_before: float, after_id: int, limit: int = PRUNE_CHUNK
) -> tuple[int, int | None]:
    """Forget, among the `limit` deliveries after `after_id`, the finished ones older than the
    retention (dead letters are kept longer). Returns how many went and where to go on from,
    or None once the rest is too recent to look at.

    Rows are in arrival order, so the scan stops at the first chunk received entirely after
    `finished_before`: nothing there can have finished before it. The newest row always stays:
    SQLite gives a new row the highest id plus one, and the inbox counts on ids only growing.
    """
    rows = conn.execute(
        "SELECT id, status, finished_at, received_at FROM deliveries WHERE id > ? ORDER BY id LIMIT ?", (after_id, limit)
    ).fetchall()
    (newest,) = conn.execute("SELECT max(id) FROM deliveries").fetchone()
    doomed = [
        row_id
        for row_id, status, finished_at, _ in rows
        if finished_at is not None
        and row_id != newest
        and ((status in (DONE, IGNORED) and finished_at < finished_before) or (status == DEAD and finished_at < dead_before))
    ]
    if doomed:
        conn.execute(f"DELETE FROM deliveries WHERE id IN ({','.join('?' * len(doomed))})", doomed)
    if len(rows) < limit or all(received_at >= finished_before for *_, received_at in rows):
        return len(doomed), None
    return len(doomed), int(rows[-1][0])


def prune(conn: sqlite3.Connection, finished_before: float, dead_before: float) -> int:
    """All of the pruning in one transaction (the CLI and tests; the service goes chunk by chunk)."""
    removed = 0
    after: int | None = 0
    while after is not None:
        count, after = prune_chunk(conn, finished_before, dead_before, after)
        removed += count
    while effect_keys.prune(conn, dead_before):
        pass
    return removed


class SqliteDeliveries:
    """The deliveries kind on SQLite: each method runs one of the jobs above."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def insert_soon(self, delivery: Delivery, received_at: float, then: Then) -> None:
        self._store.submit(insert, delivery, received_at, then=then)

    async def insert(self, delivery: Delivery, received_at: float) -> int | None:
        return await self._store.run(insert, delivery, received_at)

    async def insert_many(self, calls: list[tuple[Delivery, float]]) -> list[int | None]:
        return await self._store.run(insert_many, calls)

    async def open_after(self, after_id: int, limit: int) -> list[DeliveryRow]:
        return await self._store.run(open_after, after_id, limit)

    async def last_open_id(self) -> int:
        return await self._store.run(last_open_id)

    async def open_count(self) -> int:
        return await self._store.run(open_count)

    async def start_attempt(self, row_id: int, action: str | None, repo: str | None, subject: str | None) -> int:
        return await self._store.run(start_attempt, row_id, action, repo, subject)

    async def finish(self, row_id: int, status: str, now: float, error: str | None = None) -> None:
        await self._store.run(finish, row_id, status, now, error)

    async def finish_ignored(self, described: list[tuple[int, str | None, str | None, str | None]], now: float) -> None:
        await self._store.run(finish_ignored, described, now)

    async def retry_later(self, row_id: int, next_attempt_at: float, error: str, counted: bool = True) -> None:
        await self._store.run(retry_later, row_id, next_attempt_at, error, counted)

    async def find(self, delivery_id: str, platform: str | None = None) -> list[DeliveryRow]:
        return await self._store.run(find, delivery_id, platform)

    async def by_row_id(self, row_id: int) -> DeliveryRow | None:
        return await self._store.run(by_row_id, row_id)

    async def mark_replayed(self, row_id: int, now: float) -> None:
        await self._store.run(mark_replayed, row_id, now)

    async def requeue(self, row_id: int, now: float) -> None:
        await self._store.run(requeue, row_id, now)

    async def listing(self, failed_only: bool, limit: int) -> list[DeliveryRow]:
        return await self._store.run(listing, failed_only, limit)

    async def counts(self) -> dict[str, int]:
        return await self._store.run(counts)

    async def prune_chunk(
        self, finished_before: float, dead_before: float, after_id: int, limit: int = PRUNE_CHUNK
    ) -> tuple[int, int | None]:
        return await self._store.run(prune_chunk, finished_before, dead_before, after_id, limit)

    async def beat(self, now: float) -> None:
        await self._store.run(beat, now)
