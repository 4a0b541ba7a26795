"""Gitea labels: addressed by numeric id, so each repository gets a name -> id map.

The map is filled from GET /labels whenever a name is not in it, and kept up to date by our own
create, rename and delete. A label renamed or recreated by someone else is noticed when Gitea
answers 404/422 for a stale id (or adds a label under another name) and the map is read again,
once per call.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from bot.forges import gitea_json as gj
from bot.forges.base import Conflict, Invalid, Label, NotFound
from bot.forges.common import BoundedCache
from bot.forges.gitea_http import PLATFORM, GiteaTransport, repo_path

IdAction = Callable[[list[int]], Awaitable[Any]]


class GiteaLabels:
    _t: GiteaTransport

    def __init__(self) -> None:
        # repository (casefolded) -> label name (casefolded) -> id
        self._label_ids: BoundedCache[str, dict[str, int]] = BoundedCache(256)

    async def list_labels(self, repo: str) -> list[Label]:
        items = await self._t.pages(f"{repo_path(repo)}/labels")
        self._label_ids[repo.casefold()] = {x["name"].casefold(): x["id"] for x in items}
        return [gj.label(x) for x in items]

    async def create_label(self, repo: str, label: Label) -> Label:
        """Conflict if the name is taken: Gitea 1.22 would quietly make a second label of that name."""
        await self.list_labels(repo)
        if label.name.casefold() in self._label_ids[repo.casefold()]:
            raise Conflict(message=f"a label named {label.name!r} already exists in {repo}", platform=PLATFORM)

        async def existing() -> Any:
            await self.list_labels(repo)
            known = self._label_ids.get(repo.casefold()) or {}
            label_id = known.get(label.name.casefold())
            return None if label_id is None else await self._t.get_or_none(f"{repo_path(repo)}/labels/{label_id}")

        reply = await self._t.request("POST", f"{repo_path(repo)}/labels", json=gj.label_body(label),
                                      recover=existing)
        created = gj.label(reply.data)
        self._remember_label(repo, created)
        return created

    async def update_label(self, repo: str, name: str, label: Label) -> Label:
        async def patch(ids: list[int]) -> Any:
            return await self._t.request("PATCH", f"{repo_path(repo)}/labels/{ids[0]}", json=gj.label_body(label))

        reply = await self._with_label_ids(repo, [name], patch)
        updated = gj.label(reply.data)
        self._forget_label(repo, name)
        self._remember_label(repo, updated)
        return updated

    async def delete_label(self, repo: str, name: str) -> None:
        """Reads the labels first: Gitea answers 204 for an id it does not have, so a stale id
        would quietly delete nothing."""
        await self.list_labels(repo)
        [label_id], _ = await self._ids_for(repo, [name])
        await self._t.request("DELETE", f"{repo_path(repo)}/labels/{label_id}")
        self._forget_label(repo, name)

    async def add_labels(self, repo: str, number: int, names: Sequence[str]) -> tuple[str, ...]:
        """POST /issues/{n}/labels with ids only (Gitea refuses a list mixing ids and names).

        A name the repository does not have is NotFound; nothing is created on the fly.
        """
        wanted = list(dict.fromkeys(names))
        if not wanted:
            issue = await self._t.get(f"{repo_path(repo)}/issues/{number}")
            return gj.issue(issue).labels
        for attempt in (0, 1):
            ids, fresh = await self._ids_for(repo, wanted)
            try:
                reply = await self._t.request("POST", f"{repo_path(repo)}/issues/{number}/labels",
                                              json={"labels": ids}, idempotent=True)
            except (NotFound, Invalid):
                if fresh or attempt:
                    raise
                self._label_ids.pop(repo.casefold(), None)
                continue
            have = tuple(x["name"] for x in reply.data or ())
            # A label renamed behind our back shows up under its new name: look again, once.
            if fresh or attempt or {n.casefold() for n in wanted} <= {h.casefold() for h in have}:
                return have
            self._label_ids.pop(repo.casefold(), None)
        raise AssertionError("unreachable")

    async def remove_label(self, repo: str, number: int, name: str) -> None:
        """DELETE /issues/{n}/labels/{id}; removing a label the issue does not carry is a no-op."""
        async def delete(ids: list[int]) -> Any:
            return await self._t.request("DELETE", f"{repo_path(repo)}/issues/{number}/labels/{ids[0]}")

        await self._with_label_ids(repo, [name], delete)

    async def _ids_for(self, repo: str, names: Sequence[str]) -> tuple[list[int], bool]:
        """Label ids for names, reading the repository's labels if any name is unknown."""
        known = self._label_ids.get(repo.casefold())
        fresh = False
        if known is None or any(n.casefold() not in known for n in names):
            await self.list_labels(repo)
            known, fresh = self._label_ids[repo.casefold()], True
        unknown = [n for n in names if n.casefold() not in known]
        if unknown:
            raise NotFound(message=f"no label named {', '.join(map(repr, unknown))} in {repo}",
                           status=404, platform=PLATFORM)
        return [known[n.casefold()] for n in names], fresh

    async def _with_label_ids(self, repo: str, names: Sequence[str], action: IdAction) -> Any:
        """Runs `action` with the labels' ids; a stale id (404/422) refreshes the map once."""
        ids, fresh = await self._ids_for(repo, names)
        try:
            return await action(ids)
        except (NotFound, Invalid):
            if fresh:
                raise
        self._label_ids.pop(repo.casefold(), None)
        ids, _ = await self._ids_for(repo, names)
        return await action(ids)

    def _remember_label(self, repo: str, label: Label) -> None:
        known = self._label_ids.get(repo.casefold())
        if known is not None and label.id is not None:
            known[label.name.casefold()] = label.id

    def _forget_label(self, repo: str, name: str) -> None:
        known = self._label_ids.get(repo.casefold())
        if known is not None:
            known.pop(name.casefold(), None)
