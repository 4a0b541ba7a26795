"""Idempotency keys for effects on the platform, so a retried delivery never acts twice."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from bot.storage.sqlite.engine import single_statement


@single_statement
def seen(conn: sqlite3.Connection, key: str) -> bool:
    return conn.execute("SELECT 1 FROM effects WHERE key = ?", (key,)).fetchone() is not None


@single_statement
def detail(conn: sqlite3.Connection, key: str) -> dict[str, Any] | None:
    row = conn.execute("SELECT detail FROM effects WHERE key = ?", (key,)).fetchone()
    return json.loads(row[0]) if row else None


@single_statement
def record(conn: sqlite3.Connection, key: str, delivery_id: str | None, now: float, detail: dict[str, Any]) -> bool:
    """Remember that the effect named `key` happened; False if it was already recorded."""
    cursor = conn.execute(
        "INSERT OR IGNORE INTO effects (key, delivery_id, created_at, detail) VALUES (?, ?, ?, ?)",
        (key, delivery_id, now, json.dumps(detail, sort_keys=True)),
    )
    return bool(cursor.rowcount)
