"""GitHub repository invitations: PUT /collaborators for someone who is not a collaborator yet
creates one (201), and they are listed as a collaborator only once they accept."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from bot.forges.base import Invalid, Invitation, Permission
from bot.forges.github_limits import PLATFORM
from bot.forges.github_models import level_named

# PATCH /invitations/{id} takes role names, not the pull/push of PUT /collaborators.
INVITATION_ROLES = {Permission.READ: "read", Permission.TRIAGE: "triage", Permission.WRITE: "write",
                    Permission.MAINTAIN: "maintain", Permission.ADMIN: "admin"}


class RepoCalls(Protocol):
    """What GitHubForge offers the mixins that add operations to it."""

    async def _repo(self, method: str, repo: str, path: str, *, data: Any = ..., retry_safe: bool | None = None,
                    **params: Any) -> Any: ...

    async def _repo_list(self, repo: str, path: str, **params: Any) -> list[Any]: ...


def invitation_from(d: Mapping[str, Any]) -> Invitation:
    level = level_named(d.get("permissions"))
    return Invitation(login=(d.get("invitee") or {}).get("login") or "", id=int(d["id"]),
                      permission=Permission.NONE if level is None else level)


class GitHubInvitations:
    async def list_invitations(self: RepoCalls, repo: str) -> list[Invitation]:
        """Pending invitations (GET /invitations needs admin on the repository)."""
        return [invitation_from(d) for d in await self._repo_list(repo, "/invitations{?per_page}")]

    async def update_invitation(self: RepoCalls, repo: str, invitation_id: int, permission: Permission) -> None:
        role = INVITATION_ROLES.get(Permission(permission))
        if role is None:
            raise Invalid(f"cannot invite with {permission.label}; delete the invitation instead", platform=PLATFORM)
        await self._repo("PATCH", repo, "/invitations/{invitation_id}", invitation_id=invitation_id,
                         data={"permissions": role}, retry_safe=True)

    async def delete_invitation(self: RepoCalls, repo: str, invitation_id: int) -> None:
        await self._repo("DELETE", repo, "/invitations/{invitation_id}", invitation_id=invitation_id)
