"""Dependencies: /depends-on, /blocks, /undepend, "Depends on #N" lines, the blocked label, the sweep."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping

from bot.comments import post_once, upsert_comment
from bot.engine.context import Context
from bot.engine.invoke import CommandFailed, Invocation
from bot.engine.router import Level, Router
from bot.events import Event
from bot.forges.base import Forge, ForgeError, Issue, NotFound, Permission, PermissionDenied
from bot.issue_dependencies import IssueRef, body_dependencies, parse_refs
from bot.permissions import PermissionCache, platform_level
from bot.repoconfig import config_in_force
from handlers.common import ensure_label, permissions, ref

logger = logging.getLogger(__name__)
router = Router()

STATUS_KEY = "dependencies"
UNBLOCKED = "Every dependency of this issue is closed: it is ready to be worked on."
# One answer for "no such issue" and "not yours to see", so a refusal tells nothing about other repositories.
NOT_VISIBLE = "there is no issue {ref} you can see"
SWEEP_SECONDS = 600


async def level_elsewhere(cache: PermissionCache, forge: Forge, repo: str, login: str) -> Permission:
    """`login`'s level on `repo`; a repository the bot may not ask about counts as no access."""
    return await cache.level_or_none(forge, repo, login)


async def _visible_issue(inv: Invocation, repo: str, number: int, *, writes: bool) -> Issue | None:
    """The issue, if the actor may name it; None for no such issue and for no access alike.

    In this repository the command's own rule has been checked; in another, the actor must read
    it. To make an issue wait (`writes`: the bot labels it blocked, which also keeps it from
    being claimed), the actor must be that issue's author or have triage and up where it is:
    CommandFailed says so in this repository, elsewhere the answer is the same None as for no
    access.
    """
    elsewhere = repo.lower() != inv.repo.lower()
    level = Permission.NONE
    if elsewhere or writes:
        level = await level_elsewhere(inv.permissions, inv.forge, repo, inv.actor)
        if elsewhere and level < Permission.READ:
            return None
    try:
        issue = await inv.forge.get_issue(repo, number)
    except (NotFound, PermissionDenied):
        return None
    if not writes or level >= platform_level(Level.TRIAGE, inv.forge.capabilities):
        return issue
    if (issue.author or "").lower() == inv.actor.lower():
        return issue
    if elsewhere:
        return None
    raise CommandFailed(
        f"only the author of #{number}, or triage access and up, can make it wait for this issue",
        f"Ask them to comment `/depends-on #{inv.number}` there.",
    )


async def _issues(inv: Invocation, *, writes: bool) -> dict[IssueRef, Issue]:
    """The issues the command names, fetched once, in order; refused as a whole if one may not be named."""
    refs = parse_refs(" ".join(inv.args), inv.repo)
    if not refs:
        raise CommandFailed("name the issues", f"Like `/{inv.spec.name} #12 owner/repo#3`.")
    found: dict[IssueRef, Issue] = {}
    for dep_repo, dep_number in refs:
        issue = await _visible_issue(inv, dep_repo, dep_number, writes=writes)
        if issue is None:
            raise CommandFailed(NOT_VISIBLE.format(ref=ref(dep_repo, dep_number, inv.repo)))
        found[(dep_repo, dep_number)] = issue
    return found


def status_line(dep: IssueRef, issue: Issue | None, source: str, here: str) -> str:
    """One line of the status comment. An issue of another repository shows no title: the forge
    renders the reference for each reader with what they may see, and the bot may see more."""
    name = ref(dep[0], dep[1], here)
    if issue is None:
        return f"- ~~{name}~~ (does not exist)"
    mark = "x" if issue.state == "closed" else " "
    shown = issue.title if dep[0].lower() == here.lower() else f"({issue.state})"
    origin = " (from the description)" if source == "body" else ""
    return f"- [{mark}] {name} {shown}{origin}"


async def _read_issue(forge: Forge, repo: str, number: int, known: Mapping[IssueRef, Issue]) -> Issue | None:
    """The issue as the caller just read it, else from the platform; None when it does not exist."""
    found = known.get((repo.lower(), number))
    if found is not None:
        return found
    try:
        return await forge.get_issue(repo, number)
    except NotFound:
        return None


async def refresh(
    ctx: Context, forge: Forge, repo: str, number: int, known: Mapping[IssueRef, Issue] | None = None
) -> None:
    """Re-derive an issue's blocked state from the platform: label, status comment, the news.

    `known`: issues the caller has just read, keyed by (lowercase repo, number), not read again.
    """
    known = known or {}
    edges = await ctx.storage.dependencies.of(forge.platform, repo, number)
    config = await config_in_force(ctx, forge.platform, repo)
    issue = known.get((repo.lower(), number)) or await forge.get_issue(repo, number)
    lines, blocked, seen = [], False, []
    for dep_repo, dep_number, source in edges:
        dep = await _read_issue(forge, dep_repo, dep_number, known)
        lines.append(status_line((dep_repo, dep_number), dep, source, repo))
        if dep is not None:
            blocked |= dep.state == "open"
            seen.append(f"{dep_repo}#{dep_number}:{dep.state}")
    label = config.dependencies.label
    has_label = label.lower() in (name.lower() for name in issue.labels)
    bot = await ctx.forges.bot_login(forge.platform)
    if edges:
        state = "**Blocked**: some dependencies are open." if blocked else "Not blocked: every dependency is closed."
        await upsert_comment(forge, repo, number, STATUS_KEY, f"### Dependencies\n\n{state}\n\n" + "\n".join(lines), bot)
    if blocked and not has_label and issue.state == "open":
        await forge.add_labels(repo, number, [await ensure_label(ctx, forge, repo, label)])
        await ctx.record("dependencies.blocked", repo=repo, issue=number)
    elif not blocked and has_label:
        # Say it once per state of the dependencies, then take the label off.
        digest = hashlib.sha256(",".join(sorted(seen)).encode()).hexdigest()[:12]
        await post_once(forge, repo, number, f"unblocked:{digest}", UNBLOCKED, bot)
        try:
            await forge.remove_label(repo, number, label)
        except NotFound:
            pass
        await ctx.record("dependencies.unblocked", repo=repo, issue=number)


async def _refresh_dependents(ctx: Context, forge: Forge, repo: str, number: int) -> None:
    for dep_repo, dep_number in await ctx.storage.dependencies.dependents(forge.platform, repo, number):
        try:
            await refresh(ctx, forge, dep_repo, dep_number)
        except ForgeError as exc:  # the sweep heals it later
            logger.warning("could not refresh a dependent", extra={"repo": dep_repo, "issue": dep_number, "error": str(exc)})


# -- commands -------------------------------------------------------------------------------------


@router.command(
    "depends-on",
    usage="/depends-on #N [owner/repo#N ...]",
    description="This issue waits for those: it is labelled blocked while any of them is open.",
    level=Level.AUTHOR,
)
async def depends_on_command(inv: Invocation) -> None:
    found = await _issues(inv, writes=False)
    _, cycles = await inv.ctx.storage.dependencies.add(
        inv.forge.platform, (inv.repo, inv.number), list(found), "command", inv.ctx.clock()
    )
    await refresh(inv.ctx, inv.forge, inv.repo, inv.number, known=found)
    if cycles:
        names = ", ".join(ref(r, n, inv.repo) for r, n in cycles)
        raise CommandFailed(f"{names} already depends on this issue (directly or not): that would be a cycle")


@router.command(
    "blocks",
    usage="/blocks #N [owner/repo#N ...]",
    description="Those issues wait for this one.",
    level=Level.AUTHOR,
)
async def blocks_command(inv: Invocation) -> None:
    refused = []
    for (dep_repo, dep_number), target in (await _issues(inv, writes=True)).items():
        _, cycles = await inv.ctx.storage.dependencies.add(
            inv.forge.platform, (dep_repo, dep_number), [(inv.repo, inv.number)], "command", inv.ctx.clock()
        )
        if cycles:
            refused.append(ref(dep_repo, dep_number, inv.repo))
        else:
            await refresh(inv.ctx, inv.forge, dep_repo, dep_number, known={(dep_repo, dep_number): target})
    if refused:
        raise CommandFailed(f"this issue already depends on {', '.join(refused)}: that would be a cycle")


@router.command(
    "undepend",
    usage="/undepend #N [owner/repo#N ...]",
    description="This issue no longer waits for those.",
    level=Level.AUTHOR,
)
async def undepend_command(inv: Invocation) -> None:
    refs = parse_refs(" ".join(inv.args), inv.repo)
    if not refs:
        raise CommandFailed("name the issues", "Like `/undepend #12`.")
    removed = await inv.ctx.storage.dependencies.remove(inv.forge.platform, (inv.repo, inv.number), refs)
    await refresh(inv.ctx, inv.forge, inv.repo, inv.number)
    in_body = [r for r in refs if r in body_dependencies(inv.event.issue.body if inv.event.issue else "", inv.repo)]
    if in_body:
        raise CommandFailed(
            f"the description still says it depends on {', '.join(ref(r, n, inv.repo) for r, n in in_body)}",
            "Edit the description too, or the line brings it back.",
        )
    if not removed:
        raise CommandFailed("this issue did not depend on those")


# -- events and the sweep -------------------------------------------------------------------------


async def _lines_to_follow(
    ctx: Context, here: str, number: int, editor: str | None, wanted: list[IssueRef]
) -> list[IssueRef]:
    """The description's references the bot follows. One naming another repository counts only when
    whoever wrote the description can read that repository, as for /depends-on; one followed
    already stays followed whoever edits the description next."""
    edges = await ctx.storage.dependencies.of(ctx.forge.platform, here, number)
    followed = {(r, n) for r, n, source in edges if source == "body"}
    kept = []
    for dep in wanted:
        if dep[0] == here.lower() or dep in followed:
            kept.append(dep)
        elif editor and await level_elsewhere(permissions(ctx), ctx.forge, dep[0], editor) >= Permission.READ:
            kept.append(dep)
        else:
            logger.info(
                "ignored a dependency line on a repository its editor cannot read",
                extra={"repo": here, "issue": number, "dependency": f"{dep[0]}#{dep[1]}", "editor": editor},
            )
    return kept


@router.on("issues", "opened")
@router.on("issues", "edited")
async def follow_the_description(event: Event, ctx: Context) -> None:
    issue, repo = event.issue, event.repo
    if issue is None or repo is None:
        return
    editor = event.sender.login if event.sender else None
    wanted = await _lines_to_follow(ctx, repo.full_name, issue.number, editor, body_dependencies(issue.body, repo.full_name))
    added, removed, cycles = await ctx.storage.dependencies.sync_body(
        event.platform, (repo.full_name, issue.number), wanted, ctx.clock()
    )
    if added or removed or cycles:
        await refresh(ctx, ctx.forge, repo.full_name, issue.number)


@router.on("issues", "closed")
@router.on("issues", "reopened")
@router.on("pull_request", "closed")
@router.on("pull_request", "reopened")
async def update_dependents(event: Event, ctx: Context) -> None:
    if event.issue is not None and event.repo is not None:
        await _refresh_dependents(ctx, ctx.forge, event.repo.full_name, event.issue.number)


@router.job("dependency-sweep", every=SWEEP_SECONDS, jitter=30)
async def sweep_dependencies(ctx: Context) -> None:
    """Re-derive every blocked state from the platform, so a lost webhook heals.

    A closed issue without the blocked label has nothing to heal: one read of it and no more (its
    edges stay, for when it is reopened; a closed issue is never labelled blocked).
    """
    for platform in ctx.forges.configured:
        forge = ctx.forges.get(platform)
        for repo, number in await ctx.storage.dependencies.issues_with_dependencies(platform):
            try:
                issue = await forge.get_issue(repo, number)
                label = (await config_in_force(ctx, platform, repo)).dependencies.label
                if issue.state == "closed" and label.lower() not in (name.lower() for name in issue.labels):
                    continue
                await refresh(ctx, forge, repo, number, known={(repo.lower(), number): issue})
            except ForgeError as exc:
                logger.warning("dependency sweep: %s", exc, extra={"repo": repo, "issue": number})
