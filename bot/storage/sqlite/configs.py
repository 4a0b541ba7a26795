"""Config versions and reconcile runs on SQLite: the store jobs, and `SqliteConfigs` running them.

The service is the only writer and each job is one transaction, so `save_config` reads the
newest version and inserts after it with nobody in between.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from bot.storage.configs import ConfigInForce, extending, run_record, with_review
from bot.storage.sqlite.engine import Store, single_statement


def save_config(
    conn: sqlite3.Connection, platform: str, repo: str, sha: str | None, path: str | None,
    config: dict[str, Any] | None, errors: list[str], sources: list[str], now: float,
) -> int:
    """Record what was read, unless the newest version says exactly the same: every scheduled run
    reads the file again, and a row per run would grow the table without telling anything new."""
    values = (sha, path, int(not errors), json.dumps(config, default=str) if config is not None else None,
              json.dumps(errors), json.dumps(sources))
    newest = conn.execute(
        "SELECT id, sha, path, valid, config, errors, sources FROM config_versions"
        " WHERE platform = ? AND repo = ? ORDER BY id DESC LIMIT 1",
        (platform, repo),
    ).fetchone()
    if newest is not None and tuple(newest[1:]) == values:
        return int(newest[0])
    cursor = conn.execute(
        "INSERT INTO config_versions (platform, repo, sha, path, valid, config, errors, sources, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (platform, repo, *values, now),
    )
    return int(cursor.lastrowid or 0)


@single_statement
def last_valid_config(conn: sqlite3.Connection, platform: str, repo: str) -> ConfigInForce | None:
    """The config in force: the newest valid version (raw merged mapping, sources, sha)."""
    row = conn.execute(
        "SELECT config, sources, sha FROM config_versions WHERE platform = ? AND repo = ? AND valid = 1 ORDER BY id DESC LIMIT 1",
        (platform, repo),
    ).fetchone()
    return ConfigInForce(json.loads(row[0]), json.loads(row[1]), row[2]) if row else None


@single_statement
def repos_extending(conn: sqlite3.Connection, platform: str, source_repo: str) -> list[tuple[str, str]]:
    """(repository, path of `source_repo`'s file it extends) for every config in force that does."""
    rows = conn.execute(
        "SELECT repo, sources FROM config_versions c WHERE platform = ? AND valid = 1"
        " AND id = (SELECT max(id) FROM config_versions WHERE platform = c.platform AND repo = c.repo AND valid = 1)",
        (platform,),
    ).fetchall()
    return extending(rows, source_repo)


@single_statement
def save_run(
    conn: sqlite3.Connection, platform: str, repo: str, trigger: str, commit: str | None, mode: str, outcome: str,
    plan: list[dict[str, Any]], results: list[dict[str, Any]], errors: list[str], started: float, finished: float,
) -> int:
    cursor = conn.execute(
        "INSERT INTO reconcile_runs (platform, repo, trigger, commit_sha, mode, outcome, plan, results, errors, started_at, finished_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (platform, repo, trigger, commit, mode, outcome, json.dumps(plan), json.dumps(results), json.dumps(errors), started, finished),
    )
    return int(cursor.lastrowid or 0)


def prune_runs_chunk(conn: sqlite3.Connection, before: float, after_id: int, limit: int) -> tuple[int, int | None]:
    """Forget, among the `limit` runs after `after_id`, those finished before `before` that a newer
    run of the same repository and trigger follows (the newest of each stays, for `repos status`).
    Returns how many went and where to go on from, or None once the rest is too recent."""
    rows = conn.execute(
        "SELECT id, platform, repo, trigger, finished_at FROM reconcile_runs WHERE id > ? ORDER BY id LIMIT ?",
        (after_id, limit),
    ).fetchall()
    doomed = [
        row_id
        for row_id, platform, repo, trigger, finished_at in rows
        if finished_at < before
        and conn.execute(
            "SELECT 1 FROM reconcile_runs WHERE platform = ? AND repo = ? AND id > ? AND trigger = ? LIMIT 1",
            (platform, repo, row_id, trigger),
        ).fetchone()
    ]
    if doomed:
        conn.execute(f"DELETE FROM reconcile_runs WHERE id IN ({','.join('?' * len(doomed))})", doomed)
    if len(rows) < limit or all(finished_at >= before for *_, finished_at in rows):
        return len(doomed), None
    return len(doomed), int(rows[-1][0])


@single_statement
def latest_runs(conn: sqlite3.Connection, trigger: str | None = None) -> list[dict[str, Any]]:
    """The newest run per repository (optionally of one trigger), newest first."""
    only = " AND trigger = ?" if trigger else ""
    rows = conn.execute(
        "SELECT platform, repo, trigger, commit_sha, mode, outcome, plan, results, errors, finished_at FROM reconcile_runs r"
        f" WHERE id = (SELECT max(id) FROM reconcile_runs WHERE platform = r.platform AND repo = r.repo{only})"
        " ORDER BY finished_at DESC",
        (trigger,) if trigger else (),
    ).fetchall()
    return [run_record(row) for row in rows]


@single_statement
def repos_with_review(conn: sqlite3.Connection, platform: str) -> list[str]:
    rows = conn.execute(
        "SELECT repo, config FROM config_versions c WHERE platform = ? AND valid = 1"
        " AND id = (SELECT max(id) FROM config_versions WHERE platform = c.platform AND repo = c.repo AND valid = 1)"
        " ORDER BY repo",
        (platform,),
    )
    return with_review(rows)


class SqliteConfigs:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def save_config(
        self, platform: str, repo: str, sha: str | None, path: str | None,
        config: dict[str, Any] | None, errors: list[str], sources: list[str], now: float,
    ) -> int:
        return int(await self._store.run(save_config, platform, repo, sha, path, config, errors, sources, now))

    async def last_valid_config(self, platform: str, repo: str) -> ConfigInForce | None:
        return await self._store.run(last_valid_config, platform, repo)

    async def repos_extending(self, platform: str, source_repo: str) -> list[tuple[str, str]]:
        return await self._store.run(repos_extending, platform, source_repo)

    async def repos_with_review(self, platform: str) -> list[str]:
        return await self._store.run(repos_with_review, platform)

    async def save_run(
        self, platform: str, repo: str, trigger: str, commit: str | None, mode: str, outcome: str,
        plan: list[dict[str, Any]], results: list[dict[str, Any]], errors: list[str], started: float, finished: float,
    ) -> int:
        return int(await self._store.run(
            save_run, platform, repo, trigger, commit, mode, outcome, plan, results, errors, started, finished
        ))

    async def latest_runs(self, trigger: str | None = None) -> list[dict[str, Any]]:
        return await self._store.run(latest_runs, trigger)

    async def prune_runs_chunk(self, before: float, after_id: int, limit: int) -> tuple[int, int | None]:
        return await self._store.run(prune_runs_chunk, before, after_id, limit)
