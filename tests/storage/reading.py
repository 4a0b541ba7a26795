"""Reading a started Storage's tables directly, on either backend, for what no method returns."""

from __future__ import annotations

from typing import Any

from bot.storage.base import Storage


async def table_rows(storage: Storage, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """Rows of `sql`, written with `?` placeholders and SQL both databases speak."""
    if storage.backend == "postgresql":
        async with storage.engine.connection() as conn:
            return [tuple(row) for row in await (await conn.execute(sql.replace("?", "%s"), params)).fetchall()]
    return [tuple(row) for row in await storage.engine.run(lambda conn: conn.execute(sql, params).fetchall())]
