"""GitHub: what review needs (reviews, changed lines, tree hashes, checks, requested reviewers).

A mixin of GitHubForge, on its request path (`_repo`, `_repo_list`), so pacing, retries, the ETag
cache and the errors are the same as for every other call.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from bot.forges.base import FileChange, Review, StatusState
from bot.forges.github_models import review_from

# A check run's conclusion as a status state; a run not completed yet is pending.
CHECK_CONCLUSIONS = {
    "success": StatusState.SUCCESS, "neutral": StatusState.SUCCESS, "skipped": StatusState.SUCCESS,
    "failure": StatusState.FAILURE, "timed_out": StatusState.FAILURE, "action_required": StatusState.FAILURE,
    "cancelled": StatusState.FAILURE, "stale": StatusState.FAILURE, "startup_failure": StatusState.FAILURE,
}


class GitHubReviews:
    if TYPE_CHECKING:  # provided by GitHubForge
        async def _repo(self, method: str, repo: str, path: str, *, data: Any = ..., retry_safe: bool | None = None,
                        **params: Any) -> Any: ...

        async def _repo_list(self, repo: str, path: str, **params: Any) -> list[Any]: ...

    async def list_reviews(self, repo: str, number: int) -> list[Review]:
        items = await self._repo_list(repo, "/pulls/{number}/reviews{?per_page}", number=number)
        return [review_from(d) for d in items]

    async def list_pull_changes(self, repo: str, number: int) -> list[FileChange]:
        items = await self._repo_list(repo, "/pulls/{number}/files{?per_page}", number=number)
        return [FileChange(d["filename"], int(d.get("additions") or 0), int(d.get("deletions") or 0)) for d in items]

    async def commit_tree(self, repo: str, sha: str) -> str:
        data = await self._repo("GET", repo, "/commits/{sha}", sha=sha)
        return str(data["commit"]["tree"]["sha"])

    async def commit_checks(self, repo: str, sha: str) -> dict[str, StatusState]:
        """Statuses (the combined answer has the latest per context) and check runs, by name."""
        combined = await self._repo("GET", repo, "/commits/{sha}/status", sha=sha)
        found = {s["context"]: StatusState(s["state"]) for s in combined.get("statuses") or ()}
        runs = await self._repo("GET", repo, "/commits/{sha}/check-runs{?per_page}", sha=sha, per_page=100)
        for run in runs.get("check_runs") or ():
            state = CHECK_CONCLUSIONS.get(run.get("conclusion") or "", StatusState.PENDING)
            found[run["name"]] = state if run.get("status") == "completed" else StatusState.PENDING
        return found

    async def request_reviewers(self, repo: str, number: int, logins: Sequence[str]) -> None:
        # Asking again for someone already asked changes nothing, so a retry is harmless.
        await self._repo("POST", repo, "/pulls/{number}/requested_reviewers", number=number,
                         data={"reviewers": list(logins)}, retry_safe=True)

    async def remove_requested_reviewers(self, repo: str, number: int, logins: Sequence[str]) -> None:
        await self._repo("DELETE", repo, "/pulls/{number}/requested_reviewers", number=number,
                         data={"reviewers": list(logins)}, retry_safe=True)
