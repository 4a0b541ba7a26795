"""Issue dependencies in the store, and reading them from issue bodies.

An edge "A depends on B" is kept with where it came from: a command, or a "Depends on #N" /
"Blocked by #N" line in A's body (those follow the body as it is edited). Repository names are
stored in lowercase; an issue is (repo, number).
"""

from __future__ import annotations

import re
import sqlite3
from collections import deque

from bot.storage.sqlite.engine import single_statement

IssueRef = tuple[str, int]

# One line each: `[^\S\n]` is whitespace but a line break. With `\s`, "Depends on" followed by
# line breaks alone (anyone who can open an issue can write 65,000 of them) backtracked
# quadratically, holding the event loop for about 100 s per read.
DEPENDENCY_LINE_RE = re.compile(
    r"^[^\S\n]{0,3}(?:depends[^\S\n]+on|blocked[^\S\n]+by)[^\S\n]*:?[^\S\n]+(.+)$", re.IGNORECASE | re.MULTILINE
)
# Owner and name as long as the platforms allow (GitHub 39 and 100, Gitea 40 and 100). Unbounded,
# a run of name characters with no "/" in it was scanned to its end from every "." or "-"
# in it: 16,000 dashes took 0.9 s, a whole line of an issue body far longer.
REF_RE = re.compile(r"(?<![\w/])(?:(?P<repo>[A-Za-z0-9_.-]{1,40}/[A-Za-z0-9_.-]{1,100}))?#(?P<number>\d{1,9})\b")
MAX_DEPENDENCIES = 50


def parse_refs(text: str, repo: str) -> list[IssueRef]:
    """`#12`, `owner/repo#12` -> (repo, number), in order, without repeats."""
    found: list[IssueRef] = []
    for match in REF_RE.finditer(text):
        ref = ((match.group("repo") or repo).lower(), int(match.group("number")))
        if ref not in found:
            found.append(ref)
    return found


def body_dependencies(body: str | None, repo: str) -> list[IssueRef]:
    refs: list[IssueRef] = []
    for line in DEPENDENCY_LINE_RE.findall(body or ""):
        refs.extend(ref for ref in parse_refs(line, repo) if ref not in refs)
    return refs[:MAX_DEPENDENCIES]


@single_statement
def of(conn: sqlite3.Connection, platform: str, repo: str, number: int) -> list[tuple[str, int, str]]:
    """What (repo, number) depends on: (dep_repo, dep_number, source)."""
    rows = conn.execute(
        "SELECT dep_repo, dep_number, source FROM dependencies WHERE platform = ? AND repo = ? AND number = ?"
        " ORDER BY created_at, dep_repo, dep_number",
        (platform, repo.lower(), number),
    )
    return [(r, n, s) for r, n, s in rows]


@single_statement
def dependents(conn: sqlite3.Connection, platform: str, repo: str, number: int) -> list[IssueRef]:
    """The issues that depend on (repo, number)."""
    rows = conn.execute(
        "SELECT repo, number FROM dependencies WHERE platform = ? AND dep_repo = ? AND dep_number = ? ORDER BY repo, number",
        (platform, repo.lower(), number),
    )
    return [(r, n) for r, n in rows]


def would_cycle(conn: sqlite3.Connection, platform: str, issue: IssueRef, dep: IssueRef) -> bool:
    """Whether "issue depends on dep" closes a loop: dep already (indirectly) depends on issue."""
    target = (issue[0].lower(), issue[1])
    seen = {(dep[0].lower(), dep[1])}
    queue = deque(seen)
    while queue:
        current = queue.popleft()
        if current == target:
            return True
        for nxt in of(conn, platform, current[0], current[1]):
            key = (nxt[0], nxt[1])
            if key not in seen:
                seen.add(key)
                queue.append(key)
    return False


def add(
    conn: sqlite3.Connection, platform: str, issue: IssueRef, deps: list[IssueRef], source: str, now: float
) -> tuple[list[IssueRef], list[IssueRef]]:
    """Add edges; return (added, refused because of a cycle). Existing edges are left as they are."""
    added, cycles = [], []
    for dep in deps:
        if (dep[0].lower(), dep[1]) == (issue[0].lower(), issue[1]) or would_cycle(conn, platform, issue, dep):
            cycles.append(dep)
            continue
        cursor = conn.execute(
            "INSERT OR IGNORE INTO dependencies (platform, repo, number, dep_repo, dep_number, source, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (platform, issue[0].lower(), issue[1], dep[0].lower(), dep[1], source, now),
        )
        if cursor.rowcount:
            added.append(dep)
    return added, cycles


def remove(conn: sqlite3.Connection, platform: str, issue: IssueRef, deps: list[IssueRef], source: str | None = None) -> list[IssueRef]:
    removed = []
    for dep in deps:
        query = "DELETE FROM dependencies WHERE platform = ? AND repo = ? AND number = ? AND dep_repo = ? AND dep_number = ?"
        params: tuple[object, ...] = (platform, issue[0].lower(), issue[1], dep[0].lower(), dep[1])
        if source is not None:
            query += " AND source = ?"
            params += (source,)
        if conn.execute(query, params).rowcount:
            removed.append(dep)
    return removed


def sync_body(
    conn: sqlite3.Connection, platform: str, issue: IssueRef, wanted: list[IssueRef], now: float
) -> tuple[list[IssueRef], list[IssueRef], list[IssueRef]]:
    """Make the body-declared edges match the body: (added, removed, refused as cycles)."""
    current = [(r, n) for r, n, s in of(conn, platform, issue[0], issue[1]) if s == "body"]
    wanted_keys = [(r.lower(), n) for r, n in wanted]
    removed = remove(conn, platform, issue, [d for d in current if d not in wanted_keys], "body")
    added, cycles = add(conn, platform, issue, [d for d in wanted_keys if d not in current], "body", now)
    return added, removed, cycles


@single_statement
def issues_with_dependencies(conn: sqlite3.Connection, platform: str) -> list[IssueRef]:
    rows = conn.execute("SELECT DISTINCT repo, number FROM dependencies WHERE platform = ? ORDER BY repo, number", (platform,))
    return [(r, n) for r, n in rows]
