"""The activity log: an append-only, hash-chained record of what the bot did.

Each row's hash covers its own fields and the previous row's hash, so changing, removing or
reordering any row breaks the chain from that row on; `verify` finds the first such row.
Triggers in the schema refuse UPDATE and DELETE; the chain catches edits made around them.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

GENESIS = "0" * 64


@dataclass(frozen=True, slots=True)
class Entry:
    kind: str
    detail: dict[str, Any]
    platform: str | None = None
    repo: str | None = None
    subject: str | None = None
    actor: str | None = None
    delivery_id: str | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    rows: int
    bad_id: int | None = None
    reason: str = ""


def _digest(prev_hash: str, fields: list[Any]) -> str:
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(f"{prev_hash}\n{canonical}".encode()).hexdigest()


def _fields(row_id: int, at: str, entry_kind: str, platform: Any, repo: Any, subject: Any, actor: Any, delivery: Any, detail: str) -> list[Any]:
    return [row_id, at, entry_kind, platform, repo, subject, actor, delivery, detail]


def append(conn: sqlite3.Connection, entry: Entry, now: float) -> str:
    """Append one entry; return its hash. Runs inside the caller's transaction."""
    last = conn.execute("SELECT id, hash FROM activity ORDER BY id DESC LIMIT 1").fetchone()
    row_id, prev_hash = (last[0] + 1, last[1]) if last else (1, GENESIS)
    at = datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds")
    detail = json.dumps(entry.detail, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    fields = _fields(row_id, at, entry.kind, entry.platform, entry.repo, entry.subject, entry.actor, entry.delivery_id, detail)
    digest = _digest(prev_hash, fields)
    conn.execute(
        "INSERT INTO activity (id, at, kind, platform, repo, subject, actor, delivery_id, detail, prev_hash, hash)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (*fields, prev_hash, digest),
    )
    return digest


def verify(conn: sqlite3.Connection) -> Verdict:
    """Walk the chain from the first row; stop at the first row that does not fit."""
    expected_prev = GENESIS
    expected_id = 1
    count = 0
    for row in conn.execute(
        "SELECT id, at, kind, platform, repo, subject, actor, delivery_id, detail, prev_hash, hash FROM activity ORDER BY id"
    ):
        row_id = row[0]
        if row_id != expected_id:
            return Verdict(False, count, row_id, f"row {expected_id} is missing (found {row_id} next)")
        if row[9] != expected_prev:
            return Verdict(False, count, row_id, f"row {row_id} does not point at the hash of row {row_id - 1}")
        if _digest(row[9], list(row[:9])) != row[10]:
            return Verdict(False, count, row_id, f"row {row_id} was changed after it was written")
        expected_prev = row[10]
        expected_id += 1
        count += 1
    return Verdict(True, count)


def recent(conn: sqlite3.Connection, *, limit: int, repo: str | None = None) -> list[dict[str, Any]]:
    query = "SELECT id, at, kind, platform, repo, subject, actor, delivery_id, detail FROM activity"
    params: tuple[Any, ...] = ()
    if repo:
        query += " WHERE repo = ?"
        params = (repo,)
    rows = conn.execute(query + " ORDER BY id DESC LIMIT ?", (*params, limit)).fetchall()
    keys = ("id", "at", "kind", "platform", "repo", "subject", "actor", "delivery_id", "detail")
    return [dict(zip(keys, (*row[:8], json.loads(row[8])), strict=True)) for row in rows]
