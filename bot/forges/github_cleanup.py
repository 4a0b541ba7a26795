"""GitHub reads for branch cleanup, each one request or a few whatever the number of branches.

A mixin of `GitHubForge`: it uses the client's request path (`_repo`, `_repo_list`), so
credentials, rate limits and error mapping are the same as for every other call.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from bot.forges.base import Issue, NotFound, PullRecord
from bot.forges.common import pull_record, reached
from bot.forges.github_models import issue_from

PULLS_PER_PAGE = 100


class GitHubCleanupReads:
    _repo: Callable[..., Awaitable[Any]]
    _repo_list: Callable[..., Awaitable[list[Any]]]

    async def protected_patterns(self, repo: str) -> tuple[str, ...]:
        """`GET /branches?protected=true`: the protected branches only (classic protection)."""
        items = await self._repo_list(repo, "/branches{?protected,per_page}", protected="true")
        return tuple(d["name"] for d in items)

    async def has_rulesets(self, repo: str) -> bool:
        """`GET /rulesets` (the repository's and, by default, those it inherits from its organisation)."""
        try:
            found = await self._repo("GET", repo, "/rulesets{?per_page}", per_page=1)
        except NotFound:  # rulesets unavailable here (older GitHub Enterprise Server): none apply
            return False
        return bool(found)

    async def branch_rules(self, repo: str, branch: str) -> tuple[str, ...]:
        """`GET /rules/branches/{branch}`: every active rule that applies to the branch, by type."""
        found = await self._repo("GET", repo, "/rules/branches/{branch}", branch=branch)
        return tuple(str(rule.get("type")) for rule in found or ())

    async def recent_pulls(self, repo: str, *, state: str, since: datetime | None, pages: int) -> list[PullRecord]:
        records: list[PullRecord] = []
        for page in range(1, pages + 1):
            items = await self._repo("GET", repo, "/pulls{?state,sort,direction,per_page,page}", state=state,
                                     sort="updated", direction="desc", per_page=PULLS_PER_PAGE, page=page)
            records.extend(pull_record(d) for d in items or ())
            if len(items or ()) < PULLS_PER_PAGE or reached(records, since):
                break
        return records

    async def create_issue(self, repo: str, title: str, body: str) -> Issue:
        return issue_from(await self._repo("POST", repo, "/issues", data={"title": title, "body": body}, retry_safe=False))
