"""Claims on SQLite: each method is one store job, so each decision is atomic.

The store runs jobs one after another on one connection, so reading the cap and then inserting
cannot interleave with another claim; the unique index on active claims would refuse a second
active row anyway.
"""

from __future__ import annotations

import sqlite3
from dataclasses import replace

from bot.storage.claims import Claim, ClaimOutcome, ClaimResult
from bot.storage.sqlite.engine import Store, single_statement

_FIELDS = "id, platform, repo, number, holder, claimed_at, expires_at"


def _claim(row: sqlite3.Row | tuple[object, ...] | None) -> Claim | None:
    return Claim(*row) if row else None


@single_statement
def active_claim(conn: sqlite3.Connection, platform: str, repo: str, number: int) -> Claim | None:
    row = conn.execute(
        f"SELECT {_FIELDS} FROM claims WHERE active = 1 AND platform = ? AND repo = ? AND number = ?",
        (platform, repo.lower(), number),
    ).fetchone()
    return _claim(row)


def claim(
    conn: sqlite3.Connection,
    platform: str,
    repo: str,
    number: int,
    login: str,
    now: float,
    expires_at: float,
    max_per_user: int,
    request: str | None = None,
) -> ClaimResult:
    current = active_claim(conn, platform, repo, number)
    if current is not None:
        if current.holder.lower() != login.lower():
            return ClaimResult(ClaimOutcome.HELD, current)
        (granted_by,) = conn.execute("SELECT granted_by FROM claims WHERE id = ?", (current.id,)).fetchone()
        conn.execute("UPDATE claims SET expires_at = ? WHERE id = ?", (expires_at, current.id))
        outcome = ClaimOutcome.GRANTED if request is not None and granted_by == request else ClaimOutcome.RENEWED
        return ClaimResult(outcome, replace(current, expires_at=expires_at))
    (held,) = conn.execute(
        "SELECT count(*) FROM claims WHERE active = 1 AND platform = ? AND lower(holder) = ?", (platform, login.lower())
    ).fetchone()
    if held >= max_per_user:
        return ClaimResult(ClaimOutcome.CAPPED, None, held)
    cursor = conn.execute(
        "INSERT INTO claims (platform, repo, number, holder, claimed_at, expires_at, granted_by) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (platform, repo.lower(), number, login, now, expires_at, request),
    )
    granted = Claim(int(cursor.lastrowid or 0), platform, repo.lower(), number, login, now, expires_at)
    return ClaimResult(ClaimOutcome.GRANTED, granted, held + 1)


def release(conn: sqlite3.Connection, platform: str, repo: str, number: int, now: float, reason: str) -> Claim | None:
    current = active_claim(conn, platform, repo, number)
    if current is not None:
        conn.execute(
            "UPDATE claims SET active = 0, released_at = ?, release_reason = ? WHERE id = ?", (now, reason, current.id)
        )
    return current


@single_statement
def withdraw(conn: sqlite3.Connection, claim_id: int, now: float, reason: str) -> None:
    conn.execute(
        "UPDATE claims SET active = 0, released_at = ?, release_reason = ? WHERE id = ? AND active = 1", (now, reason, claim_id)
    )


@single_statement
def extend(conn: sqlite3.Connection, claim_id: int, expires_at: float) -> None:
    conn.execute("UPDATE claims SET expires_at = ? WHERE id = ? AND active = 1", (expires_at, claim_id))


@single_statement
def active_claims(conn: sqlite3.Connection, platform: str, repo: str | None = None) -> list[Claim]:
    query = f"SELECT {_FIELDS} FROM claims WHERE active = 1 AND platform = ?"
    params: tuple[object, ...] = (platform,)
    if repo is not None:
        query += " AND repo = ?"
        params += (repo.lower(),)
    return [Claim(*row) for row in conn.execute(query + " ORDER BY claimed_at", params)]


@single_statement
def expired(conn: sqlite3.Connection, now: float, limit: int = 200) -> list[Claim]:
    rows = conn.execute(
        f"SELECT {_FIELDS} FROM claims WHERE active = 1 AND expires_at <= ? ORDER BY expires_at LIMIT ?", (now, limit)
    )
    return [Claim(*row) for row in rows]


def last_end(conn: sqlite3.Connection, platform: str, repo: str, number: int) -> str | None:
    if active_claim(conn, platform, repo, number) is not None:
        return None
    row = conn.execute(
        "SELECT release_reason FROM claims WHERE platform = ? AND repo = ? AND number = ? ORDER BY id DESC LIMIT 1",
        (platform, repo.lower(), number),
    ).fetchone()
    return (row[0] or "released") if row else None


class SqliteClaims:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def active_claim(self, platform: str, repo: str, number: int) -> Claim | None:
        return await self._store.run(active_claim, platform, repo, number)

    async def claim(
        self, platform: str, repo: str, number: int, login: str, now: float, expires_at: float,
        max_per_user: int, request: str | None = None,
    ) -> ClaimResult:
        return await self._store.run(claim, platform, repo, number, login, now, expires_at, max_per_user, request)

    async def release(self, platform: str, repo: str, number: int, now: float, reason: str) -> Claim | None:
        return await self._store.run(release, platform, repo, number, now, reason)

    async def withdraw(self, claim_id: int, now: float, reason: str) -> None:
        await self._store.run(withdraw, claim_id, now, reason)

    async def extend(self, claim_id: int, expires_at: float) -> None:
        await self._store.run(extend, claim_id, expires_at)

    async def active_claims(self, platform: str, repo: str | None = None) -> list[Claim]:
        return await self._store.run(active_claims, platform, repo)

    async def expired(self, now: float, limit: int = 200) -> list[Claim]:
        return await self._store.run(expired, now, limit)

    async def last_end(self, platform: str, repo: str, number: int) -> str | None:
        return await self._store.run(last_end, platform, repo, number)
