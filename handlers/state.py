"""/close and /reopen."""

from __future__ import annotations

from bot.engine.invoke import CommandFailed, Invocation
from bot.engine.router import Level, Router

router = Router()


@router.command("close", usage="/close", description="Close the issue or pull request.", level=Level.AUTHOR)
async def close_command(inv: Invocation) -> None:
    if (await inv.forge.get_issue(inv.repo, inv.number)).state == "closed":
        return  # already what was asked
    await inv.forge.close_issue(inv.repo, inv.number)


@router.command("reopen", usage="/reopen", description="Reopen the issue or pull request.", level=Level.AUTHOR)
async def reopen_command(inv: Invocation) -> None:
    issue = await inv.forge.get_issue(inv.repo, inv.number)
    if issue.state == "open":
        return
    if issue.is_pull:
        pull = await inv.forge.get_pull(inv.repo, inv.number)
        if pull.merged:
            raise CommandFailed("a merged pull request cannot be reopened")
    await inv.forge.reopen_issue(inv.repo, inv.number)
