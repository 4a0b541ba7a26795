"""Claims on PostgreSQL, with claims arriving at several replicas at once.

- One active claim per issue: the unique partial index `claims_one_active`. Two replicas granting
  the same issue at once both try the INSERT; ON CONFLICT makes the second wait for the first to
  commit and then insert nothing, and it answers HELD with the claim that won.
- The per-user cap counts the claimant's active claims on every issue, so two grants to one login
  on two different issues could both see "2 of 3" and make it 4. Every claim of one
  (platform, lower(login)) therefore takes a transaction-scoped advisory lock on that pair first:
  one claimant's claims are decided one after another everywhere, other claimants never wait on it.
- A retried request is recognised by `granted_by`, as on SQLite.

Each transaction takes at most one advisory lock and inserts at most one row, so two claims can
wait for each other only one way: no deadlock.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from bot.storage.claims import Claim, ClaimOutcome, ClaimResult
from bot.storage.postgres.engine import PostgresEngine, advisory_key
from bot.storage.postgres.locks import serialize_on

# Tries to grant against claims of others that end as fast as they are granted (never in practice).
ATTEMPTS = 5
_FIELDS = "id, platform, repo, number, holder, claimed_at, expires_at"


def _claim(row: Any) -> Claim | None:
    return Claim(*row) if row else None


class PostgresClaims:
    def __init__(self, engine: PostgresEngine) -> None:
        self._engine = engine

    async def active_claim(self, platform: str, repo: str, number: int) -> Claim | None:
        async with self._engine.connection() as conn:
            cursor = await conn.execute(
                f"SELECT {_FIELDS} FROM claims WHERE active = 1 AND platform = %s AND repo = %s AND number = %s",
                (platform, repo.lower(), number),
            )
            return _claim(await cursor.fetchone())

    async def claim(
        self, platform: str, repo: str, number: int, login: str, now: float, expires_at: float,
        max_per_user: int, request: str | None = None,
    ) -> ClaimResult:
        repo = repo.lower()
        async with self._engine.transaction() as conn:
            await serialize_on(conn, advisory_key("claims", platform, login.lower()))
            for _ in range(ATTEMPTS):
                cursor = await conn.execute(
                    f"SELECT {_FIELDS}, granted_by FROM claims"
                    " WHERE active = 1 AND platform = %s AND repo = %s AND number = %s FOR UPDATE",
                    (platform, repo, number),
                )
                row = await cursor.fetchone()
                if row is not None:
                    current = Claim(*row[:7])
                    if current.holder.lower() != login.lower():
                        return ClaimResult(ClaimOutcome.HELD, current)
                    await conn.execute("UPDATE claims SET expires_at = %s WHERE id = %s", (expires_at, current.id))
                    mine = request is not None and row[7] == request
                    return ClaimResult(ClaimOutcome.GRANTED if mine else ClaimOutcome.RENEWED, replace(current, expires_at=expires_at))
                cursor = await conn.execute(
                    "SELECT count(*) FROM claims WHERE active = 1 AND platform = %s AND lower(holder) = %s",
                    (platform, login.lower()),
                )
                (held,) = await cursor.fetchone()
                if held >= max_per_user:
                    return ClaimResult(ClaimOutcome.CAPPED, None, held)
                cursor = await conn.execute(
                    "INSERT INTO claims (platform, repo, number, holder, claimed_at, expires_at, granted_by)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s)"
                    " ON CONFLICT (platform, repo, number) WHERE active = 1 DO NOTHING RETURNING id",
                    (platform, repo, number, login, now, expires_at, request),
                )
                inserted = await cursor.fetchone()
                if inserted is not None:
                    return ClaimResult(ClaimOutcome.GRANTED, Claim(inserted[0], platform, repo, number, login, now, expires_at), held + 1)
                # Another claimant's grant committed between our read and our insert: read it
                # again (a new statement sees it) and answer HELD; if it has already ended, try again.
        raise RuntimeError(f"claim of {repo}#{number} kept losing to claims that ended at once; try again")

    async def release(self, platform: str, repo: str, number: int, now: float, reason: str) -> Claim | None:
        async with self._engine.connection() as conn:
            cursor = await conn.execute(
                "UPDATE claims SET active = 0, released_at = %s, release_reason = %s"
                " WHERE active = 1 AND platform = %s AND repo = %s AND number = %s"
                f" RETURNING {_FIELDS}",
                (now, reason, platform, repo.lower(), number),
            )
            return _claim(await cursor.fetchone())

    async def withdraw(self, claim_id: int, now: float, reason: str) -> None:
        async with self._engine.connection() as conn:
            await conn.execute(
                "UPDATE claims SET active = 0, released_at = %s, release_reason = %s WHERE id = %s AND active = 1",
                (now, reason, claim_id),
            )

    async def extend(self, claim_id: int, expires_at: float) -> None:
        async with self._engine.connection() as conn:
            await conn.execute("UPDATE claims SET expires_at = %s WHERE id = %s AND active = 1", (expires_at, claim_id))

    async def active_claims(self, platform: str, repo: str | None = None) -> list[Claim]:
        query = f"SELECT {_FIELDS} FROM claims WHERE active = 1 AND platform = %s"
        params: tuple[object, ...] = (platform,)
        if repo is not None:
            query += " AND repo = %s"
            params += (repo.lower(),)
        async with self._engine.connection() as conn:
            cursor = await conn.execute(query + " ORDER BY claimed_at, id", params)
            return [Claim(*row) for row in await cursor.fetchall()]

    async def expired(self, now: float, limit: int = 200) -> list[Claim]:
        async with self._engine.connection() as conn:
            cursor = await conn.execute(
                f"SELECT {_FIELDS} FROM claims WHERE active = 1 AND expires_at <= %s ORDER BY expires_at, id LIMIT %s",
                (now, limit),
            )
            return [Claim(*row) for row in await cursor.fetchall()]

    async def last_end(self, platform: str, repo: str, number: int) -> str | None:
        # One statement: the newest claim of the issue says it all (an active one is the newest,
        # since a new claim is only granted once the previous one has ended).
        async with self._engine.connection() as conn:
            cursor = await conn.execute(
                "SELECT active, release_reason FROM claims WHERE platform = %s AND repo = %s AND number = %s"
                " ORDER BY id DESC LIMIT 1",
                (platform, repo.lower(), number),
            )
            row = await cursor.fetchone()
        if row is None or row[0] == 1:
            return None
        return str(row[1] or "released")
