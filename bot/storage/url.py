"""FORGEBOT_DATABASE_URL: which database, and where.

`sqlite:///var/forgebot.db` (relative) or `sqlite:////srv/forgebot.db` (absolute) names a SQLite
file; `postgresql://user@host:5432/forgebot` (or `postgres://`) a PostgreSQL database, in libpq's
URI form, so every libpq parameter (sslmode, host=/run/postgresql for a socket...) is available.
Without the setting, FORGEBOT_DATABASE (a path) keeps working.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

SQLITE, POSTGRESQL = "sqlite", "postgresql"


class DatabaseUrlError(ValueError):
    """The URL names no database forgebot can use; the message says why without quoting it
    (a PostgreSQL URL may carry a password)."""


@dataclass(frozen=True)
class DatabaseUrl:
    backend: str  # SQLITE or POSTGRESQL
    path: Path | None = None  # SQLite's file
    dsn: str | None = None  # PostgreSQL's connection string, as given

    def describe(self) -> str:
        """Where the database is, for logs and messages: never the password."""
        if self.backend == SQLITE:
            return f"sqlite {self.path}"
        parts = urlsplit(self.dsn or "")
        host = parts.hostname or "local socket"
        return f"postgresql {host}{':' + str(parts.port) if parts.port else ''}{parts.path or ''}"


def parse_database_url(url: str | None, default_path: Path) -> DatabaseUrl:
    if not url:
        return DatabaseUrl(SQLITE, path=default_path)
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise DatabaseUrlError("FORGEBOT_DATABASE_URL must start with sqlite:// or postgresql://")
    scheme = scheme.lower()
    if scheme == "sqlite":
        # sqlite:///relative/path and sqlite:////absolute/path, as SQLAlchemy spells them
        if not rest.startswith("/") or rest == "/":
            raise DatabaseUrlError("a SQLite URL is sqlite:///relative/path.db or sqlite:////absolute/path.db")
        return DatabaseUrl(SQLITE, path=Path(rest[1:]))
    if scheme in ("postgresql", "postgres"):
        return DatabaseUrl(POSTGRESQL, dsn=url)
    raise DatabaseUrlError(f"FORGEBOT_DATABASE_URL names the scheme {scheme!r}; forgebot knows sqlite and postgresql")
