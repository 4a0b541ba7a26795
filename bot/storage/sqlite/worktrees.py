"""Worktrees on SQLite: each function is one store job, so each decision is atomic (the only
writer is this process's loop): twenty /starts at once on one repository get twenty distinct
branches, and two on one issue get one row."""

from __future__ import annotations

import sqlite3

from bot.storage.sqlite.engine import Store, single_statement
from bot.storage.worktrees import BRANCH_TAKEN, FIELDS, Reservation, State, Worktree, limit_refusal, worktree_of


@single_statement
def live(conn: sqlite3.Connection, platform: str, repo: str, number: int) -> Worktree | None:
    return worktree_of(conn.execute(
        f"SELECT {FIELDS} FROM worktrees WHERE state != 'removed' AND platform = ? AND repo = ? AND number = ?",
        (platform, repo.lower(), number)).fetchone())


@single_statement
def last_branch(conn: sqlite3.Connection, platform: str, repo: str, number: int) -> str | None:
    row = conn.execute(
        "SELECT branch FROM worktrees WHERE platform = ? AND repo = ? AND number = ? ORDER BY id DESC LIMIT 1",
        (platform, repo.lower(), number)).fetchone()
    return row[0] if row else None


@single_statement
def branches_in_use(conn: sqlite3.Connection, platform: str, repo: str) -> set[str]:
    return {r[0] for r in conn.execute("SELECT branch FROM worktrees WHERE platform = ? AND repo = ?", (platform, repo.lower()))}


@single_statement  # reads only: no savepoint needed
def over_limit(conn: sqlite3.Connection, platform: str, repo: str, max_per_repo: int, max_total: int) -> str:
    (in_repo,) = conn.execute("SELECT count(*) FROM worktrees WHERE state != 'removed' AND platform = ? AND repo = ?",
                              (platform, repo.lower())).fetchone()
    (total,) = conn.execute("SELECT count(*) FROM worktrees WHERE state != 'removed'").fetchone()
    return limit_refusal(in_repo, total, max_per_repo, max_total)


def reserve(
    conn: sqlite3.Connection, platform: str, repo: str, number: int, branch: str, base: str, path: str, holder: str,
    now: float, max_per_repo: int, max_total: int, answer_key: str = "",
) -> Reservation:
    current = live(conn, platform, repo, number)
    if current is not None:
        return Reservation(current)
    refused = over_limit(conn, platform, repo, max_per_repo, max_total)
    if refused:
        return Reservation(None, refused)
    taken = conn.execute("SELECT 1 FROM worktrees WHERE platform = ? AND repo = ? AND branch = ? AND number != ?",
                         (platform, repo.lower(), branch, number)).fetchone()
    if taken:
        return Reservation(None, BRANCH_TAKEN.format(branch=branch))
    conn.execute(
        "INSERT INTO worktrees (platform, repo, number, branch, base, path, holder, state, answer_key, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, 'creating', ?, ?, ?)",
        (platform, repo.lower(), number, branch, base, path, holder, answer_key, now, now))
    return Reservation(live(conn, platform, repo, number))


@single_statement
def mark(conn: sqlite3.Connection, worktree_id: int, state: State, now: float, sha: str | None = None,
         note: str | None = None, pull_number: int | None = None) -> None:
    conn.execute(
        "UPDATE worktrees SET state = ?, updated_at = ?, sha = coalesce(?, sha), note = coalesce(?, note),"
        " pull_number = coalesce(?, pull_number), removed_at = CASE WHEN ? = 'removed' THEN ? ELSE removed_at END"
        " WHERE id = ?",
        (state.value, now, sha, note, pull_number, state.value, now, worktree_id))


@single_statement
def set_holder(conn: sqlite3.Connection, worktree_id: int, holder: str, now: float) -> None:
    conn.execute("UPDATE worktrees SET holder = ?, updated_at = ? WHERE id = ?", (holder, now, worktree_id))


@single_statement
def all_live(conn: sqlite3.Connection, platform: str | None = None, repo: str | None = None) -> list[Worktree]:
    query, params = f"SELECT {FIELDS} FROM worktrees WHERE state != 'removed'", []
    if platform is not None:
        query += " AND platform = ?"
        params.append(platform)
    if repo is not None:
        query += " AND repo = ?"
        params.append(repo.lower())
    return [w for w in (worktree_of(r) for r in conn.execute(query + " ORDER BY platform, repo, number", params)) if w]


@single_statement
def by_path(conn: sqlite3.Connection, path: str) -> Worktree | None:
    return worktree_of(conn.execute(f"SELECT {FIELDS} FROM worktrees WHERE state != 'removed' AND path = ?", (path,)).fetchone())


@single_statement
def by_branch(conn: sqlite3.Connection, platform: str, repo: str, branch: str) -> Worktree | None:
    return worktree_of(conn.execute(
        f"SELECT {FIELDS} FROM worktrees WHERE state != 'removed' AND platform = ? AND repo = ? AND branch = ?",
        (platform, repo.lower(), branch)).fetchone())


@single_statement
def rename_branch(conn: sqlite3.Connection, worktree_id: int, branch: str, now: float) -> None:
    conn.execute("UPDATE worktrees SET branch = ?, updated_at = ? WHERE id = ?", (branch, now, worktree_id))


@single_statement
def branch_history(conn: sqlite3.Connection, platform: str, repo: str, number: int, branch: str, other_than: int) -> bool:
    return conn.execute("SELECT 1 FROM worktrees WHERE platform = ? AND repo = ? AND number = ? AND branch = ? AND id != ?",
                        (platform, repo.lower(), number, branch, other_than)).fetchone() is not None


@single_statement
def creating(conn: sqlite3.Connection) -> list[Worktree]:
    return [w for w in (worktree_of(r) for r in conn.execute(f"SELECT {FIELDS} FROM worktrees WHERE state = 'creating' ORDER BY id")) if w]


@single_statement
def claim_end(conn: sqlite3.Connection, platform: str, repo: str, number: int) -> str | None:
    row = conn.execute("SELECT active, release_reason FROM claims WHERE platform = ? AND repo = ? AND number = ? "
                       "ORDER BY active DESC, id DESC LIMIT 1", (platform, repo.lower(), number)).fetchone()
    if row is None or row[0]:
        return None
    return str(row[1] or "released")


class SqliteWorktrees:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def live(self, platform: str, repo: str, number: int) -> Worktree | None:
        return await self._store.run(live, platform, repo, number)

    async def last_branch(self, platform: str, repo: str, number: int) -> str | None:
        return await self._store.run(last_branch, platform, repo, number)

    async def branches_in_use(self, platform: str, repo: str) -> set[str]:
        return await self._store.run(branches_in_use, platform, repo)

    async def over_limit(self, platform: str, repo: str, max_per_repo: int, max_total: int) -> str:
        return await self._store.run(over_limit, platform, repo, max_per_repo, max_total)

    async def reserve(
        self, platform: str, repo: str, number: int, branch: str, base: str, path: str, holder: str,
        now: float, max_per_repo: int, max_total: int, answer_key: str = "",
    ) -> Reservation:
        return await self._store.run(
            reserve, platform, repo, number, branch, base, path, holder, now, max_per_repo, max_total, answer_key)

    async def mark(self, worktree_id: int, state: State, now: float, sha: str | None = None,
                   note: str | None = None, pull_number: int | None = None) -> None:
        await self._store.run(mark, worktree_id, state, now, sha, note, pull_number)

    async def set_holder(self, worktree_id: int, holder: str, now: float) -> None:
        await self._store.run(set_holder, worktree_id, holder, now)

    async def all_live(self, platform: str | None = None, repo: str | None = None) -> list[Worktree]:
        return await self._store.run(all_live, platform, repo)

    async def by_path(self, path: str) -> Worktree | None:
        return await self._store.run(by_path, path)

    async def by_branch(self, platform: str, repo: str, branch: str) -> Worktree | None:
        return await self._store.run(by_branch, platform, repo, branch)

    async def rename_branch(self, worktree_id: int, branch: str, now: float) -> None:
        await self._store.run(rename_branch, worktree_id, branch, now)

    async def branch_history(self, platform: str, repo: str, number: int, branch: str, other_than: int) -> bool:
        return await self._store.run(branch_history, platform, repo, number, branch, other_than)

    async def creating(self) -> list[Worktree]:
        return await self._store.run(creating)

    async def claim_end(self, platform: str, repo: str, number: int) -> str | None:
        return await self._store.run(claim_end, platform, repo, number)
