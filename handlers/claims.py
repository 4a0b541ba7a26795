"""Claims: /claim, /unclaim, /extend, lease expiry, and renewal by pushes and pull requests."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from bot.comments import post_once
from bot.engine.context import Context
from bot.engine.invoke import BadArguments, CommandFailed, Invocation
from bot.engine.router import Level, Router
from bot.events import Event
from bot.forges.base import Forge, ForgeError, Issue, NotFound, RateLimited, Unavailable
from bot.permissions import platform_level
from bot.repoconfig import config_in_force
from bot.storage.claims import Claim, ClaimOutcome
from config.repo import ClaimOptions, RepoConfig, format_duration, parse_duration
from handlers.common import ensure_label, ref, when

logger = logging.getLogger(__name__)
router = Router()

CLAIMED = "@{holder} claimed this until {until} ({duration}). `/unclaim` lets go of it, `/extend` asks for more time."
RENEWED = "@{holder} renewed the claim: until {until} ({duration})."
EXTENDED = "@{holder}'s claim now lasts until {until} ({duration})."
UNASSIGNABLE = "the platform would not assign @{login}, so the claim is withdrawn"
UNASSIGNABLE_HINT = "Only people with access to the repository can be assigned: ask a maintainer to give @{login} access."
EXPIRED = "@{holder}'s claim on this issue expired at {until}: it is free to take again with `/claim`."
REFERENCE_RE = re.compile(r"(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?|refs?|for)\s+#(\d+)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Lease:
    seconds: float
    text: str


def lease(options: ClaimOptions, requested: str | None) -> Lease:
    """The lease a claim asks for: the default, or DURATION, never past the maximum."""
    longest = parse_duration(options.max_duration)
    if requested is None:
        chosen = parse_duration(options.default_duration)
    else:
        try:
            chosen = parse_duration(requested)
        except ValueError:
            raise BadArguments(f"{requested!r} is not a duration", "Write it like 30m, 4h or 2d.") from None
        if chosen.total_seconds() <= 0:
            raise BadArguments("a claim needs a duration above zero")
        if chosen > longest:
            raise BadArguments(f"claims last at most {options.max_duration} here", f"Try `/claim {options.max_duration}`.")
    return Lease(chosen.total_seconds(), format_duration(chosen))


async def open_dependencies(ctx: Context, forge: Forge, platform: str, repo: str, number: int) -> list[str]:
    """References to the dependencies of an issue that are still open."""
    still_open = []
    for dep_repo, dep_number, _ in await ctx.storage.dependencies.of(platform, repo, number):
        try:
            if (await forge.get_issue(dep_repo, dep_number)).state == "open":
                still_open.append(ref(dep_repo, dep_number, repo))
        except NotFound:
            continue  # a dependency that no longer exists blocks nothing
    return still_open


async def assigned_by_platform(forge: Forge, repo: str, number: int, login: str) -> bool:
    """Whether `login` is assigned once the bot has asked for it, judged by the issue's state, not
    by an error code: GitHub drops whom it will not assign without a word, Gitea answers 500 (or
    422) and may have changed the list half way (its client reads the issue back then). A rate
    limit, a missing issue or a platform that failed (Unavailable: it said nothing about who may
    be assigned) propagates, and the delivery is tried again; so does a failure to read the issue back."""
    try:
        assignees = await forge.add_assignees(repo, number, [login])
    except (RateLimited, NotFound, Unavailable):
        raise
    except ForgeError as exc:
        logger.info("assignment refused; reading the issue", extra={"repo": repo, "issue": number, "error": str(exc)})
        assignees = (await forge.get_issue(repo, number)).assignees
    return login.lower() in {a.lower() for a in assignees}


async def claim_issue(
    ctx: Context, forge: Forge, repo: str, number: int, login: str, config: RepoConfig, duration: str | None,
    issue: Issue | None = None,
) -> str:
    """Give `login` the issue (`issue`: as the caller just read it); returns the news line.
    Raises CommandFailed with the reason."""
    options = config.claims
    chosen = lease(options, duration)
    issue = issue or await forge.get_issue(repo, number)
    if issue.state != "open":
        raise CommandFailed("the issue is closed", "Reopen it first.")
    blockers = await open_dependencies(ctx, forge, forge.platform, repo, number)
    if blockers:
        raise CommandFailed(f"it is blocked by {', '.join(blockers)}", "Claim it once they are closed, or `/undepend` them.")
    now = ctx.clock()
    request = ctx.event.delivery_id if ctx.event else None  # the agent API has no delivery: no retries either
    result = await ctx.storage.claims.claim(
        forge.platform, repo, number, login, now, now + chosen.seconds, options.max_per_user, request or None
    )
    if result.outcome is ClaimOutcome.HELD:
        assert result.claim is not None
        raise CommandFailed(f"claimed by @{result.claim.holder} until {when(result.claim.expires_at)}", "Ask them to `/unclaim`, or wait.")
    if result.outcome is ClaimOutcome.CAPPED:
        raise CommandFailed(
            f"you hold {result.held_by_claimant} claims already, the most allowed here", "`/unclaim` one of them first."
        )
    # The store decided; now make the platform say so (safe to repeat on a retry).
    assert result.claim is not None
    if not await assigned_by_platform(forge, repo, number, login):
        await ctx.storage.claims.withdraw(result.claim.id, ctx.clock(), "unassignable")
        await ctx.record("claim.refused", actor=login, repo=repo, issue=number, why="not assignable")
        raise CommandFailed(UNASSIGNABLE.format(login=login), UNASSIGNABLE_HINT.format(login=login))
    label = await ensure_label(ctx, forge, repo, options.label)
    await forge.add_labels(repo, number, [label])
    await ctx.record(f"claim.{result.outcome}", actor=login, repo=repo, issue=number, until=now + chosen.seconds)
    template = CLAIMED if result.outcome is ClaimOutcome.GRANTED else RENEWED
    return template.format(holder=login, until=when(now + chosen.seconds), duration=chosen.text)


async def release_claim(ctx: Context, forge: Forge, repo: str, number: int, config: RepoConfig, reason: str, holder: Claim) -> None:
    """Take the holder off the issue on the platform, then end the claim in the store."""
    try:
        await forge.remove_assignees(repo, number, [holder.holder])
    except NotFound:
        pass
    try:
        await forge.remove_label(repo, number, config.claims.label)
    except NotFound:  # already gone
        pass
    await ctx.storage.claims.release(forge.platform, repo, number, ctx.clock(), reason)
    await ctx.record(f"claim.released.{reason}", actor=holder.holder, repo=repo, issue=number)


async def extend_claim(ctx: Context, forge: Forge, repo: str, number: int, login: str, config: RepoConfig, duration: str | None) -> str:
    current = await ctx.storage.claims.active_claim(forge.platform, repo, number)
    if current is None:
        raise CommandFailed("nobody holds this issue", "`/claim` it instead.")
    if current.holder.lower() != login.lower():
        raise CommandFailed(f"only @{current.holder}, who holds it, can extend the claim")
    chosen = lease(config.claims, duration)
    until = ctx.clock() + chosen.seconds
    await ctx.storage.claims.extend(current.id, until)
    await ctx.record("claim.extended", actor=login, repo=repo, issue=number, until=until)
    return EXTENDED.format(holder=login, until=when(until), duration=chosen.text)


# -- commands -------------------------------------------------------------------------------------


@router.command(
    "claim",
    usage="/claim [DURATION]",
    description="Take the issue: you are assigned and it is labelled for DURATION (default 24h; 30m, 4h, 2d...).",
    level=Level.ANYONE,
    on_pulls=False,
)
async def claim_command(inv: Invocation) -> str:
    return await claim_issue(inv.ctx, inv.forge, inv.repo, inv.number, inv.actor, inv.config, inv.args[0] if inv.args else None)


@router.command(
    "unclaim",
    usage="/unclaim",
    description="Let go of the issue (the holder; triage and up for someone else's claim).",
    level=Level.ANYONE,
    on_pulls=False,
)
async def unclaim_command(inv: Invocation) -> None:
    current = await inv.ctx.storage.claims.active_claim(inv.forge.platform, inv.repo, inv.number)
    if current is None:
        raise CommandFailed("nobody holds this issue")
    if current.holder.lower() != inv.actor.lower() and not await inv.may(platform_level(Level.TRIAGE, inv.forge.capabilities)):
        raise CommandFailed(f"@{current.holder} holds it; only they, or triage access and up, can release it")
    await release_claim(inv.ctx, inv.forge, inv.repo, inv.number, inv.config, "unclaimed", current)


@router.command(
    "extend",
    usage="/extend [DURATION]",
    description="Make your claim last DURATION from now (default 24h), up to the repository's maximum.",
    level=Level.ANYONE,
    on_pulls=False,
)
async def extend_command(inv: Invocation) -> str:
    return await extend_claim(inv.ctx, inv.forge, inv.repo, inv.number, inv.actor, inv.config, inv.args[0] if inv.args else None)


# -- leases ---------------------------------------------------------------------------------------


@router.job("expire-claims", every=60)
async def expire_claims(ctx: Context) -> None:
    """Release every claim whose lease ran out: unassign, unlabel, say so once."""
    for claim in await ctx.storage.claims.expired(ctx.clock()):
        try:
            forge = ctx.forges.get(claim.platform)
            config = await config_in_force(ctx, claim.platform, claim.repo)
            bot = await ctx.forges.bot_login(claim.platform)
            message = EXPIRED.format(holder=claim.holder, until=when(claim.expires_at))
            try:
                await post_once(forge, claim.repo, claim.number, f"claim-expired:{claim.id}", message, bot)
            except NotFound:  # the issue or its repository is gone: nobody to tell, and the claim still ends
                pass
            await release_claim(ctx, forge, claim.repo, claim.number, config, "expired", claim)
        except ForgeError as exc:  # tried again next minute
            logger.warning("could not release an expired claim", extra={"repo": claim.repo, "issue": claim.number, "error": str(exc)})


async def _renew(ctx: Context, event: Event, config: RepoConfig, numbers: set[int], login: str, why: str) -> None:
    """Make the holder's lease last at least the default duration from now; a longer one stays."""
    assert event.repo is not None
    repo = event.repo.full_name
    for number in sorted(numbers):
        current = await ctx.storage.claims.active_claim(event.platform, repo, number)
        if current is None or current.holder.lower() != login.lower():
            continue
        until = ctx.clock() + parse_duration(config.claims.default_duration).total_seconds()
        if until <= current.expires_at:
            continue
        await ctx.storage.claims.extend(current.id, until)
        await ctx.record("claim.renewed", actor=login, issue=number, until=until, by=why)


@router.on("push")
async def renew_claims_on_push(event: Event, ctx: Context) -> None:
    if event.push is None or event.repo is None or event.sender is None or event.push.branch is None:
        return
    config = await config_in_force(ctx, event.platform, event.repo.full_name)
    if not config.claims.renew_on_push:
        return
    prefix = re.escape(config.worktrees.branch_prefix)
    match = re.match(rf"^(?:{prefix})?(\d+)(?:\D|$)", event.push.branch)
    if match:
        await _renew(ctx, event, config, {int(match.group(1))}, event.sender.login, f"push to {event.push.branch}")


@router.on("pull_request", "opened")
@router.on("pull_request", "synchronize")
async def renew_claims_on_pull_request(event: Event, ctx: Context) -> None:
    issue = event.issue
    if issue is None or event.repo is None or issue.author is None:
        return
    config = await config_in_force(ctx, event.platform, event.repo.full_name)
    if not config.claims.renew_on_pull_request:
        return
    numbers = {int(n) for n in REFERENCE_RE.findall(f"{issue.title}\n{issue.body}")}
    if numbers:
        await _renew(ctx, event, config, numbers, issue.author, f"pull request #{issue.number}")
