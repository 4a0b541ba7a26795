"""Retiring worktrees: when one is due (`worktrees.remove_on`), removal that never loses work, and
the check of each mirror's registered worktrees against the store."""

from __future__ import annotations

import datetime as dt
import logging
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.engine.context import Context
from bot.forges.base import Forge
from bot.git import worktrees as git_wt
from bot.storage.worktrees import State, Worktree
from config.repo import RepoConfig
from handlers.worktree_ops import mark, mirror_of

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Retired:
    removed: bool
    archived: list[str]
    kept_because: str = ""


@dataclass(frozen=True)
class Due:
    why: str
    on_forge: tuple[str, ...] = ()  # commits the forge keeps without the branch: a merged pull request's head


async def retire(ctx: Context, forge: Forge, row: Worktree, reason: str, *, force: bool = False,
                 on_forge: Sequence[str] = ()) -> Retired:
    """Remove the worktree, unless it holds uncommitted changes (then keep it and say why, unless
    `force`). Commits the forge lacks (on none of its branches or tags, nor reachable from
    `on_forge`) are pushed to an archive tag first, whatever `force` says."""
    mirror = mirror_of(ctx, row.platform, row.repo)
    path = Path(row.path)
    async with mirror.locked():
        seen = await git_wt.inspect(mirror, path)
        if seen.dirty and not force:
            listed = ", ".join(seen.dirty[:5]) + (" ..." if len(seen.dirty) > 5 else "")
            why = f"kept: {reason}, but it has uncommitted changes ({listed}); `forgebot worktree remove --force` discards them"
            if row.state is not State.KEPT or row.note != why:
                await mark(ctx, row.id, State.KEPT, note=why)
                await ctx.record("worktree.kept", platform=row.platform, repo=row.repo,
                                 subject=f"{row.platform}:{row.repo}#{row.number}", why=reason, files=len(seen.dirty))
            return Retired(False, [], why)
        archived: list[str] = []
        if mirror.exists():
            access = await forge.git_access(row.repo)
            await mirror.fetch(access)
            tips = [t for t in (await mirror.resolve(f"refs/heads/{row.branch}"), seen.head) if t]
            today = dt.datetime.fromtimestamp(ctx.clock(), dt.UTC).date()
            archived = await git_wt.archive_unpushed(mirror, access, row.branch, tips, today, on_forge)
            await git_wt.remove(mirror, path, row.branch, force=True)
        else:
            shutil.rmtree(path, ignore_errors=True)
    note = f"removed: {reason}" + (f"; unpushed commits archived to {', '.join(archived)}" if archived else "")
    await mark(ctx, row.id, State.REMOVED, note=note)
    await ctx.record("worktree.removed", platform=row.platform, repo=row.repo, subject=f"{row.platform}:{row.repo}#{row.number}",
                     why=reason, archived=archived, forced=force)
    return Retired(True, archived)


async def removal_due(ctx: Context, forge: Forge, row: Worktree, config: RepoConfig) -> Due | None:
    """Why this worktree should go now (per `worktrees.remove_on`), or None. Reads the platform.

    A merged pull request keeps its commits on the forge after its branch is deleted (a squash or
    rebase merge leaves them off the base; `review.delete_branch` removes the branch): they are
    not work to archive."""
    wanted = set(config.worktrees.remove_on)
    merged = [p for p in await forge.list_pulls(row.repo, head=row.branch, state="closed") if p.merged and p.head_ref == row.branch]
    on_forge = tuple(p.head_sha for p in merged if p.head_sha)
    if merged and "merged" in wanted:
        return Due(f"pull request #{merged[0].number} was merged", on_forge)
    issue = await forge.get_issue(row.repo, row.number)
    if "closed" in wanted and issue.state == "closed":
        return Due("the issue was closed", on_forge)
    if {"released", "expired"} & wanted:
        ended = await ctx.storage.claims.last_end(row.platform, row.repo, row.number)
        if ended == "expired" and "expired" in wanted:
            return Due("the claim expired", on_forge)
        if ended is not None and ended != "expired" and "released" in wanted:
            return Due("the claim was released", on_forge)
    return None


async def check_mirrors(ctx: Context) -> list[str]:
    """Prune each mirror's worktree registry and compare it with the store; returns what is odd.

    A live row whose directory is gone is marked removed (nothing is left to save); a registered
    worktree the store does not know is reported, never deleted: it may hold someone's work."""
    problems = []
    rows = await ctx.storage.worktrees.all_live()
    for platform, repo in sorted({(r.platform, r.repo) for r in rows}):
        mirror = mirror_of(ctx, platform, repo)
        if not mirror.exists():
            continue
        async with mirror.locked():
            await git_wt.prune(mirror)
            registered = {r.path for r in await git_wt.registered(mirror)}
        known = {Path(r.path) for r in rows if r.platform == platform and r.repo == repo}
        for row in rows:
            if row.platform == platform and row.repo == repo and row.state is not State.CREATING and not Path(row.path).exists():
                await mark(ctx, row.id, State.REMOVED, note="removed: its directory was gone")
                problems.append(f"{platform}:{repo}#{row.number}: the worktree directory was gone")
        for path in sorted(registered - known):
            problems.append(f"{platform}:{repo}: {path} is registered but not known to forgebot (left alone)")
    for problem in problems:
        logger.warning("worktree check", extra={"problem": problem})
    return problems


