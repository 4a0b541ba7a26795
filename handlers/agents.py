"""For agents and operators: the ready list, and claims over HTTP with a bearer token.

Routes (added to the app by bot/app.py):
  GET  /api/repos/{owner}/{repo}/ready[?label=L&platform=P]
  GET  /api/repos/{owner}/{repo}/claims
  POST /api/repos/{owner}/{repo}/issues/{n}/claim    {"duration": "4h"}  (optional)
  POST /api/repos/{owner}/{repo}/issues/{n}/release
  POST /api/repos/{owner}/{repo}/issues/{n}/extend   {"duration": "4h"}  (optional)
Each agent token (FORGEBOT_AGENT_TOKENS) acts as one platform login, under the same rules as
/claim, /unclaim and /extend in a comment (enabled, issues only, who may). Answers: 200 done,
400 a malformed body or duration, 401 no known token, 403 the command is turned off or the login
may not run it, 404 no such issue, or a repository the login cannot read (checked before
anything else, and worded the same as for one that does not exist), 409 refused by the issue's
state (claimed by someone else, closed, blocked, a pull request...), 502 the platform failed
(worth a retry).
"""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot import claims
from bot.worktrees import all_live as live_worktrees
from bot.context import Context
from bot.forges.base import Forge, ForgeError, Issue, NotFound, Permission
from bot.forges.provider import NotConfigured
from bot.invoke import BadArguments, CommandFailed, Refusal, Refused, check_allowed
from bot.repoconfig import config_in_force
from config.repo import RepoConfig
from handlers.claims import claim_issue, extend_claim, open_dependencies, release_claim
from handlers.common import permissions, when

if TYPE_CHECKING:
    from bot.app import ForgebotApp

# One answer for "no such repository" and "not yours to read", so an agent learns nothing of
# repositories its login cannot see.
NO_REPOSITORY = "there is no repository {repo} that @{login} can read"
NAME_RE = re.compile(r"[A-Za-z0-9_.-]{1,100}")


async def ready_issues(ctx: Context, forge: Forge, repo: str, label: str | None = None) -> list[dict[str, Any]]:
    """Open issues that are neither claimed nor blocked, oldest first."""
    config = await config_in_force(ctx, forge.platform, repo)
    claimed = {c.number for c in await ctx.store.run(claims.active_claims, forge.platform, repo)}
    worktrees = {w.number: w for w in await ctx.store.run(live_worktrees, forge.platform, repo)}
    skip = {config.claims.label.lower(), config.dependencies.label.lower()}
    ready = []
    for issue in await forge.list_issues(repo, state="open", labels=[label] if label else ()):
        if issue.is_pull or issue.number in claimed or skip & {name.lower() for name in issue.labels}:
            continue
        if await open_dependencies(ctx, forge, forge.platform, repo, issue.number):
            continue
        ready.append(issue)
    ready.sort(key=lambda i: (i.created_at.timestamp() if i.created_at else 0.0, i.number))
    return [
        {"number": i.number, "title": i.title, "url": i.html_url, "labels": list(i.labels),
         "author": i.author, "created_at": i.created_at.isoformat() if i.created_at else None,
         "worktree": {"branch": worktrees[i.number].branch, "state": worktrees[i.number].state.value} if i.number in worktrees else None}
        for i in ready
    ]


def _plain_name(part: str) -> bool:
    """An owner or repository name as the platforms spell them; '..' and the like would make the
    bot's own API request mean another path."""
    return NAME_RE.fullmatch(part) is not None and part not in (".", "..")


async def _readable(ctx: Context, forge: Forge, owner: str, name: str, login: str) -> bool:
    """Whether the platform would show owner/name to `login`; a name no repository can have is
    no repository."""
    if not (_plain_name(owner) and _plain_name(name)):
        return False
    return await permissions(ctx).can_read(forge, f"{owner}/{name}", login)


def _json_error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _status(failure: CommandFailed) -> int:
    """The HTTP status of a command that failed: asking again unchanged won't help with any of them."""
    if isinstance(failure, Refused):
        return 409 if failure.kind is Refusal.WRONG_SUBJECT else 403
    if isinstance(failure, BadArguments):
        return 400
    return 409


async def allowed_config(ctx: Context, forge: Forge, repo: str, number: int, login: str, command: str) -> tuple[RepoConfig, Issue]:
    """The repository's config and the issue, once `login` passes `/command`'s rules on issue `number` (else Refused)."""
    config = await config_in_force(ctx, forge.platform, repo)
    spec = ctx.router.find_command(command)
    if spec is None:
        raise Refused(Refusal.TURNED_OFF, f"/{command} is not available here")
    issue = await forge.get_issue(repo, number)

    async def permission() -> Permission:
        return await permissions(ctx).level(forge, repo, login)

    await check_allowed(spec, config, forge, actor=login, author=issue.author, is_pull=issue.is_pull, permission=permission)
    return config, issue


Work = Callable[[Request, Context, Forge, str, str], Awaitable[Response]]


def agent_login(app: ForgebotApp, request: Request) -> str | None:
    """The login the bearer token acts as, or None."""
    given = request.headers.get("authorization", "")
    if not given.lower().startswith("bearer "):
        return None
    token = given[7:].strip().encode()
    found = None
    for known, login in app.settings.agent_logins().items():
        if hmac.compare_digest(token, known.encode()):  # check every one: no early exit to time
            found = login
    return found


def agent_endpoint(app: ForgebotApp, work: Work) -> Callable[[Request], Awaitable[Response]]:
    """An agent API route: the bearer token's login, the platform, and failures as statuses
    (also for handlers/worktrees_api.py)."""

    async def handle(request: Request) -> Response:
        login = agent_login(app, request)
        if login is None:
            return JSONResponse({"error": "missing or unknown bearer token"}, status_code=401, headers={"www-authenticate": "Bearer"})
        owner, name = request.path_params["owner"], request.path_params["repo"]
        repo = f"{owner}/{name}"
        ctx = app.processor.context()
        platform = request.query_params.get("platform")
        configured = ctx.forges.configured
        if platform is None and len(configured) == 1:
            platform = configured[0]
        if platform not in configured:
            return _json_error(400, f"say which platform with ?platform= (configured: {', '.join(configured) or 'none'})")
        try:
            forge = ctx.forges.get(platform)
            # Before anything is read or written: a login that cannot read the repository gets
            # what the forge would give it, the same 404 as for a repository that does not exist.
            if not await _readable(ctx, forge, owner, name, login):
                return _json_error(404, NO_REPOSITORY.format(repo=repo, login=login))
            return await work(request, ctx, forge, repo, login)
        except CommandFailed as failure:
            return _json_error(_status(failure), f"{failure.reason}{'. ' + failure.hint if failure.hint else ''}")
        except NotConfigured as exc:
            return _json_error(400, str(exc))
        except NotFound as exc:  # before ForgeError: a missing issue is not worth a retry
            return _json_error(404, str(exc))
        except ForgeError as exc:
            return _json_error(502, str(exc))

    return handle


def routes(app: ForgebotApp) -> list[Route]:
    def endpoint(work: Work) -> Callable[[Request], Awaitable[Response]]:
        return agent_endpoint(app, work)

    async def duration(request: Request) -> str | None:
        body = await request.body()
        if not body:
            return None
        try:
            value = json.loads(body).get("duration")
        except (ValueError, AttributeError):
            raise BadArguments("the body must be a JSON object like {\"duration\": \"4h\"}") from None
        return str(value) if value is not None else None

    async def ready(request: Request, ctx: Context, forge: Forge, repo: str, login: str) -> Response:
        return JSONResponse(await ready_issues(ctx, forge, repo, request.query_params.get("label")))

    async def list_claims(request: Request, ctx: Context, forge: Forge, repo: str, login: str) -> Response:
        found = await ctx.store.run(claims.active_claims, forge.platform, repo)
        return JSONResponse([{"number": c.number, "holder": c.holder, "claimed_at": c.claimed_at, "expires_at": c.expires_at,
                              "expires": when(c.expires_at)} for c in found])

    async def claim(request: Request, ctx: Context, forge: Forge, repo: str, login: str) -> Response:
        number = int(request.path_params["number"])
        config, issue = await allowed_config(ctx, forge, repo, number, login, "claim")
        message = await claim_issue(ctx, forge, repo, number, login, config, await duration(request), issue)
        current = await ctx.store.run(claims.active_claim, forge.platform, repo, number)
        return JSONResponse({"status": "claimed", "holder": login, "expires_at": current.expires_at if current else None, "message": message})

    async def release(request: Request, ctx: Context, forge: Forge, repo: str, login: str) -> Response:
        number = int(request.path_params["number"])
        config, _ = await allowed_config(ctx, forge, repo, number, login, "unclaim")
        current = await ctx.store.run(claims.active_claim, forge.platform, repo, number)
        if current is None:
            raise CommandFailed("nobody holds this issue")
        if current.holder.lower() != login.lower():
            raise CommandFailed(f"@{current.holder} holds it, not @{login}")
        await release_claim(ctx, forge, repo, number, config, "unclaimed", current)
        return JSONResponse({"status": "released"})

    async def extend(request: Request, ctx: Context, forge: Forge, repo: str, login: str) -> Response:
        number = int(request.path_params["number"])
        config, _ = await allowed_config(ctx, forge, repo, number, login, "extend")
        message = await extend_claim(ctx, forge, repo, number, login, config, await duration(request))
        return JSONResponse({"status": "extended", "message": message})

    base = "/api/repos/{owner}/{repo}"
    return [
        Route(f"{base}/ready", endpoint(ready)),
        Route(f"{base}/claims", endpoint(list_claims)),
        Route(base + "/issues/{number:int}/claim", endpoint(claim), methods=["POST"]),
        Route(base + "/issues/{number:int}/release", endpoint(release), methods=["POST"]),
        Route(base + "/issues/{number:int}/extend", endpoint(extend), methods=["POST"]),
    ]
