"""Make the Storage that the settings name: SQLite by default, PostgreSQL for several replicas."""

from __future__ import annotations

import os
import socket
from typing import TYPE_CHECKING

from bot.storage.url import POSTGRESQL, parse_database_url

if TYPE_CHECKING:
    from bot.storage.base import Storage
    from config.settings import Settings


def replica_name(settings: Settings) -> str:
    """This process among the replicas: FORGEBOT_REPLICA_ID, or host name and process id (a
    restarted process is a new replica, so it never mistakes a lease of its former self for its own)."""
    return settings.replica_id or f"{socket.gethostname()}-{os.getpid()}"


def open_storage(settings: Settings) -> Storage:
    """The Storage for these settings, not yet started."""
    url = parse_database_url(settings.database_url.get_secret_value() if settings.database_url else None, settings.database)
    if url.backend == POSTGRESQL:
        from bot.storage.postgres import PostgresStorage

        assert url.dsn is not None
        return PostgresStorage(url, settings, replica_name(settings))
    from bot.storage.sqlite import SqliteStorage

    assert url.path is not None
    return SqliteStorage(url.path, settings, replica_name(settings))
