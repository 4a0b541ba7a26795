"""The optional draft pull request of a start (`worktrees.draft_pr`).

Both platforms refuse a pull request without commits, so a start that wants one begins its
branch with an empty "Start #N: title" commit. The draft says "Closes #N", carries the issue's
labels and milestone, and is assigned to the holder. GitHub marks it draft; Gitea has no draft
flag in its API, so its client puts "WIP:" before the title (Gitea's own draft marker).
"""

from __future__ import annotations

from bot.engine.context import Context
from bot.forges.base import Conflict, Forge, Invalid, Issue, NotFound
from bot.git.mirror import Mirror
from bot.storage.worktrees import State, Worktree

DRAFT_BODY = "Closes #{number}\n\nStarted by forgebot for @{holder}; the branch is `{branch}`."


def start_message(issue: Issue) -> str:
    return f"Start #{issue.number}: {issue.title}"


async def empty_start_commit(mirror: Mirror, base_sha: str, issue: Issue) -> str:
    """A commit with the base's tree and the start message (given on stdin: titles are untrusted)."""
    tree = (await mirror.git("rev-parse", "--verify", "--end-of-options", f"{base_sha}^{{tree}}")).stdout.strip()
    message = start_message(issue).replace("\0", "") + "\n"
    return (await mirror.git("commit-tree", tree, "-p", base_sha, input=message.encode())).stdout.strip()


async def open_draft(ctx: Context, forge: Forge, row: Worktree, issue: Issue) -> Worktree:
    """Find or open the draft for the worktree's branch, then copy labels, milestone and assignee."""
    existing = [p for p in await forge.list_pulls(row.repo, head=row.branch) if p.head_ref == row.branch]
    if existing:
        number = existing[0].number
    else:
        try:
            pull = await forge.create_pull(row.repo, title=start_message(issue), head=row.branch, base=row.base, draft=True,
                                           body=DRAFT_BODY.format(number=issue.number, holder=row.holder, branch=row.branch))
        except (Conflict, Invalid):  # made by a lost earlier attempt
            found = [p for p in await forge.list_pulls(row.repo, head=row.branch) if p.head_ref == row.branch]
            if not found:
                raise
            pull = found[0]
        number = pull.number
    if issue.labels:
        await forge.add_labels(row.repo, number, list(issue.labels))
    if issue.milestone:
        wanted = [m for m in await forge.list_milestones(row.repo) if m.title == issue.milestone]
        if wanted and wanted[0].id is not None:
            await forge.set_milestone(row.repo, number, wanted[0].id)
    try:
        await forge.add_assignees(row.repo, number, [row.holder])
    except (Invalid, NotFound):  # Gitea refuses someone without access; the issue's claim already said so
        pass
    await ctx.storage.worktrees.mark(row.id, row.state if row.state is not State.CREATING else State.READY, ctx.clock(), None, None, number)
    done = await ctx.storage.worktrees.live(row.platform, row.repo, row.number)
    assert done is not None
    return done

