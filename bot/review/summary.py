"""What people see of the review state: the summary comment, the status line, and the memo.

The summary comment is the bot's own, edited in place. It also carries, hidden, the memo of
the tree the lgtm applies to (as Prow keeps the tree hash in its lgtm comment): which head and
tree the bot last saw, and after which comment and review ids an lgtm still counts. That is the
only thing the fold needs that the platform does not say by itself.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from bot.forges.base import StatusState
from bot.review.state import ReviewState

STATUS_CONTEXT = "forgebot/review"
MEMO_RE = re.compile(r"<!-- forgebot-review-memo (\{[^<>]*\}) -->")
MAX_DESCRIPTION = 140  # GitHub cuts status descriptions at 140 characters
MAX_SUGGESTED = 3


@dataclass(frozen=True)
class Memo:
    head: str = ""
    tree: str = ""
    lgtm_since: Mapping[str, int] = field(default_factory=dict)
    status: str = ""  # "state:digest of the description" last set on `head`

    def render(self) -> str:
        since = ",".join(f"{k}:{v}" for k, v in sorted(self.lgtm_since.items()))
        fields = f"head={self.head} tree={self.tree} since={since} status={self.status}"
        return "<!-- forgebot-review-memo {" + fields.replace("<", "").replace(">", "").replace("}", "") + "} -->"


def parse_memo(body: str | None) -> Memo | None:
    match = MEMO_RE.search(body or "")
    if match is None:
        return None
    values = dict(part.split("=", 1) for part in match.group(1).strip("{}").split(" ") if "=" in part)
    since: dict[str, int] = {}
    for item in filter(None, values.get("since", "").split(",")):
        kind, _, number = item.partition(":")
        if number.isdigit():
            since[kind] = int(number)
    return Memo(values.get("head", ""), values.get("tree", ""), since, values.get("status", ""))


@dataclass(frozen=True)
class Readiness:
    """What besides review decides whether the pull request may merge."""

    draft: bool = False
    blocked: bool = False  # the dependencies label is on
    conflicts: bool = False  # the platform says it cannot merge
    failing: tuple[str, ...] = ()  # required checks failed
    waiting: tuple[str, ...] = ()  # required checks pending or not reported


def missing(state: ReviewState, ready: Readiness) -> list[str]:
    lines = []
    if ready.draft:
        lines.append("is a draft")
    lines += state.missing()
    if ready.blocked:
        lines.append("blocked by open dependencies")
    if ready.conflicts:
        lines.append("has conflicts with its base branch")
    lines += [f"check {name} failed" for name in ready.failing]
    lines += [f"waiting for check {name}" for name in ready.waiting]
    return lines


def status(state: ReviewState, ready: Readiness) -> tuple[StatusState, str]:
    """The `forgebot/review` commit status: pending with the first thing missing, or success."""
    lines = missing(state, ready)
    if not lines:
        return StatusState.SUCCESS, "ready to merge"
    more = f" (+{len(lines) - 1} more)" if len(lines) > 1 else ""
    text = lines[0] + more
    return StatusState.PENDING, text if len(text) <= MAX_DESCRIPTION else text[: MAX_DESCRIPTION - 1] + "…"


def suggestions(state: ReviewState, author: str) -> dict[str, list[str]]:
    """Whom to ask, per OWNERS file still needing an approver (never the author)."""
    found = {}
    for approval in state.approvals:
        if approval.done or approval.requirement.approvers is None:
            continue
        people = sorted(p for p in approval.requirement.approvers if p != author.lower())
        found[approval.requirement.path] = people[:MAX_SUGGESTED]
    return found


def render(state: ReviewState, ready: Readiness, author: str, memo: Memo | None) -> str:
    """The summary comment (with the memo hidden in it), or without a memo the same for a terminal."""
    lines = ["### Review", ""]
    todo = missing(state, ready)
    lines.append("**Ready to merge.**" if not todo else "**Not ready:** " + "; ".join(todo) + ".")
    lines.append("")
    lines.append("- lgtm: " + (", ".join(f"@{x}" for x in state.lgtm) if state.lgtm else "nobody yet (`/lgtm`)"))
    asks = suggestions(state, author)
    for approval in state.approvals:
        path = approval.requirement.path
        if approval.done:
            lines.append(f"- [x] `{path}`: approved by " + ", ".join(f"@{x}" for x in approval.by))
        elif approval.requirement.approvers is None:
            lines.append(f"- [ ] `{path}`: needs `/approve` from someone with write access")
        else:
            who = ", ".join(f"@{x}" for x in asks.get(path, [])) or "nobody but the author; ask a maintainer"
            lines.append(f"- [ ] `{path}`: needs `/approve` from one of {who}")
    if state.held:
        by = f" by @{state.held_by}" if state.held_by else " (the hold label is on)"
        lines.append(f"- held{by}: `/hold cancel` releases it")
    if ready.blocked:
        lines.append("- blocked by open dependencies (see the dependencies comment)")
    for name in ready.failing:
        lines.append(f"- required check `{name}` failed")
    if memo is not None:
        lines += ["", memo.render()]
    return "\n".join(lines)
