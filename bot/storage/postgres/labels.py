"""Label sets on PostgreSQL.

`swap` reads the previous set under the row's lock and writes the new one in the same statement.
ON CONFLICT DO UPDATE cannot return the row's value before the update (not before PostgreSQL
18), so an issue seen for the first time is inserted with ON CONFLICT DO NOTHING instead: when
another replica inserted it meanwhile, that insert waits for it to commit and the locked update
is tried again, now finding the row.
"""

from __future__ import annotations

import json

from bot.storage.postgres.engine import PostgresEngine

# The CTE locks the row (FOR UPDATE) and hands its old value to the UPDATE's RETURNING. Under
# READ COMMITTED, a swap that waited on the lock reads the row as the one before it left it.
SWAP_EXISTING = """
    WITH old AS (
        SELECT labels FROM issue_labels WHERE platform = %(platform)s AND repo = %(repo)s AND number = %(number)s FOR UPDATE
    )
    UPDATE issue_labels t SET labels = %(labels)s FROM old
    WHERE t.platform = %(platform)s AND t.repo = %(repo)s AND t.number = %(number)s
    RETURNING old.labels
"""
INSERT_FIRST = """
    INSERT INTO issue_labels (platform, repo, number, labels) VALUES (%(platform)s, %(repo)s, %(number)s, %(labels)s)
    ON CONFLICT (platform, repo, number) DO NOTHING RETURNING 1
"""


class PostgresLabels:
    def __init__(self, engine: PostgresEngine) -> None:
        self._engine = engine

    async def swap(self, platform: str, repo: str, number: int, labels: list[str]) -> list[str] | None:
        params = {"platform": platform, "repo": repo.lower(), "number": number, "labels": json.dumps(sorted(labels))}
        async with self._engine.transaction() as conn:
            for _ in range(3):  # nothing deletes these rows, so the second round finds it
                row = await (await conn.execute(SWAP_EXISTING, params)).fetchone()
                if row is not None:
                    return list(json.loads(row[0]))
                if await (await conn.execute(INSERT_FIRST, params)).fetchone() is not None:
                    return None
                # another swap inserted the row after our UPDATE looked: it is committed now; lock it
        raise RuntimeError(f"issue_labels: could neither insert nor lock the row of {repo}#{number}")
