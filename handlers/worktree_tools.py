"""Worktrees for agents over MCP (start, a worktree's status, push) and on the status page, on the
same operations as the HTTP API (handlers/worktree_agent_ops.py)."""

from __future__ import annotations

from typing import Any

from bot.engine.context import Context
from bot.engine.toolbox import Toolbox
from bot.forges.base import Forge
from bot.status.sections import Cell, StatusSections, Table, when
from handlers import worktree_agent_ops as ops
from handlers.agent_tools import act

toolbox = Toolbox()
sections = StatusSections()

MAX_ROWS = 50


@toolbox.tool("start_work", read_only=False, title="Start work on an issue",
              description="Claim an issue (as claim_issue does), make its branch from `base` (the repository's default "
                          "when left out) and a git worktree on the bot's host; answers once it is ready, with the "
                          "branch, the worktree's path and until when the claim lasts.")
async def start_work(repo: str, number: int, base: str | None = None, platform: str | None = None) -> dict[str, Any]:
    result: dict[str, Any] = await act(repo, platform, ops.start, number, base)
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
    result: dict[str, Any] = await act(repo, platform, ops.push, number)
    return result


@sections.repository("worktrees", title="Worktrees", order=15)
async def worktrees_section(ctx: Context, forge: Forge, repo: str) -> Table:
    rows: list[tuple[Cell, ...]] = [
        (f"#{w.number}", w.branch, f"@{w.holder}", w.state.value, f"#{w.pull_number}" if w.pull_number else "",
         when(w.updated_at), w.note)
        for w in (await ctx.storage.worktrees.all_live(forge.platform, repo))[:MAX_ROWS]
    ]
    return Table(("Issue", "Branch", "Holder", "State", "Pull request", "Since", "Note"), rows, empty="no worktree")
