"""Cleanup state on SQLite (migration 9's tables): each function is one store job."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

from bot.forges.base import PullRecord
from bot.storage.cleanup import FIELDS, PULL_FIELDS, Notice, Row, latest_by_head, pull_params, row_of
from bot.storage.sqlite.engine import Store, single_statement

_OPEN = "state IN ('noticed', 'deleting')"


@single_statement
def open_rows(conn: sqlite3.Connection, platform: str, repo: str) -> list[Row]:
    rows = conn.execute(f"SELECT {FIELDS} FROM cleanup_branches WHERE platform = ? AND repo = ? AND {_OPEN} ORDER BY branch",
                        (platform, repo.lower()))
    return [row_of(r) for r in rows]


@single_statement
def deleted_rows(conn: sqlite3.Connection, platform: str, repo: str, limit: int = 50) -> list[Row]:
    rows = conn.execute(f"SELECT {FIELDS} FROM cleanup_branches WHERE platform = ? AND repo = ? AND state = 'deleted' "
                        "ORDER BY deleted_at DESC, id DESC LIMIT ?", (platform, repo.lower(), limit))
    return [row_of(r) for r in rows]


def sync_notices(conn: sqlite3.Connection, platform: str, repo: str, listed: list[Notice], now: float) -> None:
    current = {r[0]: (r[1], r[2]) for r in conn.execute(
        "SELECT branch, sha, id FROM cleanup_branches WHERE platform = ? AND repo = ? AND state = 'noticed'", (platform, repo.lower()))}
    wanted = {item[0]: item for item in listed}
    for branch, (sha, row_id) in current.items():
        if branch not in wanted or wanted[branch][1] != sha:
            conn.execute("DELETE FROM cleanup_branches WHERE id = ?", (row_id,))
    for branch, sha, why, committer, committed_at in listed:
        if branch in current and current[branch][0] == sha:
            conn.execute("UPDATE cleanup_branches SET why = ?, committer = ?, updated_at = ? WHERE id = ?",
                         (why, committer, now, current[branch][1]))
            continue
        # A branch being deleted keeps its row: the index allows one open row per branch.
        conn.execute(
            "INSERT OR IGNORE INTO cleanup_branches (platform, repo, branch, sha, why, committer, committed_at, state, noticed_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, 'noticed', ?, ?)", (platform, repo.lower(), branch, sha, why, committer, committed_at, now, now))


@single_statement
def start_deleting(conn: sqlite3.Connection, row_id: int, tag: str | None, now: float) -> None:
    conn.execute("UPDATE cleanup_branches SET state = 'deleting', tag = ?, updated_at = ? WHERE id = ?", (tag, now, row_id))


@single_statement
def mark_deleted(conn: sqlite3.Connection, row_id: int, now: float) -> None:
    conn.execute("UPDATE cleanup_branches SET state = 'deleted', deleted_at = ?, updated_at = ? WHERE id = ?", (now, now, row_id))


@single_statement
def back_to_noticed(conn: sqlite3.Connection, row_id: int, now: float) -> None:
    conn.execute("UPDATE cleanup_branches SET state = 'noticed', tag = NULL, updated_at = ? WHERE id = ?", (now, row_id))


@single_statement
def notice_again(conn: sqlite3.Connection, row_id: int, now: float) -> None:
    conn.execute("UPDATE cleanup_branches SET state = 'noticed', tag = NULL, noticed_at = ?, updated_at = ? WHERE id = ?",
                 (now, now, row_id))


@single_statement
def drop(conn: sqlite3.Connection, row_id: int) -> None:
    conn.execute(f"DELETE FROM cleanup_branches WHERE id = ? AND {_OPEN}", (row_id,))


@single_statement
def mark_restored(conn: sqlite3.Connection, platform: str, repo: str, branch: str, now: float) -> None:
    conn.execute("UPDATE cleanup_branches SET state = 'restored', updated_at = ? WHERE platform = ? AND repo = ? AND branch = ? "
                 "AND state = 'deleted'", (now, platform, repo.lower(), branch))


@single_statement
def drop_moved(conn: sqlite3.Connection, platform: str, repo: str, branch: str, sha: str) -> int:
    return conn.execute("DELETE FROM cleanup_branches WHERE platform = ? AND repo = ? AND branch = ? AND state = 'noticed' "
                        "AND sha != ?", (platform, repo.lower(), branch, sha)).rowcount


@single_statement
def dashboard(conn: sqlite3.Connection, platform: str, repo: str) -> tuple[int, str] | None:
    row = conn.execute("SELECT number, body FROM cleanup_dashboards WHERE platform = ? AND repo = ?", (platform, repo.lower())).fetchone()
    return (int(row[0]), str(row[1])) if row else None


@single_statement
def save_dashboard(conn: sqlite3.Connection, platform: str, repo: str, number: int, body: str, now: float) -> None:
    conn.execute("INSERT INTO cleanup_dashboards (platform, repo, number, body, updated_at) VALUES (?, ?, ?, ?, ?) "
                 "ON CONFLICT (platform, repo) DO UPDATE SET number = excluded.number, body = excluded.body, "
                 "updated_at = excluded.updated_at", (platform, repo.lower(), number, body, now))


SAVE_PULL = (
    "INSERT INTO cleanup_pulls (platform, repo, number, head_ref, head_sha, merged, author, closed_at, updated_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (platform, repo, number) DO UPDATE SET head_ref = excluded.head_ref, "
    "head_sha = excluded.head_sha, merged = excluded.merged, author = excluded.author, closed_at = excluded.closed_at, "
    "updated_at = excluded.updated_at"
)


def save_pulls(conn: sqlite3.Connection, platform: str, repo: str, pulls: list[PullRecord]) -> None:
    conn.executemany(SAVE_PULL, [pull_params(platform, repo, p) for p in pulls])


@single_statement
def pulls_watermark(conn: sqlite3.Connection, platform: str, repo: str) -> datetime | None:
    row = conn.execute("SELECT max(updated_at) FROM cleanup_pulls WHERE platform = ? AND repo = ?", (platform, repo.lower())).fetchone()
    return datetime.fromtimestamp(row[0], UTC) if row and row[0] is not None else None


@single_statement
def closed_pulls(conn: sqlite3.Connection, platform: str, repo: str) -> dict[str, PullRecord]:
    return latest_by_head(conn.execute(
        f"SELECT {PULL_FIELDS} FROM cleanup_pulls WHERE platform = ? AND repo = ? ORDER BY coalesce(closed_at, 0), number",
        (platform, repo.lower())).fetchall())


class SqliteCleanup:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def open_rows(self, platform: str, repo: str) -> list[Row]:
        return await self._store.run(open_rows, platform, repo)

    async def deleted_rows(self, platform: str, repo: str, limit: int = 50) -> list[Row]:
        return await self._store.run(deleted_rows, platform, repo, limit)

    async def sync_notices(self, platform: str, repo: str, listed: list[Notice], now: float) -> None:
        await self._store.run(sync_notices, platform, repo, listed, now)

    async def start_deleting(self, row_id: int, tag: str | None, now: float) -> None:
        await self._store.run(start_deleting, row_id, tag, now)

    async def mark_deleted(self, row_id: int, now: float) -> None:
        await self._store.run(mark_deleted, row_id, now)

    async def back_to_noticed(self, row_id: int, now: float) -> None:
        await self._store.run(back_to_noticed, row_id, now)

    async def notice_again(self, row_id: int, now: float) -> None:
        await self._store.run(notice_again, row_id, now)

    async def drop(self, row_id: int) -> None:
        await self._store.run(drop, row_id)

    async def mark_restored(self, platform: str, repo: str, branch: str, now: float) -> None:
        await self._store.run(mark_restored, platform, repo, branch, now)

    async def drop_moved(self, platform: str, repo: str, branch: str, sha: str) -> int:
        return await self._store.run(drop_moved, platform, repo, branch, sha)

    async def dashboard(self, platform: str, repo: str) -> tuple[int, str] | None:
        return await self._store.run(dashboard, platform, repo)

    async def save_dashboard(self, platform: str, repo: str, number: int, body: str, now: float) -> None:
        await self._store.run(save_dashboard, platform, repo, number, body, now)

    async def save_pulls(self, platform: str, repo: str, pulls: list[PullRecord]) -> None:
        await self._store.run(save_pulls, platform, repo, pulls)

    async def pulls_watermark(self, platform: str, repo: str) -> datetime | None:
        return await self._store.run(pulls_watermark, platform, repo)

    async def closed_pulls(self, platform: str, repo: str) -> dict[str, PullRecord]:
        return await self._store.run(closed_pulls, platform, repo)
