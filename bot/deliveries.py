"""Queries on the `deliveries` table. Each function is a store job: `job(conn, ...)`."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from bot.webhooks import Delivery

PENDING, RUNNING, DONE, IGNORED, DEAD = "pending", "running", "done", "ignored", "dead"

_COLUMNS = (
    "id, platform, delivery_id, event, event_type, content_type, body, received_at, status,"
    " attempts, next_attempt_at, action, repo, subject, last_error, finished_at"
)


@dataclass(slots=True)
class DeliveryRow:
    id: int
    platform: str
    delivery_id: str
    event: str
    event_type: str | None
    content_type: str
    body: bytes
    received_at: float
    status: str
    attempts: int
    next_attempt_at: float | None
    action: str | None
    repo: str | None
    subject: str | None
    last_error: str | None
    finished_at: float | None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> DeliveryRow:
        return cls(*row)


def insert(conn: sqlite3.Connection, delivery: Delivery, received_at: float) -> int | None:
    """Store a delivery; return its row id, or None when this delivery id is already stored."""
    cursor = conn.execute(
        "INSERT OR IGNORE INTO deliveries"
        " (platform, delivery_id, event, event_type, content_type, body, received_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            delivery.platform,
            delivery.delivery_id,
            delivery.event,
            delivery.event_type,
            delivery.content_type,
            delivery.body,
            received_at,
        ),
    )
    return cursor.lastrowid if cursor.rowcount else None


def open_after(conn: sqlite3.Connection, after_id: int, limit: int) -> list[DeliveryRow]:
    """Pending or running deliveries after `after_id`, in arrival order."""
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM deliveries WHERE status IN ('pending', 'running') AND id > ?"
        " ORDER BY id LIMIT ?",
        (after_id, limit),
    )
    return [DeliveryRow.from_row(row) for row in rows]


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


def finish(conn: sqlite3.Connection, row_id: int, status: str, now: float, error: str | None = None) -> None:
    conn.execute(
        "UPDATE deliveries SET status = ?, finished_at = ?, last_error = ?, next_attempt_at = NULL WHERE id = ?",
        (status, now, error, row_id),
    )


def retry_later(conn: sqlite3.Connection, row_id: int, next_attempt_at: float, error: str) -> None:
    conn.execute(
        "UPDATE deliveries SET status = 'pending', next_attempt_at = ?, last_error = ? WHERE id = ?",
        (next_attempt_at, error, row_id),
    )


def find(conn: sqlite3.Connection, delivery_id: str, platform: str | None = None) -> list[DeliveryRow]:
    query = f"SELECT {_COLUMNS} FROM deliveries WHERE delivery_id = ?"
    params: tuple[str, ...] = (delivery_id,)
    if platform:
        query += " AND platform = ?"
        params += (platform,)
    return [DeliveryRow.from_row(row) for row in conn.execute(query + " ORDER BY id", params)]


def by_row_id(conn: sqlite3.Connection, row_id: int) -> DeliveryRow | None:
    row = conn.execute(f"SELECT {_COLUMNS} FROM deliveries WHERE id = ?", (row_id,)).fetchone()
    return DeliveryRow.from_row(row) if row else None


def requeue(conn: sqlite3.Connection, row_id: int) -> None:
    """Give a delivery a fresh set of attempts (replay)."""
    conn.execute(
        "UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = NULL,"
        " finished_at = NULL WHERE id = ?",
        (row_id,),
    )


def listing(conn: sqlite3.Connection, *, failed_only: bool, limit: int) -> list[DeliveryRow]:
    """Newest first; `failed_only` keeps dead letters and deliveries waiting for a retry."""
    where = "WHERE status = 'dead' OR (last_error IS NOT NULL AND status IN ('pending', 'running'))" if failed_only else ""
    rows = conn.execute(f"SELECT {_COLUMNS} FROM deliveries {where} ORDER BY id DESC LIMIT ?", (limit,))
    return [DeliveryRow.from_row(row) for row in rows]


def counts(conn: sqlite3.Connection) -> dict[str, int]:
    return {status: n for status, n in conn.execute("SELECT status, count(*) FROM deliveries GROUP BY status")}
