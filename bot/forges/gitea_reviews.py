"""Gitea: what review needs (reviews, changed lines, tree hashes, statuses, requested reviewers).

A mixin of GiteaForge on its transport. Gitea has no check runs: Actions report commit statuses.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.forges import gitea_json as gj
from bot.forges.base import FileChange, Review, StatusState
from bot.forges.gitea_http import GiteaTransport, repo_path, seg

# Gitea's states are GitHub's plus "warning", which does not block a merge there.
GITEA_STATES = {"warning": StatusState.SUCCESS}


class GiteaReviews:
    _t: GiteaTransport

    async def list_reviews(self, repo: str, number: int) -> list[Review]:
        return [gj.review(x) for x in await self._t.pages(f"{repo_path(repo)}/pulls/{number}/reviews")]

    async def list_pull_changes(self, repo: str, number: int) -> list[FileChange]:
        items = await self._t.pages(f"{repo_path(repo)}/pulls/{number}/files")
        return [FileChange(x["filename"], int(x.get("additions") or 0), int(x.get("deletions") or 0)) for x in items]

    async def commit_tree(self, repo: str, sha: str) -> str:
        data = await self._t.get(f"{repo_path(repo)}/git/commits/{seg(sha)}", {"stat": "false", "files": "false"})
        return str(data["commit"]["tree"]["sha"])

    async def commit_checks(self, repo: str, sha: str) -> dict[str, StatusState]:
        combined = await self._t.get(f"{repo_path(repo)}/commits/{seg(sha)}/status")
        found = {}
        for status in combined.get("statuses") or ():  # null when there are none
            state = status.get("status") or status.get("state") or "pending"
            found[status["context"]] = GITEA_STATES.get(state) or StatusState(state)
        return found

    async def request_reviewers(self, repo: str, number: int, logins: Sequence[str]) -> None:
        await self._t.request("POST", f"{repo_path(repo)}/pulls/{number}/requested_reviewers",
                              json={"reviewers": list(logins)}, idempotent=True)

    async def remove_requested_reviewers(self, repo: str, number: int, logins: Sequence[str]) -> None:
        await self._t.request("DELETE", f"{repo_path(repo)}/pulls/{number}/requested_reviewers",
                              json={"reviewers": list(logins)})
