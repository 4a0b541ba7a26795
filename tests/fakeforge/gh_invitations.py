"""GitHub repository invitations: how someone who is not a collaborator becomes one.

PUT /repos/{o}/{r}/collaborators/{u} for a non-collaborator answers 201 with an invitation and
adds nobody: the invitee shows in GET /collaborators only once they accept (docs.github.com
"Add a repository collaborator"; `repos/add-collaborator` in the OpenAPI description, 201
"new invitation created", 204 "existing collaborator"). Pending ones are listed by
GET /repos/{o}/{r}/invitations, changed by PATCH and withdrawn by DELETE .../invitations/{id}.
The invitee accepts with PATCH /user/repository_invitations/{id} (or `actor.accept_invitation`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import ghjson
from .common import ApiError, iso, node_id, validation_failed
from .server import Ctx, Resp, Routes
from .state import Invitation, Repo

if TYPE_CHECKING:
    from .forge import FakeForge

routes = Routes()
R = "/repos/{owner}/{repo}"
# PATCH /invitations takes role names (PUT /collaborators takes pull/push as well).
_ROLES = ("read", "triage", "write", "maintain", "admin")


def body(f: FakeForge, repo: Repo, inv: Invitation) -> dict[str, Any]:
    return {
        "id": inv.id, "node_id": node_id("RepositoryInvitation", inv.id),
        "repository": ghjson.repository(f, repo), "invitee": ghjson.user(f, inv.invitee),
        "inviter": ghjson.user(f, inv.inviter), "permissions": inv.level,
        "created_at": iso(inv.created_at), "expired": False,
        "url": f"{ghjson.api(f)}/user/repository_invitations/{inv.id}",
        "html_url": f"{f.base_url}/{repo.full_name}/invitations",
    }


def invite(ctx: Ctx, repo: Repo, login: str, level: str) -> Resp:
    """A new invitation, or the pending one for `login` at the new level (*choice*: GitHub does not
    say what a second PUT does to a pending invitation; one invitation per invitee is what its UI shows)."""
    inv = next((i for i in repo.invitations.values() if i.invitee.casefold() == login.casefold()), None)
    if inv is None:
        inv = Invitation(ctx.forge.state.new_id(), login, ctx.login or "", level, ctx.ops.now())
        repo.invitations[inv.id] = inv
    inv.level = level
    return Resp(201, body(ctx.forge, repo, inv))


def accept(repo: Repo, inv: Invitation) -> None:
    del repo.invitations[inv.id]
    repo.collaborators[inv.invitee] = inv.level


def _invitation(ctx: Ctx, repo: Repo) -> Invitation:
    inv = repo.invitations.get(int(ctx.params["invitation_id"])) if ctx.params["invitation_id"].isdigit() else None
    if inv is None:
        raise ctx.dialect.not_found()
    return inv


@routes.get(R + "/invitations")
def list_invitations(ctx: Ctx) -> Resp:
    repo = ctx.repo("admin")
    return ctx.paged(sorted(repo.invitations.values(), key=lambda i: i.id), lambda i: body(ctx.forge, repo, i))


@routes.patch(R + "/invitations/{invitation_id}")
def update_invitation(ctx: Ctx) -> Any:
    repo = ctx.repo("admin")
    inv = _invitation(ctx, repo)
    level = ctx.body().get("permissions")
    if level is not None:
        if level not in _ROLES:
            raise validation_failed("RepositoryInvitation", "invalid", "permissions")
        inv.level = level
    return body(ctx.forge, repo, inv)


@routes.delete(R + "/invitations/{invitation_id}")
def delete_invitation(ctx: Ctx) -> Resp:
    repo = ctx.repo("admin")
    del repo.invitations[_invitation(ctx, repo).id]
    return Resp(204)


@routes.patch("/user/repository_invitations/{invitation_id}")
def accept_invitation(ctx: Ctx) -> Resp:
    if ctx.login is None:
        raise ApiError(401, "Requires authentication")
    for repo in ctx.forge.state.repos.values():
        inv = repo.invitations.get(int(ctx.params["invitation_id"])) if ctx.params["invitation_id"].isdigit() else None
        if inv is not None and inv.invitee.casefold() == ctx.login.casefold():
            accept(repo, inv)
            return Resp(204)
    raise ctx.dialect.not_found()
