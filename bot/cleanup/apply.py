"""Archive and delete what a plan says is due: one atomic git push per branch, compare-and-swap.

Why a push and not the REST API: `git push --atomic --force-with-lease=refs/heads/B:SHA` sends
"B: SHA -> deleted" (and "tag: none -> SHA") as one ref transaction, which the server applies
only if B still points at SHA, and then both updates or neither. An API delete (GitHub
`DELETE /git/refs/heads/B`, Gitea `DELETE /branches/B`) takes no expected value: re-reading the
branch first leaves a window in which a push is lost, and tag and deletion would be two calls
that a crash could separate. With the push, a branch that moved is refused, kept, and evaluated
afresh next run; an archive tag exists exactly when its deletion happened.

Each deletion is journalled first (`deleting`), then pushed, then marked `deleted`. A kill -9
between the two leaves a `deleting` row that the next run settles from what the forge shows.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.cleanup.plan import Change, Kind
from bot.forges.base import GitAccess
from bot.git.mirror import FORGE_HEADS, FORGE_TAGS, Mirror
from bot.storage.base import Storage
from bot.storage.cleanup import Row, RowState

logger = logging.getLogger(__name__)

Clock = Callable[[], float]


class Outcome:
    DELETED = "deleted"
    MOVED = "moved"  # the branch is not at the evaluated head any more: kept
    REFUSED = "refused"  # the server answered and refused it (e.g. protection, a ref it cannot make): kept
    FAILED = "failed"  # no clear answer: it may have landed


@dataclass(frozen=True)
class Result:
    change: Change
    outcome: str
    detail: str = ""


def push_args(access: GitAccess, change: Change) -> list[str]:
    refspecs = [f"{change.sha}:refs/tags/{change.tag}"] if change.kind is Kind.ARCHIVE and change.tag else []
    refspecs.append(f":refs/heads/{change.branch}")
    return ["push", "--atomic", "--porcelain", "--no-verify", f"--force-with-lease=refs/heads/{change.branch}:{change.sha}",
            "--", access.clone_url, *refspecs]


async def push_deletion(mirror: Mirror, access: GitAccess, change: Change) -> Result:
    result = await mirror.git(*push_args(access, change), access=access, ok=(0, 1), timeout=600.0)
    if result.code == 0:
        return Result(change, Outcome.DELETED)
    said = result.stdout + result.stderr
    if "stale info" in said or "fetch first" in said or "non-fast-forward" in said:
        return Result(change, Outcome.MOVED, "the branch moved since it was evaluated")
    lines = [line for line in said.strip().splitlines() if line.startswith("!") or "error" in line]
    rejected = [line for line in lines if line.startswith("!") and "[remote rejected]" in line]
    if rejected:
        # Porcelain: the server read the commands and refused them (atomic: all of them). Nothing landed.
        return Result(change, Outcome.REFUSED, rejected[0].strip())
    return Result(change, Outcome.FAILED, (lines[-1] if lines else "git push failed").strip())


async def apply(
    storage: Storage, mirror: Mirror, access: GitAccess, platform: str, repo: str, changes: list[Change],
    rows: dict[str, Row], *, clock: Clock, on_result: Callable[[Result], Awaitable[None]] | None = None,
) -> list[Result]:
    """Apply the due changes in plan order; `rows` are the open dashboard rows by branch."""
    results = []
    for change in changes:
        if change.kind not in (Kind.ARCHIVE, Kind.DELETE):
            raise ValueError(f"cleanup cannot apply a {change.kind} change")
        row = rows.get(change.branch)
        if row is None or row.sha != change.sha:
            results.append(Result(change, Outcome.MOVED, "no longer on the dashboard at this head"))
            continue
        await storage.cleanup.start_deleting(row.id, change.tag, clock())
        result = await push_deletion(mirror, access, change)
        if result.outcome == Outcome.DELETED:
            await storage.cleanup.mark_deleted(row.id, clock())
        elif result.outcome == Outcome.MOVED:
            await storage.cleanup.drop(row.id)
        elif result.outcome == Outcome.REFUSED:
            # Listed again with a new grace: refused again and again, it would stand first in
            # every run (the oldest notice) and hold max_per_run for ever.
            await storage.cleanup.notice_again(row.id, clock())
        # FAILED: the row stays `deleting`. The push may have landed with its answer lost; the
        # next run settles it from what the forge shows, like after a crash.
        logger.info("cleanup %s: %s", result.outcome, change.branch, extra={"repo": repo, "sha": change.sha, "tag": change.tag})
        results.append(result)
        if on_result is not None:
            await on_result(result)
    return results


async def settle_interrupted(storage: Storage, mirror: Mirror, platform: str, repo: str, clock: Clock) -> list[Row]:
    """Rows left `deleting` by a crash, settled from the freshly fetched mirror.

    Gone from the forge: deleted (its tag, if any, came in the same atomic push). Still at the
    evaluated head: the push never landed; noticed again (due at once). Elsewhere: it moved; dropped.
    Returns the rows that turned out deleted.
    """
    heads, tags = await mirror.refs(FORGE_HEADS), await mirror.refs(FORGE_TAGS)
    finished = []
    for row in await storage.cleanup.open_rows(platform, repo):
        if row.state is not RowState.DELETING:
            continue
        now = heads.get(row.branch)
        if now is None and row.tag and tags.get(row.tag) != row.sha:
            await storage.cleanup.drop(row.id)  # deleted by someone else, not by our push (which tags too)
        elif now is None:
            await storage.cleanup.mark_deleted(row.id, clock())
            finished.append(row)
        elif now == row.sha:
            await storage.cleanup.back_to_noticed(row.id, clock())
        else:
            await storage.cleanup.drop(row.id)
    return finished


def restore_args(access: GitAccess, branch: str, sha: str) -> list[str]:
    """Recreate the branch at the archived commit, only if no branch of that name exists now."""
    return ["push", "--porcelain", "--no-verify", f"--force-with-lease=refs/heads/{branch}:", "--", access.clone_url,
            f"{sha}:refs/heads/{branch}"]
