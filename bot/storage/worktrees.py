"""Worktrees: started issues, each with a branch and a git worktree on the bot's host.

One live worktree per issue and one per branch (unique indexes on both backends). A reservation
checks the limits and inserts in one transaction, so starts arriving at once, at one replica or
at several, never pass `worktrees.max_per_repo` or FORGEBOT_WORKTREES_MAX.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol


class State(enum.StrEnum):
    CREATING = "creating"  # a start is under way, or was interrupted and will be completed
    READY = "ready"
    KEPT = "kept"  # due for removal, but holds uncommitted work
    REMOVED = "removed"


LIVE = (State.CREATING, State.READY, State.KEPT)

REPO_LIMIT = "this repository has {count} worktrees already, the most `worktrees.max_per_repo` allows"
HOST_LIMIT = "the bot's host has {count} worktrees already, the most FORGEBOT_WORKTREES_MAX allows"
BRANCH_TAKEN = "branch {branch} belongs to another issue"


@dataclass(frozen=True)
class Worktree:
    id: int
    platform: str
    repo: str
    number: int
    branch: str
    base: str
    sha: str
    path: str
    holder: str
    state: State
    pull_number: int | None
    note: str
    answer_key: str
    created_at: float
    updated_at: float


@dataclass(frozen=True)
class Reservation:
    worktree: Worktree | None
    refused: str = ""  # why not, when worktree is None


# The columns every read selects, in Worktree's order.
FIELDS = "id, platform, repo, number, branch, base, sha, path, holder, state, pull_number, note, answer_key, created_at, updated_at"


def worktree_of(row: tuple[object, ...] | None) -> Worktree | None:
    if row is None:
        return None
    values = list(row)
    values[0] = int(values[0])  # type: ignore[call-overload]
    values[9] = State(str(values[9]))
    return Worktree(*values)  # type: ignore[arg-type]


def limit_refusal(in_repo: int, total: int, max_per_repo: int, max_total: int) -> str:
    """Why one more worktree would pass a limit, or ''."""
    if in_repo >= max_per_repo:
        return REPO_LIMIT.format(count=in_repo)
    if total >= max_total:
        return HOST_LIMIT.format(count=total)
    return ""


class Worktrees(Protocol):
    """Repository names are matched case-blind (stored lower-case). Every method is atomic."""

    async def live(self, platform: str, repo: str, number: int) -> Worktree | None:
        """The issue's worktree that is not removed (at most one, by index)."""

    async def last_branch(self, platform: str, repo: str, number: int) -> str | None:
        """The branch this issue had last (reused by a new start, never a second one)."""

    async def branches_in_use(self, platform: str, repo: str) -> set[str]:
        """Branches the repository's issues have had, live or not: never handed to another issue."""

    async def over_limit(self, platform: str, repo: str, max_per_repo: int, max_total: int) -> str:
        """Why one more worktree would pass `worktrees.max_per_repo` or FORGEBOT_WORKTREES_MAX, or ''.
        A hint for refusing early; `reserve` decides."""

    async def reserve(
        self, platform: str, repo: str, number: int, branch: str, base: str, path: str, holder: str,
        now: float, max_per_repo: int, max_total: int, answer_key: str = "",
    ) -> Reservation:
        """The issue's live worktree, or a new row in state `creating`, or why not (a limit, or the
        branch is another issue's). The check and the insert are one decision across replicas:
        concurrent reservations never pass either limit, and one issue gets one row."""

    async def mark(self, worktree_id: int, state: State, now: float, sha: str | None = None,
                   note: str | None = None, pull_number: int | None = None) -> None:
        """Set the state; `sha`, `note` and `pull_number` when given (None keeps them). `removed`
        also records when."""

    async def set_holder(self, worktree_id: int, holder: str, now: float) -> None: ...

    async def all_live(self, platform: str | None = None, repo: str | None = None) -> list[Worktree]:
        """Worktrees not removed, by platform, repository and issue number."""

    async def by_path(self, path: str) -> Worktree | None:
        """The live worktree at this directory."""

    async def by_branch(self, platform: str, repo: str, branch: str) -> Worktree | None:
        """The live worktree of this branch (at most one, by index)."""

    async def rename_branch(self, worktree_id: int, branch: str, now: float) -> None:
        """Raises the backend's integrity error when another live worktree has `branch`."""

    async def branch_history(self, platform: str, repo: str, number: int, branch: str, other_than: int) -> bool:
        """True when another (earlier) worktree of this issue had `branch`."""

    async def creating(self) -> list[Worktree]:
        """Starts under way or interrupted, oldest first."""

    async def claim_end(self, platform: str, repo: str, number: int) -> str | None:
        """None while the issue is claimed (or was never claimed); else why its last claim ended
        ('expired', 'released', ...): what `worktrees.remove_on` asks about."""
