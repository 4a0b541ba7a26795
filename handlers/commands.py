"""Comments as commands: find the command lines of a new or edited comment and run them."""

from __future__ import annotations

import re

from bot.comments import is_bot_comment
from bot.engine.commands import Command, new_commands, parse
from bot.engine.context import Context
from bot.engine.invoke import NAMESPACE, run_commands
from bot.engine.leadership import WORKTREES
from bot.engine.router import Router
from bot.events import Event
from bot.repoconfig import config_in_force
from handlers.common import permissions

router = Router()
# A quick look for a line starting with /word, before any real parsing or I/O.
COMMAND_LINE_RE = re.compile(r"^ {0,3}/[A-Za-z]", re.MULTILINE)
# Commands that work on the worktree root (handlers/worktrees.py), so on the worktree host.
WORKTREE_COMMANDS = frozenset({"start"})


def _ours(ctx: Context, commands: list[Command]) -> list[Command]:
    """Commands forgebot knows, and `/forgebot ...`; other bots' /words are left alone."""
    return [c for c in commands if c.name == NAMESPACE or ctx.router.find_command(c.name) is not None]


def has_command_line(event: Event) -> bool:
    return event.comment is not None and COMMAND_LINE_RE.search(event.comment.body) is not None


def names_a_worktree_command(event: Event) -> bool:
    """Whether the comment names a command that works on the worktree root (/start, or
    `/forgebot start`): with several replicas, it must run where the root is."""
    if event.comment is None or not has_command_line(event):
        return False
    named = {c.args[0].lower() if c.name == NAMESPACE and c.args else c.name for c in parse(event.comment.body)}
    return not named.isdisjoint(WORKTREE_COMMANDS)


def runs_anywhere(event: Event) -> bool:
    return has_command_line(event) and not names_a_worktree_command(event)


@router.on("issue_comment", "created", when=runs_anywhere)
@router.on("issue_comment", "edited", when=runs_anywhere)
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


@router.on("issue_comment", "created", when=names_a_worktree_command, needs=WORKTREES)
@router.on("issue_comment", "edited", when=names_a_worktree_command, needs=WORKTREES)
async def run_comment_commands_on_the_worktree_host(event: Event, ctx: Context) -> None:
    """The same for a comment that names a worktree command: the delivery is handed to the
    replica that holds the worktree root (the other commands of the comment run there too)."""
    await run_comment_commands(event, ctx)
