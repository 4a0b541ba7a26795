"""GitHub routes: issue comments, reactions, milestones, "blocked by" dependencies."""

from __future__ import annotations

from typing import Any

from . import ghjson
from .common import ApiError, parse_iso, validation_failed
from .ops import due_date
from .server import Ctx, Resp, Routes
from .state import Issue, Milestone, Repo

routes = Routes()
R = "/repos/{owner}/{repo}"


# -- comments ---------------------------------------------------------------------------------
@routes.get(R + "/issues/comments")
def repo_comments(ctx: Ctx) -> Resp:
    repo = ctx.repo()
    since = parse_iso(ctx.arg("since"))
    items = [c for c in sorted(repo.comments.values(), key=lambda c: c.id) if since is None or c.updated_at >= since]
    return ctx.paged(items, lambda c: ghjson.comment(ctx.forge, repo, c))


@routes.get(R + "/issues/comments/{comment_id}")
def get_comment(ctx: Ctx) -> Any:
    repo = ctx.repo()
    return ghjson.comment(ctx.forge, repo, ctx.comment(repo))


@routes.patch(R + "/issues/comments/{comment_id}")
def edit_comment(ctx: Ctx) -> Any:
    repo = ctx.repo()
    c = ctx.comment(repo)
    if c.user != ctx.login:
        ctx.require(repo, "write")
    ctx.ops.edit_comment(repo, c, ctx.login, ctx.body()["body"])
    return ghjson.comment(ctx.forge, repo, c)


@routes.delete(R + "/issues/comments/{comment_id}")
def delete_comment(ctx: Ctx) -> Resp:
    repo = ctx.repo()
    c = ctx.comment(repo)
    if c.user != ctx.login:
        ctx.require(repo, "write")
    ctx.ops.delete_comment(repo, c, ctx.login)
    return Resp(204)


@routes.get(R + "/issues/{number}/comments")
def list_comments(ctx: Ctx) -> Resp:
    repo = ctx.repo()
    issue = ctx.issue(repo, "number")
    since = parse_iso(ctx.arg("since"))
    items = [repo.comments[x] for x in issue.comments]
    items = [c for c in items if since is None or c.updated_at >= since]
    return ctx.paged(items, lambda c: ghjson.comment(ctx.forge, repo, c))


@routes.post(R + "/issues/{number}/comments")
def create_comment(ctx: Ctx) -> Resp:
    repo = ctx.repo()
    issue = ctx.issue(repo, "number")
    if ctx.login is None:
        raise ApiError(401, "Requires authentication")
    c = ctx.ops.add_comment(repo, issue, ctx.login, ctx.body()["body"])
    data = ghjson.comment(ctx.forge, repo, c)
    return Resp(201, data, {"location": data["url"]})


# -- reactions --------------------------------------------------------------------------------
def _react(ctx: Ctx, target: Any) -> Resp:
    if ctx.login is None:
        raise ApiError(401, "Requires authentication")
    r, created = ctx.ops.react(target, ctx.login, ctx.body()["content"])
    return Resp(201 if created else 200, ghjson.reaction(ctx.forge, r))


def _reactions(ctx: Ctx, target: Any) -> Resp:
    content = ctx.arg("content")
    items = [r for r in target.reactions if content is None or r.content == content]
    return ctx.paged(items, lambda r: ghjson.reaction(ctx.forge, r))


def _unreact(ctx: Ctx, repo: Repo, target: Any) -> Resp:
    rid = int(ctx.params["reaction_id"]) if ctx.params["reaction_id"].isdigit() else -1
    r = next((r for r in target.reactions if r.id == rid), None)
    if r is None:
        raise ctx.dialect.not_found()
    if r.user != ctx.login:
        ctx.require(repo, "admin")
    target.reactions.remove(r)
    return Resp(204)


@routes.post(R + "/issues/comments/{comment_id}/reactions")
def react_comment(ctx: Ctx) -> Resp:
    repo = ctx.repo()
    return _react(ctx, ctx.comment(repo))


@routes.get(R + "/issues/comments/{comment_id}/reactions")
def comment_reactions(ctx: Ctx) -> Resp:
    repo = ctx.repo()
    return _reactions(ctx, ctx.comment(repo))


@routes.delete(R + "/issues/comments/{comment_id}/reactions/{reaction_id}")
def unreact_comment(ctx: Ctx) -> Resp:
    repo = ctx.repo()
    return _unreact(ctx, repo, ctx.comment(repo))


@routes.post(R + "/issues/{number}/reactions")
def react_issue(ctx: Ctx) -> Resp:
    repo = ctx.repo()
    return _react(ctx, ctx.issue(repo, "number"))


@routes.get(R + "/issues/{number}/reactions")
def issue_reactions(ctx: Ctx) -> Resp:
    repo = ctx.repo()
    return _reactions(ctx, ctx.issue(repo, "number"))


@routes.delete(R + "/issues/{number}/reactions/{reaction_id}")
def unreact_issue(ctx: Ctx) -> Resp:
    repo = ctx.repo()
    return _unreact(ctx, repo, ctx.issue(repo, "number"))


# -- milestones -------------------------------------------------------------------------------
@routes.get(R + "/milestones")
def list_milestones(ctx: Ctx) -> Resp:
    repo = ctx.repo()
    state = ctx.arg("state", "open")
    items = [m for m in repo.milestones.values() if state == "all" or m.state == state]
    if (ctx.arg("sort") or "due_on") == "due_on":
        items.sort(key=lambda m: (m.due_on is None, m.due_on or "", m.number))
    else:
        items.sort(key=lambda m: m.number)
    if ctx.arg("direction") == "desc":
        items.reverse()
    return ctx.paged(items, lambda m: ghjson.milestone(ctx.forge, repo, m))


@routes.post(R + "/milestones")
def create_milestone(ctx: Ctx) -> Resp:
    repo = ctx.repo("write")
    body = ctx.body()
    if any(m.title == body["title"] for m in repo.milestones.values()):
        raise validation_failed("Milestone", "already_exists", "title")
    m = ctx.ops.create_milestone(repo, ctx.login or "", body["title"], body.get("description") or "",
                                 body.get("state") or "open", body.get("due_on"))
    data = ghjson.milestone(ctx.forge, repo, m)
    return Resp(201, data, {"location": data["url"] if data else ""})


def _milestone(ctx: Ctx, repo: Repo) -> Milestone:
    raw = ctx.params["number"]
    m = repo.milestone_by_number(int(raw)) if raw.isdigit() else None
    if m is None:
        raise ctx.dialect.not_found()
    return m


@routes.get(R + "/milestones/{number}")
def get_milestone(ctx: Ctx) -> Any:
    repo = ctx.repo()
    return ghjson.milestone(ctx.forge, repo, _milestone(ctx, repo))


@routes.patch(R + "/milestones/{number}")
def update_milestone(ctx: Ctx) -> Any:
    repo = ctx.repo("write")
    m, body = _milestone(ctx, repo), ctx.body()
    if "title" in body:
        m.title = body["title"]
    if "description" in body:
        m.description = body["description"] or ""
    if "due_on" in body:
        m.due_on = due_date(body["due_on"])
    if "state" in body:
        ctx.ops.set_milestone_state(m, body["state"])
    m.updated_at = ctx.ops.now()
    return ghjson.milestone(ctx.forge, repo, m)


@routes.delete(R + "/milestones/{number}")
def delete_milestone(ctx: Ctx) -> Resp:
    repo = ctx.repo("write")
    ctx.ops.delete_milestone(repo, _milestone(ctx, repo))
    return Resp(204)


# -- dependencies ("blocked by") --------------------------------------------------------------
def _issue_by_id(ctx: Ctx, issue_id: int) -> tuple[Repo, Issue]:
    for repo in ctx.forge.state.repos.values():
        for issue in repo.issues.values():
            if issue.id == issue_id and ctx.can(repo, "read"):
                return repo, issue
    raise ctx.dialect.not_found()


@routes.get(R + "/issues/{number}/dependencies/blocked_by")
def blocked_by(ctx: Ctx) -> Resp:
    repo = ctx.repo()
    issue = ctx.issue(repo, "number")
    pairs = [_issue_by_id(ctx, x) for x in issue.blocked_by]
    return ctx.paged(pairs, lambda p: ghjson.issue(ctx.forge, p[0], p[1]))


@routes.post(R + "/issues/{number}/dependencies/blocked_by")
def add_blocked_by(ctx: Ctx) -> Resp:
    repo = ctx.repo("triage")
    issue = ctx.issue(repo, "number")
    other_repo, other = _issue_by_id(ctx, int(ctx.body()["issue_id"]))
    if other.id == issue.id:
        raise validation_failed("IssueDependency", "invalid", "issue_id")
    if other.id not in issue.blocked_by:
        issue.blocked_by.append(other.id)
    return Resp(201, ghjson.issue(ctx.forge, other_repo, other))


@routes.delete(R + "/issues/{number}/dependencies/blocked_by/{issue_id}")
def remove_blocked_by(ctx: Ctx) -> Any:
    repo = ctx.repo("triage")
    issue = ctx.issue(repo, "number")
    raw = ctx.params["issue_id"]
    if not raw.isdigit() or int(raw) not in issue.blocked_by:
        raise ctx.dialect.not_found()
    issue.blocked_by.remove(int(raw))
    other_repo, other = _issue_by_id(ctx, int(raw))
    return ghjson.issue(ctx.forge, other_repo, other)
