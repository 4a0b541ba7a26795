"""Both engines start, migrate once, say where they are without a password, and refuse work once stopped."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.storage.base import Storage
from bot.storage.open import open_storage
from bot.storage.url import DatabaseUrlError, parse_database_url
from tests.conftest import make_settings

pytestmark = pytest.mark.anyio


async def test_a_started_storage_is_healthy_and_names_its_backend(storage: Storage, backend: str) -> None:
    assert storage.healthy
    assert storage.backend == backend
    assert storage.replica == "replica-a"


async def test_postgres_migrates_an_empty_database_once_when_replicas_start_together(postgres_server, tmp_path: Path) -> None:
    import asyncio

    import psycopg

    url = postgres_server.empty_database()
    replicas = [open_storage(make_settings(tmp_path, database_url=url, replica_id=f"r{i}")) for i in range(3)]
    await asyncio.gather(*(r.start() for r in replicas))
    try:
        with psycopg.connect(url) as conn:
            versions = [row[0] for row in conn.execute("SELECT version FROM schema_migrations ORDER BY version")]
        from bot.storage.postgres.migrations import MIGRATIONS

        assert versions == [v for v, _ in MIGRATIONS]
    finally:
        await asyncio.gather(*(r.stop() for r in replicas))


def test_database_urls_name_sqlite_files_and_postgres_servers_and_never_show_a_password(tmp_path: Path) -> None:
    assert parse_database_url(None, tmp_path / "x.db").path == tmp_path / "x.db"
    assert parse_database_url("sqlite:///var/f.db", tmp_path).path == Path("var/f.db")
    assert parse_database_url("sqlite:////srv/f.db", tmp_path).path == Path("/srv/f.db")
    pg = parse_database_url("postgresql://bot:hunter2@db.internal:5433/forgebot", tmp_path)
    assert pg.backend == "postgresql" and "hunter2" not in pg.describe() and "db.internal:5433/forgebot" in pg.describe()
    for bad in ("mysql://x/y", "var/forgebot.db", "sqlite://", "sqlite:///"):
        with pytest.raises(DatabaseUrlError) as caught:
            parse_database_url(bad, tmp_path)
        assert "hunter2" not in str(caught.value)


async def test_a_stopped_postgres_storage_refuses_work(postgres_url: str, tmp_path: Path) -> None:
    from bot.storage.sqlite.engine import StoreClosed

    store = open_storage(make_settings(tmp_path, database_url=postgres_url))
    await store.start()
    await store.stop()
    with pytest.raises(StoreClosed):
        async with store.engine.connection():
            pass
