"""Gitea routes: pull requests (no head filter; lookup by base/head), files, merge, reviews."""

from __future__ import annotations

from typing import Any

from . import gt_version, gtjson, pulljson
from .common import ApiError
from .gt_issues import apply_writer_fields, check_new_assignees, edit_issue_or_pull
from .server import Ctx, Resp, Routes
from .state import Issue, Repo, Review

routes = Routes()
R = "/repos/{owner}/{repo}"
# Gitea review events; anything else (GitHub's "APPROVE" included) makes a pending review.
_EVENTS = {"APPROVED": "APPROVED", "REQUEST_CHANGES": "CHANGES_REQUESTED", "COMMENT": "COMMENTED",
           "PENDING": "PENDING"}
_STYLES = {"merge": "allow_merge_commit", "rebase": "allow_rebase_merge", "rebase-merge": "allow_rebase_explicit",
           "squash": "allow_squash_merge", "fast-forward-only": "allow_fast_forward_only_merge",
           "manually-merged": "allow_manual_merge"}


def _pulls(repo: Repo) -> list[Issue]:
    return [i for i in repo.issues.values() if i.pull is not None]


@routes.get(R + "/pulls")
def list_pulls(ctx: Ctx) -> Resp:
    repo = ctx.repo()
    state = ctx.arg("state") or "open"
    labels = ctx.arg("labels") or []
    milestone = ctx.arg("milestone")
    items = [i for i in _pulls(repo) if (state == "all" or i.state == state)
             and all(lid in i.labels for lid in labels) and (not milestone or i.milestone == milestone)]
    sort = ctx.arg("sort") or ""
    if sort == "oldest":
        items.sort(key=lambda i: i.number)
    elif sort in ("recentupdate", "leastupdate"):
        items.sort(key=lambda i: (i.updated_at, i.number), reverse=sort == "recentupdate")
    elif sort in ("mostcomment", "leastcomment"):
        items.sort(key=lambda i: (len(i.comments), i.number), reverse=sort == "mostcomment")
    else:
        items.sort(key=lambda i: i.number, reverse=True)
    return ctx.paged(items, lambda i: _listed(ctx, pulljson.gitea(ctx.forge, repo, i, ctx.login)))


def _listed(ctx: Ctx, data: dict[str, Any]) -> dict[str, Any]:
    """Newer Gitea lists pull requests without diff stats (ToAPIPullRequests: "the diff is quite
    slow"; recorded from gitea.com 1.26); Forgejo v10, on the 1.22 API, still lists them. The cut
    at 1.23 is a *choice*."""
    if gt_version.parse(ctx.forge.gitea_version) < (1, 23, 0):
        return data
    return {k: v for k, v in data.items() if k not in ("additions", "deletions", "changed_files")}


@routes.post(R + "/pulls")
def create_pull(ctx: Ctx) -> Resp:
    repo = ctx.repo()
    if ctx.login is None:
        raise ApiError(401, "token is required")
    body = ctx.body()
    head = (body.get("head") or "").split(":")[-1]
    base = body.get("base") or ""
    branches = repo.git.branches()
    if head not in branches or base not in branches:
        raise ctx.dialect.not_found()
    if any(i.pull.base == base for i in repo.open_pulls_for_head(head) if i.pull):
        raise ApiError(409, f"pull request already exists for these targets [head: {head}, base: {base}]")
    if not repo.git.rev_list(branches[base], branches[head]):
        raise ApiError(422, "There are no changes between the head and the base")
    check_new_assignees(ctx, repo, body)
    issue = ctx.ops.create_pull(repo, ctx.login, head, base, body.get("title") or head, body.get("body") or "")
    apply_writer_fields(ctx, repo, issue, body, creating=True)
    return Resp(201, pulljson.gitea(ctx.forge, repo, issue, ctx.login))


@routes.get(R + "/pulls/{index}")
def get_pull(ctx: Ctx) -> Any:
    repo = ctx.repo()
    return pulljson.gitea(ctx.forge, repo, ctx.issue(repo, "index", pulls=True), ctx.login)


@routes.get(R + "/pulls/{base}/{head:path}")
def pull_by_branches(ctx: Ctx) -> Any:
    repo = ctx.repo()
    base, head = ctx.params["base"], ctx.params["head"].split(":")[-1]
    found = [i for i in _pulls(repo) if i.pull and i.pull.base == base and i.pull.head == head]
    if not found:
        raise ctx.dialect.not_found()
    found.sort(key=lambda i: (i.state == "open", i.number))
    return pulljson.gitea(ctx.forge, repo, found[-1], ctx.login)


@routes.patch(R + "/pulls/{index}")
def edit_pull(ctx: Ctx) -> Resp:
    repo = ctx.repo()
    issue = ctx.issue(repo, "index", pulls=True)
    body = ctx.body()
    if body.get("base") and body["base"] not in repo.git.branches():
        raise ctx.dialect.not_found()
    edit_issue_or_pull(ctx, repo, issue)
    if body.get("allow_maintainer_edit") is not None and issue.pull:
        issue.pull.maintainer_can_modify = bool(body["allow_maintainer_edit"])
    return Resp(201, pulljson.gitea(ctx.forge, repo, issue, ctx.login))


@routes.get(R + "/pulls/{index}/files")
def pull_files(ctx: Ctx) -> Resp:
    repo = ctx.repo()
    base, head = ctx.ops.pull_range(repo, ctx.issue(repo, "index", pulls=True))
    return ctx.paged(repo.git.diff(base, head), lambda c: gtjson.changed_file(ctx.forge, repo, head, c))


@routes.get(R + "/pulls/{index}/commits")
def pull_commits(ctx: Ctx) -> Resp:
    repo = ctx.repo()
    base, head = ctx.ops.pull_range(repo, ctx.issue(repo, "index", pulls=True))
    return ctx.paged(repo.git.rev_list(base, head), lambda s: gtjson.commit(ctx.forge, repo, repo.git.commit(s)))


@routes.get(R + "/pulls/{index}/merge")
def is_merged(ctx: Ctx) -> Resp:
    repo = ctx.repo()
    issue = ctx.issue(repo, "index", pulls=True)
    if issue.pull is None or not issue.pull.merged:
        raise ctx.dialect.not_found()
    return Resp(204)


@routes.post(R + "/pulls/{index}/merge")
def merge(ctx: Ctx) -> Resp:
    repo = ctx.repo("write")
    issue = ctx.issue(repo, "index", pulls=True)
    pull = issue.pull
    assert pull is not None
    body = ctx.body()
    style = body["Do"]
    # CheckPullMergeable tests "merged" before "closed"; MergePullRequest answers ErrIsClosed with
    # a bare 404 (routers/api/v1/repo/pull.go).
    if pull.merged:
        raise ApiError(405, "PR already merged")
    if issue.state != "open":
        raise ctx.dialect.not_found()
    if not repo.settings.get(_STYLES[style], False):
        raise ApiError(405, f"Merge style {style} is not allowed")
    if body.get("head_commit_id") and body["head_commit_id"] != pull.head_sha:
        raise ApiError(409, "head out of date")
    if style == "manually-merged" and not body.get("MergeCommitID"):
        raise ApiError(422, "MergeCommitID is required")
    p = repo.protection_for(pull.base)
    override = bool(body.get("force_merge")) and ctx.can(repo, "admin") and not (p and p.enforce_admins)
    blocker = ctx.ops.merge_blocker(repo, issue, ctx.login, override)
    if blocker:
        raise ApiError(405, blocker)
    if style == "manually-merged":
        pull.head_sha = body["MergeCommitID"]
    ctx.ops.merge_pull(repo, issue, ctx.login, style, body.get("MergeTitleField") or None,
                       body.get("MergeMessageField"), body.get("delete_branch_after_merge"))
    return Resp(200)


@routes.get(R + "/pulls/{index}/reviews")
def list_reviews(ctx: Ctx) -> Resp:
    repo = ctx.repo()
    issue = ctx.issue(repo, "index", pulls=True)
    assert issue.pull is not None
    items = [r for r in issue.pull.reviews if r.state != "PENDING" or r.user == ctx.login]
    # Gitea keeps a review request as a review of its own type, listed with the others.
    items += [Review(rid, login, "REQUEST_REVIEW", "", issue.pull.head_sha, at)
              for login, (rid, at) in issue.pull.open_requests().items()]
    items.sort(key=lambda r: r.id)
    return ctx.paged(items, lambda r: gtjson.review(ctx.forge, repo, issue.number, r))


def _check_review(ctx: Ctx, issue: Issue, state: str, body: str, comments: Any) -> None:
    if ctx.login == issue.user and state == "APPROVED":
        raise ApiError(422, "approve your own pull is not allowed")
    if ctx.login == issue.user and state == "CHANGES_REQUESTED":
        raise ApiError(422, "reject your own pull is not allowed")
    if state == "CHANGES_REQUESTED" and not body:
        raise ApiError(422, "review event REQUEST_CHANGES requires a body")
    if state == "COMMENTED" and not body and not comments:
        raise ApiError(422, "review event COMMENT requires a body or comment")


@routes.post(R + "/pulls/{index}/reviews")
def create_review(ctx: Ctx) -> Any:
    repo = ctx.repo()
    issue = ctx.issue(repo, "index", pulls=True)
    if ctx.login is None:
        raise ApiError(401, "token is required")
    body = ctx.body()
    state = _EVENTS.get(body.get("event") or "", "PENDING")
    text = body.get("body") or ""
    _check_review(ctx, issue, state, text, body.get("comments"))
    r = ctx.ops.add_review(repo, issue, ctx.login, state, text, body.get("commit_id") or None)
    return gtjson.review(ctx.forge, repo, issue.number, r)


def _review(ctx: Ctx, issue: Issue) -> Any:
    assert issue.pull is not None
    r = next((r for r in issue.pull.reviews if str(r.id) == ctx.params["id"]), None)
    if r is None or (r.state == "PENDING" and r.user != ctx.login):
        raise ctx.dialect.not_found()
    return r


@routes.get(R + "/pulls/{index}/reviews/{id}")
def get_review(ctx: Ctx) -> Any:
    repo = ctx.repo()
    issue = ctx.issue(repo, "index", pulls=True)
    return gtjson.review(ctx.forge, repo, issue.number, _review(ctx, issue))


@routes.post(R + "/pulls/{index}/reviews/{id}")
def submit_review(ctx: Ctx) -> Any:
    repo = ctx.repo()
    issue = ctx.issue(repo, "index", pulls=True)
    r = _review(ctx, issue)
    if r.state != "PENDING":
        raise ApiError(422, "only a pending review can be submitted")
    body = ctx.body()
    state = _EVENTS.get(body.get("event") or "", "PENDING")
    if state == "PENDING":
        raise ApiError(422, "review event PENDING is not allowed when submitting")
    text = body.get("body") or r.body
    _check_review(ctx, issue, state, text, None)
    assert issue.pull is not None
    issue.pull.reviews.remove(r)
    new = ctx.ops.add_review(repo, issue, ctx.login, state, text, r.commit_id)
    return gtjson.review(ctx.forge, repo, issue.number, new)
