"""Embedded SQLite: one process, one file, group commit on the event loop's thread (engine.py).

Each kind's module holds its store jobs (`job(conn, ...)`, run by the engine) and the class that
implements the kind's interface with them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from bot.storage.base import Storage
from bot.storage.sqlite.engine import Store
from bot.storage.sqlite.leases import SqliteLeases

if TYPE_CHECKING:
    from config.settings import Settings


class SqliteStorage(Storage):
    backend = "sqlite"

    def __init__(self, path: Path, settings: Settings, replica: str) -> None:
        self.path = path
        self.replica = replica
        self.engine = Store(path, synchronous=settings.sqlite_synchronous, max_wal_bytes=settings.max_wal_bytes)
        # The kinds: each helper's module adds its implementation here.
        self.leases = SqliteLeases(self.engine)

    async def start(self) -> None:
        await self.engine.start()

    async def stop(self) -> None:
        await self.engine.stop()

    @property
    def healthy(self) -> bool:
        return self.engine.healthy

    def describe(self) -> str:
        return f"sqlite {self.path}"
