"""What an agent can do: one implementation behind the HTTP API (handlers/agents.py) and the MCP
tools (bot/mcp/tools.py).

Every operation acts as one platform login, under the same rules as the comment commands, and
`perform` runs it only once the login can read the repository: a repository the login cannot
read is answered like one that does not exist (AgentFailure 404), before anything is read or
written. Failures are AgentFailure with an HTTP status; the MCP tools turn them into tool errors.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from bot.engine.context import Context
from bot.engine.invoke import BadArguments, CommandFailed, Refusal, Refused, check_allowed
from bot.forges.base import Forge, ForgeError, Issue, NotFound, Permission
from bot.forges.provider import NotConfigured
from bot.repoconfig import config_in_force
from bot.storage.claims import Claim
from config.repo import RepoConfig
from handlers.claims import claim_issue, extend_claim, open_dependencies, release_claim
from handlers.common import permissions, when

T = TypeVar("T")
Operation = Callable[[Context, Forge, str, str], Awaitable[T]]

# One answer for "no such repository" and "not yours to read", so an agent learns nothing of
# repositories its login cannot see.
NO_REPOSITORY = "there is no repository {repo} that @{login} can read"
NAME_RE = re.compile(r"[A-Za-z0-9_.-]{1,100}")
MAX_MY_CLAIMS = 200


class AgentFailure(Exception):
    """An operation that did not happen: `status` is its HTTP status, `message` says why and what to do."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _plain_name(part: str) -> bool:
    """An owner or repository name as the platforms spell them; '..' and the like would make the
    bot's own API request mean another path."""
    return NAME_RE.fullmatch(part) is not None and part not in (".", "..")


async def readable(ctx: Context, forge: Forge, repo: str, login: str) -> bool:
    """Whether the platform would show `repo` to `login`; a name no repository can have is no repository."""
    owner, _, name = repo.partition("/")
    if not (_plain_name(owner) and _plain_name(name)):
        return False
    return await permissions(ctx).can_read(forge, repo, login)


def choose_platform(ctx: Context, platform: str | None) -> str:
    configured = ctx.forges.configured
    if platform is None and len(configured) == 1:
        return configured[0]
    if platform not in configured:
        raise AgentFailure(400, f"say which platform (configured: {', '.join(configured) or 'none'})")
    return platform


def _command_status(failure: CommandFailed) -> int:
    """The HTTP status of a command that failed: asking again unchanged won't help with any of them."""
    if isinstance(failure, Refused):
        return 409 if failure.kind is Refusal.WRONG_SUBJECT else 403
    if isinstance(failure, BadArguments):
        return 400
    return 409


def failure_of(exc: Exception) -> AgentFailure | None:
    """The AgentFailure an exception of an operation stands for; None for a bug (let it raise)."""
    if isinstance(exc, AgentFailure):
        return exc
    if isinstance(exc, CommandFailed):
        return AgentFailure(_command_status(exc), f"{exc.reason}{'. ' + exc.hint if exc.hint else ''}")
    if isinstance(exc, NotConfigured):
        return AgentFailure(400, str(exc))
    if isinstance(exc, NotFound):  # before ForgeError: a missing issue is not worth a retry
        return AgentFailure(404, str(exc))
    if isinstance(exc, ForgeError):
        return AgentFailure(502, str(exc))
    return None


async def perform(ctx: Context, login: str, platform: str | None, repo: str, operation: Operation[T]) -> T:
    """Run `operation(ctx, forge, repo, login)` once `login` can read `repo`; failures as AgentFailure."""
    try:
        forge = ctx.forges.get(choose_platform(ctx, platform))
        # Before anything is read or written: a login that cannot read the repository gets what the
        # forge would give it, the same 404 as for a repository that does not exist.
        if not await readable(ctx, forge, repo, login):
            raise AgentFailure(404, NO_REPOSITORY.format(repo=repo, login=login))
        return await operation(ctx, forge, repo, login)
    except Exception as exc:
        failure = failure_of(exc)
        if failure is None:
            raise
        raise failure from None


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


# -- reading --------------------------------------------------------------------------------------


def issue_summary(issue: Issue) -> dict[str, Any]:
    return {"number": issue.number, "title": issue.title, "url": issue.html_url, "labels": list(issue.labels),
            "author": issue.author, "created_at": issue.created_at.isoformat() if issue.created_at else None}


async def ready_issues(ctx: Context, forge: Forge, repo: str, label: str | None = None) -> list[dict[str, Any]]:
    """Open issues that are neither claimed nor blocked, oldest first."""
    config = await config_in_force(ctx, forge.platform, repo)
    claimed = {c.number for c in await ctx.storage.claims.active_claims(forge.platform, repo)}
    worktrees = {w.number: w for w in await ctx.storage.worktrees.all_live(forge.platform, repo)}
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
        {**issue_summary(i), "worktree": {"branch": worktrees[i.number].branch, "state": worktrees[i.number].state.value}
         if i.number in worktrees else None}
        for i in ready
    ]


async def ready(ctx: Context, forge: Forge, repo: str, login: str, label: str | None = None) -> list[dict[str, Any]]:
    """The ready list as an operation of `login` (who may read the repository sees all of it)."""
    return await ready_issues(ctx, forge, repo, label)


def claim_json(claim: Claim) -> dict[str, Any]:
    return {"number": claim.number, "holder": claim.holder, "claimed_at": claim.claimed_at,
            "expires_at": claim.expires_at, "expires": when(claim.expires_at)}


async def list_claims(ctx: Context, forge: Forge, repo: str, login: str) -> list[dict[str, Any]]:
    return [claim_json(c) for c in await ctx.storage.claims.active_claims(forge.platform, repo)]


async def read_issue(ctx: Context, forge: Forge, repo: str, login: str, number: int) -> dict[str, Any]:
    """The issue, what it depends on (each open or closed), and who holds it until when.

    A dependency in another repository shows its state only when `login` can read that repository:
    the forge would show nothing else of it.
    """
    issue = await forge.get_issue(repo, number)
    depends_on = []
    for dep_repo, dep_number, source in await ctx.storage.dependencies.of(forge.platform, repo, number):
        state: str | None = None
        if dep_repo.lower() == repo.lower() or await readable(ctx, forge, dep_repo, login):
            try:
                state = (await forge.get_issue(dep_repo, dep_number)).state
            except NotFound:
                state = "missing"
        depends_on.append({"repo": dep_repo, "number": dep_number, "state": state, "source": source})
    current = await ctx.storage.claims.active_claim(forge.platform, repo, number)
    return {
        **issue_summary(issue), "state": issue.state, "body": issue.body, "is_pull": issue.is_pull,
        "assignees": list(issue.assignees), "depends_on": depends_on,
        "blocked": any(d["state"] == "open" for d in depends_on),
        "claim": claim_json(current) if current else None,
    }


async def my_claims(ctx: Context, login: str, platform: str | None) -> list[dict[str, Any]]:
    """The login's active claims on one platform, in repositories it can still read."""
    try:
        chosen = choose_platform(ctx, platform)
        forge = ctx.forges.get(chosen)
        held = [c for c in await ctx.storage.claims.active_claims(chosen) if c.holder.lower() == login.lower()]
        return [{"repo": c.repo, **claim_json(c)} for c in held[:MAX_MY_CLAIMS] if await readable(ctx, forge, c.repo, login)]
    except Exception as exc:
        failure = failure_of(exc)
        if failure is None:
            raise
        raise failure from None


# -- claims ---------------------------------------------------------------------------------------


async def claim(ctx: Context, forge: Forge, repo: str, login: str, number: int, duration: str | None) -> dict[str, Any]:
    config, issue = await allowed_config(ctx, forge, repo, number, login, "claim")
    message = await claim_issue(ctx, forge, repo, number, login, config, duration, issue)
    current = await ctx.storage.claims.active_claim(forge.platform, repo, number)
    return {"status": "claimed", "holder": login, "expires_at": current.expires_at if current else None, "message": message}


async def extend(ctx: Context, forge: Forge, repo: str, login: str, number: int, duration: str | None) -> dict[str, Any]:
    config, _ = await allowed_config(ctx, forge, repo, number, login, "extend")
    message = await extend_claim(ctx, forge, repo, number, login, config, duration)
    return {"status": "extended", "message": message}


async def release(ctx: Context, forge: Forge, repo: str, login: str, number: int) -> dict[str, Any]:
    config, _ = await allowed_config(ctx, forge, repo, number, login, "unclaim")
    current = await ctx.storage.claims.active_claim(forge.platform, repo, number)
    if current is None:
        raise CommandFailed("nobody holds this issue")
    if current.holder.lower() != login.lower():
        raise CommandFailed(f"@{current.holder} holds it, not @{login}")
    await release_claim(ctx, forge, repo, number, config, "unclaimed", current)
    return {"status": "released"}
