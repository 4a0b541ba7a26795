"""Config versions and reconcile runs on PostgreSQL.

`save_config` reads the newest version before it inserts (to skip a repeat); replicas reading
one repository's file at once take a transaction-scoped advisory lock per repository, so a
repeat is never stored twice and a version's id order is the order they were saved in (what
"newest" means). Runs are plain inserts; pruning deletes a chunk per statement, each its own
short transaction, so no long transaction holds autovacuum back from reusing the dead rows' space
and the table's size follows the retention period.
"""

from __future__ import annotations

import json
from typing import Any

from bot.storage.configs import ConfigInForce, extending, run_record, with_review
from bot.storage.postgres.engine import PostgresEngine, advisory_key

# The newest valid version of each of a platform's repositories.
IN_FORCE = """
    SELECT DISTINCT ON (repo) repo, {column} FROM config_versions
    WHERE platform = %s AND valid = 1 ORDER BY repo, id DESC
"""
RUN_COLUMNS = "platform, repo, trigger, commit_sha, mode, outcome, plan, results, errors, finished_at"
# One chunk of runs by id; those finished before the cut-off that a newer run of the same
# repository and trigger follows go. Answers how many went, how many the chunk held, its last
# id, and whether all of it was too recent (then there is nothing further to look at).
PRUNE_CHUNK = """
    WITH chunk AS (
        SELECT id, platform, repo, trigger, finished_at FROM reconcile_runs WHERE id > %(after)s ORDER BY id LIMIT %(limit)s
    ), gone AS (
        DELETE FROM reconcile_runs r USING chunk c
        WHERE r.id = c.id AND c.finished_at < %(before)s AND EXISTS (
            SELECT 1 FROM reconcile_runs n WHERE n.platform = c.platform AND n.repo = c.repo AND n.trigger = c.trigger AND n.id > c.id
        )
        RETURNING r.id
    )
    SELECT (SELECT count(*) FROM gone), count(*), max(id), coalesce(bool_and(finished_at >= %(before)s), true) FROM chunk
"""


class PostgresConfigs:
    def __init__(self, engine: PostgresEngine) -> None:
        self._engine = engine

    async def save_config(
        self, platform: str, repo: str, sha: str | None, path: str | None,
        config: dict[str, Any] | None, errors: list[str], sources: list[str], now: float,
    ) -> int:
        values = (sha, path, int(not errors), json.dumps(config, default=str) if config is not None else None,
                  json.dumps(errors), json.dumps(sources))
        async with self._engine.transaction() as conn:
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (advisory_key("config_versions", platform, repo),))
            newest = await (await conn.execute(
                "SELECT id, sha, path, valid, config, errors, sources FROM config_versions"
                " WHERE platform = %s AND repo = %s ORDER BY id DESC LIMIT 1",
                (platform, repo),
            )).fetchone()
            if newest is not None and tuple(newest[1:]) == values:
                return int(newest[0])
            row = await (await conn.execute(
                "INSERT INTO config_versions (platform, repo, sha, path, valid, config, errors, sources, created_at)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
                (platform, repo, *values, now),
            )).fetchone()
            return int(row[0])

    async def last_valid_config(self, platform: str, repo: str) -> ConfigInForce | None:
        async with self._engine.connection() as conn:
            row = await (await conn.execute(
                "SELECT config, sources, sha FROM config_versions WHERE platform = %s AND repo = %s AND valid = 1"
                " ORDER BY id DESC LIMIT 1",
                (platform, repo),
            )).fetchone()
        return ConfigInForce(json.loads(row[0]), json.loads(row[1]), row[2]) if row else None

    async def repos_extending(self, platform: str, source_repo: str) -> list[tuple[str, str]]:
        async with self._engine.connection() as conn:
            rows = await (await conn.execute(IN_FORCE.format(column="sources"), (platform,))).fetchall()
        return extending(rows, source_repo)

    async def repos_with_review(self, platform: str) -> list[str]:
        async with self._engine.connection() as conn:
            rows = await (await conn.execute(IN_FORCE.format(column="config"), (platform,))).fetchall()
        return with_review(rows)

    async def save_run(
        self, platform: str, repo: str, trigger: str, commit: str | None, mode: str, outcome: str,
        plan: list[dict[str, Any]], results: list[dict[str, Any]], errors: list[str], started: float, finished: float,
    ) -> int:
        async with self._engine.connection() as conn:
            row = await (await conn.execute(
                "INSERT INTO reconcile_runs (platform, repo, trigger, commit_sha, mode, outcome, plan, results, errors,"
                " started_at, finished_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
                (platform, repo, trigger, commit, mode, outcome, json.dumps(plan), json.dumps(results), json.dumps(errors),
                 started, finished),
            )).fetchone()
        return int(row[0])

    async def latest_runs(self, trigger: str | None = None) -> list[dict[str, Any]]:
        only = "WHERE trigger = %s" if trigger else ""
        async with self._engine.connection() as conn:
            rows = await (await conn.execute(
                f"SELECT {RUN_COLUMNS} FROM (SELECT DISTINCT ON (platform, repo) id, {RUN_COLUMNS} FROM reconcile_runs"
                f" {only} ORDER BY platform, repo, id DESC) newest ORDER BY finished_at DESC",
                (trigger,) if trigger else (),
            )).fetchall()
        return [run_record(row) for row in rows]

    async def prune_runs_chunk(self, before: float, after_id: int, limit: int) -> tuple[int, int | None]:
        async with self._engine.connection() as conn:  # one statement: its own transaction
            row = await (await conn.execute(PRUNE_CHUNK, {"after": after_id, "limit": limit, "before": before})).fetchone()
        gone, looked_at, last_id, all_recent = row
        if looked_at < limit or all_recent:
            return int(gone), None
        return int(gone), int(last_id)
