"""Pushing a worktree's branch with the bot's credentials, and the claim renewal a push brings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bot.engine.context import Context
from bot.engine.invoke import CommandFailed
from bot.forges.base import Forge
from bot.git import worktrees as git_wt
from bot.git.mirror import FORGE_HEADS
from bot.git.runner import GitFailed
from bot.storage.worktrees import State, Worktree
from config.repo import RepoConfig
from handlers.worktree_ops import GIT_FAILED, mark, mirror_of


@dataclass(frozen=True)
class Pushed:
    branch: str
    sha: str
    lease_until: float | None


async def push_worktree(ctx: Context, forge: Forge, row: Worktree, config: RepoConfig) -> Pushed:
    """Push the worktree's branch with the bot's credentials: that branch only, and only over
    what the bot last saw there (--force-with-lease), then renew the holder's claim."""
    if row.state is State.CREATING:
        raise CommandFailed("the worktree is still being made", "Wait for the start to finish.")
    mirror = mirror_of(ctx, row.platform, row.repo)
    path = Path(row.path)
    seen = await git_wt.inspect(mirror, path)
    if not seen.exists:
        raise CommandFailed(f"{path} is gone")
    if seen.branch != row.branch or seen.head is None:
        raise CommandFailed(f"the worktree is not on its branch {row.branch} (it is on {seen.branch or 'a detached HEAD'})",
                            f"`git switch {row.branch}` in the worktree, then push again.")
    access = await forge.git_access(row.repo)
    async with mirror.locked():
        expected = await mirror.resolve(f"{FORGE_HEADS}{row.branch}") or ""
        try:
            await mirror.push(access, f"refs/heads/{row.branch}:refs/heads/{row.branch}", lease=f"refs/heads/{row.branch}:{expected}")
        except GitFailed as exc:
            await mirror.fetch(access)
            if "stale info" in exc.stderr or "rejected" in exc.stderr:
                raise CommandFailed(
                    f"the branch {row.branch} moved on the forge since the bot last saw it",
                    f"Merge or rebase onto `refs/forge/heads/{row.branch}` (just fetched) in the worktree, then push again.") from None
            raise CommandFailed(GIT_FAILED.format(why=exc)) from None
        await mirror.git("update-ref", f"{FORGE_HEADS}{row.branch}", seen.head)
    await mark(ctx, row.id, row.state, sha=seen.head)
    until = await renew_claim(ctx, row, config)
    await ctx.record("worktree.pushed", actor=row.holder, platform=row.platform, repo=row.repo,
                     subject=f"{row.platform}:{row.repo}#{row.number}", branch=row.branch, sha=seen.head)
    return Pushed(row.branch, seen.head, until)


async def renew_claim(ctx: Context, row: Worktree, config: RepoConfig) -> float | None:
    """A push renews the holder's lease as a push of their own would; returns when it ends."""
    from config.repo import parse_duration

    current = await ctx.storage.claims.active_claim(row.platform, row.repo, row.number)
    if current is None:
        return None
    until = ctx.clock() + parse_duration(config.claims.default_duration).total_seconds()
    if until > current.expires_at and current.holder.lower() == row.holder.lower():
        await ctx.storage.claims.extend(current.id, until)
        return until
    return current.expires_at
