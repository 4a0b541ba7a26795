"""What lives as long as the process and every handler run shares: clients, metrics and caches.

`bot/app.py`'s `build_services` makes one `Services` for the service or for one CLI command;
handlers reach it as `ctx.services` (the forge clients also as `ctx.forges`). Nothing here is
durable: a restart starts with empty caches, and whatever must survive is in storage. Each field
says which module owns it; a feature that needs a new process-wide cache adds a typed field here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from bot.engine.metrics import Metrics
from bot.forges.base import FileChange, PullRequest
from bot.forges.common import BoundedCache
from bot.forges.provider import Forges
from bot.git.mirror import GitRoot
from bot.permissions import PermissionCache

Key = tuple[str, str, str]  # (platform, repository in lowercase, a name or commit)


@dataclass
class Services:
    """The process's shared clients and caches. The forge clients hold connections: whoever
    builds the services closes them (`await services.aclose()`)."""

    forges: Forges
    metrics: Metrics = field(default_factory=Metrics)
    permissions: PermissionCache = field(default_factory=PermissionCache)  # levels read from the platform, briefly

    # handlers/common.py: labels known to exist, (platform, repo, name lowercased) -> the name as spelled
    known_labels: dict[Key, str] = field(default_factory=dict)

    # handlers/worktree_ops.py and worktrees.py: the local git root, made ready on first use;
    # starts running outside their delivery, by worktree row id; whether this process has
    # checked its mirrors since it started.
    git_root: GitRoot | None = None
    # What this process may do that not every replica may (bot/engine/leadership.py): the app sets
    # it from its leases ('worktrees' on the worktree host); None, as in the CLI and `forgebot mcp`
    # over stdio, means a process that acts on its own git root and may do everything.
    capabilities: Callable[[], frozenset[str]] | None = None
    worktree_tasks: dict[int, asyncio.Task[None]] = field(default_factory=dict)
    worktrees_checked: bool = False

    # handlers/review.py: one derivation per pull request at a time, (platform, repo, number) ->
    # the lock and how many hold or wait for it.
    review_locks: dict[tuple[str, str, int], tuple[asyncio.Lock, list[int]]] = field(default_factory=dict)
    # handlers/review_reads.py: OWNERS texts per base branch (read at, path -> text), trees per
    # commit, required checks per branch (read at, contexts), one delivery's pull request and
    # changes, and changed files per (head, base).
    review_owners: dict[Key, tuple[float, dict[str, str | None]]] = field(default_factory=dict)
    review_trees: dict[Key, str] = field(default_factory=dict)
    review_required: dict[Key, tuple[float, tuple[str, ...]]] = field(default_factory=dict)
    review_reads: BoundedCache[tuple[str, str, str, int], tuple[float, PullRequest, list[FileChange]]] = field(
        default_factory=lambda: BoundedCache(256))
    review_changes: BoundedCache[tuple[str, str, str, str], list[FileChange]] = field(
        default_factory=lambda: BoundedCache(4096))

    async def aclose(self) -> None:
        """Close the forge clients' connections."""
        await self.forges.aclose()
