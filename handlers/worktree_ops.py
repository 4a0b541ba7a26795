"""Starting worktrees: what /start, the CLI, the agent API and the lifecycle share
(retiring: worktree_lifecycle.py; pushing: worktree_push.py).

A start is a row first (state `creating`), then git work under the mirror's lock, then `ready`.
Every step can be repeated: an interrupted start (a kill, a timeout, a lost answer) is completed
by the next attempt or by the sweep, and the worktree it half made is discarded first (nobody
has used it yet). A retirement never loses work: uncommitted changes keep the worktree (state
`kept`) until someone forces it, and commits the forge lacks are pushed to an archive tag first.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.engine.context import Context
from bot.engine.invoke import BadArguments, CommandFailed
from bot.forges.base import Conflict, Forge, ForgeError, GitAccess, Invalid, Issue
from bot.git import worktrees as git_wt
from bot.git.mirror import FORGE_HEADS, GitRoot, Mirror
from bot.git.names import BadBranchName, check_branch_name, prefix_for, render, with_suffix
from bot.git.runner import GitFailed
from bot.storage.worktrees import State, Worktree
from config.repo import RepoConfig
from handlers.worktree_drafts import empty_start_commit, open_draft

logger = logging.getLogger(__name__)

GIT_FAILED = "git failed on the bot's host: {why}"
LIMIT_HINT = "Finish or `/unclaim` other issues first."


@dataclass(frozen=True)
class Started:
    worktree: Worktree
    created: bool  # made by this call; False: the holder's existing worktree
    preparing: bool = False  # the first mirror of the repository is being made in the background
    claim_news: str = ""


def git_root(ctx: Context) -> GitRoot:
    root = ctx.services.git_root
    if root is None:
        root = ctx.services.git_root = GitRoot(ctx.settings.git_root.resolve())
        root.prepare()
    return root


def mirror_of(ctx: Context, platform: str, repo: str) -> Mirror:
    return git_root(ctx).mirror(platform, repo)


def base_for(config: RepoConfig, labels: tuple[str, ...], argument: str | None, default_branch: str) -> str:
    if argument:
        return argument
    names = {label.lower() for label in labels}
    for label, base in config.worktrees.base_for.items():
        if label.lower() in names:
            return base
    return config.worktrees.base or default_branch


def branch_name(config: RepoConfig, issue: Issue) -> str:
    options = config.worktrees
    return render(options.branch, prefix_for(issue.labels, options.prefixes, options.branch_prefix), issue.number, issue.title)


async def checked_branch_name(root: GitRoot, config: RepoConfig, issue: Issue) -> str:
    """The issue's branch name once git accepts it: each part of the config passes its own check,
    but a template and a prefix together can still make one git refuses (`fix//7-x`)."""
    name = branch_name(config, issue)
    try:
        return await check_branch_name(name, root.env())
    except BadBranchName:
        raise CommandFailed(f"`{name}`, the branch name `worktrees.branch` and `worktrees.prefixes` make, is not one git accepts",
                            "Fix them in the repository's `.forgebot.yml`, then `/start` again.") from None


def check_disk(ctx: Context) -> None:
    root = git_root(ctx).path
    free = shutil.disk_usage(root).free
    needed = ctx.settings.git_min_free_bytes()
    if free < needed:
        raise CommandFailed(
            f"the bot's host has {free // 2**20} MiB free for worktrees, less than FORGEBOT_GIT_MIN_FREE ({ctx.settings.git_min_free})",
            "Ask an operator to free disk space, then `/start` again.")


async def mark(ctx: Context, row_id: int, state: State, *, sha: str | None = None, note: str | None = None,
               pull_number: int | None = None) -> None:
    await ctx.storage.worktrees.mark(row_id, state, ctx.clock(), sha, note, pull_number)


# -- starting -------------------------------------------------------------------------------------


async def start_work(
    ctx: Context, forge: Forge, repo: str, number: int, login: str, config: RepoConfig, *,
    base: str | None = None, issue: Issue | None = None, claim: bool = True, background: bool = True,
    answer_key: str = "",
) -> Started:
    """Claim the issue for `login` (unless the caller already did), then give it a branch and a
    worktree; the holder's existing one when there is one. Raises CommandFailed with the reason."""
    from handlers.claims import claim_issue  # the claim rules of /claim, unchanged

    root = git_root(ctx)
    issue = issue or await forge.get_issue(repo, number)
    if issue.is_pull:
        raise CommandFailed("a pull request has a branch already", "`/start` the issue it closes.")
    if base is not None:
        try:
            await check_branch_name(base, root.env())
        except BadBranchName as exc:
            raise BadArguments(str(exc), "Name an existing branch, like `/start main`.") from None
    current = await ctx.storage.worktrees.live(forge.platform, repo, number)
    if current is not None and current.state is State.KEPT and current.holder.lower() != login.lower():
        raise CommandFailed(f"@{current.holder}'s worktree of this issue still has uncommitted changes",
                            "Ask them to commit and `forgebot push`, or an operator to `forgebot worktree remove --force` it.")
    branch = ""
    if current is None:  # what would refuse a new worktree refuses before the claim: a refusal changes nothing
        check_disk(ctx)
        branch = await ctx.storage.worktrees.last_branch(forge.platform, repo, number) or await checked_branch_name(root, config, issue)
        refused = await ctx.storage.worktrees.over_limit(forge.platform, repo, config.worktrees.max_per_repo, ctx.settings.worktrees_max)
        if refused:
            raise CommandFailed(refused, LIMIT_HINT)
    news = ""
    if claim:
        news = await claim_issue(ctx, forge, repo, number, login, config, None, issue)
    if current is not None and current.state is not State.CREATING:
        if current.holder.lower() != login.lower():
            await ctx.storage.worktrees.set_holder(current.id, login, ctx.clock())
        if current.state is State.KEPT:  # its holder starts again: it is in use, not due for removal
            await mark(ctx, current.id, State.READY, note="")
        current = await ctx.storage.worktrees.live(forge.platform, repo, number) or current
        return Started(current, created=False, claim_news=news)
    if current is None:
        mirror = root.mirror(forge.platform, repo)
        path = mirror.worktrees_dir / str(number)
        chosen_base = base_for(config, issue.labels, base, (await forge.get_repo(repo)).default_branch)
        reservation = await ctx.storage.worktrees.reserve(
            forge.platform, repo, number, branch, chosen_base, str(path), login, ctx.clock(),
            config.worktrees.max_per_repo, ctx.settings.worktrees_max, answer_key)
        if reservation.worktree is None:
            raise CommandFailed(reservation.refused, LIMIT_HINT)
        current = reservation.worktree
    mirror = root.mirror(forge.platform, repo)
    if background and not mirror.exists():
        return Started(current, created=True, preparing=True, claim_news=news)
    return Started(await complete_start(ctx, forge, current, config, issue), created=True, claim_news=news)


async def complete_start(ctx: Context, forge: Forge, row: Worktree, config: RepoConfig, issue: Issue) -> Worktree:
    """The git half of a start: fetch, pick the final branch name, make it on the forge, add the
    worktree. Safe to run again after any interruption."""
    mirror = mirror_of(ctx, row.platform, row.repo)
    access = await forge.git_access(row.repo)
    path = Path(row.path)
    asked_at = time.time()  # a fetch begun after this, by a start that held the lock meanwhile, will do
    try:
        async with mirror.locked():
            again = await ctx.storage.worktrees.live(row.platform, row.repo, row.number)
            if again is None:
                raise CommandFailed("the start was cancelled meanwhile")
            if again.state is not State.CREATING:
                return again  # another attempt finished it while this one waited for the lock
            row = again
            locked_at = time.monotonic()
            fetched = await mirror.fetch(access, unless_since=asked_at)
            fetched_at = time.monotonic()
            base_sha = fetched.heads.get(row.base)
            if base_sha is None:
                await mark(ctx, row.id, State.REMOVED, note=f"no branch {row.base}")
                raise BadArguments(f"the repository has no branch {row.base!r}", "Name an existing branch, like `/start main`.")
            branch = await _final_branch(ctx, mirror, row, fetched.heads)
            start_sha = fetched.heads.get(branch) or base_sha
            if branch not in fetched.heads:
                if config.worktrees.draft_pr:  # a pull request needs a commit: begin with an empty one
                    start_sha = await empty_start_commit(mirror, base_sha, issue)
                # Recorded before the forge has it: a retry after a kill knows the branch is this issue's.
                await mark(ctx, row.id, State.CREATING, sha=start_sha)
                if start_sha == base_sha:
                    await _create_forge_branch(forge, mirror, access, row.repo, branch, start_sha)
                else:  # the forge lacks the new commit: push it (only if the branch is still absent there)
                    await mirror.push(access, f"{start_sha}:refs/heads/{branch}", lease=f"refs/heads/{branch}:")
                    await mirror.git("update-ref", f"{FORGE_HEADS}{branch}", start_sha)
            if path.exists() or any(r.path == path for r in await git_wt.registered(mirror)):
                await git_wt.discard_half_made(mirror, path)  # an interrupted add: nothing of anyone's is in it
            added_at = time.monotonic()
            await git_wt.add(mirror, path, branch, start_sha)
            sha = (await mirror.git("rev-parse", "--verify", "HEAD", cwd=path)).stdout.strip() or start_sha
            timings = {"fetch_seconds": round(fetched_at - locked_at, 3), "branch_seconds": round(added_at - fetched_at, 3),
                       "add_seconds": round(time.monotonic() - added_at, 3)}
    except GitFailed as exc:
        raise CommandFailed(GIT_FAILED.format(why=exc), "Try `/start` again; if it keeps failing, tell an operator.") from None
    await mark(ctx, row.id, State.READY, sha=sha)
    await ctx.record("worktree.started", actor=row.holder, platform=row.platform, repo=row.repo,
                     subject=f"{row.platform}:{row.repo}#{row.number}", branch=branch, base=row.base, sha=sha, **timings)
    done = await ctx.storage.worktrees.live(row.platform, row.repo, row.number)
    assert done is not None
    if config.worktrees.draft_pr and done.pull_number is None:
        done = await open_draft(ctx, forge, done, issue)
    return done


async def _final_branch(ctx: Context, mirror: Mirror, row: Worktree, heads: dict[str, str]) -> str:
    """The reserved name, or `name-2`... when the forge has that branch for something else.

    The issue's own branch (a start after a removal, or an interrupted start that already made
    it) is recognised by the store's record and by its tip descending from the base."""
    if row.branch not in heads:
        return row.branch
    had_before = row.sha != "" or await _is_ours(ctx, row)
    if had_before:
        return row.branch
    taken = set(heads) | await ctx.storage.worktrees.branches_in_use(row.platform, row.repo) - {row.branch}
    branch = with_suffix(row.branch, taken)
    await ctx.storage.worktrees.rename_branch(row.id, branch, ctx.clock())
    return branch


async def _is_ours(ctx: Context, row: Worktree) -> bool:
    """Did an earlier worktree of this issue (or this row's own interrupted attempt) make it?"""
    return bool(await ctx.storage.worktrees.branch_history(row.platform, row.repo, row.number, row.branch, row.id))


async def _create_forge_branch(forge: Forge, mirror: Mirror, access: GitAccess, repo: str, branch: str, sha: str) -> None:
    try:
        await forge.create_branch(repo, branch, sha)
    except (Conflict, Invalid):  # made by a lost earlier attempt: the fetch below tells
        pass
    except ForgeError:
        await mirror.fetch(access)
        if branch not in await mirror.refs(FORGE_HEADS):
            raise
    await mirror.git("update-ref", f"{FORGE_HEADS}{branch}", sha)


def run_in_background(ctx: Context, row_id: int, work: Coroutine[Any, Any, None]) -> None:
    """Run a start outside its delivery (the first mirror of a repository takes minutes), keeping
    a reference so the task is not collected and the sweep knows not to start it twice."""
    tasks = ctx.services.worktree_tasks
    if row_id in tasks:
        work.close()
        return
    task = tasks[row_id] = asyncio.get_running_loop().create_task(work)
    task.add_done_callback(lambda _t: tasks.pop(row_id, None))


def running_in_background(ctx: Context, row_id: int) -> bool:
    return row_id in ctx.services.worktree_tasks
