"""GitHub routes: requested reviewers of a pull request (pulls/requested-reviewers in the REST docs)."""

from __future__ import annotations

from typing import Any

from . import ghjson, pulljson
from .common import ApiError
from .server import Ctx, Resp, Routes
from .state import Issue, Repo

routes = Routes()
R = "/repos/{owner}/{repo}/pulls/{number}/requested_reviewers"
NOT_COLLABORATOR = ("Reviews may only be requested from collaborators. One or more of the users or teams you "
                    "specified is not a collaborator of the {repo} repository.")


def is_collaborator(repo: Repo, login: str) -> bool:
    """Someone given a level on the repository, or its owner (read through the public alone is not)."""
    return login.casefold() == repo.owner.casefold() or login.casefold() in {c.casefold() for c in repo.collaborators}


def _pull(ctx: Ctx) -> tuple[Repo, Issue]:
    repo = ctx.repo("triage")
    return repo, ctx.issue(repo, "number", pulls=True)


@routes.get(R)
def list_requested(ctx: Ctx) -> Any:
    repo = ctx.repo()
    issue = ctx.issue(repo, "number", pulls=True)
    assert issue.pull is not None
    return {"users": [ghjson.user(ctx.forge, u) for u in issue.pull.open_requests()], "teams": []}


@routes.post(R)
def request(ctx: Ctx) -> Resp:
    repo, issue = _pull(ctx)
    assert issue.pull is not None
    logins = ctx.body().get("reviewers") or []
    for login in logins:
        if login == issue.user:
            raise ApiError(422, "Review cannot be requested from pull request author.")
        if not is_collaborator(repo, login):
            raise ApiError(422, NOT_COLLABORATOR.format(repo=repo.full_name))
    now = ctx.ops.now()
    for login in logins:
        issue.pull.review_requests.setdefault(login, (ctx.forge.state.new_id(), now))
    return Resp(201, pulljson.github(ctx.forge, repo, issue))


@routes.delete(R)
def withdraw(ctx: Ctx) -> Any:
    repo, issue = _pull(ctx)
    assert issue.pull is not None
    for login in ctx.body().get("reviewers") or []:
        issue.pull.review_requests.pop(login, None)
    return pulljson.github(ctx.forge, repo, issue)
