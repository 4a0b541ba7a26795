"""GitHub routes: pull requests, their files and commits, merging, reviews."""

from __future__ import annotations

from typing import Any

from . import ghjson, pulljson
from .common import ApiError, validation_failed
from .ops import UNSET
from .server import Ctx, Resp, Routes
from .state import Issue, Repo

routes = Routes()
R = "/repos/{owner}/{repo}"
_REVIEW_EVENTS = {"APPROVE": "APPROVED", "REQUEST_CHANGES": "CHANGES_REQUESTED", "COMMENT": "COMMENTED"}
_NOT_ALLOWED = {"merge": ("allow_merge_commit", "Merge commits are not allowed on this repository."),
                "squash": ("allow_squash_merge", "Squash merges are not allowed on this repository."),
                "rebase": ("allow_rebase_merge", "Rebase merges are not allowed on this repository.")}


def _branch(spec: str) -> str:
    return spec.split(":", 1)[1] if ":" in spec else spec


def _head_matches(repo: Repo, issue: Issue, head: str | None) -> bool:
    if head is None or issue.pull is None:
        return True
    owner, _, branch = head.rpartition(":")
    if owner and owner.casefold() != repo.owner.casefold():
        return False
    return issue.pull.head == branch


@routes.get(R + "/pulls")
def list_pulls(ctx: Ctx) -> Resp:
    repo = ctx.repo()
    state, head, base = ctx.arg("state", "open"), ctx.arg("head"), ctx.arg("base")
    items = [i for i in repo.issues.values() if i.pull is not None
             and (state == "all" or i.state == state)
             and _head_matches(repo, i, head)
             and (base is None or i.pull.base == base)]
    sort = ctx.arg("sort") or "created"
    key = (lambda i: i.updated_at) if sort in ("updated", "long-running") else (lambda i: i.created_at)
    items.sort(key=lambda i: (key(i), i.number), reverse=ctx.arg("direction", "desc") != "asc")
    return ctx.paged(items, lambda i: pulljson.github(ctx.forge, repo, i, full=False))


@routes.post(R + "/pulls")
def create_pull(ctx: Ctx) -> Resp:
    repo = ctx.repo()
    if ctx.login is None:
        raise ApiError(401, "Requires authentication")
    body = ctx.body()
    head, base = _branch(body["head"]), body["base"]
    branches = repo.git.branches()
    if head not in branches:
        raise validation_failed("PullRequest", "invalid", "head")
    if base not in branches:
        raise validation_failed("PullRequest", "invalid", "base")
    if not repo.git.rev_list(branches[base], branches[head]):
        raise validation_failed("PullRequest", "custom", message=f"No commits between {base} and {head}")
    if any(i.pull.base == base for i in repo.open_pulls_for_head(head) if i.pull):
        raise validation_failed("PullRequest", "custom", message=f"A pull request already exists for {repo.owner}:{head}.")
    issue = ctx.ops.create_pull(repo, ctx.login, head, base, body.get("title") or head,
                                body.get("body") or "", bool(body.get("draft")))
    if "maintainer_can_modify" in body and issue.pull:
        issue.pull.maintainer_can_modify = bool(body["maintainer_can_modify"])
    data = pulljson.github(ctx.forge, repo, issue)
    return Resp(201, data, {"location": data["url"]})


@routes.get(R + "/pulls/{number}")
def get_pull(ctx: Ctx) -> Any:
    repo = ctx.repo()
    return pulljson.github(ctx.forge, repo, ctx.issue(repo, "number", pulls=True))


@routes.patch(R + "/pulls/{number}")
def update_pull(ctx: Ctx) -> Any:
    repo = ctx.repo()
    issue = ctx.issue(repo, "number", pulls=True)
    if ctx.login != issue.user:
        ctx.require(repo, "write")
    body = ctx.body()
    if "base" in body and body["base"] not in repo.git.branches():
        raise validation_failed("PullRequest", "invalid", "base")
    if body.get("state") == "open" and issue.pull and issue.pull.merged:
        raise validation_failed("PullRequest", "custom", message="Cannot reopen a merged pull request")
    ctx.ops.edit_issue(repo, issue, ctx.login, title=body.get("title", UNSET), body=body.get("body", UNSET),
                       state=body.get("state", UNSET), base=body.get("base", UNSET))
    if "maintainer_can_modify" in body and issue.pull:
        issue.pull.maintainer_can_modify = bool(body["maintainer_can_modify"])
    return pulljson.github(ctx.forge, repo, issue)


@routes.get(R + "/pulls/{number}/files")
def pull_files(ctx: Ctx) -> Resp:
    repo = ctx.repo()
    issue = ctx.issue(repo, "number", pulls=True)
    base, head = ctx.ops.pull_range(repo, issue)
    files = repo.git.diff(base, head, renames=True)[:ctx.forge.github_listed_files]
    return ctx.paged(files, lambda c: ghjson.diff_entry(ctx.forge, repo, head, c))


@routes.get(R + "/pulls/{number}/commits")
def pull_commits(ctx: Ctx) -> Resp:
    repo = ctx.repo()
    issue = ctx.issue(repo, "number", pulls=True)
    base, head = ctx.ops.pull_range(repo, issue)
    return ctx.paged(repo.git.rev_list(base, head), lambda s: ghjson.commit(ctx.forge, repo, repo.git.commit(s)))


@routes.get(R + "/pulls/{number}/merge")
def is_merged(ctx: Ctx) -> Resp:
    repo = ctx.repo()
    issue = ctx.issue(repo, "number", pulls=True)
    if issue.pull is None or not issue.pull.merged:
        raise ctx.dialect.not_found()
    return Resp(204)


@routes.put(R + "/pulls/{number}/merge")
def merge(ctx: Ctx) -> Any:
    repo = ctx.repo("write")
    issue = ctx.issue(repo, "number", pulls=True)
    pull = issue.pull
    assert pull is not None
    body = ctx.body()
    method = body.get("merge_method") or "merge"
    if issue.state != "open":
        raise ApiError(405, "Pull Request is not mergeable")
    if body.get("sha") and body["sha"] != pull.head_sha:
        raise ApiError(409, "Head branch was modified. Review and try the merge again.")
    setting, message = _NOT_ALLOWED[method]
    if not repo.settings[setting]:
        raise ApiError(405, message)
    if pull.draft:
        raise ApiError(405, "Pull Request is still a draft")
    p = repo.protection_for(pull.base)
    admin_override = ctx.can(repo, "admin") and p is not None and not p.enforce_admins
    blocker = ctx.ops.merge_blocker(repo, issue, ctx.login, admin_override)
    if blocker:
        raise ApiError(405, blocker)
    sha = ctx.ops.merge_pull(repo, issue, ctx.login, method, body.get("commit_title"), body.get("commit_message"))
    return {"sha": sha, "merged": True, "message": "Pull Request successfully merged"}


@routes.get(R + "/pulls/{number}/reviews")
def list_reviews(ctx: Ctx) -> Resp:
    repo = ctx.repo()
    issue = ctx.issue(repo, "number", pulls=True)
    assert issue.pull is not None
    items = [r for r in issue.pull.reviews if r.state != "PENDING" or r.user == ctx.login]
    return ctx.paged(items, lambda r: ghjson.review(ctx.forge, repo, issue.number, r))


@routes.get(R + "/pulls/{number}/reviews/{review_id}")
def get_review(ctx: Ctx) -> Any:
    repo = ctx.repo()
    issue = ctx.issue(repo, "number", pulls=True)
    assert issue.pull is not None
    r = next((r for r in issue.pull.reviews if str(r.id) == ctx.params["review_id"]), None)
    if r is None or (r.state == "PENDING" and r.user != ctx.login):
        raise ctx.dialect.not_found()
    return ghjson.review(ctx.forge, repo, issue.number, r)


@routes.post(R + "/pulls/{number}/reviews")
def create_review(ctx: Ctx) -> Any:
    repo = ctx.repo()
    issue = ctx.issue(repo, "number", pulls=True)
    if ctx.login is None:
        raise ApiError(401, "Requires authentication")
    body = ctx.body()
    event = body.get("event") or ""
    state = _REVIEW_EVENTS.get(event, "PENDING")
    text = body.get("body") or ""
    if ctx.login == issue.user and state in ("APPROVED", "CHANGES_REQUESTED"):
        verb = "approve" if state == "APPROVED" else "request changes on"
        raise ApiError(422, "Unprocessable Entity", errors=[f"Can not {verb} your own pull request"])
    if state == "CHANGES_REQUESTED" and not text:
        raise ApiError(422, "Unprocessable Entity", errors=["Body is required when requesting changes"])
    if state == "COMMENTED" and not text and not body.get("comments"):
        raise ApiError(422, "Unprocessable Entity", errors=["Body is required when commenting"])
    r = ctx.ops.add_review(repo, issue, ctx.login, state, text, body.get("commit_id"))
    return ghjson.review(ctx.forge, repo, issue.number, r)
