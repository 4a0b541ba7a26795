"""The activity log on PostgreSQL: one chain whichever replica appends.

Each append reads the last link and writes the next one, so two replicas appending at once would
both link to the same row (a fork, or a duplicate id). Every append therefore first takes the
chain's transaction-scoped advisory lock: appends run one at a time across replicas, each reads
the link the previous one committed, and ids are 1, 2, 3, ... in chain order. The primary key on
id refuses a second row with one id should anything bypass the lock. The schema's triggers refuse
UPDATE, DELETE and TRUNCATE.
"""

from __future__ import annotations

from typing import Any

from bot.storage.activity import COLUMNS, HASHED, ChainWalk, Entry, Verdict, as_dict, next_link
from bot.storage.postgres.engine import PostgresEngine, advisory_key
from bot.storage.postgres.locks import serialize_on

CHAIN_LOCK = advisory_key("activity", "chain")
VERIFY_BATCH = 2000  # rows fetched per round trip while walking the chain


class PostgresActivity:
    def __init__(self, engine: PostgresEngine) -> None:
        self._engine = engine

    async def append(self, entry: Entry, now: float) -> str:
        async with self._engine.transaction() as conn:
            await serialize_on(conn, CHAIN_LOCK)
            cursor = await conn.execute("SELECT id, hash FROM activity ORDER BY id DESC LIMIT 1")
            fields, prev_hash, digest = next_link(await cursor.fetchone(), entry, now)
            await conn.execute(
                f"INSERT INTO activity ({COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (*fields, prev_hash, digest),
            )
        return digest

    async def verify(self) -> Verdict:
        # A server-side cursor: the log is never pruned, so it is walked without loading it whole.
        async with self._engine.transaction() as conn:
            cursor = conn.cursor(name="activity_verify")
            cursor.itersize = VERIFY_BATCH
            await cursor.execute(f"SELECT {COLUMNS} FROM activity ORDER BY id")
            chain = ChainWalk()
            async for row in cursor:
                if not chain.step(row):
                    break
            await cursor.close()
        return chain.verdict

    async def recent(self, *, limit: int, repo: str | None = None) -> list[dict[str, Any]]:
        query = f"SELECT {', '.join(HASHED)} FROM activity"
        params: tuple[Any, ...] = ()
        if repo:
            query += " WHERE repo = %s"
            params = (repo,)
        async with self._engine.connection() as conn:
            cursor = await conn.execute(query + " ORDER BY id DESC LIMIT %s", (*params, limit))
            return [as_dict(row) for row in await cursor.fetchall()]
