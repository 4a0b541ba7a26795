"""Worktrees as agent operations: one implementation behind the HTTP API (handlers/worktrees_api.py)
and the MCP tools (handlers/worktree_tools.py). Each runs through handlers/agent_ops.perform, so
the login can read the repository before anything happens; the rules are /start's and the holder's."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot.engine.context import Context
from bot.engine.invoke import CommandFailed
from bot.forges.base import Forge
from bot.repoconfig import config_in_force
from handlers.agent_ops import allowed_config
from handlers.worktree_ops import start_work
from handlers.worktree_push import push_worktree

if TYPE_CHECKING:
    from bot.storage.worktrees import Worktree


def worktree_json(row: Worktree, lease_until: float | None) -> dict[str, Any]:
    return {"branch": row.branch, "base": row.base, "sha": row.sha, "path": row.path, "state": row.state.value,
            "lease_until": lease_until, "pull_request": row.pull_number, "number": row.number, "holder": row.holder,
            "note": row.note}


async def start(ctx: Context, forge: Forge, repo: str, login: str, number: int, base: str | None) -> dict[str, Any]:
    """/start as `login`: claim, branch and worktree; answers once the worktree is ready."""
    config, issue = await allowed_config(ctx, forge, repo, number, login, "start")
    started = await start_work(ctx, forge, repo, number, login, config, base=base, issue=issue, background=False)
    held = await ctx.storage.claims.active_claim(forge.platform, repo, number)
    return worktree_json(started.worktree, held.expires_at if held else None)


async def push(ctx: Context, forge: Forge, repo: str, login: str, number: int) -> dict[str, Any]:
    """Push the issue's worktree branch with the bot's credentials; only its holder may."""
    row = await ctx.storage.worktrees.live(forge.platform, repo, number)
    if row is None:
        raise CommandFailed("this issue has no worktree", "Start it first.")
    if row.holder.lower() != login.lower():
        raise CommandFailed(f"the worktree is @{row.holder}'s; only they push it")
    pushed = await push_worktree(ctx, forge, row, await config_in_force(ctx, forge.platform, repo))
    return {"branch": pushed.branch, "sha": pushed.sha, "lease_until": pushed.lease_until}


async def status(ctx: Context, forge: Forge, repo: str, login: str, number: int) -> dict[str, Any]:
    """The issue's worktree: branch, base, commit, path on the bot's host, state, pull request, holder."""
    row = await ctx.storage.worktrees.live(forge.platform, repo, number)
    if row is None:
        raise CommandFailed("this issue has no worktree", "Start it first.")
    held = await ctx.storage.claims.active_claim(forge.platform, repo, number)
    return worktree_json(row, held.expires_at if held else None)


async def listing(ctx: Context, forge: Forge, repo: str, login: str) -> list[dict[str, Any]]:
    return [worktree_json(r, None) for r in await ctx.storage.worktrees.all_live(forge.platform, repo)]
