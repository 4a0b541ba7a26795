"""Gitea routes: branch protection rules (named, may be globs) and topics."""

from __future__ import annotations

import re
from typing import Any

from . import gt_version, gtjson
from .common import ApiError
from .server import Ctx, Resp, Routes
from .state import Protection

routes = Routes()
R = "/repos/{owner}/{repo}"
_TOPIC_RE = re.compile(r"^[a-z0-9][-.a-z0-9]*$")
# Gitea protection fields kept as they are (no shared meaning)
_GITEA_ONLY = ("push_whitelist_deploy_keys", "enable_force_push_allowlist", "force_push_allowlist_usernames",
               "force_push_allowlist_teams", "force_push_allowlist_deploy_keys", "enable_merge_whitelist",
               "merge_whitelist_usernames", "merge_whitelist_teams", "enable_approvals_whitelist",
               "approvals_whitelist_username", "approvals_whitelist_teams", "block_on_rejected_reviews",
               "block_on_official_review_requests", "ignore_stale_approvals", "protected_file_patterns",
               "unprotected_file_patterns", "priority")
# Gitea protection field -> Protection attribute
_SHARED = {"enable_push": "enable_push", "enable_push_whitelist": "restrict_push",
           "push_whitelist_usernames": "push_users", "push_whitelist_teams": "push_teams",
           "enable_force_push": "allow_force_pushes", "enable_status_check": "status_checks",
           "status_check_contexts": "contexts", "block_on_outdated_branch": "strict",
           "dismiss_stale_approvals": "dismiss_stale_reviews", "require_signed_commits": "required_signatures",
           "block_admin_merge_override": "enforce_admins"}


# -- branch protection ------------------------------------------------------------------------
def _apply(ctx: Ctx, p: Protection, body: dict[str, Any]) -> None:
    body = gt_version.taken(ctx.forge.gitea_version, "BranchProtection", body)
    for key, attr in _SHARED.items():
        if body.get(key) is not None:
            setattr(p, attr, list(body[key]) if isinstance(body[key], list) else body[key])
    if body.get("required_approvals") is not None:
        p.required_approvals = int(body["required_approvals"])
        p.require_reviews = p.required_approvals > 0
    for key in _GITEA_ONLY:
        if body.get(key) is not None:
            p.gitea[key] = body[key]


def _rule(ctx: Ctx, repo: Any) -> Protection:
    p = repo.protections.get(ctx.params["name"])
    if p is None:
        raise ctx.dialect.not_found()
    return p


@routes.get(R + "/branch_protections")
def list_protections(ctx: Ctx) -> Any:
    repo = ctx.repo("admin")
    return [gtjson.protection(ctx.forge, repo, p) for p in repo.protections.values()]


@routes.post(R + "/branch_protections")
def create_protection(ctx: Ctx) -> Resp:
    repo = ctx.repo("admin")
    body = ctx.body()
    name = body.get("rule_name") or body.get("branch_name") or ""
    if not name:
        raise ApiError(422, "[RuleName]: Required")
    if name in repo.protections:
        raise ApiError(403, "Branch protection already exist")
    now = ctx.ops.now()
    # Go zero values: a rule created without enable_push forbids direct pushes.
    p = Protection(name, now, now, enable_push=False)
    _apply(ctx, p, body)
    repo.protections[name] = p
    return Resp(201, gtjson.protection(ctx.forge, repo, p))


@routes.get(R + "/branch_protections/{name:path}")
def get_protection(ctx: Ctx) -> Any:
    repo = ctx.repo("admin")
    return gtjson.protection(ctx.forge, repo, _rule(ctx, repo))


@routes.patch(R + "/branch_protections/{name:path}")
def edit_protection(ctx: Ctx) -> Any:
    repo = ctx.repo("admin")
    p = _rule(ctx, repo)
    _apply(ctx, p, ctx.body())
    p.updated_at = ctx.ops.now()
    return gtjson.protection(ctx.forge, repo, p)


@routes.delete(R + "/branch_protections/{name:path}")
def delete_protection(ctx: Ctx) -> Resp:
    repo = ctx.repo("admin")
    del repo.protections[_rule(ctx, repo).rule_name]
    return Resp(204)


# -- topics -----------------------------------------------------------------------------------
def _bad_topics(topics: list[str]) -> list[str]:
    return [t for t in topics if not _TOPIC_RE.match(t) or len(t) > 35]


@routes.get(R + "/topics")
def list_topics(ctx: Ctx) -> Resp:
    repo = ctx.repo()
    page = ctx.paged(list(repo.topics))
    page.body = {"topics": page.body}
    return page


@routes.put(R + "/topics")
def put_topics(ctx: Ctx) -> Resp:
    repo = ctx.repo("admin")
    topics = [t.strip().lower() for t in ctx.body().get("topics") or []]
    invalid = _bad_topics(topics)
    if invalid or len(topics) > 25:
        raise ApiError(422, "Invalid topics", extra={"invalidTopics": invalid})
    repo.topics = list(dict.fromkeys(topics))
    return Resp(204)


@routes.put(R + "/topics/{topic}")
def add_topic(ctx: Ctx) -> Resp:
    repo = ctx.repo("admin")
    topic = ctx.params["topic"].strip().lower()
    if _bad_topics([topic]):
        raise ApiError(422, "Invalid topics", extra={"invalidTopics": [topic]})
    if topic not in repo.topics:
        repo.topics.append(topic)
    return Resp(204)


@routes.delete(R + "/topics/{topic}")
def delete_topic(ctx: Ctx) -> Resp:
    repo = ctx.repo("admin")
    topic = ctx.params["topic"].strip().lower()
    if topic in repo.topics:
        repo.topics.remove(topic)
    return Resp(204)
