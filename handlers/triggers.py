"""Labels as commands: adding a configured label runs its command as whoever added it."""

from __future__ import annotations

import json
import sqlite3

from bot.commands import Command
from bot.context import Context
from bot.events import Event
from bot.forges.base import NotFound
from bot.invoke import run_commands
from bot.repoconfig import config_in_force
from bot.router import Router
from handlers.common import permissions

router = Router()


def _swap_labels(conn: sqlite3.Connection, platform: str, repo: str, number: int, labels: list[str]) -> list[str] | None:
    """Remember an issue's label set; return the one remembered before (None the first time)."""
    row = conn.execute(
        "SELECT labels FROM issue_labels WHERE platform = ? AND repo = ? AND number = ?", (platform, repo.lower(), number)
    ).fetchone()
    conn.execute(
        "INSERT OR REPLACE INTO issue_labels (platform, repo, number, labels) VALUES (?, ?, ?, ?)",
        (platform, repo.lower(), number, json.dumps(sorted(labels))),
    )
    return json.loads(row[0]) if row else None


async def _added_labels(event: Event, ctx: Context) -> list[str]:
    """Labels added by this event: GitHub names the one; Gitea sends the whole set, so compare."""
    assert event.issue is not None and event.repo is not None
    current = list(event.issue.labels)
    before = await ctx.store.run(_swap_labels, event.platform, event.repo.full_name, event.issue.number, current)
    if event.action == "labeled" and event.label:
        return [event.label]
    if event.action == "labels_changed":
        previous = {name.lower() for name in before or ()}
        return [name for name in current if name.lower() not in previous]
    return []


@router.on("issues", "labeled")
@router.on("pull_request", "labeled")
@router.on("issues", "labels_changed")
@router.on("pull_request", "labels_changed")
async def run_label_triggers(event: Event, ctx: Context) -> None:
    issue, repo, sender = event.issue, event.repo, event.sender
    if issue is None or repo is None or sender is None:
        return
    added = await _added_labels(event, ctx)
    if not added:
        return
    config = await config_in_force(ctx, event.platform, repo.full_name)
    triggers = {label.lower(): command for label, command in config.triggers.labels.items()}
    fired = [(label, triggers[label.lower()]) for label in added if label.lower() in triggers]
    if not fired or sender.login.lower() == (await ctx.forges.bot_login(event.platform)).lower():
        return
    for label, command in fired:
        # Take the label off first: if it is already gone, this trigger ran before (a redelivery).
        try:
            await ctx.forge.remove_label(repo.full_name, issue.number, label)
        except NotFound:
            continue
        await run_commands(
            ctx, event, [Command(command, (), f"label {label} -> /{command}")],
            actor=sender.login, config=config, comment_id=None, permissions=permissions(ctx),
            reply_key=f"label:{event.delivery_id}:{label}",
        )
