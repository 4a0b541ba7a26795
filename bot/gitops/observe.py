"""Reading what the platform has, for the sections a config manages (and only those)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from bot.forges.base import BranchProtection, Forge, NotFound, PermissionDenied, Unsupported
from bot.gitops.plan import Observed
from config.repo import Mode, RepoConfig

T = TypeVar("T")


async def _known(read: Callable[[], Awaitable[T]], unknown: list[str], section: str) -> T | None:
    """The section's value, or None (unknown, not drift) when the bot may not read it."""
    try:
        return await read()
    except (PermissionDenied, Unsupported) as exc:
        unknown.append(f"{section}: {exc}")
        return None


async def observe(
    forge: Forge, repo: str, desired: RepoConfig, *, bot_login: str | None, own_hook: Callable[[str], bool]
) -> tuple[Observed, list[str]]:
    """What the platform has for each section the file sets; also the sections left unknown."""
    unknown: list[str] = []
    capabilities = await forge.server_capabilities()  # Gitea: what its version can do

    async def listing(section: str, read: Callable[[], Awaitable[list[T]]]) -> tuple[T, ...] | None:
        found = await _known(read, unknown, section)
        return tuple(found) if found is not None else None

    settings = await _known(lambda: forge.get_settings(repo), unknown, "repository") if desired.repository is not None else None
    labels = await listing("labels", lambda: forge.list_labels(repo)) if desired.labels is not None else None
    topics = await _known(lambda: forge.get_topics(repo), unknown, "topics") if desired.topics is not None else None
    milestones = await listing("milestones", lambda: forge.list_milestones(repo)) if desired.milestones is not None else None
    collaborators = (
        await listing("collaborators", lambda: forge.list_collaborators(repo)) if desired.collaborators is not None else None
    )
    invitations = None
    if desired.collaborators is not None and capabilities.collaborator_invitations:
        invitations = await listing("collaborator invitations", lambda: forge.list_invitations(repo))
    hooks = await listing("webhooks", lambda: forge.list_hooks(repo)) if desired.webhooks is not None else None
    protections: dict[str, BranchProtection | None] = {}
    protected: tuple[str, ...] | None = None
    for branch in desired.branches or ():
        try:
            protections[branch.name] = await forge.get_protection(repo, branch.name)
        except NotFound:
            unknown.append(f"branch {branch.name}: does not exist")
        except (PermissionDenied, Unsupported) as exc:
            unknown.append(f"branch {branch.name}: {exc}")
    if desired.branches is not None and desired.policy.branches.mode is Mode.AUTHORITATIVE:
        branches = await listing("branches", lambda: forge.list_branches(repo))
        protected = tuple(b.name for b in branches if b.protected) if branches is not None else None
    return (
        Observed(
            capabilities=capabilities,
            labels=labels,
            settings=settings,
            topics=topics,
            protected_branches=protected,
            protections=protections,
            milestones=milestones,
            collaborators=collaborators,
            invitations=invitations or (),
            hooks=hooks,
            hook_events=forge.hook_events,
            bot_login=bot_login,
            own_hook=own_hook,
        ),
        unknown,
    )
