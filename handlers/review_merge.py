"""Merging a pull request that review says is ready, and answering a refusal in one line."""

from __future__ import annotations

import hashlib
import logging

from bot.comments import post_once
from bot.engine.context import Context
from bot.forges.base import Conflict, Forge, Invalid, MergeMethod, NotFound, PermissionDenied, PullRequest, Unsupported
from config.repo import RepoConfig

logger = logging.getLogger(__name__)

REFUSED = "Could not merge: {reason}. {hint}"
HINTS = {
    409: "The head moved since it was checked; it is checked again on the new head.",
    405: "Fix what the platform says (update the branch, resolve conflicts, satisfy branch protection); {again}",
}


class MergeRefused(Exception):
    """The platform would not merge; `line` says why and what to do."""

    def __init__(self, line: str) -> None:
        super().__init__(line)
        self.line = line


def refusal_line(exc: Exception, method: MergeMethod, by_command: bool) -> str:
    again = "then `/merge` again." if by_command else "the bot tries again on the next change."
    if isinstance(exc, Unsupported):
        return REFUSED.format(reason=str(exc.message).rstrip("."), hint="Set `review.merge_method` to one this platform has.")
    if isinstance(exc, PermissionDenied):
        return REFUSED.format(reason="the bot may not merge here", hint="Give it write access to the repository.")
    status = getattr(exc, "status", None)
    message = str(getattr(exc, "message", exc)).rstrip(".")
    if isinstance(exc, Invalid) and "not allowed" in message.lower():
        hint = f"Allow {method.value} merges in the repository settings, or set `review.merge_method`."
        return REFUSED.format(reason=message, hint=hint)
    hint = HINTS.get(status or 405, HINTS[405]).format(again=again)
    return REFUSED.format(reason=message, hint=hint)


async def merge_when_ready(
    ctx: Context, forge: Forge, repo: str, pull: PullRequest, config: RepoConfig, method: str | None, *,
    by_command: bool = False,
) -> str:
    """Merge at the head that was checked (a pull request that moved since is not merged); then
    delete a same-repository head branch when `review.delete_branch` says so. Returns the merge
    commit; raises MergeRefused after saying so once on the pull request (automatic merges)."""
    chosen = MergeMethod(method or config.review.merge_method)
    try:
        sha = await forge.merge_pull(repo, pull.number, chosen, sha=pull.head_sha)
    except (Conflict, Invalid, Unsupported, PermissionDenied) as exc:
        line = refusal_line(exc, chosen, by_command)
        await ctx.record("review.merge_refused", repo=repo, issue=pull.number, why=str(exc))
        moved = getattr(exc, "status", None) == 409  # nothing for anyone to do: the new head is derived anew
        if not by_command and not moved:  # a command's refusal is its reply; an automatic one is said once per head and reason
            bot = await ctx.forges.bot_login(forge.platform)
            key = f"merge-refused:{pull.head_sha}:{hashlib.sha256(line.encode()).hexdigest()[:10]}"
            await post_once(forge, repo, pull.number, key, line, bot)
        raise MergeRefused(line) from None
    await ctx.record("review.merged", repo=repo, issue=pull.number, sha=sha, method=chosen.value)
    # No head repository is a fork that was deleted: a branch of that name here is not this one.
    same_repo = pull.head_repo is not None and pull.head_repo.lower() == repo.lower()
    if config.review.delete_branch and same_repo:
        try:
            await forge.delete_branch(repo, pull.head_ref)
        except NotFound:
            pass  # the platform deleted it already (its own delete-on-merge setting)
        except (Conflict, Invalid, PermissionDenied) as exc:  # protected, or the default branch
            logger.warning("could not delete a merged branch", extra={"repo": repo, "branch": pull.head_ref, "error": str(exc)})
    return sha
