"""PostgreSQL through psycopg 3: an async connection pool, migrations, transactions.

Every kind's implementation borrows a connection for one transaction (`transaction()`), so each
of its methods is atomic as on SQLite. Decisions that read before they write take a row lock or a
transaction-scoped advisory lock (see each kind), never a lock held across an await on the forge.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from bot.storage.postgres.migrations import MIGRATIONS

logger = logging.getLogger(__name__)

# pg_advisory_xact_lock keys of the engine's own (kinds take theirs from `advisory_key`).
MIGRATION_LOCK = 0x666F7267  # "forg"


class PostgresEngine:
    """The pool of one process. `min_size` connections stay open; `max_size` bounds the load one
    replica puts on the server."""

    def __init__(self, dsn: str, *, min_size: int = 2, max_size: int = 10, timeout: float = 10.0) -> None:
        self._dsn = dsn
        self.min_size = min_size
        self.max_size = max_size
        self.timeout = timeout
        self._pool: Any = None
        self._accepting = False

    async def start(self) -> list[int]:
        from psycopg_pool import AsyncConnectionPool

        # Autocommit outside `transaction()`: a borrowed connection never sits idle in a transaction.
        self._pool = AsyncConnectionPool(
            self._dsn, min_size=self.min_size, max_size=self.max_size, timeout=self.timeout,
            kwargs={"autocommit": True}, open=False, name="forgebot",
        )
        await self._pool.open(wait=True, timeout=self.timeout)
        applied = await self._migrate()
        if applied:
            logger.info("database migrated", extra={"versions": applied})
        self._accepting = True
        return applied

    async def stop(self) -> None:
        self._accepting = False
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    @property
    def running(self) -> bool:
        return self._accepting

    @property
    def healthy(self) -> bool:
        return self._accepting and self._pool is not None and not self._pool.closed

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Any]:
        """A pooled connection in autocommit mode: each statement its own transaction."""
        if not self._accepting or self._pool is None:
            from bot.storage.sqlite.engine import StoreClosed

            raise StoreClosed("the database is not running")
        async with self._pool.connection() as conn:
            yield conn

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Any]:
        """A pooled connection inside one transaction, committed when the block ends."""
        async with self.connection() as conn, conn.transaction():
            yield conn

    async def dedicated_connection(self) -> Any:
        """An autocommit connection of its own, outside the pool: for LISTEN, which holds its
        connection for as long as it listens. The caller closes it."""
        import psycopg

        return await psycopg.AsyncConnection.connect(self._dsn, autocommit=True, connect_timeout=int(self.timeout))

    async def _migrate(self) -> list[int]:
        applied: list[int] = []
        assert self._pool is not None
        async with self._pool.connection() as conn, conn.transaction():
            # Replicas starting together: the first migrates, the others wait here and find it done.
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at DOUBLE PRECISION NOT NULL)"
            )
            done = {row[0] for row in await (await conn.execute("SELECT version FROM schema_migrations")).fetchall()}
            for version, script in MIGRATIONS:
                if version in done:
                    continue
                await conn.execute(script)
                await conn.execute("INSERT INTO schema_migrations VALUES (%s, %s)", (version, time.time()))
                applied.append(version)
        return applied


def advisory_key(*parts: str) -> int:
    """A stable signed 64-bit key for pg_advisory_xact_lock from names (a kind and what it locks)."""
    import hashlib

    digest = hashlib.blake2b("\x00".join(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)
