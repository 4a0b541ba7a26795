"""Gitea routes: issue comments (poster or admin may edit), reactions, milestones (by id or name)."""

from __future__ import annotations

from typing import Any

from . import gtjson
from .common import ApiError, parse_iso
from .ops import due_date
from .server import Ctx, Resp, Routes
from .state import REACTIONS, Milestone, Repo

routes = Routes()
R = "/repos/{owner}/{repo}"


# -- comments ---------------------------------------------------------------------------------
def _in_window(ctx: Ctx, c: Any) -> bool:
    since, before = parse_iso(ctx.arg("since")), parse_iso(ctx.arg("before"))
    return (since is None or c.updated_at >= since) and (before is None or c.updated_at <= before)


@routes.get(R + "/issues/comments")
def repo_comments(ctx: Ctx) -> Resp:
    repo = ctx.repo()
    items = [c for c in sorted(repo.comments.values(), key=lambda c: c.id) if _in_window(ctx, c)]
    return ctx.paged(items, lambda c: gtjson.comment(ctx.forge, repo, c))


@routes.get(R + "/issues/{index}/comments")
def list_comments(ctx: Ctx) -> Any:
    repo = ctx.repo()
    issue = ctx.issue(repo, "index")
    items = [gtjson.comment(ctx.forge, repo, repo.comments[x]) for x in issue.comments
             if _in_window(ctx, repo.comments[x])]
    # Not paged, but counted: ListIssueComments sets X-Total-Count (routers/api/v1/repo/issue_comment.go).
    return Resp(200, items, ctx.dialect.total_headers(len(items)))


@routes.post(R + "/issues/{index}/comments")
def create_comment(ctx: Ctx) -> Resp:
    repo = ctx.repo()
    issue = ctx.issue(repo, "index")
    if ctx.login is None:
        raise ApiError(401, "token is required")
    c = ctx.ops.add_comment(repo, issue, ctx.login, ctx.body()["body"])
    return Resp(201, gtjson.comment(ctx.forge, repo, c))


def _comment(ctx: Ctx, repo: Repo) -> Any:
    return ctx.comment(repo, "id")


def _own_or_admin(ctx: Ctx, repo: Repo, c: Any) -> None:
    # Gitea lets only the poster or a repository admin edit or delete a comment.
    if ctx.login != c.user and not ctx.can(repo, "admin"):
        raise ApiError(403, "")


@routes.get(R + "/issues/comments/{id}")
def get_comment(ctx: Ctx) -> Any:
    repo = ctx.repo()
    return gtjson.comment(ctx.forge, repo, _comment(ctx, repo))


@routes.patch(R + "/issues/comments/{id}")
def edit_comment(ctx: Ctx) -> Any:
    repo = ctx.repo()
    c = _comment(ctx, repo)
    _own_or_admin(ctx, repo, c)
    ctx.ops.edit_comment(repo, c, ctx.login, ctx.body()["body"])
    return gtjson.comment(ctx.forge, repo, c)


@routes.delete(R + "/issues/comments/{id}")
def delete_comment(ctx: Ctx) -> Resp:
    repo = ctx.repo()
    c = _comment(ctx, repo)
    _own_or_admin(ctx, repo, c)
    ctx.ops.delete_comment(repo, c, ctx.login)
    return Resp(204)


# -- reactions --------------------------------------------------------------------------------
def _content(ctx: Ctx) -> str:
    content = ctx.body().get("content") or ""
    if content not in REACTIONS:
        raise ApiError(403, f"'{content}' is not an allowed reaction")
    if ctx.login is None:
        raise ApiError(401, "token is required")
    return content


def _react(ctx: Ctx, target: Any) -> Resp:
    r, created = ctx.ops.react(target, ctx.login, _content(ctx))
    return Resp(201 if created else 200, gtjson.reaction(ctx.forge, r))


def _unreact(ctx: Ctx, target: Any) -> Resp:
    ctx.ops.unreact(target, ctx.login, _content(ctx))
    return Resp(200)


def _reactions(ctx: Ctx, target: Any) -> Resp:
    return ctx.paged(list(target.reactions), lambda r: gtjson.reaction(ctx.forge, r))


@routes.get(R + "/issues/comments/{id}/reactions")
def comment_reactions(ctx: Ctx) -> Resp:
    return _reactions(ctx, _comment(ctx, ctx.repo()))


@routes.post(R + "/issues/comments/{id}/reactions")
def react_comment(ctx: Ctx) -> Resp:
    return _react(ctx, _comment(ctx, ctx.repo()))


@routes.delete(R + "/issues/comments/{id}/reactions")
def unreact_comment(ctx: Ctx) -> Resp:
    return _unreact(ctx, _comment(ctx, ctx.repo()))


@routes.get(R + "/issues/{index}/reactions")
def issue_reactions(ctx: Ctx) -> Resp:
    repo = ctx.repo()
    return _reactions(ctx, ctx.issue(repo, "index"))


@routes.post(R + "/issues/{index}/reactions")
def react_issue(ctx: Ctx) -> Resp:
    repo = ctx.repo()
    return _react(ctx, ctx.issue(repo, "index"))


@routes.delete(R + "/issues/{index}/reactions")
def unreact_issue(ctx: Ctx) -> Resp:
    repo = ctx.repo()
    return _unreact(ctx, ctx.issue(repo, "index"))


# -- milestones -------------------------------------------------------------------------------
@routes.get(R + "/milestones")
def list_milestones(ctx: Ctx) -> Resp:
    repo = ctx.repo()
    state, name = ctx.arg("state") or "open", ctx.arg("name")
    items = [m for m in sorted(repo.milestones.values(), key=lambda m: m.id)
             if (state == "all" or m.state == state) and (not name or m.title == name)]
    return ctx.paged(items, lambda m: gtjson.milestone(ctx.forge, repo, m))


@routes.post(R + "/milestones")
def create_milestone(ctx: Ctx) -> Resp:
    repo = ctx.repo("write")
    body = ctx.body()
    m = ctx.ops.create_milestone(repo, ctx.login or "", body.get("title") or "", body.get("description") or "",
                                 body.get("state") or "open", body.get("due_on"))
    return Resp(201, gtjson.milestone(ctx.forge, repo, m))


def _milestone(ctx: Ctx, repo: Repo) -> Milestone:
    raw = ctx.params["id"]
    m = repo.milestones.get(int(raw)) if raw.isdigit() else None
    # Gitea also accepts the milestone's name here.
    m = m or next((x for x in repo.milestones.values() if x.title == raw), None)
    if m is None:
        raise ctx.dialect.not_found()
    return m


@routes.get(R + "/milestones/{id}")
def get_milestone(ctx: Ctx) -> Any:
    repo = ctx.repo()
    return gtjson.milestone(ctx.forge, repo, _milestone(ctx, repo))


@routes.patch(R + "/milestones/{id}")
def edit_milestone(ctx: Ctx) -> Any:
    repo = ctx.repo("write")
    m, body = _milestone(ctx, repo), ctx.body()
    if body.get("title"):
        m.title = body["title"]
    if body.get("description") is not None:
        m.description = body["description"]
    if body.get("due_on") is not None:
        m.due_on = due_date(body["due_on"])
    if body.get("state"):  # Gitea ignores a null state, as every other null field here
        ctx.ops.set_milestone_state(m, body["state"])
    m.updated_at = ctx.ops.now()
    return gtjson.milestone(ctx.forge, repo, m)


@routes.delete(R + "/milestones/{id}")
def delete_milestone(ctx: Ctx) -> Resp:
    repo = ctx.repo("write")
    ctx.ops.delete_milestone(repo, _milestone(ctx, repo))
    return Resp(204)
