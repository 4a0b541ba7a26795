"""Gitea 1.22 JSON <-> the protocol's models: pure functions, no I/O.

Every mapping decision between the protocol's vocabulary and Gitea's lives here.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from bot.forges import gitea_hooks
from bot.forges.base import (
    Branch,
    BranchProtection,
    Capabilities,
    Comment,
    Comparison,
    Hook,
    Invalid,
    Issue,
    Label,
    Milestone,
    Permission,
    PullRequest,
    Repo,
    RepoSettings,
    Review,
    ReviewEvent,
    User,
)
from bot.forges.common import normalize_color, parse_time

# GET /collaborators/{login}/permission answers none|read|write|admin|owner.
PERMISSION = {
    "none": Permission.NONE,
    "read": Permission.READ,
    "write": Permission.WRITE,
    "admin": Permission.ADMIN,
    "owner": Permission.ADMIN,
}

# Gitea has three collaborator levels. GitHub's in-between roles round *down*, so the bot never
# grants more than asked: triage would otherwise come with push rights, maintain with the
# repository's settings, collaborators and deletion.
COLLABORATOR_LEVEL = {
    Permission.READ: "read",
    Permission.TRIAGE: "read",
    Permission.WRITE: "write",
    Permission.MAINTAIN: "write",
    Permission.ADMIN: "admin",
}

# Gitea spells an approval APPROVED; GitHub's APPROVE silently makes a *pending* review there.
REVIEW_EVENT = {
    ReviewEvent.APPROVE: "APPROVED",
    ReviewEvent.REQUEST_CHANGES: "REQUEST_CHANGES",
    ReviewEvent.COMMENT: "COMMENT",
}
REVIEW_STATE = {
    "APPROVED": "approved",
    "REQUEST_CHANGES": "changes_requested",
    "COMMENT": "commented",
    "PENDING": "pending",
    "REQUEST_REVIEW": "pending",
}

# RepoSettings field -> Gitea's EditRepoOption / Repository name.
SETTINGS = {
    "description": "description",
    "homepage": "website",
    "has_issues": "has_issues",
    "has_wiki": "has_wiki",
    "has_projects": "has_projects",
    "default_branch": "default_branch",
    "allow_merge_commit": "allow_merge_commits",
    "allow_squash_merge": "allow_squash_merge",
    "allow_rebase_merge": "allow_rebase",
    "delete_branch_on_merge": "default_delete_branch_after_merge",
}


def login(data: Any) -> str | None:
    return data.get("login") if isinstance(data, dict) else None


def logins(items: Any) -> tuple[str, ...]:
    return tuple(x["login"] for x in items or () if isinstance(x, dict) and x.get("login"))


def user(data: dict[str, Any]) -> User:
    return User(login=data["login"], id=data.get("id"))


def repo_permission(perms: Any) -> Permission | None:
    if not isinstance(perms, dict):
        return None
    if perms.get("admin"):
        return Permission.ADMIN
    if perms.get("push"):
        return Permission.WRITE
    return Permission.READ if perms.get("pull") else Permission.NONE


def repo(data: dict[str, Any]) -> Repo:
    return Repo(
        owner=login(data.get("owner")) or data["full_name"].split("/", 1)[0],
        name=data["name"],
        default_branch=data.get("default_branch") or "",
        private=bool(data.get("private")),
        archived=bool(data.get("archived")),
        clone_url=data.get("clone_url"),
        html_url=data.get("html_url"),
        permission=repo_permission(data.get("permissions")),
    )


def label(data: dict[str, Any]) -> Label:
    return Label(name=data["name"], color=normalize_color(data.get("color") or "ededed"),
                 description=data.get("description") or "", id=data.get("id"))


def label_body(lb: Label) -> dict[str, Any]:
    # The swagger's example colour has a '#'; Gitea accepts both and answers without it.
    return {"name": lb.name, "color": "#" + normalize_color(lb.color), "description": lb.description}


def comment(data: dict[str, Any]) -> Comment:
    return Comment(id=data["id"], body=data.get("body") or "", author=login(data.get("user")),
                   html_url=data.get("html_url"), created_at=parse_time(data.get("created_at")),
                   updated_at=parse_time(data.get("updated_at")))


def issue(data: dict[str, Any]) -> Issue:
    milestone = data.get("milestone")
    return Issue(
        number=data["number"],
        title=data.get("title") or "",
        body=data.get("body") or "",
        state=data.get("state") or "open",
        author=login(data.get("user")),
        labels=tuple(x["name"] for x in data.get("labels") or ()),
        assignees=logins(data.get("assignees")),
        is_pull=data.get("pull_request") is not None,
        html_url=data.get("html_url"),
        created_at=parse_time(data.get("created_at")),
        closed_at=parse_time(data.get("closed_at")),
        milestone=milestone.get("title") if isinstance(milestone, dict) else None,
    )


def pull(data: dict[str, Any]) -> PullRequest:
    head, base = data.get("head") or {}, data.get("base") or {}
    head_repo = head.get("repo")
    return PullRequest(
        number=data["number"],
        title=data.get("title") or "",
        body=data.get("body") or "",
        state=data.get("state") or "open",
        author=login(data.get("user")),
        head_ref=head.get("ref") or "",
        head_sha=head.get("sha") or "",
        base_ref=base.get("ref") or "",
        base_sha=base.get("sha") or "",
        merged=bool(data.get("merged")),
        mergeable=data.get("mergeable"),
        draft=bool(data.get("draft")),
        labels=tuple(x["name"] for x in data.get("labels") or ()),
        assignees=logins(data.get("assignees")),
        head_repo=head_repo.get("full_name") if isinstance(head_repo, dict) else None,
        html_url=data.get("html_url"),
        merge_commit_sha=data.get("merge_commit_sha") or None,
        changed_files=data["changed_files"] if type(data.get("changed_files")) is int else None,
    )


def head_matches(data: dict[str, Any], owner: str | None, branch: str) -> bool:
    """Whether a PR's head is `branch` (in `owner`'s repository, when an owner is given)."""
    head = data.get("head") or {}
    if head.get("ref") != branch:
        return False
    if owner is None:
        return True
    head_owner = login((head.get("repo") or {}).get("owner"))
    return head_owner is not None and head_owner.casefold() == owner.casefold()


def review(data: dict[str, Any]) -> Review:
    state = "dismissed" if data.get("dismissed") else REVIEW_STATE.get(data.get("state") or "", "pending")
    return Review(id=data.get("id"), state=state, body=data.get("body") or "", author=login(data.get("user")),
                  commit_sha=data.get("commit_id") or None, submitted_at=parse_time(data.get("submitted_at")))


def branch(data: dict[str, Any]) -> Branch:
    commit = data.get("commit") or {}
    return Branch(name=data["name"], sha=commit.get("id") or "", protected=bool(data.get("protected")),
                  committed_at=parse_time(commit.get("timestamp")))


def comparison(data: dict[str, Any]) -> Comparison:
    # Gitea's compare has only `commits` and `total_commits`: no ahead/behind, status or merge base.
    return Comparison(total_commits=int(data.get("total_commits") or 0))


def settings(data: dict[str, Any]) -> RepoSettings:
    return RepoSettings(**{field: data.get(name) for field, name in SETTINGS.items()})


def settings_body(changes: RepoSettings) -> dict[str, Any]:
    return {name: getattr(changes, field) for field, name in SETTINGS.items()
            if getattr(changes, field) is not None}


# -- branch protection --------------------------------------------------------------------------
#   required_approvals       <-> required_approvals
#   dismiss_stale_approvals  <-> dismiss_stale_approvals
#   required_status_checks   <-> enable_status_check + status_check_contexts (() = checks off)
#   enforce_admins           <-> block_admin_merge_override (admins may not "merge anyway")
#   allow_force_push         <-> enable_force_push
#   push_allowlist           <-> enable_push + enable_push_whitelist + push_whitelist_usernames
# block_admin_merge_override and enable_force_push came with Gitea 1.23: they are sent only to a
# server whose version has them (a 1.22 server would drop them unread), and a server that does not
# echo them back did not take them, which `protection_gaps` reports.


def protection(data: dict[str, Any], branch_name: str) -> BranchProtection:
    checks: tuple[str, ...] = ()
    if data.get("enable_status_check"):
        checks = tuple(data.get("status_check_contexts") or ())
    allowlist: tuple[str, ...] | None = None
    if not data.get("enable_push"):
        allowlist = ()  # nobody may push directly
    elif data.get("enable_push_whitelist"):
        allowlist = tuple(data.get("push_whitelist_usernames") or ())
    return BranchProtection(
        branch=branch_name,
        required_approvals=int(data.get("required_approvals") or 0),
        dismiss_stale_approvals=bool(data.get("dismiss_stale_approvals")),
        required_status_checks=checks,
        enforce_admins=_flag(data, "block_admin_merge_override"),
        allow_force_push=_flag(data, "enable_force_push"),
        push_allowlist=allowlist,
    )


def protection_body(p: BranchProtection, capabilities: Capabilities, *, creating: bool) -> dict[str, Any]:
    """CreateBranchProtectionOption / EditBranchProtectionOption; None fields are left alone, and
    so are fields the server's version does not have."""
    body: dict[str, Any] = {"rule_name": p.branch} if creating else {}
    if p.required_approvals is not None:
        body["required_approvals"] = p.required_approvals
    if p.dismiss_stale_approvals is not None:
        body["dismiss_stale_approvals"] = p.dismiss_stale_approvals
    if p.required_status_checks is not None:
        body["enable_status_check"] = bool(p.required_status_checks)
        body["status_check_contexts"] = list(p.required_status_checks)
    if p.enforce_admins is not None and capabilities.protection_admin_enforcement:
        body["block_admin_merge_override"] = p.enforce_admins
    if p.allow_force_push is not None and capabilities.protection_force_push:
        body["enable_force_push"] = p.allow_force_push
    if p.push_allowlist is not None:
        body.update(enable_push=True, enable_push_whitelist=True,
                    push_whitelist_usernames=list(p.push_allowlist))
    elif creating:
        # Gitea's default for a new rule is "nobody may push"; the protocol's None is "anyone
        # with write", as on GitHub.
        body.update(enable_push=True, enable_push_whitelist=False)
    return body


def protection_gaps(wanted: BranchProtection, data: dict[str, Any]) -> list[str]:
    """Fields asked for that the server did not take (it does not know them)."""
    gaps = []
    if wanted.enforce_admins and "block_admin_merge_override" not in data:
        gaps.append("enforce_admins (block_admin_merge_override)")
    if wanted.allow_force_push and "enable_force_push" not in data:
        gaps.append("allow_force_push (enable_force_push)")
    return gaps


def _flag(data: dict[str, Any], key: str) -> bool:
    # Absent means a server older than the setting; its behaviour then is the setting's False:
    # admins can always override, force pushes to protected branches are refused.
    return bool(data.get(key, False))


# -- milestones and hooks -------------------------------------------------------------------------


def milestone(data: dict[str, Any]) -> Milestone:
    return Milestone(title=data.get("title") or "", description=data.get("description") or "",
                     due_on=due_date(data.get("due_on")), state=data.get("state") or "open", id=data.get("id"))


def due_date(value: Any) -> date | None:
    """The day of a due time; Gitea keeps the end of that day in its own zone, so read it in UTC."""
    moment = parse_time(value)
    if moment is None:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.date()


def milestone_body(m: Milestone) -> dict[str, Any]:
    body: dict[str, Any] = {"title": m.title, "description": m.description, "state": m.state}
    if m.due_on is not None:
        # Noon UTC survives Gitea moving the time to the end of the day in any zone.
        noon = datetime(m.due_on.year, m.due_on.month, m.due_on.day, 12, tzinfo=UTC)
        body["due_on"] = noon.strftime("%Y-%m-%dT%H:%M:%SZ")
    return body


def hook(data: dict[str, Any]) -> Hook:
    config = data.get("config") or {}
    # Gitea lists every switch a hook has on; written back the shortest way (see gitea_hooks).
    events = gitea_hooks.as_written(gitea_hooks.switches_read(data.get("events") or ()))
    return Hook(url=config.get("url") or "", events=events, active=bool(data.get("active")),
                content_type=config.get("content_type") or "json", id=data.get("id"))


def hook_body(h: Hook, secret: str | None, *, creating: bool) -> dict[str, Any]:
    if h.content_type not in ("json", "form"):
        raise Invalid(f"hook content type {h.content_type!r}; use json or form", platform="gitea")
    config = {"url": h.url, "content_type": h.content_type}
    if secret is not None:
        config["secret"] = secret  # left out on edit, Gitea keeps the current secret
    # An empty event list means "push only" to Gitea (as on GitHub); `active` defaults to false,
    # so it is always sent.
    events = list(gitea_hooks.ALL_EVENTS) if "*" in h.events else list(h.events)
    body: dict[str, Any] = {"config": config, "events": events, "active": h.active}
    if creating:
        body["type"] = "gitea"
    return body
