"""Dependencies on PostgreSQL.

Whether an edge closes a cycle depends on the whole graph, so a check then insert on two
replicas at once could each pass (A -> B here, B -> A there) and leave a loop. Every change to
a platform's graph therefore takes one transaction-scoped advisory lock first: changes run one
after another, and each sees what the one before committed (READ COMMITTED: a statement sees
what was committed when it began). Reads take no lock.
"""

from __future__ import annotations

from typing import Any

from bot.issue_dependencies import IssueRef
from bot.storage.dependencies import Edge
from bot.storage.postgres.engine import PostgresEngine, advisory_key

# Everything `dep` reaches, itself included; UNION (not UNION ALL) stops at nodes seen already,
# so an existing loop cannot make it run for ever. Casts: the first row's types must be the
# table's, or the recursive term's types would not match.
REACHES = """
    WITH RECURSIVE reach (repo, number) AS (
        VALUES (%(dep_repo)s::text, %(dep_number)s::integer)
        UNION
        SELECT d.dep_repo, d.dep_number FROM dependencies d JOIN reach r
            ON d.platform = %(platform)s AND d.repo = r.repo AND d.number = r.number
    )
    SELECT 1 FROM reach WHERE repo = %(repo)s AND number = %(number)s LIMIT 1
"""


def _key(ref: IssueRef) -> IssueRef:
    return ref[0].lower(), ref[1]


class PostgresDependencies:
    def __init__(self, engine: PostgresEngine) -> None:
        self._engine = engine

    async def of(self, platform: str, repo: str, number: int) -> list[Edge]:
        async with self._engine.connection() as conn:
            return await _of(conn, platform, repo, number)

    async def dependents(self, platform: str, repo: str, number: int) -> list[IssueRef]:
        async with self._engine.connection() as conn:
            cursor = await conn.execute(
                "SELECT repo, number FROM dependencies WHERE platform = %s AND dep_repo = %s AND dep_number = %s"
                " ORDER BY repo, number",
                (platform, repo.lower(), number),
            )
            return [(r, n) for r, n in await cursor.fetchall()]

    async def would_cycle(self, platform: str, issue: IssueRef, dep: IssueRef) -> bool:
        async with self._engine.connection() as conn:
            return await _would_cycle(conn, platform, issue, dep)

    async def add(
        self, platform: str, issue: IssueRef, deps: list[IssueRef], source: str, now: float
    ) -> tuple[list[IssueRef], list[IssueRef]]:
        async with self._engine.transaction() as conn:
            await _lock_graph(conn, platform)
            return await _add(conn, platform, issue, deps, source, now)

    async def remove(self, platform: str, issue: IssueRef, deps: list[IssueRef], source: str | None = None) -> list[IssueRef]:
        async with self._engine.transaction() as conn:
            await _lock_graph(conn, platform)
            return await _remove(conn, platform, issue, deps, source)

    async def sync_body(
        self, platform: str, issue: IssueRef, wanted: list[IssueRef], now: float
    ) -> tuple[list[IssueRef], list[IssueRef], list[IssueRef]]:
        async with self._engine.transaction() as conn:
            await _lock_graph(conn, platform)
            current = [(r, n) for r, n, s in await _of(conn, platform, issue[0], issue[1]) if s == "body"]
            wanted_keys = [_key(ref) for ref in wanted]
            removed = await _remove(conn, platform, issue, [d for d in current if d not in wanted_keys], "body")
            added, cycles = await _add(conn, platform, issue, [d for d in wanted_keys if d not in current], "body", now)
            return added, removed, cycles

    async def issues_with_dependencies(self, platform: str) -> list[IssueRef]:
        async with self._engine.connection() as conn:
            cursor = await conn.execute(
                "SELECT DISTINCT repo, number FROM dependencies WHERE platform = %s ORDER BY repo, number", (platform,)
            )
            return [(r, n) for r, n in await cursor.fetchall()]


async def _lock_graph(conn: Any, platform: str) -> None:
    """Until the transaction ends, no other change to `platform`'s graph runs."""
    await conn.execute("SELECT pg_advisory_xact_lock(%s)", (advisory_key("dependencies", platform),))


async def _of(conn: Any, platform: str, repo: str, number: int) -> list[Edge]:
    cursor = await conn.execute(
        "SELECT dep_repo, dep_number, source FROM dependencies WHERE platform = %s AND repo = %s AND number = %s"
        " ORDER BY created_at, dep_repo, dep_number",
        (platform, repo.lower(), number),
    )
    return [(r, n, s) for r, n, s in await cursor.fetchall()]


async def _would_cycle(conn: Any, platform: str, issue: IssueRef, dep: IssueRef) -> bool:
    (repo, number), (dep_repo, dep_number) = _key(issue), _key(dep)
    params = {"platform": platform, "repo": repo, "number": number, "dep_repo": dep_repo, "dep_number": dep_number}
    return await (await conn.execute(REACHES, params)).fetchone() is not None


async def _add(
    conn: Any, platform: str, issue: IssueRef, deps: list[IssueRef], source: str, now: float
) -> tuple[list[IssueRef], list[IssueRef]]:
    added, cycles = [], []
    for dep in deps:
        if _key(dep) == _key(issue) or await _would_cycle(conn, platform, issue, dep):
            cycles.append(dep)
            continue
        cursor = await conn.execute(
            "INSERT INTO dependencies (platform, repo, number, dep_repo, dep_number, source, created_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
            (platform, issue[0].lower(), issue[1], dep[0].lower(), dep[1], source, now),
        )
        if cursor.rowcount:
            added.append(dep)
    return added, cycles


async def _remove(conn: Any, platform: str, issue: IssueRef, deps: list[IssueRef], source: str | None) -> list[IssueRef]:
    removed = []
    for dep in deps:
        query = "DELETE FROM dependencies WHERE platform = %s AND repo = %s AND number = %s AND dep_repo = %s AND dep_number = %s"
        params: tuple[object, ...] = (platform, issue[0].lower(), issue[1], dep[0].lower(), dep[1])
        if source is not None:
            query += " AND source = %s"
            params += (source,)
        if (await conn.execute(query, params)).rowcount:
            removed.append(dep)
    return removed
