"""A Gitea hook's events: what a list asks for, what Gitea keeps, and how it reads back.

Gitea keeps one switch per event, not the list it was sent (1.22 `routers/api/v1/utils/hook.go`):
"issues" and "pull_request" turn on their group and every sub-event, other known names only
themselves, unknown names nothing, and an empty list means push. Reading a hook lists the
switches under other names (`models/webhook` `EventsArray`): the review switch as
`pull_request_review_approved` and `_rejected`, and the pull request comment switch a second time
as `pull_request_review_comment`. So hooks are compared switch by switch, each side written the
shortest way (a whole group by its name, everything as "*").
"""

from __future__ import annotations

from collections.abc import Iterable

GROUPS = {
    "issues": ("issue_assign", "issue_label", "issue_milestone", "issue_comment"),
    "pull_request": ("pull_request_assign", "pull_request_label", "pull_request_milestone", "pull_request_comment",
                     "pull_request_review", "pull_request_review_request", "pull_request_sync"),
}
PLAIN = ("create", "delete", "fork", "push", "wiki", "repository", "release")
KNOWN = frozenset(PLAIN) | frozenset(GROUPS) | frozenset(e for members in GROUPS.values() for e in members)
# Gitea's API does not know "*": a hook asking for everything is sent every group ("package" too,
# which newer servers know).
ALL_EVENTS = ("create", "delete", "fork", "push", "issues", "issue_comment", "pull_request",
              "pull_request_review", "wiki", "repository", "release", "package")
# Names a read-back uses for a switch, other than the switch's own.
_READ_AS = {"pull_request_review_approved": "pull_request_review", "pull_request_review_rejected": "pull_request_review",
            "pull_request_review_comment": "pull_request_comment", "issues_only": "issues",
            "pull_request_only": "pull_request"}


def switches_asked(events: Iterable[str]) -> frozenset[str]:
    """The switches a hook sent `events` ends up with."""
    asked = {e.lower() for e in events} or {"push"}
    if "*" in asked:
        asked = set(ALL_EVENTS)
    on: set[str] = set()
    for name in asked:
        name = _READ_AS.get(name, name)
        if name in KNOWN:
            on |= {name, *GROUPS.get(name, ())}
    return frozenset(on)


def switches_read(listed: Iterable[str]) -> frozenset[str]:
    """The switches of a hook as Gitea lists it."""
    names = {_READ_AS.get(e.lower(), e.lower()) for e in listed}
    return frozenset(names & KNOWN)


def as_written(switches: frozenset[str]) -> tuple[str, ...]:
    """The shortest list with these switches, sorted: "*", or each full group by its name."""
    if switches >= switches_asked(["*"]):
        return ("*",)
    names = set(switches)
    for group, members in GROUPS.items():
        if group in names and set(members) <= names:
            names -= set(members)
    return tuple(sorted(names))


def events_as_read(events: Iterable[str]) -> tuple[str, ...]:
    """What a hook sent `events` reads back as, written the same shortest way."""
    return as_written(switches_asked(events))
