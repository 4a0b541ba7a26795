"""Gitea routes: labels (by id), issues, issue labels."""

from __future__ import annotations

import re
from typing import Any

from . import gtjson
from .common import ApiError, parse_iso
from .ops import UNSET
from .server import Ctx, Resp, Routes
from .state import Issue, Repo

routes = Routes()
R = "/repos/{owner}/{repo}"
_COLOR_RE = re.compile(r"^#?([0-9a-fA-F]{6}|[0-9a-fA-F]{3})$")


def _color(value: str) -> str:
    m = _COLOR_RE.match(value or "")
    if m is None:
        raise ApiError(422, f"invalid color: {value}")
    hexa = m.group(1).lower()
    return "".join(c * 2 for c in hexa) if len(hexa) == 3 else hexa


# -- repository labels ------------------------------------------------------------------------
@routes.get(R + "/labels")
def list_labels(ctx: Ctx) -> Resp:
    repo = ctx.repo()
    labels = sorted(repo.labels.values(), key=lambda lb: (lb.name.casefold(), lb.id))
    return ctx.paged(labels, lambda lb: gtjson.label(ctx.forge, repo, lb))


@routes.post(R + "/labels")
def create_label(ctx: Ctx) -> Resp:
    # Gitea 1.22 does not check for an existing name: a second label with the same name is created.
    repo = ctx.repo("write")
    body = ctx.body()
    lb = ctx.ops.create_label(repo, ctx.login, body["name"], _color(body["color"]),
                              body.get("description") or "", bool(body.get("exclusive")),
                              bool(body.get("is_archived")))
    return Resp(201, gtjson.label(ctx.forge, repo, lb))


@routes.get(R + "/labels/{id}")
def get_label(ctx: Ctx) -> Any:
    repo = ctx.repo()
    return gtjson.label(ctx.forge, repo, ctx.by_id(repo.labels, "id"))


@routes.patch(R + "/labels/{id}")
def edit_label(ctx: Ctx) -> Any:
    repo = ctx.repo("write")
    lb, body = ctx.by_id(repo.labels, "id"), ctx.body()
    ctx.ops.update_label(repo, lb, ctx.login, name=body.get("name"),
                         color=_color(body["color"]) if body.get("color") is not None else None,
                         description=body.get("description"), exclusive=body.get("exclusive"),
                         # Gitea un-archives a label unless the edit says is_archived: true.
                         is_archived=bool(body.get("is_archived")))
    return gtjson.label(ctx.forge, repo, lb)


@routes.delete(R + "/labels/{id}")
def delete_label(ctx: Ctx) -> Resp:
    repo = ctx.repo("write")
    raw = ctx.params["id"]
    lb = repo.labels.get(int(raw)) if raw.isdigit() else None
    if lb is not None:  # Gitea answers 204 for unknown ids too
        ctx.ops.delete_label(repo, lb, ctx.login)
    return Resp(204)


# -- issues -----------------------------------------------------------------------------------
def _matches(ctx: Ctx, repo: Repo, i: Issue) -> bool:
    state = ctx.arg("state") or "open"
    if state != "all" and i.state != state:
        return False
    kind = ctx.arg("type")
    if kind == "issues" and i.pull or kind == "pulls" and not i.pull:
        return False
    names = {repo.labels[x].name.casefold() for x in i.labels}
    wanted = [n.strip().casefold() for n in (ctx.arg("labels") or "").split(",") if n.strip()]
    if any(w not in names for w in wanted):
        return False
    q = (ctx.arg("q") or "").casefold()
    if q and q not in f"{i.title}\n{i.body}".casefold():
        return False
    milestones = [m.strip() for m in (ctx.arg("milestones") or "").split(",") if m.strip()]
    m = repo.milestones.get(i.milestone or -1)
    if milestones and (m is None or (m.title not in milestones and str(m.id) not in milestones)):
        return False
    if ctx.arg("created_by") and ctx.arg("created_by") != i.user:
        return False
    if ctx.arg("assigned_by") and ctx.arg("assigned_by") not in i.assignees:
        return False
    since, before = parse_iso(ctx.arg("since")), parse_iso(ctx.arg("before"))
    return (since is None or i.updated_at >= since) and (before is None or i.updated_at <= before)


@routes.get(R + "/issues")
def list_issues(ctx: Ctx) -> Resp:
    repo = ctx.repo()
    items = sorted((i for i in repo.issues.values() if _matches(ctx, repo, i)), key=lambda i: i.number, reverse=True)
    return ctx.paged(items, lambda i: gtjson.issue(ctx.forge, repo, i))


def _no_access(ctx: Ctx, repo: Repo, login: str) -> str:
    user = ctx.forge.state.user(login)
    return f"user does not have access to repo [user_id: {user.id if user else 0}, repo_name: {repo.name}]"


def check_assignees(ctx: Ctx, repo: Repo, logins: list[str]) -> list[str]:
    """CreateIssue checks every assignee before anything is written: 422 for either failure."""
    for login in logins:
        if ctx.forge.state.user(login) is None:
            raise ApiError(422, f"user does not exist [uid: 0, name: {login}]")
        if not ctx.ops.assignable(repo, login, "gitea"):
            raise ApiError(422, _no_access(ctx, repo, login))
    return logins


def check_new_assignees(ctx: Ctx, repo: Repo, body: dict[str, Any]) -> None:
    """CreateIssue and CreatePullRequest refuse before creating anything (writers' fields only)."""
    if ctx.can(repo, "write"):
        check_assignees(ctx, repo, list(body.get("assignees") or []) + ([body["assignee"]] if body.get("assignee") else []))


def replace_assignees(ctx: Ctx, repo: Repo, issue: Issue, logins: list[str]) -> None:
    """EditIssue's UpdateAssignees (services/issue/assignee.go): unknown users are a 422 before
    anything changes; then the assignees not asked for are removed and the others added one by
    one, and the first who cannot be assigned stops it there with a 500 (the error is not one
    EditIssue names), leaving the issue half changed."""
    wanted = list(dict.fromkeys(logins))
    for login in wanted:
        if ctx.forge.state.user(login) is None:
            raise ApiError(422, f"Assignee does not exist: [name: user does not exist [uid: 0, name: {login}]]")
    kept = [a for a in issue.assignees if a in wanted]
    ctx.ops.set_assignees(repo, issue, ctx.login, kept)
    for login in wanted:
        if login in issue.assignees:
            continue
        if not ctx.ops.assignable(repo, login, "gitea"):
            raise ApiError(500, _no_access(ctx, repo, login))
        ctx.ops.set_assignees(repo, issue, ctx.login, issue.assignees + [login])


def _milestone_id(ctx: Ctx, repo: Repo, value: Any) -> int | None:
    if not value:
        return None
    if int(value) not in repo.milestones:
        raise ctx.dialect.not_found()
    return int(value)


def apply_writer_fields(ctx: Ctx, repo: Repo, issue: Issue, body: dict[str, Any], *, creating: bool = False) -> None:
    """Assignees, milestone and labels: only for writers; Gitea ignores them for others."""
    if not ctx.can(repo, "write"):
        return
    if body.get("assignees") is not None or body.get("assignee") is not None:
        wanted = body.get("assignees")
        if wanted is None:
            wanted = [body["assignee"]] if body["assignee"] else []
        if creating:
            ctx.ops.set_assignees(repo, issue, ctx.login, check_assignees(ctx, repo, list(wanted)))
        else:
            replace_assignees(ctx, repo, issue, list(wanted))
    if body.get("milestone") is not None:
        ctx.ops.edit_issue(repo, issue, ctx.login, milestone=_milestone_id(ctx, repo, body["milestone"]))
    if body.get("labels") is not None:
        ids = [x for x in body["labels"] if isinstance(x, int) and x in repo.labels]
        set_issue_labels(ctx, repo, issue, ids)


@routes.post(R + "/issues")
def create_issue(ctx: Ctx) -> Resp:
    repo = ctx.repo()
    if ctx.login is None:
        raise ApiError(401, "token is required")
    body = ctx.body()
    check_new_assignees(ctx, repo, body)
    issue = ctx.ops.create_issue(repo, ctx.login, body["title"], body.get("body") or "")
    apply_writer_fields(ctx, repo, issue, body, creating=True)
    if body.get("closed"):
        ctx.ops.edit_issue(repo, issue, ctx.login, state="closed")
    return Resp(201, gtjson.issue(ctx.forge, repo, issue))


@routes.get(R + "/issues/{index}")
def get_issue(ctx: Ctx) -> Any:
    repo = ctx.repo()
    return gtjson.issue(ctx.forge, repo, ctx.issue(repo, "index"))


def edit_issue_or_pull(ctx: Ctx, repo: Repo, issue: Issue) -> None:
    body = ctx.body()
    if ctx.login != issue.user:
        ctx.require(repo, "write")
    if body.get("state") is not None and issue.pull and issue.pull.merged:
        raise ApiError(412, "cannot change state of this pull request, it was already merged")
    ctx.ops.edit_issue(repo, issue, ctx.login,
                       title=body["title"] if body.get("title") else UNSET,
                       body=body["body"] if body.get("body") is not None else UNSET,
                       state=body["state"] if body.get("state") else UNSET,
                       base=body["base"] if body.get("base") else UNSET)
    apply_writer_fields(ctx, repo, issue, body)


@routes.patch(R + "/issues/{index}")
def edit_issue(ctx: Ctx) -> Resp:
    repo = ctx.repo()
    issue = ctx.issue(repo, "index")
    edit_issue_or_pull(ctx, repo, issue)
    return Resp(201, gtjson.issue(ctx.forge, repo, issue))


# -- issue labels -----------------------------------------------------------------------------
def set_issue_labels(ctx: Ctx, repo: Repo, issue: Issue, ids: list[int], *, always: bool = False) -> None:
    """Sets labels; an exclusive scoped label ("scope/x") drops the others of its scope. `always`:
    the label API's calls send `label_updated` even when nothing changed (services/issue/label.go
    AddLabels/RemoveLabel/ReplaceLabels notify IssueChangeLabels unconditionally)."""
    result: list[int] = []
    for lid in ids:
        lb = repo.labels[lid]
        if lb.exclusive and "/" in lb.name:
            scope = lb.name.rsplit("/", 1)[0]
            result = [x for x in result if not repo.labels[x].name.startswith(scope + "/")]
        if lid not in result:
            result.append(lid)
    ctx.ops.set_labels(repo, issue, ctx.login, result, always=always)


def _label_ids(ctx: Ctx, repo: Repo) -> list[int]:
    items = ctx.body().get("labels") or []
    if any(not isinstance(x, (int, str)) or isinstance(x, bool) for x in items):
        raise ApiError(400, "a label must be an integer or a string")
    ids = [x for x in items if isinstance(x, int)]
    names = [x for x in items if isinstance(x, str)]
    if ids and names:
        raise ApiError(400, "labels should be an array of strings or integers")
    # Unknown ids and names are ignored.
    found = [lb.id for lb in repo.labels.values() if lb.name in names]
    return [x for x in ids if x in repo.labels] + found


def _writable_issue(ctx: Ctx) -> tuple[Repo, Issue]:
    repo = ctx.repo()
    issue = ctx.issue(repo, "index")
    if not ctx.can(repo, "write"):
        raise ApiError(403, "write permission is required")
    return repo, issue


def _issue_labels(ctx: Ctx, repo: Repo, issue: Issue) -> list[Any]:
    return [gtjson.label(ctx.forge, repo, repo.labels[x]) for x in issue.labels]


@routes.get(R + "/issues/{index}/labels")
def issue_labels(ctx: Ctx) -> Any:
    repo = ctx.repo()
    return _issue_labels(ctx, repo, ctx.issue(repo, "index"))


@routes.post(R + "/issues/{index}/labels")
def add_issue_labels(ctx: Ctx) -> Any:
    repo, issue = _writable_issue(ctx)
    set_issue_labels(ctx, repo, issue, issue.labels + _label_ids(ctx, repo), always=True)
    return _issue_labels(ctx, repo, issue)


@routes.put(R + "/issues/{index}/labels")
def replace_issue_labels(ctx: Ctx) -> Any:
    repo, issue = _writable_issue(ctx)
    set_issue_labels(ctx, repo, issue, _label_ids(ctx, repo), always=True)
    return _issue_labels(ctx, repo, issue)


@routes.delete(R + "/issues/{index}/labels")
def clear_issue_labels(ctx: Ctx) -> Resp:
    repo, issue = _writable_issue(ctx)
    # ClearLabels: the one call that sends `label_cleared`, whatever the issue had.
    ctx.ops.set_labels(repo, issue, ctx.login, [], always=True, cleared=True)
    return Resp(204)


@routes.delete(R + "/issues/{index}/labels/{id}")
def remove_issue_label(ctx: Ctx) -> Resp:
    repo, issue = _writable_issue(ctx)
    raw = ctx.params["id"]
    lid = int(raw) if raw.isdigit() else 0
    if lid not in repo.labels:
        raise ApiError(422, f"label does not exist [label_id: {lid}]")
    ctx.ops.set_labels(repo, issue, ctx.login, [x for x in issue.labels if x != lid], always=True)
    return Resp(204)
