"""/assign and /unassign."""

from __future__ import annotations

from bot.engine.invoke import CommandFailed, Invocation
from bot.engine.router import Level, Router
from config.repo import LOGIN_RE

router = Router()


def _logins(inv: Invocation) -> list[str]:
    """The users named (`@alice bob`), or the commenter when none is."""
    names = [arg.lstrip("@") for arg in inv.args] or [inv.actor]
    bad = [name for name in names if not LOGIN_RE.match(name)]
    if bad:
        raise CommandFailed(f"{', '.join(repr(b) for b in bad)} {'is not a login' if len(bad) == 1 else 'are not logins'}")
    return names


@router.command("assign", usage="/assign [@user ...]", description="Assign the users named, or yourself.", level=Level.TRIAGE)
async def assign_command(inv: Invocation) -> None:
    logins = _logins(inv)
    now = await inv.forge.add_assignees(inv.repo, inv.number, logins)
    missing = [login for login in logins if login.lower() not in {a.lower() for a in now}]
    if missing:
        raise CommandFailed(f"the platform would not assign {', '.join('@' + m for m in missing)}", "Only people with access to the repository can be assigned.")


@router.command("unassign", usage="/unassign [@user ...]", description="Unassign the users named, or yourself.", level=Level.TRIAGE)
async def unassign_command(inv: Invocation) -> None:
    await inv.forge.remove_assignees(inv.repo, inv.number, _logins(inv))
