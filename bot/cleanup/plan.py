"""The cleanup planner: what the mirror and the forge say about each branch -> a typed plan. Pure.

Never touched (and said so, as `skip`): the default branch, branches protected on the platform
(classic rules and GitHub rulesets), heads of open pull requests, branches of live worktrees,
`cleanup.protect` patterns, and `archive/*`. The rest is a candidate when its work is in the
default branch (merged, rebase- or squash-merged, or its pull request says merged at this head),
when its pull request was closed unmerged `closed_pr_after` ago, or when its last commit is
older than `stale_after`. A candidate is put on the dashboard first (`notice`) and is due for
deletion once it has stood there for `grace` at the same head; due branches beyond `max_per_run`
wait for the next run (`defer`).
"""

from __future__ import annotations

import enum
import fnmatch
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from bot.cleanup.analysis import Analysis, Head
from bot.forges.base import PullRecord
from config.repo import CleanupOptions, MergedPolicy

ARCHIVE_PREFIX = "archive/"


class Kind(enum.StrEnum):
    ARCHIVE = "archive"  # tag the head archive/<branch>/<date>, then delete the branch (one atomic push)
    DELETE = "delete"  # delete the branch: every commit of it is on the default branch
    NOTICE = "notice"  # put on the dashboard now; deleted after `grace`
    WAIT = "wait"  # on the dashboard, grace not over yet
    DEFER = "defer"  # due, but this run has reached max_per_run
    SKIP = "skip"  # never touched

    @property
    def writes(self) -> bool:
        return self in (Kind.ARCHIVE, Kind.DELETE)


ORDER = (Kind.ARCHIVE, Kind.DELETE, Kind.NOTICE, Kind.WAIT, Kind.DEFER, Kind.SKIP)


@dataclass(frozen=True)
class Change:
    kind: Kind
    branch: str
    sha: str
    why: str
    tag: str | None = None  # archive: the tag made on `sha` before the deletion
    committer: str = ""  # who to mention on the dashboard: @login when known, else the committer's name
    committed_at: float = 0.0
    due_at: float | None = None  # when the grace ends (notice, wait)


@dataclass(frozen=True)
class Notice:
    sha: str
    noticed_at: float


@dataclass(frozen=True)
class Observed:
    analysis: Analysis
    protected: tuple[str, ...] = ()  # protected branch names or rule globs
    open_heads: frozenset[str] = frozenset()
    closed_pulls: Mapping[str, PullRecord] = field(default_factory=dict)  # head branch -> newest closed pull request
    in_use: frozenset[str] = frozenset()  # branches of live worktrees and active claims
    ruled: frozenset[str] = frozenset()  # branches a GitHub ruleset applies to
    notices: Mapping[str, Notice] = field(default_factory=dict)  # on the dashboard: branch -> (sha, since)
    now: float = 0.0


def matches(name: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


def archive_tag(branch: str, sha: str, now: float, tags: Mapping[str, str]) -> str:
    """archive/<branch>/<YYYY-MM-DD>; -2, -3... when that day's tag already holds another commit."""
    base = f"{ARCHIVE_PREFIX}{branch}/{time.strftime('%Y-%m-%d', time.gmtime(now))}"
    name, n = base, 1
    while name in tags and tags[name] != sha:
        n += 1
        name = f"{base}-{n}"
    return name


def login_of(head: Head, pull: PullRecord | None) -> str:
    """@login from a forge noreply address (`[id+]login@users.noreply.<host>`), else the pull
    request's author when it was at this head, else the committer's name (not a mention)."""
    local, _, host = head.email.partition("@")
    if host.startswith("users.noreply.") and local:
        return "@" + local.partition("+")[2] if "+" in local else "@" + local
    if pull is not None and pull.head_sha == head.sha and pull.author:
        return "@" + pull.author
    return head.committer


def _never_touched(name: str, config: CleanupOptions, observed: Observed) -> str | None:
    if name == observed.analysis.default_branch:
        return "the default branch"
    if name.startswith(ARCHIVE_PREFIX):
        return "an archive branch"
    if matches(name, observed.protected):
        return "protected on the platform"
    if name in observed.ruled:
        return "a ruleset applies to it"
    if name in observed.open_heads:
        return "the head of an open pull request"
    if name in observed.in_use:
        return "a live worktree or claim uses it"
    if matches(name, config.protect):
        return "matches cleanup.protect"
    return None


def _candidate(head: Head, config: CleanupOptions, observed: Observed) -> tuple[str, bool] | None:
    """(why, merged) when the branch may go; None when it stays."""
    analysis, now = observed.analysis, observed.now
    pull = observed.closed_pulls.get(head.name)
    at_head = pull is not None and pull.head_sha == head.sha
    default = analysis.heads.get(analysis.default_branch)
    fresh = default is not None and head.sha == default.sha  # just made from the default branch: no work yet, not "merged"
    if head.name in analysis.reachable and not fresh:
        return "merged into " + analysis.default_branch, True
    if head.name in analysis.equivalent:
        return analysis.equivalent[head.name] + " into " + analysis.default_branch, True
    if at_head and pull is not None and pull.merged:
        return f"pull request #{pull.number} was merged", True
    if at_head and pull is not None and pull.closed_at is not None and now - pull.closed_at.timestamp() >= config.seconds("closed_pr_after"):
        return f"pull request #{pull.number} was closed unmerged on {pull.closed_at:%Y-%m-%d}", False
    if now - head.committed_at >= config.seconds("stale_after"):
        return f"no commit since {time.strftime('%Y-%m-%d', time.gmtime(head.committed_at))}", False
    return None


def plan(config: CleanupOptions, observed: Observed) -> tuple[Change, ...]:
    analysis, now = observed.analysis, observed.now
    grace = config.seconds("grace")
    changes: list[Change] = []
    due: list[tuple[float, Change]] = []
    for name, head in sorted(analysis.heads.items()):
        if name == analysis.default_branch:
            continue
        pull = observed.closed_pulls.get(name)
        who = login_of(head, pull)
        kept = _never_touched(name, config, observed)
        if kept is not None:
            changes.append(Change(Kind.SKIP, name, head.sha, kept, committer=who, committed_at=head.committed_at))
            continue
        found = _candidate(head, config, observed)
        if found is None:
            continue  # recent: nothing to say
        why, merged = found
        if merged and config.merged is MergedPolicy.KEEP:
            changes.append(Change(Kind.SKIP, name, head.sha, why + " (cleanup.merged: keep)", committer=who, committed_at=head.committed_at))
            continue
        notice = observed.notices.get(name)
        if notice is None or notice.sha != head.sha:  # new, or pushed to since: the notice starts again
            changes.append(Change(Kind.NOTICE, name, head.sha, why, committer=who, committed_at=head.committed_at, due_at=now + grace))
            continue
        if now < notice.noticed_at + grace:
            changes.append(Change(Kind.WAIT, name, head.sha, why, committer=who, committed_at=head.committed_at,
                                  due_at=notice.noticed_at + grace))
            continue
        unique = name not in analysis.reachable  # a commit the default branch cannot reach: archived first
        if unique or config.merged is MergedPolicy.ARCHIVE:
            change = Change(Kind.ARCHIVE, name, head.sha, why, tag=archive_tag(name, head.sha, now, analysis.tags),
                            committer=who, committed_at=head.committed_at)
        else:
            change = Change(Kind.DELETE, name, head.sha, why, committer=who, committed_at=head.committed_at)
        due.append((notice.noticed_at, change))
    due.sort(key=lambda item: (item[0], item[1].branch))  # the longest-standing notices first: none waits forever
    for index, (_, change) in enumerate(due):
        if index >= config.max_per_run:
            change = Change(Kind.DEFER, change.branch, change.sha, f"{change.why}; over cleanup.max_per_run ({config.max_per_run})",
                            committer=change.committer, committed_at=change.committed_at)
        changes.append(change)
    return tuple(sorted(changes, key=lambda c: (ORDER.index(c.kind), c.branch)))


def due(changes: tuple[Change, ...]) -> list[Change]:
    return [c for c in changes if c.kind.writes]


def actionable(changes: tuple[Change, ...]) -> list[Change]:
    """What a user would act on: everything but the branches that are never touched."""
    return [c for c in changes if c.kind is not Kind.SKIP]
