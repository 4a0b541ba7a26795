"""The cleanup tables (migration 9): branches on the dashboard, deletions under way, the dashboard issue."""

from __future__ import annotations

import enum
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.forges.base import PullRecord
from bot.storage.sqlite.engine import single_statement


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


_FIELDS = "id, branch, sha, why, committer, committed_at, state, tag, noticed_at, deleted_at"


def _row(values: tuple[Any, ...]) -> Row:
    id_, branch, sha, why, committer, committed_at, state, tag, noticed_at, deleted_at = values
    return Row(int(id_), branch, sha, why, committer, float(committed_at), RowState(state), tag, float(noticed_at),
               None if deleted_at is None else float(deleted_at))


@single_statement
def open_rows(conn: sqlite3.Connection, platform: str, repo: str) -> list[Row]:
    """Branches on the dashboard or being deleted."""
    rows = conn.execute(f"SELECT {_FIELDS} FROM cleanup_branches WHERE platform = ? AND repo = ? AND state IN ('noticed', 'deleting') "
                        "ORDER BY branch", (platform, repo.lower()))
    return [_row(r) for r in rows]


@single_statement
def deleted_rows(conn: sqlite3.Connection, platform: str, repo: str, limit: int = 50) -> list[Row]:
    rows = conn.execute(f"SELECT {_FIELDS} FROM cleanup_branches WHERE platform = ? AND repo = ? AND state = 'deleted' "
                        "ORDER BY deleted_at DESC, id DESC LIMIT ?", (platform, repo.lower(), limit))
    return [_row(r) for r in rows]


def sync_notices(conn: sqlite3.Connection, platform: str, repo: str, listed: list[tuple[str, str, str, str, float]], now: float) -> None:
    """Make the noticed rows exactly `listed` (branch, sha, why, committer, committed_at).

    A branch listed at the sha it was noticed at keeps its notice time (its grace runs on); at
    another sha it was pushed to, so its notice starts again; a noticed branch no longer listed
    (pushed to, protected, gone) is taken off. Rows being deleted are left to `finish_deleting`.
    """
    current = {r[0]: (r[1], r[2]) for r in conn.execute(
        "SELECT branch, sha, id FROM cleanup_branches WHERE platform = ? AND repo = ? AND state = 'noticed'", (platform, repo.lower()))}
    wanted = {item[0]: item for item in listed}
    for branch, (sha, row_id) in current.items():
        if branch not in wanted or wanted[branch][1] != sha:
            conn.execute("DELETE FROM cleanup_branches WHERE id = ?", (row_id,))
    for branch, sha, why, committer, committed_at in listed:
        if branch in current and current[branch][0] == sha:
            conn.execute("UPDATE cleanup_branches SET why = ?, committer = ?, updated_at = ? WHERE id = ?",
                         (why, committer, now, current[branch][1]))
            continue
        conn.execute(
            "INSERT OR IGNORE INTO cleanup_branches (platform, repo, branch, sha, why, committer, committed_at, state, noticed_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, 'noticed', ?, ?)", (platform, repo.lower(), branch, sha, why, committer, committed_at, now, now))


@single_statement
def start_deleting(conn: sqlite3.Connection, row_id: int, tag: str | None, now: float) -> None:
    conn.execute("UPDATE cleanup_branches SET state = 'deleting', tag = ?, updated_at = ? WHERE id = ?", (tag, now, row_id))


@single_statement
def mark_deleted(conn: sqlite3.Connection, row_id: int, now: float) -> None:
    conn.execute("UPDATE cleanup_branches SET state = 'deleted', deleted_at = ?, updated_at = ? WHERE id = ?", (now, now, row_id))


@single_statement
def back_to_noticed(conn: sqlite3.Connection, row_id: int, now: float) -> None:
    """The deletion did not happen and the branch is unchanged: still due, next time."""
    conn.execute("UPDATE cleanup_branches SET state = 'noticed', tag = NULL, updated_at = ? WHERE id = ?", (now, row_id))


@single_statement
def notice_again(conn: sqlite3.Connection, row_id: int, now: float) -> None:
    """The forge refused the deletion: back on the dashboard, its grace starting over."""
    conn.execute("UPDATE cleanup_branches SET state = 'noticed', tag = NULL, noticed_at = ?, updated_at = ? WHERE id = ?",
                 (now, now, row_id))


@single_statement
def drop(conn: sqlite3.Connection, row_id: int) -> None:
    """The branch moved (or went) before it could be deleted: off the dashboard, evaluated afresh."""
    conn.execute("DELETE FROM cleanup_branches WHERE id = ? AND state IN ('noticed', 'deleting')", (row_id,))


@single_statement
def mark_restored(conn: sqlite3.Connection, platform: str, repo: str, branch: str, now: float) -> None:
    conn.execute("UPDATE cleanup_branches SET state = 'restored', updated_at = ? WHERE platform = ? AND repo = ? AND branch = ? "
                 "AND state = 'deleted'", (now, platform, repo.lower(), branch))


@single_statement
def drop_moved(conn: sqlite3.Connection, platform: str, repo: str, branch: str, sha: str) -> int:
    """A push moved `branch` to `sha`: its notice (at another head) ends. The number of rows dropped."""
    return conn.execute("DELETE FROM cleanup_branches WHERE platform = ? AND repo = ? AND branch = ? AND state = 'noticed' "
                        "AND sha != ?", (platform, repo.lower(), branch, sha)).rowcount


@single_statement
def dashboard(conn: sqlite3.Connection, platform: str, repo: str) -> tuple[int, str] | None:
    row = conn.execute("SELECT number, body FROM cleanup_dashboards WHERE platform = ? AND repo = ?", (platform, repo.lower())).fetchone()
    return (int(row[0]), str(row[1])) if row else None


@single_statement
def save_dashboard(conn: sqlite3.Connection, platform: str, repo: str, number: int, body: str, now: float) -> None:
    conn.execute("INSERT INTO cleanup_dashboards (platform, repo, number, body, updated_at) VALUES (?, ?, ?, ?, ?) "
                 "ON CONFLICT (platform, repo) DO UPDATE SET number = excluded.number, body = excluded.body, "
                 "updated_at = excluded.updated_at", (platform, repo.lower(), number, body, now))


# -- closed pull requests, read incrementally -----------------------------------------------------


def _epoch(moment: datetime | None) -> float | None:
    return moment.timestamp() if moment is not None else None


def save_pulls(conn: sqlite3.Connection, platform: str, repo: str, pulls: list[PullRecord]) -> None:
    conn.executemany(
        "INSERT INTO cleanup_pulls (platform, repo, number, head_ref, head_sha, merged, author, closed_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (platform, repo, number) DO UPDATE SET head_ref = excluded.head_ref, "
        "head_sha = excluded.head_sha, merged = excluded.merged, author = excluded.author, closed_at = excluded.closed_at, "
        "updated_at = excluded.updated_at",
        [(platform, repo.lower(), p.number, p.head_ref, p.head_sha, int(p.merged), p.author, _epoch(p.closed_at), _epoch(p.updated_at))
         for p in pulls])


@single_statement
def pulls_watermark(conn: sqlite3.Connection, platform: str, repo: str) -> datetime | None:
    row = conn.execute("SELECT max(updated_at) FROM cleanup_pulls WHERE platform = ? AND repo = ?", (platform, repo.lower())).fetchone()
    return datetime.fromtimestamp(row[0], UTC) if row and row[0] is not None else None


@single_statement
def closed_pulls(conn: sqlite3.Connection, platform: str, repo: str) -> dict[str, PullRecord]:
    """head branch -> its most recently closed pull request."""
    found: dict[str, PullRecord] = {}
    for number, head_ref, head_sha, merged, author, closed_at, updated_at in conn.execute(
            "SELECT number, head_ref, head_sha, merged, author, closed_at, updated_at FROM cleanup_pulls "
            "WHERE platform = ? AND repo = ? ORDER BY coalesce(closed_at, 0), number", (platform, repo.lower())):
        found[head_ref] = PullRecord(number, "closed", head_ref, head_sha, bool(merged), author,
                                     None if closed_at is None else datetime.fromtimestamp(closed_at, UTC),
                                     None if updated_at is None else datetime.fromtimestamp(updated_at, UTC))
    return found
