"""Storage: what the engine and the handlers see of the database, whichever database it is.

Each attribute is one kind of data behind its own interface (bot/storage/<kind>.py), implemented
once for SQLite (bot/storage/sqlite/) and once for PostgreSQL (bot/storage/postgres/). Every method
is a coroutine, and each one is atomic: a decision that reads and then writes (a claim against
its cap, the next link of the activity chain) is one transaction of the implementation's own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.storage.activity import Activity
    from bot.storage.claims import Claims
    from bot.storage.cleanup import Cleanup
    from bot.storage.configs import Configs
    from bot.storage.deliveries import Deliveries
    from bot.storage.dependencies import Dependencies
    from bot.storage.effects import Effects
    from bot.storage.labels import Labels
    from bot.storage.leases import Leases
    from bot.storage.worktrees import Worktrees

# (platform, repo) the bot has state for, across the kinds: the status page's list. `{p}` is the
# backend's placeholder.
KNOWN_REPOSITORIES = (
    "SELECT platform, repo FROM claims WHERE active = 1 UNION SELECT platform, repo FROM dependencies"
    " UNION SELECT platform, lower(repo) FROM config_versions"
    " UNION SELECT platform, lower(repo) FROM reconcile_runs"
    " UNION SELECT platform, lower(repo) FROM worktrees WHERE state != 'removed'"
    " UNION SELECT platform, lower(repo) FROM cleanup_branches WHERE state IN ('noticed', 'deleting')"
    " ORDER BY 1, 2 LIMIT {p}"
)


class Storage:
    """The database of one forgebot process. Made by `bot.storage.open.open_storage`; started
    and stopped by whoever made it (the app's lifespan, a CLI command)."""

    backend: str  # "sqlite" or "postgresql"
    # Who this process is among the replicas sharing the database (FORGEBOT_REPLICA_ID, or
    # host name and process id): what leases and the status page name.
    replica: str
    # The implementation's own engine (SQLite's group-commit Store, PostgreSQL's pool). Nothing
    # outside bot/storage/ uses it but tests and benchmarks that look at the database itself.
    engine: Any

    # The kinds of data (their interfaces are in bot/storage/<kind>.py)
    deliveries: Deliveries
    claims: Claims
    effects: Effects
    activity: Activity
    dependencies: Dependencies
    configs: Configs  # config versions and reconcile runs; which repositories have review on
    labels: Labels  # label sets last seen per issue (label triggers)
    worktrees: Worktrees
    cleanup: Cleanup
    leases: Leases  # named leases with an expiry: the scheduler's leader, the worktree host

    async def start(self) -> None:
        """Connect and apply the migrations not yet applied."""
        raise NotImplementedError

    async def stop(self) -> None:
        """Finish what is under way, then disconnect."""
        raise NotImplementedError

    async def known_repositories(self, limit: int) -> list[tuple[str, str]]:
        """(platform, repo) the bot has state for: claims, dependencies, a config file, reconcile
        runs, worktrees or branches on a cleanup dashboard; sorted, at most `limit`."""
        raise NotImplementedError

    @property
    def healthy(self) -> bool:
        """Taking work: connected, and its own threads or pool alive."""
        raise NotImplementedError

    def describe(self) -> str:
        """Where the database is, for logs (never a password)."""
        raise NotImplementedError
