"""Dependencies on SQLite: the store jobs, and `SqliteDependencies` running them.

The service is the only writer, and each job runs in one transaction of the group commit, so
`add` and `sync_body` check for a cycle and insert without anyone changing the graph between.
"""

from __future__ import annotations

import sqlite3
from collections import deque

from bot.issue_dependencies import IssueRef
from bot.storage.dependencies import Edge
from bot.storage.sqlite.engine import Store, single_statement


@single_statement
def of(conn: sqlite3.Connection, platform: str, repo: str, number: int) -> list[Edge]:
    """What (repo, number) depends on: (dep_repo, dep_number, source)."""
    rows = conn.execute(
        "SELECT dep_repo, dep_number, source FROM dependencies WHERE platform = ? AND repo = ? AND number = ?"
        " ORDER BY created_at, dep_repo, dep_number",
        (platform, repo.lower(), number),
    )
    return [(r, n, s) for r, n, s in rows]


@single_statement
def dependents(conn: sqlite3.Connection, platform: str, repo: str, number: int) -> list[IssueRef]:
    """The issues that depend on (repo, number)."""
    rows = conn.execute(
        "SELECT repo, number FROM dependencies WHERE platform = ? AND dep_repo = ? AND dep_number = ? ORDER BY repo, number",
        (platform, repo.lower(), number),
    )
    return [(r, n) for r, n in rows]


def would_cycle(conn: sqlite3.Connection, platform: str, issue: IssueRef, dep: IssueRef) -> bool:
    """Whether "issue depends on dep" closes a loop: dep already (indirectly) depends on issue."""
    target = (issue[0].lower(), issue[1])
    seen = {(dep[0].lower(), dep[1])}
    queue = deque(seen)
    while queue:
        current = queue.popleft()
        if current == target:
            return True
        for nxt in of(conn, platform, current[0], current[1]):
            key = (nxt[0], nxt[1])
            if key not in seen:
                seen.add(key)
                queue.append(key)
    return False


def add(
    conn: sqlite3.Connection, platform: str, issue: IssueRef, deps: list[IssueRef], source: str, now: float
) -> tuple[list[IssueRef], list[IssueRef]]:
    """Add edges; return (added, refused because of a cycle). Existing edges are left as they are."""
    added, cycles = [], []
    for dep in deps:
        if (dep[0].lower(), dep[1]) == (issue[0].lower(), issue[1]) or would_cycle(conn, platform, issue, dep):
            cycles.append(dep)
            continue
        cursor = conn.execute(
            "INSERT OR IGNORE INTO dependencies (platform, repo, number, dep_repo, dep_number, source, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (platform, issue[0].lower(), issue[1], dep[0].lower(), dep[1], source, now),
        )
        if cursor.rowcount:
            added.append(dep)
    return added, cycles


def remove(conn: sqlite3.Connection, platform: str, issue: IssueRef, deps: list[IssueRef], source: str | None = None) -> list[IssueRef]:
    removed = []
    for dep in deps:
        query = "DELETE FROM dependencies WHERE platform = ? AND repo = ? AND number = ? AND dep_repo = ? AND dep_number = ?"
        params: tuple[object, ...] = (platform, issue[0].lower(), issue[1], dep[0].lower(), dep[1])
        if source is not None:
            query += " AND source = ?"
            params += (source,)
        if conn.execute(query, params).rowcount:
            removed.append(dep)
    return removed


def sync_body(
    conn: sqlite3.Connection, platform: str, issue: IssueRef, wanted: list[IssueRef], now: float
) -> tuple[list[IssueRef], list[IssueRef], list[IssueRef]]:
    """Make the body-declared edges match the body: (added, removed, refused as cycles)."""
    current = [(r, n) for r, n, s in of(conn, platform, issue[0], issue[1]) if s == "body"]
    wanted_keys = [(r.lower(), n) for r, n in wanted]
    removed = remove(conn, platform, issue, [d for d in current if d not in wanted_keys], "body")
    added, cycles = add(conn, platform, issue, [d for d in wanted_keys if d not in current], "body", now)
    return added, removed, cycles


@single_statement
def issues_with_dependencies(conn: sqlite3.Connection, platform: str) -> list[IssueRef]:
    rows = conn.execute("SELECT DISTINCT repo, number FROM dependencies WHERE platform = ? ORDER BY repo, number", (platform,))
    return [(r, n) for r, n in rows]


class SqliteDependencies:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def of(self, platform: str, repo: str, number: int) -> list[Edge]:
        return await self._store.run(of, platform, repo, number)

    async def dependents(self, platform: str, repo: str, number: int) -> list[IssueRef]:
        return await self._store.run(dependents, platform, repo, number)

    async def would_cycle(self, platform: str, issue: IssueRef, dep: IssueRef) -> bool:
        return bool(await self._store.run(would_cycle, platform, issue, dep))

    async def add(
        self, platform: str, issue: IssueRef, deps: list[IssueRef], source: str, now: float
    ) -> tuple[list[IssueRef], list[IssueRef]]:
        return await self._store.run(add, platform, issue, deps, source, now)

    async def remove(self, platform: str, issue: IssueRef, deps: list[IssueRef], source: str | None = None) -> list[IssueRef]:
        return await self._store.run(remove, platform, issue, deps, source)

    async def sync_body(
        self, platform: str, issue: IssueRef, wanted: list[IssueRef], now: float
    ) -> tuple[list[IssueRef], list[IssueRef], list[IssueRef]]:
        return await self._store.run(sync_body, platform, issue, wanted, now)

    async def issues_with_dependencies(self, platform: str) -> list[IssueRef]:
        return await self._store.run(issues_with_dependencies, platform)
