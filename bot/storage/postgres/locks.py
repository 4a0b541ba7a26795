"""Serializing a decision across replicas: a transaction-scoped advisory lock, read committed.

A kind that reads and then writes (the claim cap, the next link of the activity chain) first takes
`pg_advisory_xact_lock` on what it decides about; the lock ends with the transaction. The reads
after it must see what the previous holder committed, so the transaction runs at READ COMMITTED
whatever the server's default (at REPEATABLE READ its snapshot would be taken before the lock was
granted). Both go in one round trip.
"""

from __future__ import annotations

from typing import Any


async def serialize_on(conn: Any, key: int) -> None:
    """Must be the first statement of the transaction. `key` comes from `advisory_key`."""
    # An int of our own making, so it is safe inline; with no parameters psycopg sends both
    # statements in one simple query.
    await conn.execute(f"SET TRANSACTION ISOLATION LEVEL READ COMMITTED; SELECT pg_advisory_xact_lock({int(key)})")
