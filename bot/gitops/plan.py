"""The GitOps planner: desired config + observed platform state -> the changes, and nothing else.

Pure: no I/O. Only fields the file sets are compared, after normalizing (label names without
regard to case, colours lowercase without '#', lists sorted where order means nothing). What
could not be read is unknown, never drift. Names matching a `protect:` pattern are never
changed or deleted. The bot never plans to remove its own access or its own webhook.
"""

from __future__ import annotations

import enum
import fnmatch
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields, replace
from typing import Any

from bot.forges.base import (
    BranchProtection,
    Capabilities,
    Collaborator,
    Hook,
    Invitation,
    Label,
    Milestone,
    Permission,
    RepoSettings,
)
from config.repo import KindPolicy, Mode, RepoConfig


class ChangeKind(enum.StrEnum):
    CREATE = "create"
    UPDATE = "update"
    RENAME = "rename"
    DELETE = "delete"


@dataclass(frozen=True)
class Change:
    kind: ChangeKind
    target: str  # "label:bug", "repository", "topics", "branch_protection:main", "milestone:v1", "collaborator:alice", "webhook:URL"
    current: Any
    wanted: Any
    why: str
    # The planner marks an update that takes something away (a topic removed, a milestone the file
    # no longer lists closed) so that `max_deletions` counts it; a delete counts without the mark.
    removal: bool = False

    @property
    def resource(self) -> str:
        return self.target.partition(":")[0]

    @property
    def name(self) -> str:
        return self.target.partition(":")[2]

    @property
    def removes(self) -> bool:
        """Takes something away: counted against `max_deletions`."""
        return self.kind is ChangeKind.DELETE or self.removal


@dataclass(frozen=True)
class Observed:
    """What the platform has. A section that could not be read is None (unknown)."""

    capabilities: Capabilities
    labels: tuple[Label, ...] | None = None
    settings: RepoSettings | None = None
    topics: tuple[str, ...] | None = None
    protected_branches: tuple[str, ...] | None = None  # every branch with protection on
    protections: dict[str, BranchProtection | None] = field(default_factory=dict)  # for branches the file names
    milestones: tuple[Milestone, ...] | None = None
    collaborators: tuple[Collaborator, ...] | None = None
    invitations: tuple[Invitation, ...] = ()  # GitHub: asked, not yet accepted
    hooks: tuple[Hook, ...] | None = None
    # The events a hook asked for reads back as on this platform (Forge.hook_events).
    hook_events: Callable[[tuple[str, ...]], tuple[str, ...]] = lambda events: tuple(sorted(set(events)))
    bot_login: str | None = None
    own_hook: Callable[[str], bool] = lambda url: False


def _protected(name: str, policy: KindPolicy) -> bool:
    return any(fnmatch.fnmatch(name.lower(), pattern.lower()) for pattern in policy.protect)


# -- labels ---------------------------------------------------------------------------------------


def plan_labels(desired: RepoConfig, observed: Observed) -> list[Change]:
    if desired.labels is None or observed.labels is None:
        return []
    policy = desired.policy.labels
    have = {label.name.lower(): label for label in observed.labels}
    kept: set[str] = set()
    renames, updates, creates = [], [], []
    for spec in desired.labels:
        key = spec.name.lower()
        if _protected(spec.name, policy):
            kept.add(key)
            continue
        current = have.get(key)
        if current is None:
            old = next((have[o.lower()] for o in spec.rename_from if o.lower() in have and o.lower() not in kept), None)
            if old is not None and not _protected(old.name, policy):
                kept.add(old.name.lower())
                wanted = Label(spec.name, spec.color or old.color, old.description if spec.description is None else spec.description, old.id)
                renames.append(Change(ChangeKind.RENAME, f"label:{old.name}", old, wanted, f"renamed to {spec.name}"))
                continue
            wanted = Label(spec.name, spec.color or "ededed", spec.description or "")
            creates.append(Change(ChangeKind.CREATE, f"label:{spec.name}", None, wanted, "in the file, not on the platform"))
            continue
        kept.add(key)
        differs = [n for n, v in (("color", spec.color), ("description", spec.description)) if v is not None and v != getattr(current, n)]
        if differs:
            wanted = Label(current.name, spec.color or current.color, current.description if spec.description is None else spec.description, current.id)
            updates.append(Change(ChangeKind.UPDATE, f"label:{current.name}", current, wanted, f"{', '.join(differs)} differ"))
    deletes = []
    if policy.mode is Mode.AUTHORITATIVE:
        for label in observed.labels:
            if label.name.lower() not in kept and not _protected(label.name, policy):
                deletes.append(Change(ChangeKind.DELETE, f"label:{label.name}", label, None, "not in the file (authoritative)"))
    return renames + updates + creates + deletes


# -- repository settings and topics ---------------------------------------------------------------


def plan_settings(desired: RepoConfig, observed: Observed) -> list[Change]:
    if desired.repository is None or observed.settings is None:
        return []
    current: dict[str, Any] = {}
    wanted: dict[str, Any] = {}
    for spec_field in fields(RepoSettings):
        name = spec_field.name
        value = getattr(desired.repository, name)
        have = getattr(observed.settings, name)
        if value is None or have is None or value == have:  # not managed, unknown, or equal
            continue
        current[name], wanted[name] = have, value
    if not wanted:
        return []
    return [Change(ChangeKind.UPDATE, "repository", current, wanted, f"{', '.join(wanted)} differ")]


def plan_topics(desired: RepoConfig, observed: Observed) -> list[Change]:
    if desired.topics is None or observed.topics is None:
        return []
    policy = desired.policy.topics
    have = tuple(sorted(t.lower() for t in observed.topics))
    want = {t.lower() for t in desired.topics}
    if policy.mode is Mode.AUTHORITATIVE:
        want |= {t for t in have if _protected(t, policy)}
    else:
        want |= set(have)
    wanted = tuple(sorted(want))
    if wanted == have:
        return []
    added, removed = sorted(set(wanted) - set(have)), sorted(set(have) - set(wanted))
    why = "; ".join(part for part in (f"add {', '.join(added)}" if added else "", f"remove {', '.join(removed)}" if removed else "") if part)
    return [Change(ChangeKind.UPDATE, "topics", have, wanted, why, removal=bool(removed))]


# -- branch protection ----------------------------------------------------------------------------


# Protection settings some servers lack -> the capability that says the server has it. Asking
# for them off is what such a server does anyway; asking for them on is not supported there.
PROTECTION_CAPABILITIES = {"allow_force_push": "protection_force_push", "enforce_admins": "protection_admin_enforcement"}


def unsupported_protection(spec: Any, capabilities: Capabilities) -> list[str]:
    """The settings the file turns on that this server cannot have."""
    return [name for name, capability in PROTECTION_CAPABILITIES.items()
            if getattr(spec, name) and not getattr(capabilities, capability)]


def _protection(branch: str, spec: Any, base: BranchProtection | None, skip: list[str]) -> BranchProtection:
    values = {f.name: getattr(spec, f.name) for f in fields(BranchProtection)
              if f.name != "branch" and f.name not in skip and getattr(spec, f.name) is not None}
    return replace(base or BranchProtection(branch), **values)


def _protection_differs(spec: Any, have: BranchProtection, skip: list[str]) -> list[str]:
    differs = []
    for f in fields(BranchProtection):
        if f.name == "branch" or f.name in skip:
            continue
        want, got = getattr(spec, f.name), getattr(have, f.name)
        if want is None or got is None:
            continue
        if isinstance(want, tuple):
            want, got = tuple(sorted(want)), tuple(sorted(got))
        if want != got:
            differs.append(f.name)
    return differs


def plan_branches(desired: RepoConfig, observed: Observed) -> list[Change]:
    if desired.branches is None:
        return []
    policy = desired.policy.branches
    changes = []
    listed = set()
    for spec in desired.branches:
        listed.add(spec.name)
        if _protected(spec.name, policy) or spec.name not in observed.protections:
            continue
        have = observed.protections[spec.name]
        target = f"branch_protection:{spec.name}"  # never "branch:": a branch deletion is another feature
        if spec.protection is None:
            if have is not None:
                changes.append(Change(ChangeKind.DELETE, target, have, None, "the file says unprotected"))
            continue
        skip = unsupported_protection(spec.protection, observed.capabilities)  # a note, not drift
        if have is None:
            changes.append(Change(ChangeKind.CREATE, target, None, _protection(spec.name, spec.protection, None, skip), "not protected yet"))
        elif differs := _protection_differs(spec.protection, have, skip):
            changes.append(Change(ChangeKind.UPDATE, target, have, _protection(spec.name, spec.protection, have, skip), f"{', '.join(differs)} differ"))
    if policy.mode is Mode.AUTHORITATIVE and observed.protected_branches is not None:
        for branch in observed.protected_branches:
            if branch not in listed and not _protected(branch, policy):
                changes.append(Change(ChangeKind.DELETE, f"branch_protection:{branch}", observed.protections.get(branch), None, "not in the file (authoritative)"))
    return changes


# -- milestones -----------------------------------------------------------------------------------


def plan_milestones(desired: RepoConfig, observed: Observed) -> list[Change]:
    if desired.milestones is None or observed.milestones is None:
        return []
    policy = desired.policy.milestones
    have = {m.title: m for m in observed.milestones}
    changes = []
    for spec in desired.milestones:
        if _protected(spec.title, policy):
            continue
        current = have.get(spec.title)
        if current is None:
            wanted = Milestone(spec.title, spec.description or "", spec.due_on, spec.state or "open")
            changes.append(Change(ChangeKind.CREATE, f"milestone:{spec.title}", None, wanted, "in the file, not on the platform"))
            continue
        set_fields = {n: getattr(spec, n) for n in ("description", "due_on", "state") if getattr(spec, n) is not None}
        differs = [n for n, v in set_fields.items() if v != getattr(current, n)]
        if differs:
            changes.append(Change(ChangeKind.UPDATE, f"milestone:{spec.title}", current, replace(current, **set_fields), f"{', '.join(differs)} differ"))
    if policy.mode is Mode.AUTHORITATIVE:
        listed = {spec.title for spec in desired.milestones}
        for milestone in observed.milestones:
            if milestone.title not in listed and milestone.state == "open" and not _protected(milestone.title, policy):
                # Milestones are closed, not deleted: their issues keep the reference.
                closed = replace(milestone, state="closed")
                changes.append(Change(ChangeKind.UPDATE, f"milestone:{milestone.title}", milestone, closed, "not in the file (authoritative): close", removal=True))
    return changes


# -- collaborators --------------------------------------------------------------------------------


def effective_level(level: Permission, capabilities: Capabilities) -> Permission:
    """The level the platform will really grant. Gitea has no triage or maintain: a grant is
    rounded down (triage -> read, maintain -> write), so nobody gets more than the file says."""
    if level is Permission.TRIAGE and not capabilities.triage_level:
        return Permission.READ
    if level is Permission.MAINTAIN and not capabilities.maintain_level:
        return Permission.WRITE
    return level


def plan_collaborators(desired: RepoConfig, observed: Observed) -> list[Change]:
    if desired.collaborators is None or observed.collaborators is None:
        return []
    policy = desired.policy.collaborators
    have = {c.login.lower(): c for c in observed.collaborators}
    invited = {i.login.lower(): i for i in observed.invitations}
    bot = (observed.bot_login or "").lower()
    changes = []
    for login, level in desired.collaborators.items():
        if _protected(login, policy) or login.lower() == bot:
            continue
        wanted = Collaborator(login, effective_level(Permission.parse(level.value), observed.capabilities))
        current = have.get(login.lower())
        pending = invited.get(login.lower())
        if current is None and pending is not None:
            # Invited already: asking again would only send them another notification.
            if pending.permission != wanted.permission:
                why = f"invitation {pending.permission.label} -> {wanted.permission.label}"
                changes.append(Change(ChangeKind.UPDATE, f"collaborator:{login}", pending, wanted, why))
        elif current is None:
            changes.append(Change(ChangeKind.CREATE, f"collaborator:{login}", None, wanted, f"give {wanted.permission.label}"))
        elif current.permission != wanted.permission:
            changes.append(Change(ChangeKind.UPDATE, f"collaborator:{login}", current, wanted, f"{current.permission.label} -> {wanted.permission.label}"))
    if policy.mode is Mode.AUTHORITATIVE:
        listed = {login.lower() for login in desired.collaborators}
        for collaborator in observed.collaborators:
            key = collaborator.login.lower()
            if key not in listed and key != bot and not _protected(collaborator.login, policy):
                changes.append(Change(ChangeKind.DELETE, f"collaborator:{collaborator.login}", collaborator, None, "not in the file (authoritative)"))
        for invitation in observed.invitations:
            key = invitation.login.lower()
            if key not in listed and key not in have and key != bot and not _protected(invitation.login, policy):
                changes.append(Change(ChangeKind.DELETE, f"collaborator:{invitation.login}", invitation, None, "invited, not in the file (authoritative)"))
    return changes


# -- webhooks -------------------------------------------------------------------------------------


def plan_webhooks(desired: RepoConfig, observed: Observed) -> list[Change]:
    if desired.webhooks is None or observed.hooks is None:
        return []
    policy = desired.policy.webhooks
    have = {h.url: h for h in observed.hooks}
    changes = []
    for spec in desired.webhooks:
        if _protected(spec.url, policy) or observed.own_hook(spec.url):
            continue
        wanted = Hook(spec.url, tuple(sorted(spec.events)), spec.active, spec.content_type)
        current = have.get(spec.url)
        if current is None:
            changes.append(Change(ChangeKind.CREATE, f"webhook:{spec.url}", None, wanted, "in the file, not on the platform"))
            continue
        # Events are compared as the platform will read them back, not as written.
        events_differ = observed.hook_events(wanted.events) != tuple(sorted(current.events))
        differs = [n for n, d in (("events", events_differ), ("active", wanted.active != current.active),
                                  ("content_type", wanted.content_type != current.content_type)) if d]
        if differs:
            changes.append(Change(ChangeKind.UPDATE, f"webhook:{spec.url}", current, replace(wanted, id=current.id), f"{', '.join(differs)} differ"))
    if policy.mode is Mode.AUTHORITATIVE:
        listed = {spec.url for spec in desired.webhooks}
        for hook in observed.hooks:
            if hook.url not in listed and not observed.own_hook(hook.url) and not _protected(hook.url, policy):
                changes.append(Change(ChangeKind.DELETE, f"webhook:{hook.url}", hook, None, "not in the file (authoritative)"))
    return changes


# -- notes: what the plan leaves as it is on purpose --------------------------------------------------


def plan_notes(desired: RepoConfig, observed: Observed) -> list[str]:
    """Things the file asks for that are not drift: settings this server cannot have, and
    people invited who have not accepted yet. Said in the plan and the status, never applied."""
    notes = []
    for spec in desired.branches or ():
        if spec.protection is not None and spec.name in observed.protections and not _protected(spec.name, desired.policy.branches):
            for name in unsupported_protection(spec.protection, observed.capabilities):
                notes.append(f"branch {spec.name}: {name} is not supported by {observed.capabilities.server or 'this server'}")
    if desired.collaborators is not None and observed.collaborators is not None:
        have = {c.login.lower() for c in observed.collaborators}
        wanted = {login.lower() for login in desired.collaborators}
        for invitation in observed.invitations:
            if invitation.login.lower() in wanted and invitation.login.lower() not in have:
                notes.append(f"collaborator {invitation.login}: invited as {invitation.permission.label}, not yet accepted")
    return notes


# -- the whole plan -------------------------------------------------------------------------------

PLANNERS: tuple[Callable[[RepoConfig, Observed], list[Change]], ...] = (
    plan_settings,
    plan_labels,
    plan_topics,
    plan_milestones,
    plan_collaborators,
    plan_branches,
    plan_webhooks,
)


def plan(desired: RepoConfig, observed: Observed) -> tuple[Change, ...]:
    """Every change, in the order they are applied."""
    return tuple(change for planner in PLANNERS for change in planner(desired, observed))


def deletion_limit(changes: Iterable[Change], max_deletions: int) -> str | None:
    """Why the plan must not be applied, if it removes more than the file allows."""
    removing = [c.target for c in changes if c.removes]
    if len(removing) <= max_deletions:
        return None
    return (
        f"the plan removes {len(removing)} things ({', '.join(removing[:10])}{', ...' if len(removing) > 10 else ''}),"
        f" more than policy.max_deletions={max_deletions}; nothing was applied"
    )
