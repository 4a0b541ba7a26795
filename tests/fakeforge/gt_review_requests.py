"""Gitea routes: review requests (routers/api/v1/repo/pull_review.go, apiReviewRequest).

Gitea keeps a request as a review of type REQUEST_REVIEW, so it also shows in the pull request's
list of reviews (gt_pulls.list_reviews) until the reviewer answers.
"""

from __future__ import annotations

from typing import Any

from . import gtjson
from .common import ApiError
from .server import Ctx, Resp, Routes
from .state import Issue, Repo, Review

routes = Routes()
R = "/repos/{owner}/{repo}/pulls/{index}/requested_reviewers"


def _logins(ctx: Ctx) -> list[str]:
    logins = ctx.body().get("reviewers") or []
    for login in logins:
        if ctx.forge.state.user(login) is None:
            raise ctx.dialect.not_found()  # GetUserByName: user does not exist
    return logins


def _pull(ctx: Ctx) -> tuple[Repo, Issue]:
    """The pull request, for its author or someone with write access."""
    repo = ctx.repo()
    issue = ctx.issue(repo, "index", pulls=True)
    assert issue.pull is not None
    if ctx.login != issue.user:
        ctx.require(repo, "write")
    return repo, issue


@routes.post(R)
def request(ctx: Ctx) -> Resp:
    repo, issue = _pull(ctx)
    assert issue.pull is not None
    found: list[Any] = []
    now = ctx.ops.now()
    for login in _logins(ctx):
        if login == issue.user:
            raise ApiError(422, "poster of pr can't be reviewer")
        if ctx.forge.state.level(repo, login) == "none":
            raise ApiError(422, "reviewer can't read this repository")
        rid, at = issue.pull.review_requests.setdefault(login, (ctx.forge.state.new_id(), now))
        found.append(gtjson.review(ctx.forge, repo, issue.number, Review(rid, login, "REQUEST_REVIEW", "", issue.pull.head_sha, at)))
    return Resp(201, found)


@routes.delete(R)
def withdraw(ctx: Ctx) -> Resp:
    _, issue = _pull(ctx)
    assert issue.pull is not None
    for login in _logins(ctx):
        issue.pull.review_requests.pop(login, None)
    return Resp(204)
