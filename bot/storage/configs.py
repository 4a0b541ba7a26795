"""Config versions (what reading each repository's `.forgebot.yml` found) and reconcile runs.

The config in force is the newest valid version: an invalid one is recorded with its problems
and never replaces it. A reconcile run is kept for the retention period, and the newest of each
repository and trigger whatever its age (`forgebot repos drift` and the status page read it).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, NamedTuple, Protocol


class ConfigInForce(NamedTuple):
    config: dict[str, Any]  # the raw merged mapping, extends followed
    sources: list[str]  # "repo:path" of every file read, the repository's own first
    sha: str | None  # the commit it was read at, when known


RUN_KEYS = ("platform", "repo", "trigger", "commit", "mode", "outcome", "plan", "results", "errors", "finished_at")
RUN_JSON_KEYS = ("plan", "results", "errors")


class Configs(Protocol):
    async def save_config(
        self, platform: str, repo: str, sha: str | None, path: str | None,
        config: dict[str, Any] | None, errors: list[str], sources: list[str], now: float,
    ) -> int:
        """Record what reading the repository's config found (valid when `errors` is empty) and
        return its id, unless the newest version says exactly the same: then that one's id (every
        scheduled run reads the file again). Serialized per repository, so of versions saved at
        once the newest id is the one saved last."""

    async def last_valid_config(self, platform: str, repo: str) -> ConfigInForce | None:
        """The config in force: the newest valid version."""

    async def repos_extending(self, platform: str, source_repo: str) -> list[tuple[str, str]]:
        """(repository, path of `source_repo`'s file it extends) for every config in force that
        extends one of `source_repo`'s files (names compared in lowercase), sorted."""

    async def repos_with_review(self, platform: str) -> list[str]:
        """The repositories whose config in force has a `review` section, sorted."""

    async def save_run(
        self, platform: str, repo: str, trigger: str, commit: str | None, mode: str, outcome: str,
        plan: list[dict[str, Any]], results: list[dict[str, Any]], errors: list[str], started: float, finished: float,
    ) -> int:
        """Record one reconcile run; return its id."""

    async def latest_runs(self, trigger: str | None = None) -> list[dict[str, Any]]:
        """The newest run per repository (among those of `trigger` when given), newest first: dicts
        with RUN_KEYS, plan, results and errors decoded."""

    async def prune_runs_chunk(self, before: float, after_id: int, limit: int) -> tuple[int, int | None]:
        """Forget, among the `limit` runs after id `after_id`, those finished before `before` that
        a newer run of the same repository and trigger follows. Returns how many went and the id
        to go on after, or None once the rest is too recent. One short transaction per call."""


# -- what both implementations make of their rows ---------------------------------------------------


def run_record(row: Iterable[Any]) -> dict[str, Any]:
    """A reconcile_runs row (RUN_KEYS' columns, in order) as `latest_runs` gives it."""
    return {k: (json.loads(v) if k in RUN_JSON_KEYS else v) for k, v in zip(RUN_KEYS, row, strict=True)}


def extending(in_force: Iterable[tuple[str, str]], source_repo: str) -> list[tuple[str, str]]:
    """From (repo, sources as JSON) of the configs in force: those extending a file of `source_repo`."""
    prefix = source_repo.lower() + ":"
    found = set()
    for repo, sources in in_force:
        for source in json.loads(sources)[1:]:  # the first is the repository's own file
            if source.lower().startswith(prefix):
                found.add((repo, source[len(prefix):]))
    return sorted(found)


def with_review(in_force: Iterable[tuple[str, str | None]]) -> list[str]:
    """From (repo, config as JSON) of the configs in force: the repositories with a review section."""
    found = []
    for repo, config in in_force:
        data = json.loads(config) if config else None
        if isinstance(data, dict) and "review" in data:
            found.append(repo)
    return sorted(found)
