"""Worktrees: /start (issue -> claim + branch + git worktree), automatic starts, and a lifecycle
that removes a worktree when its work is done without ever losing work (handlers/worktree_ops.py)."""

from __future__ import annotations

import logging

from bot.comments import post_once, upsert_comment
from bot.engine.context import Context
from bot.engine.invoke import CommandFailed, Invocation
from bot.engine.leadership import WORKTREES
from bot.engine.router import Level, Router
from bot.events import Event
from bot.forges.base import Forge, ForgeError, NotFound
from bot.git.runner import GitFailed
from bot.repoconfig import config_in_force
from bot.storage.worktrees import State, Worktree
from config.repo import RepoConfig
from handlers.worktree_lifecycle import check_mirrors, removal_due, retire
from handlers.worktree_ops import Started, complete_start, run_in_background, running_in_background, start_work

logger = logging.getLogger(__name__)
router = Router()

READY = (
    "Started: branch `{branch}` from `{base}` at `{short}`.\n\n"
    "Worktree on the bot's host: `{path}`\n\n"
    "Commit there, then run `forgebot push` inside it (agents: `POST /api/repos/{repo}/issues/{number}/push`): "
    "the bot pushes this branch only, with `--force-with-lease`, and renews the claim."
)
PREPARING = "Starting: preparing (first use of this repository): the bot is making its copy of the repository. This comment will say when the worktree is ready."
FAILED = "Could not start: {why}. {hint}"
KEPT = "The worktree of this issue (`{path}`) was not removed: {why}."
ARCHIVED = "The worktree of this issue was removed ({why}); commits that were not on the forge are kept in {tags}."


STALE_START = 120.0  # seconds a start may sit in `creating` before the resume job takes it over


def answer_key(started: Started, asked_by: str) -> str:
    """The first answer of a start is the row's own (whoever completes it edits that one comment);
    asking again for an existing worktree gets an answer per asking."""
    row = started.worktree
    return row.answer_key if started.created and row.answer_key else f"worktree:{row.id}:{asked_by}"


def ready_text(row: Worktree, extra: str = "") -> str:
    text = READY.format(branch=row.branch, base=row.base, short=row.sha[:7], path=row.path, repo=row.repo, number=row.number)
    if row.pull_number:
        text += f"\n\nDraft pull request: #{row.pull_number}."
    return f"{extra}\n\n{text}" if extra else text


async def answer(ctx: Context, forge: Forge, started: Started, key: str, config: RepoConfig) -> None:
    """One comment per asking: ready now, or 'preparing' edited once the background start is done."""
    row = started.worktree
    bot = await ctx.forges.bot_login(forge.platform)
    if not started.preparing:
        await upsert_comment(forge, row.repo, row.number, key, ready_text(row, started.claim_news), bot)
        return
    await upsert_comment(forge, row.repo, row.number, key, f"{started.claim_news}\n\n{PREPARING}".strip(), bot)
    run_in_background(ctx, row.id, finish_in_background(ctx, forge, row, config, key, started.claim_news))


async def finish_in_background(ctx: Context, forge: Forge, row: Worktree, config: RepoConfig, key: str, news: str) -> None:
    bot = await ctx.forges.bot_login(forge.platform)
    try:
        issue = await forge.get_issue(row.repo, row.number)
        done = await complete_start(ctx, forge, row, config, issue)
        text = ready_text(done, news)
    except CommandFailed as failure:
        text = FAILED.format(why=failure.reason, hint=failure.hint)
    except (ForgeError, GitFailed, OSError) as exc:  # the sweep completes it later
        logger.warning("background start failed; the sweep tries again", extra={"repo": row.repo, "issue": row.number, "error": str(exc)})
        return
    await upsert_comment(forge, row.repo, row.number, key, text, bot)


@router.command(
    "start",
    usage="/start [BASE]",
    description="Claim the issue and get a branch and a git worktree on the bot's host (from BASE, default the configured base).",
    level=Level.ANYONE,
    on_pulls=False,
)
async def start_command(inv: Invocation) -> None:
    base = inv.args[0] if inv.args else None
    asked_by = f"comment-{inv.event.comment.id}" if inv.event.comment else f"delivery-{inv.event.delivery_id}"
    started = await start_work(inv.ctx, inv.forge, inv.repo, inv.number, inv.actor, inv.config, base=base,
                               answer_key=f"worktree-start:{inv.forge.platform}:{inv.repo}#{inv.number}:{asked_by}")
    await answer(inv.ctx, inv.forge, started, answer_key(started, asked_by), inv.config)


# -- automatic starts: worktrees.create_on ------------------------------------------------------


@router.on("issues", "assigned", needs=WORKTREES)
async def start_on_assignment(event: Event, ctx: Context) -> None:
    """`create_on: [assign]` starts for whoever was assigned; `[claim]` for a claim's holder (claims assign)."""
    if event.repo is None or event.issue is None or event.issue.is_pull or event.issue.state != "open":
        return
    repo = event.repo.full_name
    config = await config_in_force(ctx, event.platform, repo)
    create_on = set(config.worktrees.create_on)
    if not create_on:
        return
    forge = ctx.forge
    holder = await ctx.storage.claims.active_claim(event.platform, repo, event.issue.number)
    assignee = (event.payload.get("assignee") or {}).get("login") or (event.issue.assignees[0] if event.issue.assignees else None)
    if "claim" in create_on and holder is not None and (assignee is None or holder.holder.lower() == assignee.lower()):
        login, claim = holder.holder, False
    elif "assign" in create_on and assignee and assignee.lower() != (await ctx.forges.bot_login(event.platform)).lower():
        login, claim = assignee, holder is None or holder.holder.lower() != assignee.lower()
    else:
        return
    try:
        started = await start_work(ctx, forge, repo, event.issue.number, login, config, claim=claim,
                                   answer_key=f"worktree-start:{event.platform}:{repo}#{event.issue.number}:{event.delivery_id}")
    except CommandFailed as failure:
        bot = await ctx.forges.bot_login(event.platform)
        await post_once(forge, repo, event.issue.number, f"worktree-auto:{event.delivery_id}",
                        FAILED.format(why=failure.reason, hint=failure.hint), bot)
        return
    if started.created:
        await answer(ctx, forge, started, answer_key(started, "auto"), config)


# -- the lifecycle: level-triggered, on the event and by the sweep ----------------------------------


async def retire_if_due(ctx: Context, forge: Forge, row: Worktree, config: RepoConfig) -> None:
    if row.state is State.CREATING:
        return
    due = await removal_due(ctx, forge, row, config)
    if due is None:
        return
    retired = await retire(ctx, forge, row, due.why, on_forge=due.on_forge)
    bot = await ctx.forges.bot_login(row.platform)
    try:
        if not retired.removed:
            await post_once(forge, row.repo, row.number, f"worktree-kept:{row.id}", KEPT.format(path=row.path, why=retired.kept_because), bot)
        elif retired.archived:
            tags = ", ".join(f"`{t}`" for t in retired.archived)
            await post_once(forge, row.repo, row.number, f"worktree-archived:{row.id}", ARCHIVED.format(why=due.why, tags=tags), bot)
    except NotFound:
        pass


@router.on("issues", "closed", needs=WORKTREES)
@router.on("issues", "unassigned", needs=WORKTREES)
@router.on("pull_request", "closed", needs=WORKTREES)
async def retire_on_event(event: Event, ctx: Context) -> None:
    if event.repo is None or event.issue is None:
        return
    repo = event.repo.full_name
    if event.issue.is_pull:
        if not event.issue.merged or not event.issue.head_ref:
            return
        row = await ctx.storage.worktrees.by_branch(event.platform, repo, event.issue.head_ref)
    else:
        row = await ctx.storage.worktrees.live(event.platform, repo, event.issue.number)
    if row is None:
        return
    await retire_if_due(ctx, ctx.forge, row, await config_in_force(ctx, event.platform, repo))


@router.job("worktrees-resume", every=15, lease=WORKTREES)
async def resume_starts(ctx: Context) -> None:
    """Complete starts a kill, a timeout or a lost background task interrupted (state `creating`).
    The first run of a process also prunes and checks each mirror's registered worktrees."""
    first_run = not ctx.services.worktrees_checked  # just started: nothing of this process is under way
    if first_run:
        ctx.services.worktrees_checked = True
        await check_mirrors(ctx)
    for row in await ctx.storage.worktrees.creating():
        if running_in_background(ctx, row.id) or (not first_run and ctx.clock() - row.updated_at < STALE_START):
            continue  # a delivery or a background task of this process is still on it
        try:
            forge = ctx.forges.get(row.platform)
            config = await config_in_force(ctx, row.platform, row.repo)
            issue = await forge.get_issue(row.repo, row.number)
            try:
                done = await complete_start(ctx, forge, row, config, issue)
                text = ready_text(done)
            except CommandFailed as failure:
                text = FAILED.format(why=failure.reason, hint=failure.hint)
            if row.answer_key:
                bot = await ctx.forges.bot_login(row.platform)
                await upsert_comment(forge, row.repo, row.number, row.answer_key, text, bot)
        except (ForgeError, GitFailed, OSError) as exc:  # tried again next time
            logger.warning("could not complete an interrupted start", extra={"repo": row.repo, "issue": row.number, "error": str(exc)})


@router.job("worktrees-sweep", every=300, jitter=30, lease=WORKTREES)
async def sweep_worktrees(ctx: Context) -> None:
    """Heal lost webhooks: remove each worktree whose removal is due (per `worktrees.remove_on`)."""
    for row in await ctx.storage.worktrees.all_live():
        if row.state is State.CREATING:
            continue
        try:
            await retire_if_due(ctx, ctx.forges.get(row.platform), row, await config_in_force(ctx, row.platform, row.repo))
        except (ForgeError, GitFailed, CommandFailed, OSError) as exc:  # tried again next time
            logger.warning("worktree sweep: could not handle a worktree", extra={"repo": row.repo, "issue": row.number, "error": str(exc)})


@router.job("worktrees-check", every=24 * 3600, lease=WORKTREES)
async def check_registered(ctx: Context) -> None:
    """`git worktree prune` and a look at what each mirror has registered against the store."""
    await check_mirrors(ctx)

