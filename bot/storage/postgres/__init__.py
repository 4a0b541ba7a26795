"""PostgreSQL, for several replicas on one database: psycopg 3's async pool (engine.py), one module
per kind. See README "When one machine is not enough"."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.storage.base import Storage
from bot.storage.postgres.engine import PostgresEngine
from bot.storage.postgres.leases import PostgresLeases

if TYPE_CHECKING:
    from bot.storage.url import DatabaseUrl
    from config.settings import Settings


class PostgresStorage(Storage):
    backend = "postgresql"

    def __init__(self, url: DatabaseUrl, settings: Settings, replica: str) -> None:
        assert url.dsn is not None
        self.url = url
        self.replica = replica
        self.engine = PostgresEngine(url.dsn, max_size=settings.database_pool_size)
        # The kinds: each helper's module adds its implementation here.
        self.leases = PostgresLeases(self.engine)

    async def start(self) -> None:
        await self.engine.start()

    async def stop(self) -> None:
        await self.engine.stop()

    @property
    def healthy(self) -> bool:
        return self.engine.healthy

    def describe(self) -> str:
        return self.url.describe()
