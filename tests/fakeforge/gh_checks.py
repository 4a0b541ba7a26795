"""GitHub routes: check runs (only a GitHub App may create them), listed per commit."""

from __future__ import annotations

from typing import Any

from . import ghjson
from .common import ApiError, iso, node_id, parse_iso, validation_failed
from .server import Ctx, Resp, Routes
from .state import CheckRun, Repo

routes = Routes()
R = "/repos/{owner}/{repo}"


def _app_json(ctx: Ctx, app_id: int) -> dict[str, Any] | None:
    app = ctx.forge.state.apps.get(app_id)
    if app is None:
        return None
    return {"id": app.id, "slug": app.slug, "node_id": node_id("App", app.id), "name": app.name,
            "owner": ghjson.user(ctx.forge, app.owner), "description": "", "external_url": ctx.forge.base_url,
            "html_url": f"{ctx.forge.base_url}/apps/{app.slug}", "created_at": iso(app.created_at),
            "updated_at": iso(app.created_at), "permissions": dict(app.permissions), "events": list(app.events)}


def check_run(ctx: Ctx, repo: Repo, c: CheckRun) -> dict[str, Any]:
    base = f"{ghjson.api(ctx.forge)}/repos/{repo.full_name}"
    pulls = [i for i in repo.issues.values() if i.pull and i.state == "open" and i.pull.head_sha == c.head_sha]
    output = {"title": c.output.get("title"), "summary": c.output.get("summary"), "text": c.output.get("text"),
              "annotations_count": 0, "annotations_url": f"{base}/check-runs/{c.id}/annotations"}
    return {
        "id": c.id, "node_id": node_id("CheckRun", c.id), "head_sha": c.head_sha, "external_id": c.external_id,
        "url": f"{base}/check-runs/{c.id}", "html_url": f"{ctx.forge.base_url}/{repo.full_name}/runs/{c.id}",
        "details_url": c.details_url, "status": c.status, "conclusion": c.conclusion,
        "started_at": iso(c.started_at), "completed_at": iso(c.completed_at), "output": output, "name": c.name,
        "check_suite": {"id": c.id}, "app": _app_json(ctx, c.app_id),
        "pull_requests": [{"id": i.id, "number": i.number, "url": f"{base}/pulls/{i.number}",
                           "head": {"ref": i.pull.head, "sha": i.pull.head_sha,
                                    "repo": {"id": repo.id, "url": base, "name": repo.name}},
                           "base": {"ref": i.pull.base, "sha": i.pull.base_sha,
                                    "repo": {"id": repo.id, "url": base, "name": repo.name}}}
                          for i in pulls if i.pull],
    }


def _apply(ctx: Ctx, c: CheckRun, body: dict[str, Any]) -> None:
    for key in ("details_url", "external_id", "output"):
        if key in body:
            setattr(c, key, body[key])
    if body.get("status"):
        c.status = body["status"]
    if body.get("started_at"):
        c.started_at = parse_iso(body["started_at"]) or c.started_at
    if body.get("conclusion"):
        c.conclusion, c.status = body["conclusion"], "completed"
    if c.status == "completed":
        if c.conclusion is None:
            raise validation_failed("CheckRun", "missing_field", "conclusion")
        c.completed_at = parse_iso(body.get("completed_at")) or c.completed_at or ctx.ops.now()


def _app_id(ctx: Ctx) -> int:
    inst = ctx.identity.installation
    if inst is None:
        raise ApiError(403, "You must authenticate via a GitHub App.")
    return inst.app_id


@routes.post(R + "/check-runs")
def create_check_run(ctx: Ctx) -> Resp:
    repo = ctx.repo("write")
    app_id, body = _app_id(ctx), ctx.body()
    sha = repo.git.resolve(body["head_sha"])
    if sha is None:
        raise ApiError(422, "No commit found for SHA: " + body["head_sha"])
    c = CheckRun(ctx.forge.state.new_id(), app_id, sha, body["name"], ctx.ops.now())
    _apply(ctx, c, body)
    repo.check_runs.append(c)
    return Resp(201, check_run(ctx, repo, c))


@routes.patch(R + "/check-runs/{check_run_id}")
def update_check_run(ctx: Ctx) -> Any:
    repo = ctx.repo("write")
    app_id = _app_id(ctx)
    c = next((c for c in repo.check_runs if str(c.id) == ctx.params["check_run_id"]), None)
    if c is None or c.app_id != app_id:
        raise ctx.dialect.not_found()
    _apply(ctx, c, ctx.body())
    return check_run(ctx, repo, c)


@routes.get(R + "/commits/{ref:path}/check-runs")
def list_check_runs(ctx: Ctx) -> Resp:
    repo = ctx.repo()
    sha = repo.git.resolve(ctx.params["ref"])
    if sha is None:
        raise ApiError(422, f"No commit found for SHA: {ctx.params['ref']}")
    runs = [c for c in repo.check_runs if c.head_sha == sha
            and ctx.arg("check_name") in (None, c.name) and ctx.arg("status") in (None, c.status)
            and ctx.arg("app_id") in (None, c.app_id)]
    if (ctx.arg("filter") or "latest") == "latest":
        latest: dict[str, CheckRun] = {}
        for c in runs:
            latest[c.name] = c
        runs = list(latest.values())
    runs.sort(key=lambda c: c.id, reverse=True)
    page = ctx.paged(runs, lambda c: check_run(ctx, repo, c))
    page.body = {"total_count": len(runs), "check_runs": page.body}
    return page
