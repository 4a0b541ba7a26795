"""Label sets on SQLite: the store job, and `SqliteLabels` running it (one writer, one transaction)."""

from __future__ import annotations

import json
import sqlite3

from bot.storage.sqlite.engine import Store


def swap(conn: sqlite3.Connection, platform: str, repo: str, number: int, labels: list[str]) -> list[str] | None:
    """Remember an issue's label set; return the one remembered before (None the first time)."""
    row = conn.execute(
        "SELECT labels FROM issue_labels WHERE platform = ? AND repo = ? AND number = ?", (platform, repo.lower(), number)
    ).fetchone()
    conn.execute(
        "INSERT OR REPLACE INTO issue_labels (platform, repo, number, labels) VALUES (?, ?, ?, ?)",
        (platform, repo.lower(), number, json.dumps(sorted(labels))),
    )
    return json.loads(row[0]) if row else None


class SqliteLabels:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def swap(self, platform: str, repo: str, number: int, labels: list[str]) -> list[str] | None:
        return await self._store.run(swap, platform, repo, number, labels)
