"""Label sets last seen per issue: Gitea's label events carry the whole set, so what was added is
found by comparing it with the set seen before."""

from __future__ import annotations

from typing import Protocol


class Labels(Protocol):
    async def swap(self, platform: str, repo: str, number: int, labels: list[str]) -> list[str] | None:
        """Remember the issue's label set and return the one remembered before (None the first
        time). Atomic: of swaps of one issue at once, on any replica, each returns the set the
        one before it remembered, so no change is compared with a set nobody saw. Repository
        names are compared in lowercase; sets are kept sorted."""
