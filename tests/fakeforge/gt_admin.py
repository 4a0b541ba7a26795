"""Gitea routes: collaborators, permissions, the caller, repository search, server info."""

from __future__ import annotations

from typing import Any

from . import gtjson
from .common import ApiError
from .gitea import DEFAULT_PAGING_NUM, MAX_RESPONSE_ITEMS
from .server import Ctx, Resp, Routes
from .state import Repo

routes = Routes()
R = "/repos/{owner}/{repo}"
_SHOWN = {"admin": "admin", "maintain": "write", "write": "write", "triage": "read", "read": "read", "none": "none"}


def _user(ctx: Ctx, login: str) -> Any:
    user = ctx.forge.state.user(login)
    if user is None:
        raise ApiError(422, f"user does not exist [uid: 0, name: {login}]")
    return user


@routes.get(R + "/collaborators")
def list_collaborators(ctx: Ctx) -> Resp:
    repo = ctx.repo()
    members = [u for u, lvl in repo.collaborators.items() if lvl != "none"]
    return ctx.paged(members, lambda u: gtjson.user(ctx.forge, u))


@routes.get(R + "/collaborators/{collaborator}")
def check_collaborator(ctx: Ctx) -> Resp:
    repo = ctx.repo()
    user = _user(ctx, ctx.params["collaborator"])
    if repo.collaborators.get(user.login, "none") == "none":
        raise ctx.dialect.not_found()
    return Resp(204)


@routes.put(R + "/collaborators/{collaborator}")
def add_collaborator(ctx: Ctx) -> Resp:
    repo = ctx.repo("admin")
    user = _user(ctx, ctx.params["collaborator"])
    grant = ctx.body().get("permission") or "write"
    if grant not in ("read", "write", "admin"):
        raise ApiError(422, f"[Permission]: invalid permission {grant}")
    repo.collaborators[user.login] = grant
    return Resp(204)


@routes.delete(R + "/collaborators/{collaborator}")
def remove_collaborator(ctx: Ctx) -> Resp:
    repo = ctx.repo("admin")
    user = _user(ctx, ctx.params["collaborator"])
    repo.collaborators.pop(user.login, None)
    return Resp(204)


@routes.get(R + "/collaborators/{collaborator}/permission")
def collaborator_permission(ctx: Ctx) -> Any:
    repo = ctx.repo()
    user = ctx.forge.state.user(ctx.params["collaborator"])
    if user is None:
        raise ctx.dialect.not_found()
    if not ctx.can(repo, "admin") and ctx.login != user.login:
        raise ApiError(403, "Only admins can query all permissions, repo admins can query all repo "
                            "permissions, collaborators can query only their own")
    level = ctx.forge.state.level(repo, user.login)
    shown = "owner" if user.login.casefold() == repo.owner.casefold() else _SHOWN[level]
    return {"permission": shown, "role_name": shown, "user": gtjson.user(ctx.forge, user.login)}


# -- the caller and the server ----------------------------------------------------------------
@routes.get("/user")
def current_user(ctx: Ctx) -> Any:
    if ctx.login is None:
        raise ApiError(401, "token is required")
    return gtjson.user(ctx.forge, ctx.login)


def _visible(ctx: Ctx) -> list[Repo]:
    return sorted((r for r in ctx.forge.state.repos.values() if ctx.can(r, "read")),
                  key=lambda r: r.full_name.casefold())


@routes.get("/user/repos")
def user_repos(ctx: Ctx) -> Resp:
    if ctx.login is None:
        raise ApiError(401, "token is required")
    login = ctx.login
    repos = [r for r in _visible(ctx) if ctx.forge.state.is_collaborator(r, login)]
    return ctx.paged(repos, lambda r: gtjson.repository(ctx.forge, r, login))


@routes.get("/repos/search")
def search_repos(ctx: Ctx) -> Resp:
    q = (ctx.arg("q") or "").casefold()
    repos = [r for r in _visible(ctx) if q in r.name.casefold()
             or (ctx.arg("topic") and q in [t.casefold() for t in r.topics])]
    page = ctx.paged(repos, lambda r: gtjson.repository(ctx.forge, r, ctx.login))
    page.body = {"ok": True, "data": page.body}
    return page


@routes.get("/version")
def version(ctx: Ctx) -> Any:
    return {"version": ctx.forge.gitea_version}


@routes.get("/settings/api")
def api_settings(ctx: Ctx) -> Any:
    return {"max_response_items": MAX_RESPONSE_ITEMS, "default_paging_num": DEFAULT_PAGING_NUM,
            "default_git_trees_per_page": 1000, "default_max_blob_size": 10485760}
