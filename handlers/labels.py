"""/label and /remove-label: only labels the repository has; restricted ones need their level."""

from __future__ import annotations

from bot.engine.invoke import CommandFailed, Invocation
from bot.engine.router import Level, Router
from bot.forges.base import NotFound
from bot.permissions import Rule

router = Router()


async def _resolve(inv: Invocation) -> list[str]:
    """The repository's own spelling of each label named; unknown or forbidden ones fail the command."""
    if not inv.args:
        raise CommandFailed("name at least one label", f"Like `/{inv.spec.name} bug`.")
    existing = {label.name.lower(): label.name for label in await inv.forge.list_labels(inv.repo)}
    unknown = [name for name in inv.args if name.lower() not in existing]
    if unknown:
        raise CommandFailed(
            f"this repository has no label {', '.join(repr(u) for u in unknown)}", "Check the spelling; labels with spaces need quotes."
        )
    names = [existing[name.lower()] for name in inv.args]
    options = inv.config.commands.get(inv.spec.name)
    restricted = {k.lower(): v for k, v in (options.restricted if options else {}).items()}
    capabilities = inv.forge.capabilities
    for name in names:
        level = restricted.get(name.lower())
        if level is None:
            continue
        rule = Rule(Level.parse(level))
        if not await rule.permits(inv.actor, author=inv.author, permission=inv.permission, capabilities=capabilities):
            raise CommandFailed(f"only {rule.describe(capabilities)} may use the label {name!r}")
    return names


@router.command("label", usage="/label NAME ...", description="Add labels that exist in the repository.", level=Level.TRIAGE)
async def label_command(inv: Invocation) -> None:
    await inv.forge.add_labels(inv.repo, inv.number, await _resolve(inv))


@router.command("remove-label", usage="/remove-label NAME ...", description="Remove labels from the issue.", level=Level.TRIAGE)
async def remove_label_command(inv: Invocation) -> None:
    for name in await _resolve(inv):
        try:
            await inv.forge.remove_label(inv.repo, inv.number, name)
        except NotFound:  # not on the issue: already the wanted state
            continue
