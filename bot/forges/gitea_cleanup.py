"""Gitea reads for branch cleanup, each one request or a few whatever the number of branches."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from bot.forges import gitea_json as gj
from bot.forges.base import Branch, Issue, PermissionDenied, PullRecord
from bot.forges.common import pull_record, reached
from bot.forges.gitea_http import PAGE_SIZE, GiteaTransport, repo_path


class GiteaCleanupReads:
    _t: GiteaTransport
    list_branches: Callable[..., Awaitable[list[Branch]]]  # GiteaForge's

    async def protected_patterns(self, repo: str) -> tuple[str, ...]:
        """The protection rules' names (globs since Gitea 1.19). Listing them takes repository admin:
        without it, the branch listing's `protected` flags (a page per 50 branches) are the fallback."""
        try:
            rules = await self._t.get(f"{repo_path(repo)}/branch_protections")
        except PermissionDenied:
            return tuple(b.name for b in await self.list_branches(repo) if b.protected)
        return tuple(str(r.get("rule_name") or r.get("branch_name") or "") for r in rules or () if r)

    async def has_rulesets(self, repo: str) -> bool:
        return False  # Gitea has branch protection rules only

    async def branch_rules(self, repo: str, branch: str) -> tuple[str, ...]:
        return ()

    async def recent_pulls(self, repo: str, *, state: str, since: datetime | None, pages: int) -> list[PullRecord]:
        records: list[PullRecord] = []
        for page in range(1, pages + 1):
            items = await self._t.get(f"{repo_path(repo)}/pulls",
                                      {"state": state, "sort": "recentupdate", "page": page, "limit": PAGE_SIZE})
            records.extend(pull_record(d) for d in items or ())
            if len(items or ()) < PAGE_SIZE or reached(records, since):
                break
        return records

    async def create_issue(self, repo: str, title: str, body: str) -> Issue:
        reply = await self._t.request("POST", f"{repo_path(repo)}/issues", json={"title": title, "body": body})
        return gj.issue(reply.data)
