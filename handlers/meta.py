"""Deliveries about the bot's own hooks and installations, recorded in the activity log."""

from __future__ import annotations

from bot.engine.context import Context
from bot.engine.router import Router
from bot.events import Event

router = Router()


@router.on("ping")
async def record_ping(event: Event, ctx: Context) -> None:
    hook = event.payload.get("hook") or {}
    await ctx.record("hook.ping", hook_id=event.payload.get("hook_id"), events=hook.get("events"))


@router.on("installation")
@router.on("installation_repositories")
async def record_installation_change(event: Event, ctx: Context) -> None:
    added = [r.get("full_name") for r in event.payload.get("repositories_added") or ()]
    removed = [r.get("full_name") for r in event.payload.get("repositories_removed") or ()]
    account = (event.payload.get("installation") or {}).get("account") or {}
    await ctx.record(
        f"installation.{event.action}",
        installation=event.installation_id,
        account=account.get("login"),
        added=added,
        removed=removed,
    )
