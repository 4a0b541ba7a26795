"""Worktrees for agents over HTTP, with the agent API's bearer tokens and rules (handlers/agents.py).

  POST /api/repos/{owner}/{repo}/issues/{n}/start  {"base": "main"} (optional)
       -> {"branch", "base", "sha", "path", "lease_until", "pull_request"}
  POST /api/repos/{owner}/{repo}/issues/{n}/push   -> {"branch", "sha", "lease_until"}
  GET  /api/repos/{owner}/{repo}/worktrees

A start answers once its worktree is ready (an agent waits; the first use of a repository takes
as long as its first fetch). Only the holder pushes, and only the worktree's own branch.

With several replicas, start and push work on the worktree root, which only the worktree host
has: another replica answers 503 with Retry-After (behind a load balancer, the next try may reach
the host), rather than make a worktree on a disk no one will look at.
"""

from __future__ import annotations

import json
import time

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.engine.context import Context
from bot.engine.invoke import BadArguments
from bot.engine.leadership import WORKTREES
from bot.forges.base import Forge
from bot.http.parts import AppParts
from handlers import worktree_agent_ops as ops
from handlers.agents import agent_endpoint


async def _base(request: Request) -> str | None:
    body = await request.body()
    if not body:
        return None
    try:
        value = json.loads(body).get("base")
    except (ValueError, AttributeError):
        raise BadArguments('the body must be a JSON object like {"base": "main"}') from None
    return str(value) if value is not None else None


NOT_THE_HOST = "this forgebot replica is not the worktree host ({host}); try again (FORGEBOT_WORKTREE_HOST)"


async def not_the_host(app: AppParts) -> Response | None:
    """The 503 of a replica that does not hold the worktree root now; None on the host."""
    if WORKTREES in app.capabilities():
        return None
    lease = await app.storage.leases.current(WORKTREES)
    host = "no replica is" if lease is None or lease.until <= time.time() else "another replica is"
    return JSONResponse({"error": NOT_THE_HOST.format(host=host)}, status_code=503, headers={"retry-after": "1"})


def routes(app: AppParts) -> list[Route]:
    async def start(request: Request, ctx: Context, forge: Forge, repo: str, login: str) -> Response:
        if (refused := await not_the_host(app)) is not None:
            return refused
        return JSONResponse(await ops.start(ctx, forge, repo, login, int(request.path_params["number"]), await _base(request)))

    async def push(request: Request, ctx: Context, forge: Forge, repo: str, login: str) -> Response:
        if (refused := await not_the_host(app)) is not None:
            return refused
        return JSONResponse(await ops.push(ctx, forge, repo, login, int(request.path_params["number"])))

    async def listing(request: Request, ctx: Context, forge: Forge, repo: str, login: str) -> Response:
        return JSONResponse(await ops.listing(ctx, forge, repo, login))

    base = "/api/repos/{owner}/{repo}"
    return [
        Route(base + "/issues/{number:int}/start", agent_endpoint(app, start), methods=["POST"]),
        Route(base + "/issues/{number:int}/push", agent_endpoint(app, push), methods=["POST"]),
        Route(f"{base}/worktrees", agent_endpoint(app, listing)),
    ]
