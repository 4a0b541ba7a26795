"""One cleanup of one repository: fetch the mirror, observe, plan; then (unless a dry run) record
the notices, apply what is due when the mode says so, and edit the dashboard.

A dry run (`forgebot cleanup plan`) is this same path with every write dropped: no forge write,
no push, no row in the store. Only the local mirror is fetched (a cache of what the forge has).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from bot.cleanup import dashboard
from bot.cleanup.analysis import analyse
from bot.cleanup.apply import Outcome, Result, apply, settle_interrupted
from bot.cleanup.plan import Change, Kind, Notice, Observed, actionable, due, plan
from bot.forges.base import Forge, GitAccess
from bot.git.mirror import GitRoot, Mirror
from bot.storage.activity import Entry
from bot.storage.base import Storage
from config.repo import CleanupMode, CleanupOptions

logger = logging.getLogger(__name__)

# Closed pull requests are read newest first until the last read is reached (one page, usually);
# a repository's first run reads them all, up to this many pages (GitHub 100, Gitea 50 a page).
FIRST_READ_PAGES = 200


@dataclass
class CleanupRun:
    platform: str
    repo: str
    mode: str  # plan (dry run) | report | apply
    changes: tuple[Change, ...] = ()
    results: list[Result] = field(default_factory=list)
    dashboard: int | None = None

    @property
    def pending(self) -> list[Change]:
        return actionable(self.changes)


async def observe(forge: Forge, storage: Storage, root: GitRoot, repo: str, *, settle: bool, now: float,
                  clock: Callable[[], float]) -> tuple[Observed, Mirror, GitAccess]:
    """Everything the planner needs: one mirror fetch, git locally, a few forge listings, the store."""
    found = await forge.get_repo(repo)
    access = await forge.git_access(repo)
    mirror = root.mirror(forge.platform, repo)
    async with mirror.locked():
        await mirror.fetch(access)
        if settle:
            await settle_interrupted(storage, mirror, forge.platform, repo, clock)
        analysis = await analyse(mirror, found.default_branch)
    protected = await forge.protected_patterns(repo)
    # Heads in this repository (a fork's are not ours); names compared without case, as the forges do:
    # the pull request says "acme/widgets" where the command line may have said "Acme/Widgets".
    open_heads = frozenset(p.head_ref for p in await forge.list_pulls(repo, state="open")
                           if p.head_repo is None or p.head_repo.lower() == repo.lower())
    watermark = await storage.cleanup.pulls_watermark(forge.platform, repo)
    fresh = await forge.recent_pulls(repo, state="closed", since=watermark, pages=FIRST_READ_PAGES)
    await storage.cleanup.save_pulls(forge.platform, repo, fresh)  # a local index, like the mirror: kept by dry runs too
    closed = await storage.cleanup.closed_pulls(forge.platform, repo)
    in_use = {w.branch for w in await storage.worktrees.all_live(forge.platform, repo)}
    for claim in await storage.claims.active_claims(forge.platform, repo):  # a claimed issue's branch, even without a worktree now
        branch = await storage.worktrees.last_branch(forge.platform, repo, claim.number)
        if branch:
            in_use.add(branch)
    rows = await storage.cleanup.open_rows(forge.platform, repo)
    notices = {r.branch: Notice(r.sha, r.noticed_at) for r in rows}
    observed = Observed(analysis, protected, open_heads, closed, frozenset(in_use), frozenset(), notices, now)
    return observed, mirror, access


async def check_rulesets(forge: Forge, repo: str, config: CleanupOptions, observed: Observed) -> tuple[Change, ...]:
    """Plan; then, if a GitHub ruleset could apply, ask about the due branches only (at most
    max_per_run calls, never one per branch) and plan again without those it covers."""
    changes = plan(config, observed)
    candidates = due(changes)
    if not candidates or not await forge.has_rulesets(repo):
        return changes
    ruled = [c.branch for c in candidates if await forge.branch_rules(repo, c.branch)]
    if not ruled:
        return changes
    return plan(config, replace(observed, ruled=frozenset(ruled)))


async def run_cleanup(
    forge: Forge, storage: Storage, root: GitRoot, repo: str, config: CleanupOptions, *,
    mode: str, bot_login: str | None, clock: Callable[[], float] = time.time,
) -> CleanupRun:
    """mode: plan (dry run), report (notices and dashboard), apply (also archive and delete), or
    auto (what `cleanup.mode` says)."""
    if mode == "auto":
        mode = config.mode.value
    dry = mode == "plan"
    run = CleanupRun(forge.platform, repo, mode)
    observed, mirror, access = await observe(forge, storage, root, repo, settle=not dry, now=clock(), clock=clock)
    run.changes = await check_rulesets(forge, repo, config, observed)
    if dry:
        return run
    listed = [(c.branch, c.sha, c.why, c.committer, c.committed_at) for c in actionable(run.changes)]
    await storage.cleanup.sync_notices(forge.platform, repo, listed, clock())
    if mode == CleanupMode.APPLY.value and due(run.changes):
        rows = {r.branch: r for r in await storage.cleanup.open_rows(forge.platform, repo)}
        async with mirror.locked():
            run.results = await apply(storage, mirror, access, forge.platform, repo, due(run.changes), rows, clock=clock,
                                      on_result=lambda result: _record(storage, forge.platform, repo, result, clock))
    if config.notify:
        gone = {r.change.branch for r in run.results if r.outcome in (Outcome.DELETED, Outcome.MOVED)}
        still = [c for c in run.changes if c.branch not in gone]
        deleted = await storage.cleanup.deleted_rows(forge.platform, repo)
        body = dashboard.render(repo, config, still, deleted)
        run.dashboard = await dashboard.publish(forge, storage, forge.platform, repo, body, bot_login=bot_login, now=clock())
    return run


async def _record(storage: Storage, platform: str, repo: str, result: Result, clock: Callable[[], float]) -> None:
    change = result.change
    detail: dict[str, object] = {"branch": change.branch, "sha": change.sha, "why": change.why, "outcome": result.outcome}
    if result.outcome == Outcome.DELETED:
        detail["tag"] = change.tag
        detail["restore"] = dashboard.restore_command(repo, change.branch)
    elif result.detail:
        detail["detail"] = result.detail
    kind = "cleanup.deleted" if result.outcome == Outcome.DELETED else f"cleanup.{result.outcome}"
    await storage.activity.append(Entry(kind=kind, detail=detail, platform=platform, repo=repo), clock())


def summary(changes: tuple[Change, ...]) -> str:
    counts: dict[Kind, int] = {}
    for change in changes:
        counts[change.kind] = counts.get(change.kind, 0) + 1
    return ", ".join(f"{n} {kind.value}" for kind, n in counts.items()) or "nothing"
