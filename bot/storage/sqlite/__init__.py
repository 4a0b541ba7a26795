"""Embedded SQLite: one process, one file, group commit on the event loop's thread (engine.py).

Each kind's module holds its store jobs (`job(conn, ...)`, run by the engine) and the class that
implements the kind's interface with them.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

from bot.storage.base import KNOWN_REPOSITORIES, Storage
from bot.storage.sqlite.activity import SqliteActivity
from bot.storage.sqlite.claims import SqliteClaims
from bot.storage.sqlite.cleanup import SqliteCleanup
from bot.storage.sqlite.configs import SqliteConfigs
from bot.storage.sqlite.deliveries import SqliteDeliveries
from bot.storage.sqlite.dependencies import SqliteDependencies
from bot.storage.sqlite.effects import SqliteEffects
from bot.storage.sqlite.engine import Store, single_statement
from bot.storage.sqlite.labels import SqliteLabels
from bot.storage.sqlite.leases import SqliteLeases
from bot.storage.sqlite.worktrees import SqliteWorktrees

if TYPE_CHECKING:
    from config.settings import Settings


@single_statement
def _known_repositories(conn: sqlite3.Connection, limit: int) -> list[tuple[str, str]]:
    return [(p, r) for p, r in conn.execute(KNOWN_REPOSITORIES.format(p="?"), (limit,))]


class SqliteStorage(Storage):
    backend = "sqlite"

    def __init__(self, path: Path, settings: Settings, replica: str) -> None:
        self.path = path
        self.replica = replica
        self.engine = Store(path, synchronous=settings.sqlite_synchronous, max_wal_bytes=settings.max_wal_bytes)
        # The kinds: each helper's module adds its implementation here.
        self.deliveries = SqliteDeliveries(self.engine)
        self.claims = SqliteClaims(self.engine)
        self.effects = SqliteEffects(self.engine)
        self.activity = SqliteActivity(self.engine)
        self.dependencies = SqliteDependencies(self.engine)
        self.configs = SqliteConfigs(self.engine)
        self.labels = SqliteLabels(self.engine)
        self.leases = SqliteLeases(self.engine)
        self.worktrees = SqliteWorktrees(self.engine)
        self.cleanup = SqliteCleanup(self.engine)

    async def start(self) -> None:
        await self.engine.start()

    async def stop(self) -> None:
        await self.engine.stop()

    async def known_repositories(self, limit: int) -> list[tuple[str, str]]:
        return await self.engine.run(_known_repositories, limit)

    @property
    def healthy(self) -> bool:
        return self.engine.healthy

    def describe(self) -> str:
        return f"sqlite {self.path}"
