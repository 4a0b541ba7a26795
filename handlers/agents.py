"""For agents and operators: the ready list, issues and claims over HTTP with a bearer token.

Routes (added to the app by bot/app.py):
  GET  /api/repos/{owner}/{repo}/ready[?label=L&platform=P]
  GET  /api/repos/{owner}/{repo}/claims
  GET  /api/repos/{owner}/{repo}/issues/{n}          the issue, its dependencies and its claim
  POST /api/repos/{owner}/{repo}/issues/{n}/claim    {"duration": "4h"}  (optional)
  POST /api/repos/{owner}/{repo}/issues/{n}/release
  POST /api/repos/{owner}/{repo}/issues/{n}/extend   {"duration": "4h"}  (optional)
  GET  /api/claims/mine[?platform=P]                 this login's claims
Each agent token (FORGEBOT_AGENT_TOKENS) acts as one platform login; the operations and their
rules are in handlers/agent_ops.py, shared with the MCP tools. Answers: 200 done, 400 a malformed
body or duration, 401 no known token, 403 the command is turned off or the login may not run it,
404 no such issue, or a repository the login cannot read (checked before anything else, and
worded the same as for one that does not exist), 409 refused by the issue's state (claimed by
someone else, closed, blocked, a pull request...), 502 the platform failed (worth a retry).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.engine.context import Context
from bot.engine.invoke import BadArguments
from bot.forges.base import Forge
from bot.http.auth import agent_login
from bot.http.parts import AppParts
from handlers import agent_ops
from handlers.agent_ops import NO_REPOSITORY, AgentFailure, allowed_config, ready_issues

__all__ = ["NO_REPOSITORY", "agent_endpoint", "allowed_config", "ready_issues", "routes"]


def _json_error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _unauthorized() -> JSONResponse:
    return JSONResponse({"error": "missing or unknown bearer token"}, status_code=401, headers={"www-authenticate": "Bearer"})


async def _duration(request: Request) -> str | None:
    body = await request.body()
    if not body:
        return None
    try:
        value = json.loads(body).get("duration")
    except (ValueError, AttributeError):
        raise BadArguments("the body must be a JSON object like {\"duration\": \"4h\"}") from None
    return str(value) if value is not None else None


Work = Callable[[Request, Context, Forge, str, str], Awaitable[Response]]


def agent_endpoint(app: AppParts, work: Work) -> Callable[[Request], Awaitable[Response]]:
    """An agent API route on /api/repos/{owner}/{repo}/...: the bearer token's login, the platform,
    the read check and failures as statuses, all from handlers/agent_ops.py (also for
    handlers/worktrees_api.py)."""

    async def handle(request: Request) -> Response:
        login = agent_login(app.settings, request.headers.get("authorization", ""))
        if login is None:
            return _unauthorized()
        repo = f"{request.path_params['owner']}/{request.path_params['repo']}"

        async def operation(ctx: Context, forge: Forge, repo: str, login: str) -> Response:
            return await work(request, ctx, forge, repo, login)

        try:
            return await agent_ops.perform(app.processor.context(), login, request.query_params.get("platform"), repo, operation)
        except AgentFailure as failure:
            return _json_error(failure.status, failure.message)

    return handle


def routes(app: AppParts) -> list[Route]:
    def endpoint(work: Callable[[Request, Context, Forge, str, str], Awaitable[Any]]) -> Callable[[Request], Awaitable[Response]]:
        async def answer(request: Request, ctx: Context, forge: Forge, repo: str, login: str) -> Response:
            return JSONResponse(await work(request, ctx, forge, repo, login))

        return agent_endpoint(app, answer)

    async def ready(request: Request, ctx: Context, forge: Forge, repo: str, login: str) -> Any:
        return await agent_ops.ready(ctx, forge, repo, login, request.query_params.get("label"))

    async def claims(request: Request, ctx: Context, forge: Forge, repo: str, login: str) -> Any:
        return await agent_ops.list_claims(ctx, forge, repo, login)

    async def issue(request: Request, ctx: Context, forge: Forge, repo: str, login: str) -> Any:
        return await agent_ops.read_issue(ctx, forge, repo, login, int(request.path_params["number"]))

    async def claim(request: Request, ctx: Context, forge: Forge, repo: str, login: str) -> Any:
        return await agent_ops.claim(ctx, forge, repo, login, int(request.path_params["number"]), await _duration(request))

    async def release(request: Request, ctx: Context, forge: Forge, repo: str, login: str) -> Any:
        return await agent_ops.release(ctx, forge, repo, login, int(request.path_params["number"]))

    async def extend(request: Request, ctx: Context, forge: Forge, repo: str, login: str) -> Any:
        return await agent_ops.extend(ctx, forge, repo, login, int(request.path_params["number"]), await _duration(request))

    async def mine(request: Request) -> Response:
        login = agent_login(app.settings, request.headers.get("authorization", ""))
        if login is None:
            return _unauthorized()
        try:
            return JSONResponse(await agent_ops.my_claims(app.processor.context(), login, request.query_params.get("platform")))
        except AgentFailure as failure:
            return _json_error(failure.status, failure.message)

    base = "/api/repos/{owner}/{repo}"
    return [
        Route(f"{base}/ready", endpoint(ready)),
        Route(f"{base}/claims", endpoint(claims)),
        Route(base + "/issues/{number:int}", endpoint(issue)),
        Route(base + "/issues/{number:int}/claim", endpoint(claim), methods=["POST"]),
        Route(base + "/issues/{number:int}/release", endpoint(release), methods=["POST"]),
        Route(base + "/issues/{number:int}/extend", endpoint(extend), methods=["POST"]),
        Route("/api/claims/mine", mine),
    ]
