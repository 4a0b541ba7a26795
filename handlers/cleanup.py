"""Scheduled stale-branch cleanup: each repository whose config has a `cleanup:` section, in turn.

Only repositories that ask for it are looked at: a dashboard issue appearing unasked on every
repository would be noise. Each one's run is delayed by up to FORGEBOT_CLEANUP_JITTER, spread
by its name, so repositories do not all fetch and read the forge in the same second. What a run
does follows `cleanup.mode`: report (notices and the dashboard) or apply (also deletions).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging

from bot.cleanup import dashboard
from bot.cleanup.runner import run_cleanup, summary
from bot.engine.context import Context
from bot.engine.leadership import WORKTREES
from bot.engine.router import Router
from bot.events import Event
from bot.forges.base import Forge
from bot.git.mirror import GitRoot
from bot.repoconfig import config_in_force
from handlers.reconcile import each_repository

logger = logging.getLogger(__name__)

router = Router()


def cleanup_interval(settings: object) -> float:
    return float(getattr(settings, "cleanup_seconds"))


def jitter_for(platform: str, repo: str, most: float) -> float:
    """A fixed delay in [0, most) per repository: the same every pass, different between repositories."""
    if most <= 0:
        return 0.0
    digest = hashlib.sha256(f"{platform}:{repo.lower()}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 * most


async def cleanup_repository(ctx: Context, forge: Forge, repo: str) -> None:
    config = await config_in_force(ctx, forge.platform, repo)
    if "cleanup" not in config.model_fields_set:
        return
    root = GitRoot(ctx.settings.git_root.resolve())
    root.prepare()
    bot = await ctx.forges.bot_login(forge.platform)
    run = await run_cleanup(forge, ctx.storage, root, repo, config.cleanup, mode="auto", bot_login=bot, clock=ctx.clock)
    logger.info("cleanup %s: %s", run.mode, summary(run.changes), extra={"repo": repo, "deleted": len(run.results)})


@router.on("push")
async def take_pushed_branch_off(event: Event, ctx: Context) -> None:
    """A push to a branch on the dashboard takes it off at once (the next run may list it again,
    at its new head, with a new grace, if it is still a candidate)."""
    push, repo = event.push, event.repo
    if push is None or repo is None or push.branch is None or set(push.after) == {"0"}:
        return
    if not await ctx.storage.cleanup.drop_moved(event.platform, repo.full_name, push.branch, push.after):
        return
    known = await ctx.storage.cleanup.dashboard(event.platform, repo.full_name)
    if known is None:
        return
    number, body = known
    edited = dashboard.without(body, push.branch)
    if edited != body:
        await ctx.forge.edit_issue(repo.full_name, number, body=edited)
        await ctx.storage.cleanup.save_dashboard(event.platform, repo.full_name, number, edited, ctx.clock())


@router.job("cleanup", every=cleanup_interval, jitter=60, lease=WORKTREES)  # its mirrors are in the git root
async def cleanup_all(ctx: Context) -> None:
    """Every repository the bot acts on; one failing repository never stops the others."""
    most = ctx.settings.cleanup_jitter_seconds
    limit = asyncio.Semaphore(ctx.settings.reconcile_concurrency)  # fetches and forge reads at once

    async def one(forge: Forge, repo: str) -> None:
        await asyncio.sleep(jitter_for(forge.platform, repo, most))
        async with limit:
            try:
                await cleanup_repository(ctx, forge, repo)
            except Exception:  # this repository's failure is logged; the others go on
                logger.exception("scheduled cleanup failed", extra={"repo": repo})

    await each_repository(ctx, one)
