"""Worktrees for agents over MCP (start, a worktree's status, push) and on the status page, on the
same operations as the HTTP API (handlers/worktree_agent_ops.py)."""

from __future__ import annotations

from typing import Any

from bot.engine.context import Context
from bot.engine.leadership import WORKTREES
from bot.engine.toolbox import Toolbox
from bot.forges.base import Forge
from bot.status.sections import Cell, StatusSections, Table, when
from handlers import worktree_agent_ops as ops
from handlers.agent_ops import AgentFailure
from handlers.agent_tools import act

toolbox = Toolbox()
sections = StatusSections()

MAX_ROWS = 50


async def _on_the_worktree_host(ctx: Context, forge: Forge, repo: str, login: str, action: Any, *arguments: Any) -> Any:
    """`action` where the worktree root is: a replica that is not the worktree host refuses, as
    the HTTP API does (a worktree made here would be on the wrong disk)."""
    can = ctx.services.capabilities
    if can is not None and WORKTREES not in can():
        raise AgentFailure(503, "this forgebot replica is not the worktree host; call the worktree host's /mcp "
                                "(FORGEBOT_WORKTREE_HOST), or try again if it is changing hands")
    return await action(ctx, forge, repo, login, *arguments)


@toolbox.tool("start_work", read_only=False, title="Start work on an issue",
              description="Claim an issue (as claim_issue does), make its branch from `base` (the repository's default "
                          "when left out) and a git worktree on the bot's host; answers once it is ready, with the "
                          "branch, the worktree's path and until when the claim lasts.")
async def start_work(repo: str, number: int, base: str | None = None, platform: str | None = None) -> dict[str, Any]:
    result: dict[str, Any] = await act(repo, platform, _on_the_worktree_host, ops.start, number, base)
    return result


@toolbox.tool("worktree_status", read_only=True, title="A worktree's status",
              description="The worktree of an issue: branch, base, commit, path on the bot's host, state, its pull "
                          "request, its holder and until when the claim lasts.")
async def worktree_status(repo: str, number: int, platform: str | None = None) -> dict[str, Any]:
    result: dict[str, Any] = await act(repo, platform, ops.status, number)
    return result


@toolbox.tool("push_worktree", read_only=False, title="Push a worktree",
              description="Push the branch of your worktree for an issue with the bot's credentials (only its holder "
                          "may, and only its own branch); renews the claim.")
async def push_worktree(repo: str, number: int, platform: str | None = None) -> dict[str, Any]:
    result: dict[str, Any] = await act(repo, platform, _on_the_worktree_host, ops.push, number)
    return result


@sections.repository("worktrees", title="Worktrees", order=15)
async def worktrees_section(ctx: Context, forge: Forge, repo: str) -> Table:
    rows: list[tuple[Cell, ...]] = [
        (f"#{w.number}", w.branch, f"@{w.holder}", w.state.value, f"#{w.pull_number}" if w.pull_number else "",
         when(w.updated_at), w.note)
        for w in (await ctx.storage.worktrees.all_live(forge.platform, repo))[:MAX_ROWS]
    ]
    return Table(("Issue", "Branch", "Holder", "State", "Pull request", "Since", "Note"), rows, empty="no worktree")
