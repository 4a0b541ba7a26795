"""Issue dependencies: edges "issue A depends on issue B", and where each came from.

An edge's source is "command" (/depends-on, /blocks) or "body" (a "Depends on #N" line in A's
description; those follow the description as it is edited, commands' edges stay). Repository
names are kept in lowercase, whatever case the caller gives; edges never form a cycle.
"""

from __future__ import annotations

from typing import Protocol

from bot.issue_dependencies import IssueRef

SOURCES = ("command", "body")
# (dep_repo, dep_number, source): one edge as `of` gives it
Edge = tuple[str, int, str]


class Dependencies(Protocol):
    async def of(self, platform: str, repo: str, number: int) -> list[Edge]:
        """What (repo, number) depends on, in the order the edges were added."""

    async def dependents(self, platform: str, repo: str, number: int) -> list[IssueRef]:
        """The issues that depend on (repo, number), by repository and number."""

    async def would_cycle(self, platform: str, issue: IssueRef, dep: IssueRef) -> bool:
        """Whether "issue depends on dep" would close a loop: dep already (indirectly) depends on issue."""

    async def add(
        self, platform: str, issue: IssueRef, deps: list[IssueRef], source: str, now: float
    ) -> tuple[list[IssueRef], list[IssueRef]]:
        """Add edges from `issue`; return (added, refused because of a cycle). An edge that exists
        is left as it is (and is in neither list). Atomic, and serialized with every other change
        to the platform's graph, so edges added at once by several replicas never form a cycle."""

    async def remove(self, platform: str, issue: IssueRef, deps: list[IssueRef], source: str | None = None) -> list[IssueRef]:
        """Remove edges from `issue` (only those of `source`, when given); return those removed."""

    async def sync_body(
        self, platform: str, issue: IssueRef, wanted: list[IssueRef], now: float
    ) -> tuple[list[IssueRef], list[IssueRef], list[IssueRef]]:
        """Make the body's edges from `issue` be `wanted`, leaving the commands' edges alone:
        (added, removed, refused as cycles). Atomic and serialized like `add`."""

    async def issues_with_dependencies(self, platform: str) -> list[IssueRef]:
        """Every issue that depends on something, by repository and number."""
