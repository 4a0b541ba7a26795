"""Which repositories have review on: those whose config in force has a `review` section."""

from __future__ import annotations

import json
import sqlite3

from bot.storage.sqlite.engine import single_statement


@single_statement
def repos_with_review(conn: sqlite3.Connection, platform: str) -> list[str]:
    rows = conn.execute(
        "SELECT repo, config FROM config_versions c WHERE platform = ? AND valid = 1"
        " AND id = (SELECT max(id) FROM config_versions WHERE platform = c.platform AND repo = c.repo AND valid = 1)"
        " ORDER BY repo",
        (platform,),
    )
    found = []
    for repo, config in rows:
        data = json.loads(config) if config else None
        if isinstance(data, dict) and "review" in data:
            found.append(repo)
    return found
