"""GitOps triggers: apply on push to the default branch, plan on pull requests, reconcile on a schedule."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from bot.comments import upsert_comment
from bot.engine.context import Context
from bot.engine.router import Router
from bot.events import Event
from bot.forges.base import CommitStatus, Forge, ForgeError, StatusState
from bot.gitops.render import diff, summary
from bot.gitops.runner import RunSummary, reconcile
from config.repo import CONFIG_PATHS

logger = logging.getLogger(__name__)
router = Router()

STATUS_CONTEXT = "forgebot/config"
PLAN_KEY = "config-plan"
PLAN_LINES_SHOWN = 200

PLAN_COMMENT = """### forgebot plan for `{path}`

{summary}. Nothing is applied until this is merged into `{base}`.
{details}"""
INVALID_COMMENT = """### forgebot: `{path}` is not valid

The config in force stays as it is until this is fixed:

{problems}"""


def _touched(event: Event, paths: set[str]) -> bool:
    """Whether the push changed one of `paths`, or may have: a cut list of commits cannot tell."""
    push = event.push
    assert push is not None
    return push.truncated or bool(push.touched_paths & paths)


class ReadFailed(Exception):
    """A run could not read the file or the platform: the delivery is tried again, not reported as planned."""


def _retry_unread(run: RunSummary) -> None:
    if run.unread:
        raise ReadFailed(f"{run.repo}: {run.errors[0]}")


def _status(run: RunSummary) -> CommitStatus:
    if run.unread:  # not the file's fault: an error, not a failure
        return CommitStatus(StatusState.ERROR, STATUS_CONTEXT, f"not checked: {run.errors[0]}"[:140])
    if run.outcome == "invalid":
        text = f"invalid: {run.errors[0]}" if len(run.errors) == 1 else f"invalid: {len(run.errors)} problems"
        return CommitStatus(StatusState.FAILURE, STATUS_CONTEXT, text[:140])
    if run.outcome in ("blocked", "failed", "partial"):
        return CommitStatus(StatusState.FAILURE, STATUS_CONTEXT, f"{run.outcome}: {run.errors[0] if run.errors else ''}"[:140])
    verb = "applied" if run.mode == "apply" else "planned"
    text = f"{summary(run.changes)} {verb}"
    if run.notes:  # said once per run, where it is read, instead of failing as drift
        text += f"; {run.notes[0]}" + (f" (+{len(run.notes) - 1} more)" if len(run.notes) > 1 else "")
    return CommitStatus(StatusState.SUCCESS, STATUS_CONTEXT, text[:140])


async def _set_status(forge: Forge, run: RunSummary) -> None:
    if run.commit is None or run.outcome == "no-config":
        return
    try:
        await forge.set_status(run.repo, run.commit, _status(run))
    except ForgeError as exc:  # a status is a courtesy; the run and the activity log have the facts
        logger.warning("could not set the config status", extra={"repo": run.repo, "error": str(exc)})


async def _run(ctx: Context, forge: Forge, repo: str, **kwargs: object) -> RunSummary:
    run = await reconcile(
        forge,
        ctx.storage,
        repo,
        bot_login=await ctx.forges.bot_login(forge.platform),
        public_url=ctx.settings.public_url,
        clock=ctx.clock,
        **kwargs,  # type: ignore[arg-type]
    )
    ctx.services.metrics.reconcile_runs.labels(forge.platform, run.trigger.partition(":")[0], run.outcome).inc()
    return run


@router.on("push")
async def apply_config_on_push(event: Event, ctx: Context) -> None:
    push, repo = event.push, event.repo
    if push is None or repo is None or push.branch is None or push.branch != repo.default_branch:
        return
    forge = ctx.forge
    if _touched(event, set(CONFIG_PATHS)):
        run = await _run(ctx, forge, repo.full_name, trigger="push", mode="apply", commit=push.after)
        await _set_status(forge, run)
        _retry_unread(run)
    # Repositories whose file extends a file this push changed follow it.
    for dependent, path in await ctx.storage.configs.repos_extending(event.platform, repo.full_name):
        if dependent.lower() != repo.full_name.lower() and _touched(event, {path}):
            _retry_unread(await _run(ctx, forge, dependent, trigger=f"extends:{repo.full_name}", mode="apply"))


@router.on("pull_request", "opened")
@router.on("pull_request", "synchronize")
@router.on("pull_request", "reopened")
async def plan_config_on_pull_request(event: Event, ctx: Context) -> None:
    issue, repo = event.issue, event.repo
    if issue is None or repo is None or issue.head_sha is None:
        return
    forge = ctx.forge
    files = await forge.list_pull_files(repo.full_name, issue.number)
    if not set(files) & set(CONFIG_PATHS):
        return
    run = await _run(ctx, forge, repo.full_name, trigger="pull_request", mode="plan", ref=issue.head_sha, commit=issue.head_sha)
    await _set_status(forge, run)
    _retry_unread(run)  # a plan that read nothing would say "no changes"
    path = run.config_path or next(p for p in CONFIG_PATHS if p in files)
    if run.outcome == "invalid":
        body = INVALID_COMMENT.format(path=path, problems="\n".join(f"- {p}" for p in run.errors))
    else:
        lines = diff(run.changes).splitlines()
        shown = "\n".join(lines[:PLAN_LINES_SHOWN]) + (f"\n... {len(lines) - PLAN_LINES_SHOWN} more" if len(lines) > PLAN_LINES_SHOWN else "")
        details = f"\n```diff\n{shown}\n```\n" if lines else ""
        if run.outcome == "blocked":
            details += f"\n**This would not be applied:** {run.errors[0]}\n"
        if run.unknown:
            details += "\nNot compared (unreadable): " + "; ".join(run.unknown) + "\n"
        if run.notes:
            details += "\nLeft as it is: " + "; ".join(run.notes) + "\n"
        body = PLAN_COMMENT.format(path=path, summary=summary(run.changes).capitalize(), base=issue.base_ref or repo.default_branch, details=details)
    bot = await ctx.forges.bot_login(forge.platform)
    await upsert_comment(forge, repo.full_name, issue.number, PLAN_KEY, body, bot)


def reconcile_interval(settings: object) -> float:
    return float(getattr(settings, "reconcile_seconds"))


@router.job("reconcile", every=reconcile_interval, jitter=300)
async def reconcile_all(ctx: Context) -> None:
    """Every repository the bot can act on; one failing repository never stops the run."""
    limit = asyncio.Semaphore(ctx.settings.reconcile_concurrency)
    drifted = 0

    async def one(forge: Forge, repo: str) -> None:
        nonlocal drifted
        async with limit:
            try:
                run = await _run(ctx, forge, repo, trigger="schedule", mode="auto")
            except Exception:  # this repository's failure is logged; the others go on
                logger.exception("scheduled reconcile failed", extra={"repo": repo})
                return
            drifted += run.outcome == "drift"

    await each_repository(ctx, one)
    ctx.services.metrics.drifted.set(drifted)


async def each_repository(ctx: Context, work: Callable[[Forge, str], Awaitable[None]]) -> None:
    """`work(forge, repo)` for every scheduled repository of every configured platform, together."""
    for platform in ctx.forges.configured:
        forge = ctx.forges.get(platform)
        try:
            repos = await scheduled_repositories(ctx, forge)
        except ForgeError as exc:
            logger.error("cannot list repositories", extra={"platform": platform, "error": str(exc)})
            continue
        await asyncio.gather(*(work(forge, repo) for repo in repos))


async def scheduled_repositories(ctx: Context, forge: Forge) -> list[str]:
    """GitHub: the installations' repositories. Gitea: FORGEBOT_GITEA_REPOS, or those the token administers."""
    if forge.platform == "gitea" and ctx.settings.gitea_repos:
        return list(ctx.settings.gitea_repos)
    return [repo.full_name for repo in await forge.list_repositories() if not repo.archived]
