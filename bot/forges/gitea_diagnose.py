"""Gitea operations for `forgebot doctor`: the token's user, its access to a repository, hook tests."""

from __future__ import annotations

from typing import Any

from bot.forges import gitea_json as gj
from bot.forges.base import Credentials, HookDelivery, RepoAccess, Unsupported
from bot.forges.gitea_http import PLATFORM, repo_path


class GiteaDiagnostics:
    _t: Any

    @property
    def server_time(self) -> float | None:
        return self._t.server_time

    async def inspect_credentials(self) -> Credentials:
        # Gitea's API does not show a token's scopes; a missing scope shows as a 403 on the call.
        me = await self._t.get("/user")
        return Credentials(login=me["login"], kind="token", site_admin=bool(me.get("is_admin")))

    async def repo_access(self, repo: str) -> RepoAccess:
        data = await self._t.get(repo_path(repo))
        return RepoAccess(permission=gj.repo_permission(data.get("permissions")), private=bool(data.get("private")))

    async def test_hook(self, repo: str, hook_id: int) -> None:
        """Gitea's test delivery is a push event of the default branch's last commit
        (routers/api/v1/repo/hook.go, TestHook); it answers 204 once the delivery is queued."""
        await self._t.request("POST", f"{repo_path(repo)}/hooks/{hook_id}/tests", idempotent=True)

    async def list_hook_deliveries(self, repo: str, hook_id: int) -> list[HookDelivery]:
        raise Unsupported("Gitea's API does not list a hook's deliveries; see the hook's page in the "
                          "repository settings", platform=PLATFORM)

    async def list_app_hook_deliveries(self) -> list[HookDelivery]:
        raise Unsupported("Gitea has no apps with webhooks of their own", platform=PLATFORM)
