"""Applying a plan: one change at a time, in plan order; a failing change is recorded, the rest go on."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace

from bot.forges.base import Forge, ForgeError, Invitation, RepoSettings
from bot.gitops.plan import Change, ChangeKind

C, U, R, D = ChangeKind.CREATE, ChangeKind.UPDATE, ChangeKind.RENAME, ChangeKind.DELETE


@dataclass(frozen=True)
class Result:
    change: Change
    ok: bool
    error: str | None = None


class MissingSecret(Exception):
    """A webhook's `secret_env` names a variable forgebot does not have, or one it may not read."""


Secret = Callable[[str], str | None]  # webhook URL -> its secret, if the file gives one
Apply = Callable[[Forge, str, Change, Secret], Awaitable[None]]


async def _label(forge: Forge, repo: str, change: Change, secret: Secret) -> None:
    if change.kind is C:
        await forge.create_label(repo, change.wanted)
    elif change.kind is D:
        await forge.delete_label(repo, change.current.name)
    else:  # update or rename: both address the label by its current name
        await forge.update_label(repo, change.current.name, change.wanted)


async def _repository(forge: Forge, repo: str, change: Change, secret: Secret) -> None:
    await forge.update_settings(repo, RepoSettings(**change.wanted))


async def _topics(forge: Forge, repo: str, change: Change, secret: Secret) -> None:
    await forge.set_topics(repo, change.wanted)


async def _milestone(forge: Forge, repo: str, change: Change, secret: Secret) -> None:
    if change.kind is C:
        await forge.create_milestone(repo, change.wanted)
    elif change.current.state == "open" and change.wanted == replace(change.current, state="closed"):
        await forge.close_milestone(repo, change.current.id)  # closing is all that changes
    else:
        await forge.update_milestone(repo, change.current.id, change.wanted)


async def _collaborator(forge: Forge, repo: str, change: Change, secret: Secret) -> None:
    if isinstance(change.current, Invitation):  # not accepted yet: the invitation is what changes
        if change.kind is D:
            await forge.delete_invitation(repo, change.current.id)
        else:
            await forge.update_invitation(repo, change.current.id, change.wanted.permission)
    elif change.kind is D:
        await forge.remove_collaborator(repo, change.current.login)
    else:
        await forge.add_collaborator(repo, change.wanted.login, change.wanted.permission)


async def _branch_protection(forge: Forge, repo: str, change: Change, secret: Secret) -> None:
    if change.kind is D:
        await forge.remove_protection(repo, change.name)
    else:
        await forge.set_protection(repo, change.wanted)


async def _webhook(forge: Forge, repo: str, change: Change, secret: Secret) -> None:
    if change.kind is D:
        await forge.delete_hook(repo, change.current.id)
    elif change.kind is C:
        await forge.create_hook(repo, change.wanted, secret(change.wanted.url))
    else:
        await forge.update_hook(repo, change.current.id, change.wanted, secret(change.wanted.url))


APPLIERS: Mapping[tuple[str, ChangeKind], Apply] = {
    **{("label", kind): _label for kind in (C, U, R, D)},
    ("repository", U): _repository,
    ("topics", U): _topics,
    **{("milestone", kind): _milestone for kind in (C, U)},
    **{("collaborator", kind): _collaborator for kind in (C, U, D)},
    **{("branch_protection", kind): _branch_protection for kind in (C, U, D)},
    **{("webhook", kind): _webhook for kind in (C, U, D)},
}


async def apply(forge: Forge, repo: str, changes: tuple[Change, ...], *, secret: Secret) -> list[Result]:
    """Apply each change in order; never stop at a failure, never raise for one."""
    results = []
    for change in changes:
        applier = APPLIERS.get((change.resource, change.kind))
        if applier is None:
            results.append(Result(change, False, f"no way to {change.kind} a {change.resource}"))
            continue
        try:
            await applier(forge, repo, change, secret)
        except (ForgeError, MissingSecret) as exc:
            results.append(Result(change, False, str(exc)))
        else:
            results.append(Result(change, True))
    return results
