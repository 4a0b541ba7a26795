"""Gitea repository administration: protection, settings, topics, milestones, people, hooks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from bot.forges import gitea_hooks
from bot.forges import gitea_json as gj
from bot.forges.base import (
    BranchProtection,
    Capabilities,
    Collaborator,
    Hook,
    Invalid,
    Invitation,
    Milestone,
    Permission,
    PermissionDenied,
    RepoSettings,
    Unsupported,
)
from bot.forges.gitea_http import PLATFORM, GiteaTransport, repo_path, seg

CANNOT_SEE_PERMISSIONS = ("forgebot cannot see who may do what in {repo}: Gitea shows other users' permissions "
                          "only to repository admins, so give forgebot admin access to {repo}")


class GiteaAdmin:
    _t: GiteaTransport
    server_capabilities: Callable[[], Awaitable[Capabilities]]

    # -- branch protection: rules are named; the protocol's branch is the rule name ----------
    async def get_protection(self, repo: str, branch: str) -> BranchProtection | None:
        """The rule named exactly `branch` (a glob rule is found under its own name)."""
        data = await self._t.get_or_none(f"{repo_path(repo)}/branch_protections/{seg(branch)}")
        return gj.protection(data, branch) if data else None

    async def set_protection(self, repo: str, protection: BranchProtection) -> BranchProtection:
        """PATCH the rule if it exists, else create it; fields left None are not touched."""
        rule = f"{repo_path(repo)}/branch_protections/{seg(protection.branch)}"
        capabilities = await self.server_capabilities()
        if await self._t.get_or_none(rule) is None:
            reply = await self._t.request("POST", f"{repo_path(repo)}/branch_protections",
                                          json=gj.protection_body(protection, capabilities, creating=True),
                                          recover=lambda: self._t.get_or_none(rule))
        else:
            reply = await self._t.request("PATCH", rule, json=gj.protection_body(protection, capabilities, creating=False))
        gaps = gj.protection_gaps(protection, reply.data)
        if gaps:
            raise Unsupported(message=f"not supported by {capabilities.server}: {', '.join(gaps)}; the rest was applied",
                              platform=PLATFORM)
        return gj.protection(reply.data, protection.branch)

    async def remove_protection(self, repo: str, branch: str) -> None:
        await self._t.request("DELETE", f"{repo_path(repo)}/branch_protections/{seg(branch)}")

    # -- repository settings and topics --------------------------------------------------
    async def get_settings(self, repo: str) -> RepoSettings:
        return gj.settings(await self._t.get(repo_path(repo)))

    async def update_settings(self, repo: str, changes: RepoSettings) -> RepoSettings:
        """PATCH /repos/{o}/{r} with Gitea's names for the fields that are not None."""
        body = gj.settings_body(changes)
        if not body:
            return await self.get_settings(repo)
        return gj.settings((await self._t.request("PATCH", repo_path(repo), json=body)).data)

    async def get_topics(self, repo: str) -> tuple[str, ...]:
        return tuple(await self._t.pages(f"{repo_path(repo)}/topics", key="topics"))

    async def set_topics(self, repo: str, topics: Sequence[str]) -> tuple[str, ...]:
        """PUT replaces the set (Gitea lowercases); then read back what Gitea kept."""
        await self._t.request("PUT", f"{repo_path(repo)}/topics", json={"topics": list(topics)})
        return await self.get_topics(repo)

    # -- milestones (by id) ----------------------------------------------------------------
    async def list_milestones(self, repo: str) -> list[Milestone]:
        return [gj.milestone(x) for x in await self._t.pages(f"{repo_path(repo)}/milestones", {"state": "all"})]

    async def create_milestone(self, repo: str, milestone: Milestone) -> Milestone:
        async def existing() -> Any:
            items = await self._t.pages(f"{repo_path(repo)}/milestones", {"state": "all"})
            return next((x for x in items if x.get("title") == milestone.title), None)

        reply = await self._t.request("POST", f"{repo_path(repo)}/milestones", json=gj.milestone_body(milestone),
                                      recover=existing)
        return gj.milestone(reply.data)

    async def update_milestone(self, repo: str, milestone_id: int, milestone: Milestone) -> Milestone:
        """Gitea cannot clear a due date: due_on None leaves it as it is."""
        reply = await self._t.request("PATCH", f"{repo_path(repo)}/milestones/{milestone_id}",
                                      json=gj.milestone_body(milestone))
        return gj.milestone(reply.data)

    async def close_milestone(self, repo: str, milestone_id: int) -> Milestone:
        reply = await self._t.request("PATCH", f"{repo_path(repo)}/milestones/{milestone_id}",
                                      json={"state": "closed"})
        return gj.milestone(reply.data)

    # -- people --------------------------------------------------------------------------
    async def get_permission(self, repo: str, login: str) -> Permission:
        """none|read|write|admin|owner (owner -> ADMIN). Needs repo admin or being `login`, else 403."""
        try:
            data = await self._t.get(f"{repo_path(repo)}/collaborators/{seg(login)}/permission")
        except PermissionDenied as exc:
            if exc.status != 403:
                raise
            raise PermissionDenied(message=CANNOT_SEE_PERMISSIONS.format(repo=repo), status=403,
                                   platform=PLATFORM, details=(exc.message,)) from None
        return gj.PERMISSION.get(str(data.get("permission")), Permission.NONE)

    async def list_collaborators(self, repo: str) -> list[Collaborator]:
        """The list carries no levels: one permission call per collaborator."""
        users = await self._t.pages(f"{repo_path(repo)}/collaborators")
        return [Collaborator(u["login"], await self.get_permission(repo, u["login"])) for u in users]

    async def add_collaborator(self, repo: str, login: str, permission: Permission) -> None:
        """PUT with read|write|admin: triage rounds down to read, maintain to write."""
        level = gj.COLLABORATOR_LEVEL.get(Permission(permission))
        if level is None:
            raise Invalid(message="a collaborator needs at least read; use remove_collaborator", platform=PLATFORM)
        await self._t.request("PUT", f"{repo_path(repo)}/collaborators/{seg(login)}", json={"permission": level})

    async def remove_collaborator(self, repo: str, login: str) -> None:
        await self._t.request("DELETE", f"{repo_path(repo)}/collaborators/{seg(login)}")

    # Gitea adds a collaborator at once (PUT answers 204 and they are listed): nothing is pending.
    async def list_invitations(self, repo: str) -> list[Invitation]:
        return []

    async def update_invitation(self, repo: str, invitation_id: int, permission: Permission) -> None:
        raise Unsupported(message="Gitea has no repository invitations", platform=PLATFORM)

    async def delete_invitation(self, repo: str, invitation_id: int) -> None:
        raise Unsupported(message="Gitea has no repository invitations", platform=PLATFORM)

    # -- webhooks ------------------------------------------------------------------------
    def hook_events(self, events: Sequence[str]) -> tuple[str, ...]:
        return gitea_hooks.events_as_read(events)

    async def list_hooks(self, repo: str) -> list[Hook]:
        return [gj.hook(x) for x in await self._t.pages(f"{repo_path(repo)}/hooks")]

    async def create_hook(self, repo: str, hook: Hook, secret: str | None = None) -> Hook:
        async def existing() -> Any:
            items = await self._t.pages(f"{repo_path(repo)}/hooks")
            return next((x for x in items if (x.get("config") or {}).get("url") == hook.url), None)

        reply = await self._t.request("POST", f"{repo_path(repo)}/hooks",
                                      json=gj.hook_body(hook, secret, creating=True), recover=existing)
        return gj.hook(reply.data)

    async def update_hook(self, repo: str, hook_id: int, hook: Hook, secret: str | None = None) -> Hook:
        """secret None keeps the hook's current secret (Gitea only changes what is sent)."""
        reply = await self._t.request("PATCH", f"{repo_path(repo)}/hooks/{hook_id}",
                                      json=gj.hook_body(hook, secret, creating=False))
        return gj.hook(reply.data)

    async def delete_hook(self, repo: str, hook_id: int) -> None:
        await self._t.request("DELETE", f"{repo_path(repo)}/hooks/{hook_id}")
