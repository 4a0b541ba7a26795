"""The review state of a pull request, derived from its whole history: a pure function.

Nothing is toggled. Each time anything changes, the comments and reviews are read again in the
order they were written and folded into who gave lgtm, who approved, and whether it is held:

- `/lgtm` counts from someone at `review.lgtm_level` who is not the author; `/lgtm cancel` from
  them or the author takes every lgtm away (as Prow's label goes); so does a change to the
  code's tree (`lgtm_since`: what was written before that push no longer counts for lgtm).
- `/approve` counts from an approver of at least one changed file (the author only with
  `review.author_can_approve`); `/approve cancel` withdraws the writer's own approval.
- `/hold` from the author or triage and up holds it; `/hold cancel` or `/unhold` releases it.
  With no hold command at all, the hold label put on by hand holds it.
- With `review.reviews_count`, a platform review "approve" from an approver is `/approve`, from
  another collaborator at the lgtm level `/lgtm`; "request changes" withdraws that reviewer's
  lgtm and approval.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from bot.engine.commands import parse
from bot.forges.base import Permission
from bot.review.owners import Owners, Requirement, requirements

NAMESPACE = "forgebot"
COMMENT = "comment"
REVIEW = "review"


@dataclass(frozen=True)
class Remark:
    """One comment or platform review, as written (bot comments are left out by the caller)."""

    kind: str  # comment | review
    id: int
    author: str
    text: str = ""
    review_state: str | None = None  # reviews: approved | changes_requested | commented | dismissed | pending
    at: datetime | None = None


@dataclass(frozen=True)
class Rules:
    """What the repository's `review` section and the platform's levels say, for the fold."""

    lgtm_level: Permission = Permission.WRITE
    hold_level: Permission = Permission.TRIAGE
    approve_level: Permission = Permission.WRITE  # who approves without OWNERS or review.approvers
    author_can_approve: bool = False
    reviews_count: bool = True
    fallback_approvers: frozenset[str] | None = None  # review.approvers (lowercase); None: write access
    hold_label: str = "do-not-merge/hold"


@dataclass(frozen=True)
class Facts:
    author: str
    remarks: Sequence[Remark]
    changed: Sequence[str]
    owners: Owners
    levels: Mapping[str, Permission]  # lowercase login -> level; missing means none
    labels: frozenset[str] = frozenset()  # lowercase
    lgtm_since: Mapping[str, int] = field(default_factory=dict)  # kind -> remarks with a higher id count for lgtm


@dataclass(frozen=True)
class Approval:
    requirement: Requirement
    by: tuple[str, ...]  # approvers who cover it (empty: still needed)

    @property
    def done(self) -> bool:
        return bool(self.by)


@dataclass(frozen=True)
class ReviewState:
    lgtm: tuple[str, ...]
    approvals: tuple[Approval, ...]
    approvers: tuple[str, ...]  # everyone whose approval counts, in the order they approved
    held: bool
    held_by: str | None  # who held it ("" for the label put on by hand)

    @property
    def approved(self) -> bool:
        return all(a.done for a in self.approvals)

    def missing(self) -> list[str]:
        """What review still needs, most blocking first, one short line each."""
        lines = []
        if self.held:
            lines.append(f"held by @{self.held_by}" if self.held_by else "held (the hold label is on)")
        for approval in self.approvals:
            if not approval.done:
                lines.append(f"needs an approver for {approval.requirement.path}")
        if not self.lgtm:
            lines.append("needs /lgtm")
        return lines


def _commands(remark: Remark) -> list[tuple[str, tuple[str, ...]]]:
    found = []
    for command in parse(remark.text):
        name, args = command.name, command.args
        if name == NAMESPACE and args:
            name, args = args[0].lower(), args[1:]
        if name in ("lgtm", "approve", "hold", "unhold"):
            found.append((name, tuple(a.lower() for a in args)))
    return found


def may_approve(login: str, requirement: Requirement, levels: Mapping[str, Permission], rules: Rules) -> bool:
    if requirement.approvers is None:
        return levels.get(login, Permission.NONE) >= rules.approve_level
    return login in requirement.approvers


def derive(facts: Facts, rules: Rules) -> ReviewState:
    author = facts.author.lower()
    needed = requirements(facts.owners, facts.changed, rules.fallback_approvers)
    levels = facts.levels

    def level(login: str) -> Permission:
        return levels.get(login, Permission.NONE)

    def is_approver(login: str) -> bool:
        if login == author and not rules.author_can_approve:
            return False
        return any(may_approve(login, r, levels, rules) for r in needed)

    lgtm: dict[str, None] = {}
    approved: dict[str, None] = {}
    held: bool | None = None
    held_by: str | None = None
    for remark in facts.remarks:
        who = remark.author.lower()
        fresh = remark.id > facts.lgtm_since.get(remark.kind, 0)
        for name, args in _commands(remark):
            cancel = "cancel" in args
            if name == "lgtm":
                if cancel and (who == author or level(who) >= rules.lgtm_level):
                    lgtm.clear()
                elif not cancel and who != author and level(who) >= rules.lgtm_level and fresh:
                    lgtm[who] = None
            elif name == "approve":
                if cancel:
                    approved.pop(who, None)
                elif is_approver(who):
                    approved[who] = None
            elif who == author or level(who) >= rules.hold_level:  # hold, unhold
                held = name == "hold" and not cancel
                held_by = who if held else None
        if remark.kind == REVIEW and rules.reviews_count and who != author:
            if remark.review_state == "approved":
                if is_approver(who):
                    approved[who] = None
                elif level(who) >= rules.lgtm_level and fresh:
                    lgtm[who] = None
            elif remark.review_state == "changes_requested":
                lgtm.pop(who, None)
                approved.pop(who, None)
    if held is None and rules.hold_label.lower() in facts.labels:
        held, held_by = True, ""
    approvals = tuple(
        Approval(r, tuple(a for a in approved if may_approve(a, r, levels, rules))) for r in needed
    )
    return ReviewState(tuple(lgtm), approvals, tuple(approved), bool(held), held_by)


def people(remarks: Sequence[Remark], bot: str | None = None) -> list[str]:
    """The logins whose level the fold may ask about (lowercase): whoever wrote a review command
    or submitted a review."""
    found: dict[str, None] = {}
    for remark in remarks:
        if remark.kind == REVIEW or _commands(remark):
            found[remark.author.lower()] = None
    found.pop((bot or "").lower(), None)
    return list(found)
