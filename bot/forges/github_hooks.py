"""GitHub repository webhooks: GitHub keeps the events as given, and one hook per URL."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from bot.forges.base import Conflict, Hook, Invalid
from bot.forges.github_models import hook_body, hook_from


class GitHubHooks:
    _repo: Callable[..., Awaitable[Any]]
    _repo_list: Callable[..., Awaitable[list[Any]]]

    def hook_events(self, events: Sequence[str]) -> tuple[str, ...]:
        """GitHub keeps the list as given; "*" is every event."""
        return ("*",) if "*" in events else tuple(sorted(set(events)))

    async def list_hooks(self, repo: str) -> list[Hook]:
        return [hook_from(d) for d in await self._repo_list(repo, "/hooks{?per_page}")]

    async def create_hook(self, repo: str, hook: Hook, secret: str | None = None) -> Hook:
        """GitHub keeps one hook per URL (422 "Hook already exists on this repository"): when one
        appeared since the caller looked, it is updated to `hook` instead."""
        try:
            return hook_from(await self._repo("POST", repo, "/hooks", data={"name": "web", **hook_body(hook, secret)}))
        except (Conflict, Invalid) as exc:
            if not any("already exists" in d for d in exc.details):
                raise
            existing = next((h for h in await self.list_hooks(repo) if h.url == hook.url), None)
            if existing is None or existing.id is None:
                raise
            return await self.update_hook(repo, existing.id, hook, secret)

    async def update_hook(self, repo: str, hook_id: int, hook: Hook, secret: str | None = None) -> Hook:
        return hook_from(await self._repo("PATCH", repo, "/hooks/{hook_id}", hook_id=hook_id,
                                          data=hook_body(hook, secret), retry_safe=True))

    async def delete_hook(self, repo: str, hook_id: int) -> None:
        await self._repo("DELETE", repo, "/hooks/{hook_id}", hook_id=hook_id)
