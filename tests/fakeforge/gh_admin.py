"""GitHub routes: collaborators, hooks, statuses, App auth, user, rate limit, search, deliveries."""

from __future__ import annotations

from typing import Any

from . import gh_invitations, ghjson, hooktests
from .common import ApiError, iso, node_id, validation_failed
from .server import Ctx, Resp, Routes
from .state import Hook, Repo

routes = Routes()
R = "/repos/{owner}/{repo}"
# PUT /collaborators permission names -> shared levels
_GRANTS = {"pull": "read", "triage": "triage", "push": "write", "maintain": "maintain", "admin": "admin"}
_SHOWN = {"admin": "admin", "maintain": "write", "write": "write", "triage": "read", "read": "read", "none": "none"}


def _collaborator(ctx: Ctx, repo: Repo, login: str) -> dict[str, Any]:
    level = ctx.forge.state.level(repo, login)
    data = ghjson.user(ctx.forge, login) or {}
    data["permissions"] = ghjson.permissions(ctx.forge, repo, login)
    data["role_name"] = level
    return data


def _members(repo: Repo) -> list[str]:
    return [repo.owner, *(u for u, lvl in repo.collaborators.items() if lvl != "none" and u != repo.owner)]


@routes.get(R + "/collaborators")
def list_collaborators(ctx: Ctx) -> Resp:
    repo = ctx.repo("write")
    members = _members(repo)
    wanted = ctx.arg("permission")
    if wanted:
        order = ["read", "triage", "write", "maintain", "admin"]
        members = [m for m in members
                   if order.index(ctx.forge.state.level(repo, m)) >= order.index(_GRANTS[wanted])]
    return ctx.paged(members, lambda m: _collaborator(ctx, repo, m))


@routes.get(R + "/collaborators/{login}")
def check_collaborator(ctx: Ctx) -> Resp:
    repo = ctx.repo("write")
    if not ctx.forge.state.is_collaborator(repo, ctx.params["login"]):
        raise ctx.dialect.not_found()
    return Resp(204)


@routes.get(R + "/collaborators/{login}/permission")
def collaborator_permission(ctx: Ctx) -> Any:
    repo = ctx.repo()
    if not ctx.can(repo, "write"):
        # GitHub shows a permission only to those who can push (docs: "Get repository permissions
        # for a user"; the answer is this 403 whatever the token is).
        raise ApiError(403, "Must have push access to view collaborator permission.")
    login = ctx.params["login"]
    user = ctx.forge.state.user(login)
    if user is None:
        raise ctx.dialect.not_found()
    level = ctx.forge.state.level(repo, user.login)
    return {"permission": _SHOWN[level], "role_name": level, "user": _collaborator(ctx, repo, user.login)}


@routes.put(R + "/collaborators/{login}")
def add_collaborator(ctx: Ctx) -> Resp:
    repo = ctx.repo("admin")
    user = ctx.forge.state.user(ctx.params["login"])
    if user is None:
        raise ctx.dialect.not_found()
    if user.login.casefold() == repo.owner.casefold():
        raise ApiError(422, "Repository owner cannot be a collaborator")
    grant = ctx.body().get("permission") or "push"
    if grant not in _GRANTS:
        raise validation_failed("Repository", "invalid", "permission")
    existing = next((lvl for who, lvl in repo.collaborators.items() if who.casefold() == user.login.casefold()), None)
    if existing in (None, "none"):
        return gh_invitations.invite(ctx, repo, user.login, _GRANTS[grant])  # 201: not a collaborator yet
    repo.collaborators[user.login] = _GRANTS[grant]  # an existing collaborator: 204, at once
    return Resp(204)


@routes.delete(R + "/collaborators/{login}")
def remove_collaborator(ctx: Ctx) -> Resp:
    repo = ctx.repo("admin")
    for who in list(repo.collaborators):
        if who.casefold() == ctx.params["login"].casefold():
            del repo.collaborators[who]
    return Resp(204)


# -- hooks ------------------------------------------------------------------------------------
@routes.get(R + "/hooks")
def list_hooks(ctx: Ctx) -> Resp:
    repo = ctx.repo("admin")
    return ctx.paged(sorted(repo.hooks.values(), key=lambda h: h.id), lambda h: ghjson.hook(ctx.forge, repo, h))


def _refuse_a_second_hook(repo: Repo, url: str, hook_id: int | None = None) -> None:
    """GitHub keeps one hook per URL and repository (422 "Hook already exists on this repository",
    a `custom` error on the Hook resource, on create and on an update to a taken URL; quoted in
    OnToology/OnToology#68 and square/kochiku#20)."""
    if any(h.id != hook_id and h.config.get("url") == url for h in repo.hooks.values()):
        raise validation_failed("Hook", "custom", message="Hook already exists on this repository")


@routes.post(R + "/hooks")
def create_hook(ctx: Ctx) -> Resp:
    repo = ctx.repo("admin")
    body, now = ctx.body(), ctx.ops.now()
    config = dict(body.get("config") or {})
    if not config.get("url"):
        raise validation_failed("Hook", "custom", message="Config must contain url")
    _refuse_a_second_hook(repo, str(config["url"]))
    h = Hook(ctx.forge.state.new_id(), "web", config, list(body.get("events") or ["push"]),
             bool(body.get("active", True)), now, now)
    repo.hooks[h.id] = h
    data = ghjson.hook(ctx.forge, repo, h)
    return Resp(201, data, {"location": data["url"]})


@routes.get(R + "/hooks/{hook_id}")
def get_hook(ctx: Ctx) -> Any:
    repo = ctx.repo("admin")
    return ghjson.hook(ctx.forge, repo, ctx.by_id(repo.hooks, "hook_id"))


@routes.patch(R + "/hooks/{hook_id}")
def update_hook(ctx: Ctx) -> Any:
    repo = ctx.repo("admin")
    h, body = ctx.by_id(repo.hooks, "hook_id"), ctx.body()
    if "config" in body:
        if body["config"].get("url") is not None:
            _refuse_a_second_hook(repo, str(body["config"]["url"]), h.id)
        h.config = {**h.config, **body["config"]}
    if "events" in body:
        h.events = list(body["events"])
    h.events += [e for e in body.get("add_events") or [] if e not in h.events]
    h.events = [e for e in h.events if e not in (body.get("remove_events") or [])]
    if "active" in body:
        h.active = bool(body["active"])
    h.updated_at = ctx.ops.now()
    return ghjson.hook(ctx.forge, repo, h)


@routes.post(R + "/hooks/{hook_id}/pings")
async def ping_hook(ctx: Ctx) -> Resp:
    repo = ctx.repo("admin")
    h = ctx.by_id(repo.hooks, "hook_id")
    await hooktests.deliver(ctx.forge, "github", repo, h, "ping", hooktests.github_ping(ctx.forge, repo, h, ctx.login))
    return Resp(204)


@routes.get(R + "/hooks/{hook_id}/deliveries")
def list_hook_deliveries(ctx: Ctx) -> Resp:
    # GitHub pages this list with an opaque `cursor`; the emulator pages by `page` (*choice*).
    repo = ctx.repo("admin")
    h = ctx.by_id(repo.hooks, "hook_id")
    return ctx.paged(hooktests.hook_deliveries(ctx.forge, h.id), hooktests.github_status)


@routes.delete(R + "/hooks/{hook_id}")
def delete_hook(ctx: Ctx) -> Resp:
    repo = ctx.repo("admin")
    del repo.hooks[ctx.by_id(repo.hooks, "hook_id").id]
    return Resp(204)


# -- statuses ---------------------------------------------------------------------------------
@routes.post(R + "/statuses/{sha}")
def create_status(ctx: Ctx) -> Resp:
    from .state import CommitStatus
    repo = ctx.repo("write")
    sha = repo.git.resolve(ctx.params["sha"])
    if sha is None:
        raise ApiError(422, f"No commit found for SHA: {ctx.params['sha']}")
    body, now = ctx.body(), ctx.ops.now()
    s = CommitStatus(ctx.forge.state.new_id(), sha, body["state"], body.get("context") or "default",
                     ctx.login or "", now, now, body.get("target_url"), body.get("description"))
    repo.statuses.append(s)
    data = ghjson.status(ctx.forge, s)
    return Resp(201, data, {"location": data["url"]})


# -- GitHub App -------------------------------------------------------------------------------
def _app_installation(ctx: Ctx, raw: str) -> Any:
    app = ctx.identity.app
    inst = ctx.forge.state.installations.get(int(raw)) if raw.isdigit() else None
    if app is None or inst is None or inst.app_id != app.id:
        raise ctx.dialect.not_found()
    return inst


@routes.get("/app", jwt=True)
def get_app(ctx: Ctx) -> Any:
    app = ctx.identity.app
    assert app is not None
    return {"id": app.id, "slug": app.slug, "name": app.name, "node_id": node_id("App", app.id),
            "owner": ghjson.user(ctx.forge, app.owner), "description": "", "external_url": ctx.forge.base_url,
            "html_url": f"{ctx.forge.base_url}/apps/{app.slug}", "created_at": iso(app.created_at),
            "updated_at": iso(app.created_at), "permissions": dict(app.permissions), "events": list(app.events)}


@routes.get("/app/installations", jwt=True)
def list_installations(ctx: Ctx) -> Resp:
    app = ctx.identity.app
    assert app is not None
    items = [i for i in ctx.forge.state.installations.values() if i.app_id == app.id]
    return ctx.paged(items, lambda i: ghjson.installation(ctx.forge, i))


@routes.get("/app/installations/{installation_id}", jwt=True)
def get_installation(ctx: Ctx) -> Any:
    return ghjson.installation(ctx.forge, _app_installation(ctx, ctx.params["installation_id"]))


@routes.post("/app/installations/{installation_id}/access_tokens", jwt=True)
def create_access_token(ctx: Ctx) -> Resp:
    inst = _app_installation(ctx, ctx.params["installation_id"])
    token = ctx.forge.issue_installation_token(inst.id)
    app = ctx.forge.state.apps[inst.app_id]
    return Resp(201, {"token": token.value, "expires_at": iso(token.expires_at),
                      "permissions": dict(app.permissions), "repository_selection": "selected"})


@routes.get(R + "/installation", jwt=True)
def repo_installation(ctx: Ctx) -> Any:
    repo = ctx.forge.state.repo(f"{ctx.params['owner']}/{ctx.params['repo']}")
    inst = ctx.forge.state.installation_for(repo) if repo else None
    if inst is None or ctx.identity.app is None or inst.app_id != ctx.identity.app.id:
        raise ctx.dialect.not_found()
    return ghjson.installation(ctx.forge, inst)


@routes.get("/installation/repositories")
def installation_repositories(ctx: Ctx) -> Resp:
    inst = ctx.identity.installation
    if inst is None:
        raise ApiError(403, "This endpoint requires an installation access token")
    repos = [r for r in (ctx.forge.state.repo(n) for n in inst.repos) if r is not None]
    page = ctx.paged(repos, lambda r: ghjson.repository(ctx.forge, r, ctx.login))
    page.body = {"total_count": len(repos), "repository_selection": "selected", "repositories": page.body}
    return page


@routes.get("/app/hook/deliveries", jwt=True)
def list_deliveries(ctx: Ctx) -> Resp:
    items = [d for d in reversed(ctx.forge.deliveries)
             if d.platform == "github" and not (d.target is not None and d.target.repo_hook)]
    status = ctx.arg("status")
    if status:
        items = [d for d in items if (d.ok if status == "success" else not d.ok)]
    return ctx.paged(items, lambda d: d.github_summary())


@routes.post("/app/hook/deliveries/{delivery_id}/attempts", jwt=True)
async def redeliver(ctx: Ctx) -> Resp:
    raw = ctx.params["delivery_id"]
    found = next((d for d in ctx.forge.deliveries if str(d.number) == raw and d.platform == "github"), None)
    if found is None:
        raise ctx.dialect.not_found()
    await ctx.forge.redeliver(found.id)
    return Resp(202, {})


# -- the caller -------------------------------------------------------------------------------
@routes.get("/user")
def current_user(ctx: Ctx) -> Any:
    if ctx.identity.kind == "installation":
        raise ApiError(403, "Resource not accessible by integration")
    if ctx.login is None:
        raise ApiError(401, "Requires authentication")
    user = ctx.forge.state.user(ctx.login)
    data = ghjson.user(ctx.forge, ctx.login) or {}
    data.update({"name": (user.full_name if user else "") or None, "email": None, "public_repos": 0,
                 "created_at": iso(user.created_at if user else 0)})
    return data


@routes.get("/user/repos")
def user_repos(ctx: Ctx) -> Resp:
    if ctx.login is None:
        raise ApiError(401, "Requires authentication")
    repos = [r for r in ctx.forge.state.repos.values() if ctx.forge.state.is_collaborator(r, ctx.login)]
    return ctx.paged(sorted(repos, key=lambda r: r.full_name.casefold()),
                     lambda r: ghjson.repository(ctx.forge, r, ctx.login))


@routes.get("/rate_limit")
def rate_limit(ctx: Ctx) -> Any:
    b = ctx.forge.rate.bucket(ctx.identity.rate_key)
    core = {"limit": b.limit, "remaining": b.remaining, "reset": b.reset, "used": b.used, "resource": "core"}
    search = {"limit": 30, "remaining": 30, "reset": b.reset, "used": 0, "resource": "search"}
    return {"resources": {"core": core, "search": search}, "rate": core}


@routes.get("/search/issues")
def search_issues(ctx: Ctx) -> Resp:
    terms = (ctx.arg("q") or "").split()
    filters = [t.split(":", 1) for t in terms if ":" in t]
    words = [t.casefold() for t in terms if ":" not in t]
    found = []
    for repo in ctx.forge.state.repos.values():
        if not ctx.can(repo, "read"):
            continue
        for issue in repo.issues.values():
            if _search_match(repo, issue, filters, words):
                found.append((repo, issue))
    found.sort(key=lambda p: p[1].created_at, reverse=ctx.arg("order", "desc") != "asc")
    page = ctx.paged(found, lambda p: {**ghjson.issue(ctx.forge, p[0], p[1]), "score": 1.0})
    page.body = {"total_count": len(found), "incomplete_results": False, "items": page.body,
                 "search_type": "lexical"}
    return page


def _search_match(repo: Repo, issue: Any, filters: list[list[str]], words: list[str]) -> bool:
    labels = {repo.labels[x].name.casefold() for x in issue.labels}
    for key, value in filters:
        value = value.strip('"')
        ok = {
            "repo": lambda: repo.full_name.casefold() == value.casefold(),
            "is": lambda: {"issue": not issue.pull, "pr": bool(issue.pull), "open": issue.state == "open",
                           "closed": issue.state == "closed",
                           "merged": bool(issue.pull and issue.pull.merged)}.get(value, True),
            "type": lambda: (value == "pr") == bool(issue.pull),
            "state": lambda: issue.state == value,
            "label": lambda: value.casefold() in labels,
            "author": lambda: issue.user == value,
            "assignee": lambda: value in issue.assignees,
            "no": lambda: {"assignee": not issue.assignees, "label": not issue.labels}.get(value, True),
            "in": lambda: True,
        }.get(key, lambda: True)()
        if not ok:
            return False
    text = f"{issue.title}\n{issue.body}".casefold()
    return all(w in text for w in words)
