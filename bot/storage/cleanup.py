"""Cleanup state: branches on the dashboard, deletions under way (a journal), the dashboard issue,
and the closed pull requests read so far.

A deletion is journalled (`start_deleting`, committed) before the push that deletes the branch,
so a kill at any moment leaves a row `settle_interrupted` can finish or undo.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from bot.forges.base import PullRecord


class RowState(enum.StrEnum):
    NOTICED = "noticed"
    DELETING = "deleting"
    DELETED = "deleted"
    RESTORED = "restored"


@dataclass(frozen=True)
class Row:
    id: int
    branch: str
    sha: str
    why: str
    committer: str
    committed_at: float
    state: RowState
    tag: str | None
    noticed_at: float
    deleted_at: float | None


# (branch, sha, why, committer, committed_at): a branch due for deletion, as the planner lists it
Notice = tuple[str, str, str, str, float]

FIELDS = "id, branch, sha, why, committer, committed_at, state, tag, noticed_at, deleted_at"
PULL_FIELDS = "number, head_ref, head_sha, merged, author, closed_at, updated_at"


def row_of(values: tuple[Any, ...]) -> Row:
    id_, branch, sha, why, committer, committed_at, state, tag, noticed_at, deleted_at = values
    return Row(int(id_), branch, sha, why, committer, float(committed_at), RowState(state), tag, float(noticed_at),
               None if deleted_at is None else float(deleted_at))


def epoch(moment: datetime | None) -> float | None:
    return moment.timestamp() if moment is not None else None


def moment(seconds: float | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC)


def pull_params(platform: str, repo: str, pull: PullRecord) -> tuple[Any, ...]:
    return (platform, repo.lower(), pull.number, pull.head_ref, pull.head_sha, int(pull.merged), pull.author,
            epoch(pull.closed_at), epoch(pull.updated_at))


def latest_by_head(rows: list[tuple[Any, ...]]) -> dict[str, PullRecord]:
    """head branch -> its most recently closed pull request (rows ordered by closing time, number)."""
    found: dict[str, PullRecord] = {}
    for number, head_ref, head_sha, merged, author, closed_at, updated_at in rows:
        found[head_ref] = PullRecord(int(number), "closed", head_ref, head_sha, bool(merged), author, moment(closed_at), moment(updated_at))
    return found


class Cleanup(Protocol):
    """Repository names are matched case-blind (stored lower-case). Every method is atomic and
    committed when it returns."""

    async def open_rows(self, platform: str, repo: str) -> list[Row]:
        """Branches on the dashboard or being deleted, by branch name."""

    async def deleted_rows(self, platform: str, repo: str, limit: int = 50) -> list[Row]:
        """Deleted branches, the latest deletion first."""

    async def sync_notices(self, platform: str, repo: str, listed: list[Notice], now: float) -> None:
        """Make the noticed rows exactly `listed`.

        A branch listed at the sha it was noticed at keeps its notice time (its grace runs on); at
        another sha it was pushed to, so its notice starts again; a noticed branch no longer listed
        (pushed to, protected, gone) is taken off. Rows being deleted are left alone (one open row
        per branch, by index)."""

    async def start_deleting(self, row_id: int, tag: str | None, now: float) -> None:
        """Journal the deletion (and its archive tag) before the push that deletes the branch."""

    async def mark_deleted(self, row_id: int, now: float) -> None: ...

    async def back_to_noticed(self, row_id: int, now: float) -> None:
        """The deletion did not happen and the branch is unchanged: still due, next time."""

    async def notice_again(self, row_id: int, now: float) -> None:
        """The forge refused the deletion: back on the dashboard, its grace starting over."""

    async def drop(self, row_id: int) -> None:
        """The branch moved (or went) before it could be deleted: off the dashboard, evaluated
        afresh. Deleted and restored rows (the history) are never dropped."""

    async def mark_restored(self, platform: str, repo: str, branch: str, now: float) -> None:
        """The branch's deletions are undone (it was pushed back)."""

    async def drop_moved(self, platform: str, repo: str, branch: str, sha: str) -> int:
        """A push moved `branch` to `sha`: its notice (at another head) ends. The rows dropped."""

    async def dashboard(self, platform: str, repo: str) -> tuple[int, str] | None:
        """The dashboard issue's number and the body last written."""

    async def save_dashboard(self, platform: str, repo: str, number: int, body: str, now: float) -> None: ...

    async def save_pulls(self, platform: str, repo: str, pulls: list[PullRecord]) -> None:
        """Insert or update closed pull requests (by number)."""

    async def pulls_watermark(self, platform: str, repo: str) -> datetime | None:
        """The latest `updated_at` among the saved pull requests: where the next read starts."""

    async def closed_pulls(self, platform: str, repo: str) -> dict[str, PullRecord]:
        """head branch -> its most recently closed pull request."""
