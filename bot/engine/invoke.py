"""Running commands: resolve each one, check who may run it, run it, and answer once.

Answers follow one rule. All commands of a comment succeeded: a reaction on the comment and,
only when a result is news (a claim's expiry), one reply. Any failed: one reply listing each
failed command, why, and how to retry. Every reply carries a marker keyed by the comment and
its commands, so a retried or replayed delivery never posts it twice.
"""

from __future__ import annotations

import enum
import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.comments import post_once
from bot.engine.commands import Command
from bot.engine.router import CommandSpec
from bot.forges.base import Forge, ForgeError, Permission, PermissionDenied
from bot.permissions import PermissionCache, Rule

if TYPE_CHECKING:
    from bot.engine.context import Context
    from bot.events import Event
    from config.repo import RepoConfig

logger = logging.getLogger(__name__)

NAMESPACE = "forgebot"  # `/forgebot CMD ...` is `/CMD ...`; `/forgebot help` only this way
SUCCESS_REACTION = "+1"
FAILURE_REACTION = "confused"


class CommandFailed(Exception):
    """The command could not do what was asked; `reason` says why, `hint` how to retry."""

    def __init__(self, reason: str, hint: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.hint = hint


async def level_or_fail(level: Awaitable[Permission]) -> Permission:
    """A level the platform would not show the bot fails the command with the platform client's
    own line on what access forgebot needs: the same again fails again, so nothing retries it."""
    try:
        return await level
    except PermissionDenied as exc:
        if exc.status != 403:
            raise
        raise CommandFailed(exc.message) from None


class BadArguments(CommandFailed):
    """What was asked is malformed (a duration that is not one, say): the same again fails again."""


class Refusal(enum.Enum):
    """Why a command may not run, before its handler is asked."""

    TURNED_OFF = "turned off"  # the repository's config disables it
    WRONG_SUBJECT = "wrong subject"  # an issue command on a pull request, or the other way
    NOT_ALLOWED = "not allowed"  # the actor's level or name does not pass the rule


class Refused(CommandFailed):
    def __init__(self, kind: Refusal, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind


@dataclass
class Invocation:
    """One command, with everything its handler needs."""

    ctx: Context
    event: Event
    forge: Forge
    repo: str
    number: int
    actor: str
    command: Command
    spec: CommandSpec
    config: RepoConfig
    bot_login: str
    permissions: PermissionCache

    @property
    def args(self) -> tuple[str, ...]:
        return self.command.args[1:] if self.command.name == NAMESPACE else self.command.args

    @property
    def author(self) -> str | None:
        return self.event.issue.author if self.event.issue else None

    async def permission(self) -> Permission:
        """The level of whoever runs the command on this repository (the cache keeps it 60 s)."""
        return await level_or_fail(self.permissions.level(self.forge, self.repo, self.actor))

    async def may(self, level: Permission) -> bool:
        return await self.permission() >= level


@dataclass
class Outcome:
    command: Command
    ok: bool
    message: str = ""  # news on success, the reason on failure
    hint: str = ""
    replayed: bool = False  # ran before (an earlier delivery of the same comment)


def resolve(find: Callable[[str], CommandSpec | None], command: Command) -> tuple[CommandSpec | None, str | None]:
    """The spec a command line names, or (None, why not) for `/forgebot` with an unknown word."""
    if command.name == NAMESPACE:
        if not command.args:
            return None, "say what: `/forgebot help` lists the commands"
        spec = find(command.args[0])
        if spec is None:
            return None, f"`/forgebot {command.args[0]}` is not a forgebot command; `/forgebot help` lists them"
        return spec, None
    spec = find(command.name)
    if spec is not None and spec.name == "help":
        return None, None  # plain /help belongs to other bots ("help wanted"); ours is /forgebot help
    return spec, None


async def run_commands(
    ctx: Context,
    event: Event,
    commands: list[Command],
    *,
    actor: str,
    config: RepoConfig,
    comment_id: int | None,
    permissions: PermissionCache,
    reply_key: str | None = None,
    request: str | None = None,
) -> list[Outcome]:
    """Run `commands` in order as `actor` on the event's issue, then answer once.

    The answer reacts to `comment_id` when there is one; `reply_key` names the reply (default:
    the comment and its command lines, so an edit with new commands gets a reply of its own).
    `request` names what asked for the commands (default: the comment): each of its commands runs
    once however often it is delivered, and later deliveries answer with the first outcome.
    """
    issue, repo = event.issue, event.repo
    if issue is None or repo is None:
        return []
    forge = ctx.forge
    bot = await ctx.forges.bot_login(forge.platform)
    outcomes: list[Outcome] = []
    if request is None and comment_id is not None:
        request = str(comment_id)
    seen: dict[str, int] = {}
    for command in commands:
        spec, problem = resolve(ctx.router.find_command, command)
        if spec is not None and spec.active is not None and not spec.active(config):
            spec = None  # turned off by this repository's config: another bot's word, unless asked by name
            problem = f"/{command.args[0]} is not set up in this repository" if command.name == NAMESPACE else None
        if spec is None and not problem:
            continue  # someone else's /word
        # A comment's command runs once, however often its delivery comes (Gitea replays get new ids).
        seen[command.line] = seen.get(command.line, 0) + 1
        key = f"command:{forge.platform}:{repo.full_name.lower()}:{request}:{seen[command.line]}:{command.line}"
        before = await ctx.done_detail(key) if request is not None else None
        if before is not None:  # ran already: answer with what it said then
            outcomes.append(Outcome(command, bool(before["ok"]), str(before["message"]), str(before["hint"]), replayed=True))
            continue
        if spec is None:
            outcome = Outcome(command, False, problem or "")
        else:
            invocation = Invocation(ctx, event, forge, repo.full_name, issue.number, actor, command, spec, config, bot, permissions)
            outcome = await _run_one(invocation)
        outcomes.append(outcome)
        if request is not None:
            await ctx.mark_done(key, ok=outcome.ok, message=outcome.message, hint=outcome.hint)
    if not outcomes:
        return outcomes
    key = reply_key or _reply_key(comment_id, outcomes)
    # Commands are marked done before the answer goes out, so a delivery that failed while answering
    # comes back with every command replayed: answer again (post_once keeps it to one reply) until
    # the answer itself is marked done. Only a replay after that stays silent.
    answered = f"answered:{forge.platform}:{repo.full_name.lower()}:{key}"
    if all(o.replayed for o in outcomes) and await ctx.already_done(answered):
        return outcomes
    await _answer(forge, repo.full_name, issue.number, actor, comment_id, key, outcomes, bot)
    if request is not None:  # nothing else is replayed
        await ctx.mark_done(answered)
    return outcomes


async def check_allowed(
    spec: CommandSpec,
    config: RepoConfig,
    forge: Forge,
    *,
    actor: str,
    author: str | None,
    is_pull: bool,
    permission: Callable[[], Awaitable[Permission]],
) -> None:
    """Raise Refused unless `actor` may run `spec` here: enabled, on this kind of subject, by the rule.

    Comment commands, label triggers and the agent API all pass through here.
    """
    options = config.commands.get(spec.name)
    if spec.active is not None and not spec.active(config):
        raise Refused(Refusal.TURNED_OFF, f"/{spec.name} is not set up in this repository")
    if options is not None and not options.enabled:
        raise Refused(Refusal.TURNED_OFF, f"/{spec.name} is turned off in this repository")
    if (is_pull and not spec.on_pulls) or (not is_pull and not spec.on_issues):
        raise Refused(Refusal.WRONG_SUBJECT, f"/{spec.name} works on {'issues' if spec.on_issues else 'pull requests'} only")
    rule = Rule.of(spec, options)
    if not await rule.permits(actor, author=author, permission=lambda: level_or_fail(permission()),
                              capabilities=forge.capabilities):
        raise Refused(Refusal.NOT_ALLOWED, f"only {rule.describe(forge.capabilities)} may run /{spec.name}")


async def _run_one(inv: Invocation) -> Outcome:
    spec, command = inv.spec, inv.command
    try:
        await check_allowed(
            spec, inv.config, inv.forge, actor=inv.actor, author=inv.author,
            is_pull=bool(inv.event.issue and inv.event.issue.is_pull), permission=inv.permission,
        )
        news = await spec.handler(inv)
    except CommandFailed as failure:
        return Outcome(command, False, failure.reason, failure.hint)
    await inv.ctx.record(f"command.{spec.name}", actor=inv.actor, issue=inv.number, args=list(inv.args))
    return Outcome(command, True, news or "")


def _reply_key(comment_id: int | None, outcomes: list[Outcome]) -> str:
    digest = hashlib.sha256("\n".join(o.command.line for o in outcomes).encode()).hexdigest()[:12]
    return f"reply:{comment_id}:{digest}"


def render_reply(actor: str, outcomes: list[Outcome]) -> str | None:
    failed = [o for o in outcomes if not o.ok]
    news = [o for o in outcomes if o.ok and o.message]
    if not failed and not news:
        return None
    lines = [o.message for o in news]
    if not (lines and lines[0].startswith(f"@{actor}")):  # mention the actor once, not twice
        lines.insert(0, f"@{actor}")
    if failed:
        lines += ["", "Not done:"]
        for outcome in failed:
            hint = f" {outcome.hint}" if outcome.hint else ""
            lines.append(f"- `{outcome.command.line}`: {outcome.message}.{hint}")
        lines.append("")
        lines.append("Fix what is said and post the command again (editing this comment works too).")
    return "\n".join(lines)


async def _answer(
    forge: Forge, repo: str, number: int, actor: str, comment_id: int | None, key: str, outcomes: list[Outcome], bot: str
) -> None:
    body = render_reply(actor, outcomes)
    if body is not None:
        await post_once(forge, repo, number, key, body, bot)
    if comment_id is not None:
        reaction = SUCCESS_REACTION if all(o.ok for o in outcomes) else FAILURE_REACTION
        try:
            await forge.add_reaction(repo, comment_id, reaction)
        except ForgeError as exc:  # a reaction is a courtesy; the reply or the result stands
            logger.warning("could not react to a comment", extra={"repo": repo, "error": str(exc)})
