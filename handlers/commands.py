"""Comments as commands: find the command lines of a new or edited comment and run them."""

from __future__ import annotations

import re

from bot.comments import is_bot_comment
from bot.engine.commands import Command, new_commands, parse
from bot.engine.context import Context
from bot.engine.invoke import NAMESPACE, run_commands
from bot.engine.router import Router
from bot.events import Event
from bot.repoconfig import config_in_force
from handlers.common import permissions

router = Router()
# A quick look for a line starting with /word, before any real parsing or I/O.
COMMAND_LINE_RE = re.compile(r"^ {0,3}/[A-Za-z]", re.MULTILINE)


def _ours(ctx: Context, commands: list[Command]) -> list[Command]:
    """Commands forgebot knows, and `/forgebot ...`; other bots' /words are left alone."""
    return [c for c in commands if c.name == NAMESPACE or ctx.router.find_command(c.name) is not None]


def has_command_line(event: Event) -> bool:
    return event.comment is not None and COMMAND_LINE_RE.search(event.comment.body) is not None


@router.on("issue_comment", "created", when=has_command_line)
@router.on("issue_comment", "edited", when=has_command_line)
async def run_comment_commands(event: Event, ctx: Context) -> None:
    comment, issue, repo = event.comment, event.issue, event.repo
    if comment is None or issue is None or repo is None or comment.author is None:
        return
    if is_bot_comment(comment.body):
        return
    found = parse(comment.body) if event.action == "created" else new_commands(comment.body, comment.previous_body)
    commands = _ours(ctx, found)
    if not commands:
        return
    if comment.author.lower() == (await ctx.forges.bot_login(event.platform)).lower():
        return
    config = await config_in_force(ctx, event.platform, repo.full_name)
    await run_commands(
        ctx, event, commands, actor=comment.author, config=config, comment_id=comment.id, permissions=permissions(ctx)
    )
