"""PostgreSQL, for several replicas on one database: psycopg 3's async pool (engine.py), one module
per kind. See README "When one machine is not enough"."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.storage.base import KNOWN_REPOSITORIES, Storage
from bot.storage.postgres.activity import PostgresActivity
from bot.storage.postgres.claims import PostgresClaims
from bot.storage.postgres.cleanup import PostgresCleanup
from bot.storage.postgres.configs import PostgresConfigs
from bot.storage.postgres.deliveries import PostgresDeliveries
from bot.storage.postgres.dependencies import PostgresDependencies
from bot.storage.postgres.effects import PostgresEffects
from bot.storage.postgres.engine import PostgresEngine
from bot.storage.postgres.leases import PostgresLeases
from bot.storage.postgres.labels import PostgresLabels
from bot.storage.postgres.worktrees import PostgresWorktrees

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
        self.deliveries: PostgresDeliveries = PostgresDeliveries(self.engine)
        self.leases = PostgresLeases(self.engine)
        self.claims = PostgresClaims(self.engine)
        self.effects = PostgresEffects(self.engine)
        self.activity = PostgresActivity(self.engine)
        self.dependencies = PostgresDependencies(self.engine)
        self.configs = PostgresConfigs(self.engine)
        self.labels = PostgresLabels(self.engine)
        self.worktrees = PostgresWorktrees(self.engine)
        self.cleanup = PostgresCleanup(self.engine)

    async def start(self) -> None:
        await self.engine.start()

    async def stop(self) -> None:
        await self.engine.stop()

    async def known_repositories(self, limit: int) -> list[tuple[str, str]]:
        async with self.engine.connection() as conn:
            rows = await (await conn.execute(KNOWN_REPOSITORIES.format(p="%s"), (limit,))).fetchall()
        return [(p, r) for p, r in rows]

    @property
    def healthy(self) -> bool:
        return self.engine.healthy

    def describe(self) -> str:
        return self.url.describe()
