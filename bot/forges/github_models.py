"""GitHub's JSON to the protocol's models and back: pure functions, no I/O."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.forges.base import (
    BranchProtection,
    Comment,
    Hook,
    Issue,
    Label,
    Milestone,
    Permission,
    PullRequest,
    Repo,
    RepoSettings,
    Review,
    ReviewEvent,
)
from bot.forges.common import parse_date, parse_time

# `role_name` gives all six levels; `permission` folds maintain into write and triage into read.
LEVELS = {"admin": Permission.ADMIN, "maintain": Permission.MAINTAIN, "write": Permission.WRITE,
          "push": Permission.WRITE, "triage": Permission.TRIAGE, "read": Permission.READ,
          "pull": Permission.READ, "none": Permission.NONE}
GRANTS = {Permission.READ: "pull", Permission.TRIAGE: "triage", Permission.WRITE: "push",
          Permission.MAINTAIN: "maintain", Permission.ADMIN: "admin"}
REVIEW_EVENTS = {ReviewEvent.APPROVE: "APPROVE", ReviewEvent.REQUEST_CHANGES: "REQUEST_CHANGES",
                 ReviewEvent.COMMENT: "COMMENT"}
SETTINGS = ("description", "homepage", "has_issues", "has_wiki", "has_projects", "default_branch",
            "allow_merge_commit", "allow_squash_merge", "allow_rebase_merge", "delete_branch_on_merge")


def _login(user: Any) -> str | None:
    return user.get("login") if isinstance(user, Mapping) else None


def _names(items: Any, key: str) -> tuple[str, ...]:
    return tuple(i[key] if isinstance(i, Mapping) else str(i) for i in items or ())


def wire_color(color: str) -> str:
    """Colour as GitHub takes it: no '#'. Left otherwise as given, so GitHub judges what is valid."""
    return color.strip().removeprefix("#")


def level_named(*names: Any) -> Permission | None:
    """The first name GitHub used that we know (custom roles fall through to the next)."""
    return next((LEVELS[n] for n in names if n in LEVELS), None)


def level_from_flags(flags: Mapping[str, Any] | None) -> Permission | None:
    if not flags:
        return None
    for name in ("admin", "maintain", "push", "triage", "pull"):
        if flags.get(name):
            return LEVELS[name]
    return Permission.NONE


def user_level(data: Mapping[str, Any]) -> Permission:
    level = level_named(data.get("role_name"))
    if level is None:
        level = level_from_flags(data.get("permissions"))
    return Permission.NONE if level is None else level


def repo_from(d: Mapping[str, Any]) -> Repo:
    return Repo(owner=d["owner"]["login"], name=d["name"], default_branch=d.get("default_branch") or "main",
                private=bool(d.get("private")), archived=bool(d.get("archived")), clone_url=d.get("clone_url"),
                html_url=d.get("html_url"), permission=level_from_flags(d.get("permissions")))


def label_from(d: Mapping[str, Any]) -> Label:
    return Label(name=d["name"], color=str(d.get("color") or "ededed").lower(),
                 description=d.get("description") or "", id=d.get("id"))


def issue_from(d: Mapping[str, Any]) -> Issue:
    milestone = d.get("milestone")
    return Issue(number=d["number"], title=d["title"], body=d.get("body") or "", state=d["state"],
                 author=_login(d.get("user")), labels=_names(d.get("labels"), "name"),
                 assignees=_names(d.get("assignees"), "login"), is_pull="pull_request" in d,
                 html_url=d.get("html_url"), created_at=parse_time(d.get("created_at")),
                 closed_at=parse_time(d.get("closed_at")), milestone=milestone["title"] if milestone else None)


def pull_from(d: Mapping[str, Any]) -> PullRequest:
    head, base = d["head"], d["base"]
    return PullRequest(
        number=d["number"], title=d["title"], body=d.get("body") or "", state=d["state"],
        author=_login(d.get("user")), head_ref=head["ref"], head_sha=head["sha"], base_ref=base["ref"],
        base_sha=base["sha"], merged=bool(d.get("merged") or d.get("merged_at")), mergeable=d.get("mergeable"),
        draft=bool(d.get("draft")), labels=_names(d.get("labels"), "name"),
        assignees=_names(d.get("assignees"), "login"),
        head_repo=(head.get("repo") or {}).get("full_name"), html_url=d.get("html_url"),
        merge_commit_sha=d.get("merge_commit_sha"), changed_files=_count(d.get("changed_files")))


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def comment_from(d: Mapping[str, Any]) -> Comment:
    return Comment(id=d["id"], body=d.get("body") or "", author=_login(d.get("user")), html_url=d.get("html_url"),
                   created_at=parse_time(d.get("created_at")), updated_at=parse_time(d.get("updated_at")))


def review_from(d: Mapping[str, Any]) -> Review:
    return Review(id=d.get("id"), state=str(d.get("state") or "pending").lower(), body=d.get("body") or "",
                  author=_login(d.get("user")), commit_sha=d.get("commit_id"),
                  submitted_at=parse_time(d.get("submitted_at")))


def _enabled(d: Mapping[str, Any], key: str) -> bool | None:
    value = d.get(key)
    return bool(value.get("enabled")) if isinstance(value, Mapping) else None


def protection_from(branch: str, d: Mapping[str, Any]) -> BranchProtection:
    """An absent section is off: None, the same as the model's "not managed"."""
    reviews = d.get("required_pull_request_reviews")
    checks = d.get("required_status_checks")
    restrictions = d.get("restrictions")
    return BranchProtection(
        branch=branch,
        required_approvals=reviews.get("required_approving_review_count") if reviews else None,
        dismiss_stale_approvals=bool(reviews.get("dismiss_stale_reviews")) if reviews else None,
        required_status_checks=tuple(checks.get("contexts") or ()) if checks else None,
        enforce_admins=_enabled(d, "enforce_admins"), allow_force_push=_enabled(d, "allow_force_pushes"),
        push_allowlist=_names(restrictions.get("users"), "login") if restrictions else None)


def protection_body(p: BranchProtection) -> dict[str, Any]:
    """GitHub's PUT needs all four sections; null switches one off."""
    reviews: dict[str, Any] | None = None
    if p.required_approvals is not None or p.dismiss_stale_approvals is not None:
        reviews = {"dismiss_stale_reviews": bool(p.dismiss_stale_approvals)}
        if p.required_approvals is not None:
            reviews["required_approving_review_count"] = p.required_approvals
    body: dict[str, Any] = {
        "required_status_checks": None if p.required_status_checks is None else {
            "strict": False, "contexts": list(p.required_status_checks)},
        "required_pull_request_reviews": reviews,
        "restrictions": None if p.push_allowlist is None else {"users": list(p.push_allowlist), "teams": []},
        "enforce_admins": p.enforce_admins,
    }
    if p.allow_force_push is not None:
        body["allow_force_pushes"] = p.allow_force_push
    return body


def settings_from(d: Mapping[str, Any]) -> RepoSettings:
    values = {name: d.get(name) for name in SETTINGS}
    values["description"] = d.get("description") or ""  # GitHub says null for "none"
    values["homepage"] = d.get("homepage") or ""
    return RepoSettings(**values)


def milestone_from(d: Mapping[str, Any]) -> Milestone:
    return Milestone(title=d["title"], description=d.get("description") or "", due_on=parse_date(d.get("due_on")),
                     state=d.get("state") or "open", id=d.get("number"))


def milestone_body(m: Milestone) -> dict[str, Any]:
    body: dict[str, Any] = {"title": m.title, "state": m.state, "description": m.description}
    if m.due_on is not None:
        # Noon UTC: GitHub keeps the date as seen in US Pacific time, and midnight would land a day early.
        body["due_on"] = f"{m.due_on.isoformat()}T12:00:00Z"
    return body


def hook_from(d: Mapping[str, Any]) -> Hook:
    config = d.get("config") or {}
    return Hook(url=config.get("url", ""), events=tuple(d.get("events") or ()), active=bool(d.get("active")),
                content_type=config.get("content_type") or "form", id=d.get("id"),
                has_secret=bool(config.get("secret")))  # GitHub shows a set secret as "********"


def hook_body(hook: Hook, secret: str | None) -> dict[str, Any]:
    config: dict[str, Any] = {"url": hook.url, "content_type": hook.content_type, "insecure_ssl": "0"}
    if secret:
        config["secret"] = secret
    return {"config": config, "events": list(hook.events), "active": hook.active}
