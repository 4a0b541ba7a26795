"""Review commands: /lgtm, /approve, /hold, /unhold, /merge, /cc, /uncc (with a `review` section).

The commands only check who may say them, so that a refusal gets a reply; what they mean is
derived from the whole history by handlers/review.py, which runs after them on the same comment.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from bot.engine.invoke import BadArguments, CommandFailed, Invocation
from bot.engine.router import Level, Router
from bot.forges.base import ForgeError, MergeMethod
from bot.review.owners import OwnersError, changed_paths, requirements
from bot.review.state import may_approve
from config.repo import LOGIN_RE, review_enabled
from handlers.review import BrokenOwners, derive_pull, rules_for
from handlers.review_merge import MergeRefused, merge_when_ready
from handlers.review_reads import pull_and_changes, read_owners

router = Router()
CANCEL = ("cancel",)
MAX_CC = 10


def _is_author(inv: Invocation) -> bool:
    return (inv.author or "").lower() == inv.actor.lower()


def _cancel(inv: Invocation) -> bool:
    if inv.args and tuple(a.lower() for a in inv.args) != CANCEL:
        raise BadArguments(f"`/{inv.spec.name}` takes nothing or `cancel`")
    return bool(inv.args)


@router.command(
    "lgtm", usage="/lgtm [cancel]", level=Level.ANYONE, on_issues=False, active=review_enabled,
    description="Say the change looks good (`review.lgtm_level`, write by default; never the author, who may cancel).",
)
async def lgtm_command(inv: Invocation) -> None:
    cancel = _cancel(inv)
    if _is_author(inv) and not cancel:
        raise CommandFailed("you cannot /lgtm your own pull request", "Ask a reviewer.")
    needed = rules_for(inv.config, inv.forge).lgtm_level
    if not (cancel and _is_author(inv)) and await inv.permission() < needed:
        raise CommandFailed(f"only {needed.label} access and up may /lgtm here")


@router.command(
    "approve", usage="/approve [cancel]", level=Level.ANYONE, on_issues=False, active=review_enabled,
    description="Approve the files you own in OWNERS (or as `review.approvers`, else write access); cancel withdraws it.",
)
async def approve_command(inv: Invocation) -> None:
    if _cancel(inv):
        return
    rules = rules_for(inv.config, inv.forge)
    if _is_author(inv) and not rules.author_can_approve:
        raise CommandFailed("the author's own approval does not count here", "Ask an approver (see the review summary).")
    pull, changes = await pull_and_changes(inv.ctx, inv.forge, inv.repo, inv.number)
    changed = changed_paths(changes)
    try:
        owners = await read_owners(inv.ctx, inv.forge, inv.repo, pull.base_ref, changed)
    except OwnersError as exc:
        raise CommandFailed(f"cannot read {exc}") from None
    level = await inv.permission()
    levels = {inv.actor.lower(): level}
    needed = requirements(owners, changed, rules.fallback_approvers)
    if not any(may_approve(inv.actor.lower(), r, levels, rules) for r in needed):
        raise CommandFailed("you are not an approver of any file this pull request changes", "The review summary says whom to ask.")


@router.command(
    "hold", usage="/hold [cancel]", level=Level.AUTHOR, on_issues=False, active=review_enabled,
    description="Keep the pull request from merging, whatever else is true; `cancel` releases it.",
)
async def hold_command(inv: Invocation) -> None:
    _cancel(inv)


@router.command(
    "unhold", usage="/unhold", level=Level.AUTHOR, on_issues=False, active=review_enabled,
    description="Release a hold (the same as `/hold cancel`).",
)
async def unhold_command(inv: Invocation) -> None:
    if inv.args:
        raise BadArguments("`/unhold` takes nothing")


@router.command(
    "merge", usage="/merge [merge|squash|rebase]", level=Level.WRITE, on_issues=False, active=review_enabled,
    description="Merge now if review says it is ready (with `review.merge: command` or `auto`).",
)
async def merge_command(inv: Invocation) -> None:
    if inv.config.review.merge == "off":
        raise CommandFailed("merging by command is off here", "Set `review.merge: command` in .forgebot.yml.")
    method = inv.args[0].lower() if inv.args else None
    if method is not None and method not in {m.value for m in MergeMethod}:
        raise BadArguments(f"{method!r} is not a merge method", "Use merge, squash or rebase.")
    try:
        found = await derive_pull(inv.ctx, inv.forge, inv.repo, inv.number, config=inv.config)
    except BrokenOwners as broken:
        raise CommandFailed(f"not ready: cannot read {broken.problem}") from None
    if found is None:
        raise CommandFailed("the pull request is not open")
    derived = found[0]
    if derived.missing:
        raise CommandFailed(f"not ready: {derived.missing[0]}", "The review summary lists what is missing.")
    try:
        await merge_when_ready(inv.ctx, inv.forge, inv.repo, derived.pull, inv.config, method, by_command=True)
    except MergeRefused as refused:
        raise CommandFailed(refused.line.removeprefix("Could not merge: ").split(". ", 1)[0],
                            refused.line.split(". ", 1)[-1]) from None


def _logins(inv: Invocation) -> list[str]:
    """The people named: real logins only, and a few at a time (anyone may open a pull request,
    so its author must not be able to ask the platform about thousands of names in one comment)."""
    logins = list(dict.fromkeys(a.lstrip("@") for a in inv.args if a.strip("@")))
    if not logins:
        raise BadArguments("name the people", f"Like `/{inv.spec.name} @alice`.")
    if len(logins) > MAX_CC:
        raise BadArguments(f"name at most {MAX_CC} people at a time")
    bad = [name for name in logins if not LOGIN_RE.match(name)]
    if bad:
        raise BadArguments(f"{bad[0][:40]!r} is not a login")
    return logins


@router.command(
    "cc", usage="/cc @user ...", level=Level.AUTHOR, on_issues=False, active=review_enabled,
    description="Ask these people to review.",
)
async def cc_command(inv: Invocation) -> None:
    await _ask(inv, inv.forge.request_reviewers, "ask them")


@router.command(
    "uncc", usage="/uncc @user ...", level=Level.AUTHOR, on_issues=False, active=review_enabled,
    description="Withdraw the request for these people's review.",
)
async def uncc_command(inv: Invocation) -> None:
    await _ask(inv, inv.forge.remove_requested_reviewers, "withdraw the request")


async def _ask(inv: Invocation, call: Callable[[str, int, Sequence[str]], Awaitable[None]], what: str) -> None:
    try:
        await call(inv.repo, inv.number, _logins(inv))
    except ForgeError as exc:
        raise CommandFailed(f"the platform would not {what}: {exc.message}", "Only collaborators can be asked.") from None

