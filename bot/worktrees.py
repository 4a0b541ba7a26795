"""Started issues in the store: one live worktree per issue and per branch (unique indexes).

Each function is one store job, so each decision is atomic: twenty /starts at once on one
repository get twenty distinct branches, and two on one issue get one row.
"""

from __future__ import annotations

import enum
import sqlite3
from dataclasses import dataclass

from bot.storage.sqlite.engine import single_statement


class State(enum.StrEnum):
    CREATING = "creating"  # a start is under way, or was interrupted and will be completed
    READY = "ready"
    KEPT = "kept"  # due for removal, but holds uncommitted work
    REMOVED = "removed"


LIVE = (State.CREATING, State.READY, State.KEPT)


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


_FIELDS = "id, platform, repo, number, branch, base, sha, path, holder, state, pull_number, note, answer_key, created_at, updated_at"


def _row(row: tuple[object, ...] | None) -> Worktree | None:
    if row is None:
        return None
    values = list(row)
    values[9] = State(str(values[9]))
    return Worktree(*values)  # type: ignore[arg-type]


@single_statement
def live(conn: sqlite3.Connection, platform: str, repo: str, number: int) -> Worktree | None:
    return _row(conn.execute(
        f"SELECT {_FIELDS} FROM worktrees WHERE state != 'removed' AND platform = ? AND repo = ? AND number = ?",
        (platform, repo.lower(), number)).fetchone())


@single_statement
def last_branch(conn: sqlite3.Connection, platform: str, repo: str, number: int) -> str | None:
    """The branch this issue had before (reused by a new start, never a second one)."""
    row = conn.execute(
        "SELECT branch FROM worktrees WHERE platform = ? AND repo = ? AND number = ? ORDER BY id DESC LIMIT 1",
        (platform, repo.lower(), number)).fetchone()
    return row[0] if row else None


@single_statement
def branches_in_use(conn: sqlite3.Connection, platform: str, repo: str) -> set[str]:
    """Branches other issues of the repository have, live or not: never handed to another issue."""
    return {r[0] for r in conn.execute("SELECT branch FROM worktrees WHERE platform = ? AND repo = ?", (platform, repo.lower()))}


@dataclass(frozen=True)
class Reservation:
    worktree: Worktree | None
    refused: str = ""  # why not, when worktree is None


@single_statement
def over_limit(conn: sqlite3.Connection, platform: str, repo: str, max_per_repo: int, max_total: int) -> str:
    """Why one more worktree would pass `worktrees.max_per_repo` or FORGEBOT_WORKTREES_MAX, or ''."""
    (in_repo,) = conn.execute("SELECT count(*) FROM worktrees WHERE state != 'removed' AND platform = ? AND repo = ?",
                              (platform, repo.lower())).fetchone()
    if in_repo >= max_per_repo:
        return f"this repository has {in_repo} worktrees already, the most `worktrees.max_per_repo` allows"
    (total,) = conn.execute("SELECT count(*) FROM worktrees WHERE state != 'removed'").fetchone()
    if total >= max_total:
        return f"the bot's host has {total} worktrees already, the most FORGEBOT_WORKTREES_MAX allows"
    return ""


def reserve(
    conn: sqlite3.Connection, platform: str, repo: str, number: int, branch: str, base: str, path: str, holder: str,
    now: float, max_per_repo: int, max_total: int, answer_key: str = "",
) -> Reservation:
    """The issue's live worktree, or a new row in state `creating`, or why not (a limit)."""
    current = live(conn, platform, repo, number)
    if current is not None:
        return Reservation(current)
    refused = over_limit(conn, platform, repo, max_per_repo, max_total)
    if refused:
        return Reservation(None, refused)
    taken = conn.execute("SELECT 1 FROM worktrees WHERE platform = ? AND repo = ? AND branch = ? AND number != ?",
                         (platform, repo.lower(), branch, number)).fetchone()
    if taken:
        return Reservation(None, f"branch {branch} belongs to another issue")
    cursor = conn.execute(
        "INSERT INTO worktrees (platform, repo, number, branch, base, path, holder, state, answer_key, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, 'creating', ?, ?, ?)",
        (platform, repo.lower(), number, branch, base, path, holder, answer_key, now, now))
    return Reservation(live(conn, platform, repo, number) if cursor.lastrowid else None)


@single_statement
def mark(conn: sqlite3.Connection, worktree_id: int, state: State, now: float, sha: str | None = None,
         note: str | None = None, pull_number: int | None = None) -> None:
    conn.execute(
        "UPDATE worktrees SET state = ?, updated_at = ?, sha = coalesce(?, sha), note = coalesce(?, note),"
        " pull_number = coalesce(?, pull_number), removed_at = CASE WHEN ? = 'removed' THEN ? ELSE removed_at END"
        " WHERE id = ?",
        (state.value, now, sha, note, pull_number, state.value, now, worktree_id))


@single_statement
def set_holder(conn: sqlite3.Connection, worktree_id: int, holder: str, now: float) -> None:
    conn.execute("UPDATE worktrees SET holder = ?, updated_at = ? WHERE id = ?", (holder, now, worktree_id))


@single_statement
def all_live(conn: sqlite3.Connection, platform: str | None = None, repo: str | None = None) -> list[Worktree]:
    query, params = f"SELECT {_FIELDS} FROM worktrees WHERE state != 'removed'", []
    if platform is not None:
        query += " AND platform = ?"
        params.append(platform)
    if repo is not None:
        query += " AND repo = ?"
        params.append(repo.lower())
    return [w for w in (_row(r) for r in conn.execute(query + " ORDER BY platform, repo, number", params)) if w]


@single_statement
def by_path(conn: sqlite3.Connection, path: str) -> Worktree | None:
    return _row(conn.execute(f"SELECT {_FIELDS} FROM worktrees WHERE state != 'removed' AND path = ?", (path,)).fetchone())


@single_statement
def by_branch(conn: sqlite3.Connection, platform: str, repo: str, branch: str) -> Worktree | None:
    return _row(conn.execute(
        f"SELECT {_FIELDS} FROM worktrees WHERE state != 'removed' AND platform = ? AND repo = ? AND branch = ?",
        (platform, repo.lower(), branch)).fetchone())


@single_statement
def rename_branch(conn: sqlite3.Connection, worktree_id: int, branch: str, now: float) -> None:
    conn.execute("UPDATE worktrees SET branch = ?, updated_at = ? WHERE id = ?", (branch, now, worktree_id))


@single_statement
def branch_history(conn: sqlite3.Connection, platform: str, repo: str, number: int, branch: str, other_than: int) -> bool:
    """True when another (earlier) worktree of this issue had `branch`."""
    return conn.execute("SELECT 1 FROM worktrees WHERE platform = ? AND repo = ? AND number = ? AND branch = ? AND id != ?",
                        (platform, repo.lower(), number, branch, other_than)).fetchone() is not None


@single_statement
def creating(conn: sqlite3.Connection) -> list[Worktree]:
    return [w for w in (_row(r) for r in conn.execute(f"SELECT {_FIELDS} FROM worktrees WHERE state = 'creating' ORDER BY id")) if w]
