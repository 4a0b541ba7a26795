"""GitHub reads for branch cleanup, each one request or a few whatever the number of branches."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from bot.forges.base import Issue, NotFound, PullRecord
from bot.forges.common import pull_record, reached
from bot.forges.github_models import issue_from

if TYPE_CHECKING:
    from bot.forges.github import GitHubForge

PULLS_PER_PAGE = 100


async def protected_patterns(forge: GitHubForge, repo: str) -> tuple[str, ...]:
    """`GET /branches?protected=true`: the protected branches only (classic protection)."""
    items = await forge._repo_list(repo, "/branches{?protected,per_page}", protected="true")
    return tuple(d["name"] for d in items)


async def has_rulesets(forge: GitHubForge, repo: str) -> bool:
    """`GET /rulesets` (the repository's and, by default, those it inherits from its organisation)."""
    try:
        found = await forge._repo("GET", repo, "/rulesets{?per_page}", per_page=1)
    except NotFound:  # rulesets unavailable here (older GitHub Enterprise Server): none apply
        return False
    return bool(found)


async def branch_rules(forge: GitHubForge, repo: str, branch: str) -> tuple[str, ...]:
    """`GET /rules/branches/{branch}`: every active rule that applies to the branch, by type."""
    found = await forge._repo("GET", repo, "/rules/branches/{branch}", branch=branch)
    return tuple(str(rule.get("type")) for rule in found or ())


async def recent_pulls(forge: GitHubForge, repo: str, *, state: str, since: datetime | None, pages: int) -> list[PullRecord]:
    records: list[PullRecord] = []
    for page in range(1, pages + 1):
        items = await forge._repo("GET", repo, "/pulls{?state,sort,direction,per_page,page}", state=state,
                                  sort="updated", direction="desc", per_page=PULLS_PER_PAGE, page=page)
        records.extend(pull_record(d) for d in items or ())
        if len(items or ()) < PULLS_PER_PAGE or reached(records, since):
            break
    return records


async def create_issue(forge: GitHubForge, repo: str, title: str, body: str) -> Issue:
    return issue_from(await forge._repo("POST", repo, "/issues", data={"title": title, "body": body}, retry_safe=False))
