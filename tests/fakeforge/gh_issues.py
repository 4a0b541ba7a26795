"""GitHub routes: labels, issues, issue labels, assignees."""

from __future__ import annotations

import re
from typing import Any

from . import ghjson
from .common import ApiError, parse_iso, validation_failed
from .ops import UNSET
from .server import Ctx, Resp, Routes
from .state import Issue, Repo

routes = Routes()
R = "/repos/{owner}/{repo}"
_COLOR_RE = re.compile(r"^[0-9a-fA-F]{6}$")


def _check_color(color: Any) -> None:
    if color is not None and not _COLOR_RE.match(str(color)):
        raise validation_failed("Label", "invalid", "color")


# -- repository labels ------------------------------------------------------------------------
@routes.get(R + "/labels")
def list_labels(ctx: Ctx) -> Resp:
    repo = ctx.repo()
    labels = sorted(repo.labels.values(), key=lambda lb: lb.name.casefold())
    return ctx.paged(labels, lambda lb: ghjson.label(ctx.forge, repo, lb))


@routes.post(R + "/labels")
def create_label(ctx: Ctx) -> Resp:
    repo = ctx.repo("write")
    body = ctx.body()
    if repo.label_named(body["name"]) is not None:
        raise validation_failed("Label", "already_exists", "name")
    _check_color(body.get("color"))
    if len(body.get("description") or "") > 100:
        raise validation_failed("Label", "invalid", "description")
    lb = ctx.ops.create_label(repo, ctx.login, body["name"], body.get("color") or "ededed",
                              body.get("description") or "")
    data = ghjson.label(ctx.forge, repo, lb)
    return Resp(201, data, {"location": data["url"]})


def _label(ctx: Ctx, repo: Repo) -> Any:
    lb = repo.label_named(ctx.params["name"])
    if lb is None:
        raise ctx.dialect.not_found()
    return lb


@routes.get(R + "/labels/{name}")
def get_label(ctx: Ctx) -> Any:
    repo = ctx.repo()
    return ghjson.label(ctx.forge, repo, _label(ctx, repo))


@routes.patch(R + "/labels/{name}")
def update_label(ctx: Ctx) -> Any:
    repo = ctx.repo("write")
    lb, body = _label(ctx, repo), ctx.body()
    new_name = body.get("new_name")
    if new_name and new_name.casefold() != lb.name.casefold() and repo.label_named(new_name):
        raise validation_failed("Label", "already_exists", "name")
    _check_color(body.get("color"))
    ctx.ops.update_label(repo, lb, ctx.login, name=new_name, color=body.get("color"),
                         description=body.get("description"))
    return ghjson.label(ctx.forge, repo, lb)


@routes.delete(R + "/labels/{name}")
def delete_label(ctx: Ctx) -> Resp:
    repo = ctx.repo("write")
    ctx.ops.delete_label(repo, _label(ctx, repo), ctx.login)
    return Resp(204)


# -- issues -----------------------------------------------------------------------------------
def _matches(repo: Repo, i: Issue, ctx: Ctx) -> bool:
    state = ctx.arg("state", "open")
    if state != "all" and i.state != state:
        return False
    wanted = [x.strip().casefold() for x in (ctx.arg("labels") or "").split(",") if x.strip()]
    names = {repo.labels[x].name.casefold() for x in i.labels}
    if any(w not in names for w in wanted):
        return False
    assignee = ctx.arg("assignee")
    if assignee == "none" and i.assignees or assignee == "*" and not i.assignees:
        return False
    if assignee not in (None, "none", "*") and assignee not in i.assignees:
        return False
    if ctx.arg("creator") and ctx.arg("creator") != i.user:
        return False
    milestone = ctx.arg("milestone")
    m = repo.milestones.get(i.milestone or -1)
    if milestone == "none" and m or milestone == "*" and not m:
        return False
    if milestone not in (None, "none", "*") and (m is None or str(m.number) != str(milestone)):
        return False
    since = parse_iso(ctx.arg("since"))
    return since is None or i.updated_at >= since


def sort_issues(items: list[Issue], ctx: Ctx) -> list[Issue]:
    key = {"updated": lambda i: i.updated_at, "comments": lambda i: len(i.comments)}.get(
        ctx.arg("sort") or "created", lambda i: i.created_at)
    return sorted(items, key=lambda i: (key(i), i.number), reverse=ctx.arg("direction", "desc") != "asc")


@routes.get(R + "/issues")
def list_issues(ctx: Ctx) -> Resp:
    repo = ctx.repo()
    items = sort_issues([i for i in repo.issues.values() if _matches(repo, i, ctx)], ctx)
    return ctx.paged(items, lambda i: ghjson.issue(ctx.forge, repo, i))


def label_names(body: Any) -> list[str]:
    """Label names from any of the body shapes GitHub accepts."""
    items = body.get("labels", []) if isinstance(body, dict) else body
    if isinstance(items, str):
        items = [items]
    return [x["name"] if isinstance(x, dict) else str(x) for x in items or []]


def label_ids(ctx: Ctx, repo: Repo, names: list[str]) -> list[int]:
    """GitHub creates labels that do not exist yet."""
    ids = []
    for name in names:
        lb = repo.label_named(name) or ctx.ops.create_label(repo, ctx.login, name, "ededed")
        ids.append(lb.id)
    return ids


def _assignable(ctx: Ctx, repo: Repo, logins: list[Any]) -> list[str]:
    names = [x["login"] if isinstance(x, dict) else str(x) for x in logins]
    # GitHub silently drops users who cannot be assigned.
    return [n for n in names if ctx.ops.assignable(repo, n)]


def _milestone_id(repo: Repo, value: Any) -> int | None:
    if value is None:
        return None
    m = repo.milestone_by_number(int(value)) if str(value).isdigit() else None
    if m is None:
        raise validation_failed("Issue", "invalid", "milestone")
    return m.id


@routes.post(R + "/issues")
def create_issue(ctx: Ctx) -> Resp:
    repo = ctx.repo()
    body = ctx.body()
    if not isinstance(body.get("title"), (str, int)) or str(body["title"]).strip() == "":
        raise validation_failed("Issue", "missing_field", "title")
    if ctx.login is None:
        raise ApiError(401, "Requires authentication")
    issue = ctx.ops.create_issue(repo, ctx.login, str(body["title"]), body.get("body") or "")
    if ctx.can(repo, "triage"):
        _apply_triage(ctx, repo, issue, body)
    data = ghjson.issue(ctx.forge, repo, issue)
    return Resp(201, data, {"location": data["url"]})


def _apply_triage(ctx: Ctx, repo: Repo, issue: Issue, body: dict[str, Any]) -> None:
    if "labels" in body:
        ctx.ops.set_labels(repo, issue, ctx.login, label_ids(ctx, repo, label_names(body)))
    if "assignees" in body or "assignee" in body:
        wanted = body.get("assignees")
        if wanted is None:
            wanted = [body["assignee"]] if body.get("assignee") else []
        ctx.ops.set_assignees(repo, issue, ctx.login, _assignable(ctx, repo, wanted))
    if "milestone" in body:
        ctx.ops.edit_issue(repo, issue, ctx.login, milestone=_milestone_id(repo, body["milestone"]))


@routes.get(R + "/issues/{number}")
def get_issue(ctx: Ctx) -> Any:
    repo = ctx.repo()
    return ghjson.issue(ctx.forge, repo, ctx.issue(repo, "number"))


@routes.patch(R + "/issues/{number}")
def update_issue(ctx: Ctx) -> Any:
    repo = ctx.repo()
    issue = ctx.issue(repo, "number")
    body = ctx.body()
    triage = ctx.can(repo, "triage")
    if not triage and ctx.login != issue.user:
        ctx.require(repo, "triage")
    ctx.ops.edit_issue(
        repo, issue, ctx.login,
        title=str(body["title"]) if body.get("title") is not None else UNSET,
        body=body["body"] if "body" in body else UNSET,
        state=body.get("state", UNSET),
        state_reason=body["state_reason"] if "state_reason" in body else UNSET)
    if triage:
        _apply_triage(ctx, repo, issue, body)
    return ghjson.issue(ctx.forge, repo, issue)


# -- issue labels -----------------------------------------------------------------------------
def _labels_of(ctx: Ctx, repo: Repo, issue: Issue) -> list[Any]:
    return [ghjson.label(ctx.forge, repo, repo.labels[x]) for x in issue.labels]


@routes.get(R + "/issues/{number}/labels")
def issue_labels(ctx: Ctx) -> Resp:
    repo = ctx.repo()
    issue = ctx.issue(repo, "number")
    return ctx.paged([repo.labels[x] for x in issue.labels], lambda lb: ghjson.label(ctx.forge, repo, lb))


@routes.post(R + "/issues/{number}/labels")
def add_issue_labels(ctx: Ctx) -> Any:
    repo = ctx.repo("triage")
    issue = ctx.issue(repo, "number")
    ids = label_ids(ctx, repo, label_names(ctx.json))
    ctx.ops.set_labels(repo, issue, ctx.login, issue.labels + ids)
    return _labels_of(ctx, repo, issue)


@routes.put(R + "/issues/{number}/labels")
def set_issue_labels(ctx: Ctx) -> Any:
    repo = ctx.repo("triage")
    issue = ctx.issue(repo, "number")
    ctx.ops.set_labels(repo, issue, ctx.login, label_ids(ctx, repo, label_names(ctx.json or [])))
    return _labels_of(ctx, repo, issue)


@routes.delete(R + "/issues/{number}/labels")
def clear_issue_labels(ctx: Ctx) -> Resp:
    repo = ctx.repo("triage")
    ctx.ops.set_labels(repo, ctx.issue(repo, "number"), ctx.login, [])
    return Resp(204)


@routes.delete(R + "/issues/{number}/labels/{name}")
def remove_issue_label(ctx: Ctx) -> Any:
    repo = ctx.repo("triage")
    issue = ctx.issue(repo, "number")
    lb = repo.label_named(ctx.params["name"])
    if lb is None or lb.id not in issue.labels:
        raise ApiError(404, "Label does not exist")
    ctx.ops.set_labels(repo, issue, ctx.login, [x for x in issue.labels if x != lb.id])
    return _labels_of(ctx, repo, issue)


# -- assignees --------------------------------------------------------------------------------
@routes.get(R + "/assignees/{login}")
def check_assignee(ctx: Ctx) -> Resp:
    repo = ctx.repo()
    if not ctx.ops.assignable(repo, ctx.params["login"]):
        raise ctx.dialect.not_found()
    return Resp(204)


@routes.post(R + "/issues/{number}/assignees")
def add_assignees(ctx: Ctx) -> Resp:
    repo = ctx.repo("triage")
    issue = ctx.issue(repo, "number")
    extra = _assignable(ctx, repo, ctx.body().get("assignees") or [])
    ctx.ops.set_assignees(repo, issue, ctx.login, issue.assignees + extra)
    return Resp(201, ghjson.issue(ctx.forge, repo, issue))


@routes.delete(R + "/issues/{number}/assignees")
def remove_assignees(ctx: Ctx) -> Any:
    repo = ctx.repo("triage")
    issue = ctx.issue(repo, "number")
    gone = set(ctx.body().get("assignees") or [])
    ctx.ops.set_assignees(repo, issue, ctx.login, [a for a in issue.assignees if a not in gone])
    return ghjson.issue(ctx.forge, repo, issue)
