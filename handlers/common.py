"""Small helpers the command handlers share: times, issue references, labels that must exist."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.engine.context import Context
from bot.forges.base import Conflict, Forge, Label
from bot.permissions import PermissionCache

DEFAULT_COLORS = {"status/claimed": "fbca04", "status/blocked": "b60205"}


def when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M UTC")


def ref(repo: str, number: int, here: str) -> str:
    """`#12` for this repository, `owner/repo#12` for another."""
    return f"#{number}" if repo.lower() == here.lower() else f"{repo}#{number}"


def permissions(ctx: Context) -> PermissionCache:
    return ctx.services.permissions


async def ensure_label(ctx: Context, forge: Forge, repo: str, name: str) -> str:
    """The repository's label called `name` (any case), created when missing; returns its name.

    GitHub creates unknown labels when they are added to an issue and Gitea ignores them, so the
    bot makes sure the labels it manages exist before it uses them (checked once per process).
    """
    known = ctx.services.known_labels
    key = (forge.platform, repo.lower(), name.lower())
    if key in known:
        return known[key]
    for label in await forge.list_labels(repo):
        if label.name.lower() == name.lower():
            known[key] = label.name
            return label.name
    try:
        await forge.create_label(repo, Label(name, DEFAULT_COLORS.get(name, "ededed"), "Managed by forgebot"))
    except Conflict:  # created meanwhile
        pass
    known[key] = name
    return name
