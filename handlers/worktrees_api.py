"""Worktrees for agents over HTTP, with the agent API's bearer tokens and rules (handlers/agents.py).

  POST /api/repos/{owner}/{repo}/issues/{n}/start  {"base": "main"} (optional)
       -> {"branch", "base", "sha", "path", "lease_until", "pull_request"}
  POST /api/repos/{owner}/{repo}/issues/{n}/push   -> {"branch", "sha", "lease_until"}
  GET  /api/repos/{owner}/{repo}/worktrees

A start answers once its worktree is ready (an agent waits; the first use of a repository takes
as long as its first fetch). Only the holder pushes, and only the worktree's own branch.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot import worktrees as store
from bot.context import Context
from bot.forges.base import Forge
from bot.invoke import BadArguments, CommandFailed
from handlers.agents import allowed_config
from handlers.worktree_ops import start_work
from handlers.worktree_push import push_worktree

if TYPE_CHECKING:
    from bot.app import ForgebotApp
    from bot.worktrees import Worktree


def _answer(row: Worktree, lease_until: float | None) -> dict[str, object]:
    return {"branch": row.branch, "base": row.base, "sha": row.sha, "path": row.path, "state": row.state.value,
            "lease_until": lease_until, "pull_request": row.pull_number, "number": row.number, "holder": row.holder,
            "note": row.note}


async def _base(request: Request) -> str | None:
    body = await request.body()
    if not body:
        return None
    try:
        value = json.loads(body).get("base")
    except (ValueError, AttributeError):
        raise BadArguments('the body must be a JSON object like {"base": "main"}') from None
    return str(value) if value is not None else None


def routes(app: ForgebotApp) -> list[Route]:
    from handlers.agents import agent_endpoint

    async def start(request: Request, ctx: Context, forge: Forge, repo: str, login: str) -> Response:
        from bot import claims

        number = int(request.path_params["number"])
        config, issue = await allowed_config(ctx, forge, repo, number, login, "start")
        started = await start_work(ctx, forge, repo, number, login, config, base=await _base(request), issue=issue, background=False)
        held = await ctx.store.run(claims.active_claim, forge.platform, repo, number)
        return JSONResponse(_answer(started.worktree, held.expires_at if held else None))

    async def push(request: Request, ctx: Context, forge: Forge, repo: str, login: str) -> Response:
        from bot.repoconfig import config_in_force

        number = int(request.path_params["number"])
        row = await ctx.store.run(store.live, forge.platform, repo, number)
        if row is None:
            raise CommandFailed("this issue has no worktree", "`POST .../start` it first.")
        if row.holder.lower() != login.lower():
            raise CommandFailed(f"the worktree is @{row.holder}'s; only they push it")
        pushed = await push_worktree(ctx, forge, row, await config_in_force(ctx, forge.platform, repo))
        return JSONResponse({"branch": pushed.branch, "sha": pushed.sha, "lease_until": pushed.lease_until})

    async def listing(request: Request, ctx: Context, forge: Forge, repo: str, login: str) -> Response:
        from bot.forges.base import NotFound, Permission
        from handlers.common import permissions

        if await permissions(ctx).level(forge, repo, login) < Permission.READ:  # what the forge would show them
            raise NotFound(f"{repo} not found")
        rows = await ctx.store.run(store.all_live, forge.platform, repo)
        return JSONResponse([_answer(r, None) for r in rows])

    base = "/api/repos/{owner}/{repo}"
    return [
        Route(base + "/issues/{number:int}/start", agent_endpoint(app, start), methods=["POST"]),
        Route(base + "/issues/{number:int}/push", agent_endpoint(app, push), methods=["POST"]),
        Route(f"{base}/worktrees", agent_endpoint(app, listing)),
    ]
