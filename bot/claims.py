"""Claims with leases, in the store. Each function is one store job, so each decision is atomic.

The unique index on active claims is the last word: fifty people claiming the same issue at
once get one holder, because the store runs these jobs one after another and the index would
refuse a second active row anyway.
"""

from __future__ import annotations

import enum
import sqlite3
from dataclasses import dataclass, replace

from bot.storage.sqlite.engine import single_statement


class ClaimOutcome(enum.StrEnum):
    GRANTED = "granted"
    RENEWED = "renewed"  # the holder claimed again
    HELD = "held"  # someone else holds it
    CAPPED = "capped"  # the claimant holds too many already


@dataclass(frozen=True)
class Claim:
    id: int
    platform: str
    repo: str
    number: int
    holder: str
    claimed_at: float
    expires_at: float


@dataclass(frozen=True)
class ClaimResult:
    outcome: ClaimOutcome
    claim: Claim | None  # the claim now in force: the claimant's, or the holder's
    held_by_claimant: int = 0


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
    """Grant, renew or refuse. `request` names what asked (a delivery id): when that same request
    comes again (a retry after the platform failed), its claim is granted again, not renewed."""
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
    """End the active claim, if any; return it."""
    current = active_claim(conn, platform, repo, number)
    if current is not None:
        conn.execute(
            "UPDATE claims SET active = 0, released_at = ?, release_reason = ? WHERE id = ?", (now, reason, current.id)
        )
    return current


@single_statement
def withdraw(conn: sqlite3.Connection, claim_id: int, now: float, reason: str) -> None:
    """End one claim, if it is still active (a claim the platform would not carry out)."""
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
