"""Worktrees on PostgreSQL. The unique indexes keep one live worktree per issue and per branch;
a reservation counts and inserts under one transaction-scoped advisory lock, so reservations
arriving at several replicas at once are decided one after another and never pass a limit (the
per-host limit counts every repository, so the lock is one for all of them: starts are rare)."""

from __future__ import annotations

from typing import Any

from bot.storage.postgres.engine import PostgresEngine, advisory_key
from bot.storage.worktrees import BRANCH_TAKEN, FIELDS, Reservation, State, Worktree, limit_refusal, worktree_of

RESERVE_LOCK = advisory_key("worktrees", "reserve")

_LIVE = f"SELECT {FIELDS} FROM worktrees WHERE state != 'removed' AND platform = %s AND repo = %s AND number = %s"


async def _one(conn: Any, query: str, params: tuple[Any, ...]) -> Any:
    return await (await conn.execute(query, params)).fetchone()


async def _all(conn: Any, query: str, params: tuple[Any, ...] = ()) -> list[Any]:
    return list(await (await conn.execute(query, params)).fetchall())


async def _counts(conn: Any, platform: str, repo: str) -> tuple[int, int]:
    in_repo, total = await _one(conn, "SELECT count(*) FILTER (WHERE platform = %s AND repo = %s), count(*) FROM worktrees "
                                "WHERE state != 'removed'", (platform, repo.lower()))
    return int(in_repo), int(total)


class PostgresWorktrees:
    def __init__(self, engine: PostgresEngine) -> None:
        self._engine = engine

    async def _read_one(self, query: str, params: tuple[Any, ...]) -> Any:
        async with self._engine.connection() as conn:
            return await _one(conn, query, params)

    async def _read_all(self, query: str, params: tuple[Any, ...] = ()) -> list[Any]:
        async with self._engine.connection() as conn:
            return await _all(conn, query, params)

    async def _write(self, query: str, params: tuple[Any, ...] | dict[str, Any]) -> None:
        async with self._engine.connection() as conn:
            await conn.execute(query, params)

    async def live(self, platform: str, repo: str, number: int) -> Worktree | None:
        return worktree_of(await self._read_one(_LIVE, (platform, repo.lower(), number)))

    async def last_branch(self, platform: str, repo: str, number: int) -> str | None:
        row = await self._read_one("SELECT branch FROM worktrees WHERE platform = %s AND repo = %s AND number = %s "
                                   "ORDER BY id DESC LIMIT 1", (platform, repo.lower(), number))
        return str(row[0]) if row else None

    async def branches_in_use(self, platform: str, repo: str) -> set[str]:
        rows = await self._read_all("SELECT DISTINCT branch FROM worktrees WHERE platform = %s AND repo = %s", (platform, repo.lower()))
        return {str(r[0]) for r in rows}

    async def over_limit(self, platform: str, repo: str, max_per_repo: int, max_total: int) -> str:
        async with self._engine.connection() as conn:
            in_repo, total = await _counts(conn, platform, repo)
        return limit_refusal(in_repo, total, max_per_repo, max_total)

    async def reserve(
        self, platform: str, repo: str, number: int, branch: str, base: str, path: str, holder: str,
        now: float, max_per_repo: int, max_total: int, answer_key: str = "",
    ) -> Reservation:
        key = (platform, repo.lower(), number)
        async with self._engine.transaction() as conn:
            # Held until commit: the next reservation's counts (read committed) include this one's row.
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (RESERVE_LOCK,))
            current = worktree_of(await _one(conn, _LIVE, key))
            if current is not None:
                return Reservation(current)
            refused = limit_refusal(*await _counts(conn, platform, repo), max_per_repo, max_total)
            if refused:
                return Reservation(None, refused)
            taken = await _one(conn, "SELECT 1 FROM worktrees WHERE platform = %s AND repo = %s AND branch = %s AND number != %s",
                               (platform, repo.lower(), branch, number))
            if taken:
                return Reservation(None, BRANCH_TAKEN.format(branch=branch))
            # The indexes stay the last word (a rename outside the lock): a conflict inserts nothing.
            inserted = await _one(
                conn,
                "INSERT INTO worktrees (platform, repo, number, branch, base, path, holder, state, answer_key, created_at, updated_at)"
                f" VALUES (%s, %s, %s, %s, %s, %s, %s, 'creating', %s, %s, %s) ON CONFLICT DO NOTHING RETURNING {FIELDS}",
                (platform, repo.lower(), number, branch, base, path, holder, answer_key, now, now))
            if inserted is not None:
                return Reservation(worktree_of(inserted))
            current = worktree_of(await _one(conn, _LIVE, key))
            return Reservation(current) if current is not None else Reservation(None, BRANCH_TAKEN.format(branch=branch))

    async def mark(self, worktree_id: int, state: State, now: float, sha: str | None = None,
                   note: str | None = None, pull_number: int | None = None) -> None:
        await self._write(
            "UPDATE worktrees SET state = %(state)s, updated_at = %(now)s, sha = coalesce(%(sha)s, sha), note = coalesce(%(note)s, note),"
            " pull_number = coalesce(%(pull)s, pull_number),"
            " removed_at = CASE WHEN %(state)s = 'removed' THEN %(now)s ELSE removed_at END WHERE id = %(id)s",
            {"state": state.value, "now": now, "sha": sha, "note": note, "pull": pull_number, "id": worktree_id})

    async def set_holder(self, worktree_id: int, holder: str, now: float) -> None:
        await self._write("UPDATE worktrees SET holder = %s, updated_at = %s WHERE id = %s", (holder, now, worktree_id))

    async def all_live(self, platform: str | None = None, repo: str | None = None) -> list[Worktree]:
        query, params = f"SELECT {FIELDS} FROM worktrees WHERE state != 'removed'", []
        if platform is not None:
            query += " AND platform = %s"
            params.append(platform)
        if repo is not None:
            query += " AND repo = %s"
            params.append(repo.lower())
        rows = await self._read_all(query + " ORDER BY platform, repo, number", tuple(params))
        return [w for w in (worktree_of(r) for r in rows) if w]

    async def by_path(self, path: str) -> Worktree | None:
        return worktree_of(await self._read_one(f"SELECT {FIELDS} FROM worktrees WHERE state != 'removed' AND path = %s", (path,)))

    async def by_branch(self, platform: str, repo: str, branch: str) -> Worktree | None:
        return worktree_of(await self._read_one(
            f"SELECT {FIELDS} FROM worktrees WHERE state != 'removed' AND platform = %s AND repo = %s AND branch = %s",
            (platform, repo.lower(), branch)))

    async def rename_branch(self, worktree_id: int, branch: str, now: float) -> None:
        await self._write("UPDATE worktrees SET branch = %s, updated_at = %s WHERE id = %s", (branch, now, worktree_id))

    async def branch_history(self, platform: str, repo: str, number: int, branch: str, other_than: int) -> bool:
        return await self._read_one(
            "SELECT 1 FROM worktrees WHERE platform = %s AND repo = %s AND number = %s AND branch = %s AND id != %s",
            (platform, repo.lower(), number, branch, other_than)) is not None

    async def creating(self) -> list[Worktree]:
        rows = await self._read_all(f"SELECT {FIELDS} FROM worktrees WHERE state = 'creating' ORDER BY id")
        return [w for w in (worktree_of(r) for r in rows) if w]

    async def claim_end(self, platform: str, repo: str, number: int) -> str | None:
        row = await self._read_one("SELECT active, release_reason FROM claims WHERE platform = %s AND repo = %s AND number = %s "
                                   "ORDER BY active DESC, id DESC LIMIT 1", (platform, repo.lower(), number))
        if row is None or row[0]:
            return None
        return str(row[1] or "released")
