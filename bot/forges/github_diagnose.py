"""GitHub operations for `forgebot doctor`: who the credentials are, what they may do, hook tests.

A mixin of `GitHubForge`: it uses the client's request path (`_send`, `_repo`), so credentials,
rate limits and error mapping are the same as for every other call.
"""

from __future__ import annotations

from typing import Any

from bot.forges.base import Credentials, HookDelivery, RepoAccess, Unsupported
from bot.forges.common import parse_time
from bot.forges.github_models import level_from_flags

PAGE = 50  # deliveries judged: the newest page


class GitHubDiagnostics:
    _app: Any
    _token: str | None
    policy: Any

    @property
    def server_time(self) -> float | None:
        return self.policy.server_time

    async def inspect_credentials(self) -> Credentials:
        """GET /app with the App's JWT, or GET /user with the token (its X-OAuth-Scopes header)."""
        if self._app is not None:
            app = await self._send("GET", "/app", {}, cred=self._jwt())  # type: ignore[attr-defined]
            return Credentials(login=f"{app['slug']}[bot]", kind="app", permissions=dict(app.get("permissions") or {}),
                               events=tuple(app.get("events") or ()))
        me = await self._send("GET", "/user", {}, cred=("token", self._token))  # type: ignore[attr-defined]
        return Credentials(login=me["login"], kind="token", scopes=self.policy.oauth_scopes,
                           site_admin=bool(me.get("site_admin")))

    async def repo_access(self, repo: str) -> RepoAccess:
        data = await self._repo("GET", repo, "")  # type: ignore[attr-defined]
        private = bool(data.get("private"))
        if self._app is None:
            return RepoAccess(permission=level_from_flags(data.get("permissions")), private=private)
        # An installation token's view of a repository carries no `permissions`; the installation says.
        owner, name = repo.split("/", 1)
        inst = await self._send("GET", "/repos/{owner}/{repo}/installation", {"owner": owner, "repo": name},  # type: ignore[attr-defined]
                                cred=self._jwt())  # type: ignore[attr-defined]
        return RepoAccess(permission=None, private=private, granted=dict(inst.get("permissions") or {}),
                          events=tuple(inst.get("events") or ()))

    async def test_hook(self, repo: str, hook_id: int) -> None:
        # A ping changes nothing but the hook's delivery list, so sending it twice does no harm.
        await self._repo("POST", repo, "/hooks/{hook_id}/pings", hook_id=hook_id, retry_safe=True)  # type: ignore[attr-defined]

    async def list_hook_deliveries(self, repo: str, hook_id: int) -> list[HookDelivery]:
        """The most recent page (GitHub pages this list by cursor; one page is what `doctor` judges)."""
        found = await self._repo("GET", repo, "/hooks/{hook_id}/deliveries{?per_page}", hook_id=hook_id,  # type: ignore[attr-defined]
                                 per_page=PAGE)
        return [_delivery(d) for d in found or ()]

    async def list_app_hook_deliveries(self) -> list[HookDelivery]:
        if self._app is None:
            raise Unsupported("only a GitHub App has a webhook of its own", platform="github")
        found = await self._send("GET", "/app/hook/deliveries{?per_page}", {"per_page": PAGE}, cred=self._jwt())  # type: ignore[attr-defined]
        return [_delivery(d) for d in found or ()]


def _delivery(d: dict[str, Any]) -> HookDelivery:
    return HookDelivery(id=int(d["id"]), guid=str(d.get("guid") or ""), event=str(d.get("event") or ""),
                        status_code=int(d.get("status_code") or 0), status=str(d.get("status") or ""),
                        delivered_at=parse_time(d.get("delivered_at")), redelivery=bool(d.get("redelivery")))
