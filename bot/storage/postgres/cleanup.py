"""Cleanup state on PostgreSQL. Each method is one transaction, committed when it returns, so the
journal holds as on SQLite: a row is `deleting` before the push. Syncing a repository's notices
reads then writes, so it holds the repository's advisory lock (two replicas' runs of one
repository take turns); the index keeps one open row per branch whatever happens."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot.forges.base import PullRecord
from bot.storage.cleanup import FIELDS, PULL_FIELDS, Notice, Row, latest_by_head, pull_params, row_of
from bot.storage.postgres.engine import PostgresEngine, advisory_key

_OPEN = "state IN ('noticed', 'deleting')"

SAVE_PULL = (
    "INSERT INTO cleanup_pulls (platform, repo, number, head_ref, head_sha, merged, author, closed_at, updated_at) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (platform, repo, number) DO UPDATE SET head_ref = excluded.head_ref, "
    "head_sha = excluded.head_sha, merged = excluded.merged, author = excluded.author, closed_at = excluded.closed_at, "
    "updated_at = excluded.updated_at"
)


class PostgresCleanup:
    def __init__(self, engine: PostgresEngine) -> None:
        self._engine = engine

    async def _rows(self, query: str, params: tuple[Any, ...]) -> list[Any]:
        async with self._engine.connection() as conn:
            return list(await (await conn.execute(query, params)).fetchall())

    async def _write(self, query: str, params: tuple[Any, ...]) -> int:
        async with self._engine.connection() as conn:
            return int((await conn.execute(query, params)).rowcount)

    async def open_rows(self, platform: str, repo: str) -> list[Row]:
        rows = await self._rows(f"SELECT {FIELDS} FROM cleanup_branches WHERE platform = %s AND repo = %s AND {_OPEN} ORDER BY branch",
                                (platform, repo.lower()))
        return [row_of(r) for r in rows]

    async def deleted_rows(self, platform: str, repo: str, limit: int = 50) -> list[Row]:
        rows = await self._rows(f"SELECT {FIELDS} FROM cleanup_branches WHERE platform = %s AND repo = %s AND state = 'deleted' "
                                "ORDER BY deleted_at DESC, id DESC LIMIT %s", (platform, repo.lower(), limit))
        return [row_of(r) for r in rows]

    async def sync_notices(self, platform: str, repo: str, listed: list[Notice], now: float) -> None:
        repo = repo.lower()
        async with self._engine.transaction() as conn:
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (advisory_key("cleanup", platform, repo),))
            found = await (await conn.execute(
                "SELECT branch, sha, id FROM cleanup_branches WHERE platform = %s AND repo = %s AND state = 'noticed'",
                (platform, repo))).fetchall()
            current = {branch: (sha, row_id) for branch, sha, row_id in found}
            wanted = {item[0]: item for item in listed}
            stale = [row_id for branch, (sha, row_id) in current.items() if branch not in wanted or wanted[branch][1] != sha]
            if stale:
                await conn.execute("DELETE FROM cleanup_branches WHERE id = ANY(%s)", (stale,))
            async with conn.cursor() as cursor:
                kept = [(why, committer, now, current[branch][1]) for branch, sha, why, committer, _ in listed
                        if branch in current and current[branch][0] == sha]
                if kept:
                    await cursor.executemany("UPDATE cleanup_branches SET why = %s, committer = %s, updated_at = %s WHERE id = %s", kept)
                new = [(platform, repo, branch, sha, why, committer, committed_at, now, now)
                       for branch, sha, why, committer, committed_at in listed if not (branch in current and current[branch][0] == sha)]
                if new:
                    # A branch being deleted keeps its row: the index allows one open row per branch.
                    await cursor.executemany(
                        "INSERT INTO cleanup_branches (platform, repo, branch, sha, why, committer, committed_at, state, noticed_at, "
                        "updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, 'noticed', %s, %s) ON CONFLICT DO NOTHING", new)

    async def start_deleting(self, row_id: int, tag: str | None, now: float) -> None:
        await self._write("UPDATE cleanup_branches SET state = 'deleting', tag = %s, updated_at = %s WHERE id = %s", (tag, now, row_id))

    async def mark_deleted(self, row_id: int, now: float) -> None:
        await self._write("UPDATE cleanup_branches SET state = 'deleted', deleted_at = %s, updated_at = %s WHERE id = %s",
                          (now, now, row_id))

    async def back_to_noticed(self, row_id: int, now: float) -> None:
        await self._write("UPDATE cleanup_branches SET state = 'noticed', tag = NULL, updated_at = %s WHERE id = %s", (now, row_id))

    async def notice_again(self, row_id: int, now: float) -> None:
        await self._write("UPDATE cleanup_branches SET state = 'noticed', tag = NULL, noticed_at = %s, updated_at = %s WHERE id = %s",
                          (now, now, row_id))

    async def drop(self, row_id: int) -> None:
        await self._write(f"DELETE FROM cleanup_branches WHERE id = %s AND {_OPEN}", (row_id,))

    async def mark_restored(self, platform: str, repo: str, branch: str, now: float) -> None:
        await self._write("UPDATE cleanup_branches SET state = 'restored', updated_at = %s WHERE platform = %s AND repo = %s "
                          "AND branch = %s AND state = 'deleted'", (now, platform, repo.lower(), branch))

    async def drop_moved(self, platform: str, repo: str, branch: str, sha: str) -> int:
        return await self._write("DELETE FROM cleanup_branches WHERE platform = %s AND repo = %s AND branch = %s "
                                 "AND state = 'noticed' AND sha != %s", (platform, repo.lower(), branch, sha))

    async def dashboard(self, platform: str, repo: str) -> tuple[int, str] | None:
        rows = await self._rows("SELECT number, body FROM cleanup_dashboards WHERE platform = %s AND repo = %s", (platform, repo.lower()))
        return (int(rows[0][0]), str(rows[0][1])) if rows else None

    async def save_dashboard(self, platform: str, repo: str, number: int, body: str, now: float) -> None:
        await self._write("INSERT INTO cleanup_dashboards (platform, repo, number, body, updated_at) VALUES (%s, %s, %s, %s, %s) "
                          "ON CONFLICT (platform, repo) DO UPDATE SET number = excluded.number, body = excluded.body, "
                          "updated_at = excluded.updated_at", (platform, repo.lower(), number, body, now))

    async def save_pulls(self, platform: str, repo: str, pulls: list[PullRecord]) -> None:
        if not pulls:
            return
        async with self._engine.transaction() as conn, conn.cursor() as cursor:
            await cursor.executemany(SAVE_PULL, [pull_params(platform, repo, p) for p in pulls])

    async def pulls_watermark(self, platform: str, repo: str) -> datetime | None:
        rows = await self._rows("SELECT max(updated_at) FROM cleanup_pulls WHERE platform = %s AND repo = %s", (platform, repo.lower()))
        return datetime.fromtimestamp(rows[0][0], UTC) if rows and rows[0][0] is not None else None

    async def closed_pulls(self, platform: str, repo: str) -> dict[str, PullRecord]:
        return latest_by_head(await self._rows(
            f"SELECT {PULL_FIELDS} FROM cleanup_pulls WHERE platform = %s AND repo = %s ORDER BY coalesce(closed_at, 0), number",
            (platform, repo.lower())))
