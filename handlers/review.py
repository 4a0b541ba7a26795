"""Review: each pull request's state derived again on every relevant event and by a sweep.

What it reads: the pull request, its comments and reviews, the files it changes, and the OWNERS
files of its base branch. What it writes, only when something differs: the labels (lgtm,
approved, hold), one summary comment edited in place, one `forgebot/review` commit status on the
head, and, with `review.merge: auto`, the merge. The commands are in handlers/review_commands.py.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from bot.comments import marker, with_marker
from bot.engine.context import Context
from bot.engine.router import Level, Router
from bot.events import Event
from bot.forges.base import (
    Comment,
    CommitStatus,
    Forge,
    ForgeError,
    Invalid,
    NotFound,
    Permission,
    PullRequest,
    Review,
    StatusState,
)
from bot.permissions import platform_level
from bot.repoconfig import config_in_force
from bot.review import summary
from bot.review.choose import choose_reviewers, reviewer_weights
from bot.review.owners import ALIASES, OWNERS, OwnersError, changed_paths
from bot.review.state import Facts, ReviewState, Rules, derive, people
from bot.review.summary import STATUS_CONTEXT, Memo, Readiness
from config.repo import RepoConfig, review_enabled
from handlers.common import ensure_label, permissions
from handlers.review_merge import MergeRefused, merge_when_ready
from handlers.review_reads import (
    advance_memo,
    forget_owners,
    pull_and_changes,
    read_owners,
    remarks_of,
    required_checks,
)

logger = logging.getLogger(__name__)
router = Router()

SUMMARY_KEY = "review"
SWEEP_SECONDS = 600
REVIEW_WORD_RE = re.compile(r"^ {0,3}/(?:forgebot\s+)?(?:lgtm|approve|hold|unhold)\b", re.IGNORECASE | re.MULTILINE)


@dataclass(frozen=True)
class Derived:
    """One derivation: the pull request as read, the state, and whether it may merge."""

    pull: PullRequest
    state: ReviewState
    readiness: Readiness
    config: RepoConfig

    @property
    def missing(self) -> list[str]:
        return summary.missing(self.state, self.readiness)


def rules_for(config: RepoConfig, forge: Forge) -> Rules:
    options = config.review
    lgtm = Permission.READ if options.lgtm_level == "read" else platform_level(Level.parse(options.lgtm_level), forge.capabilities)
    return Rules(
        lgtm_level=lgtm,
        hold_level=platform_level(Level.TRIAGE, forge.capabilities),
        author_can_approve=options.author_can_approve,
        reviews_count=options.reviews_count,
        fallback_approvers=frozenset(a.lower() for a in options.approvers) or None,
        hold_label=options.labels.hold,
    )


async def readiness_of(ctx: Context, forge: Forge, repo: str, pull: PullRequest, config: RepoConfig,
                       state: ReviewState, unlisted: int = 0) -> Readiness:
    labels = {x.lower() for x in pull.labels}
    ready = Readiness(draft=pull.draft, blocked=config.dependencies.label.lower() in labels,
                      conflicts=pull.mergeable is False, unlisted=unlisted)
    if state.missing() or ready.draft or ready.blocked or ready.conflicts or ready.unlisted:
        return ready  # the checks are read only when they are all that is left to know
    required = await required_checks(ctx, forge, repo, pull.base_ref)
    if not required:
        return ready
    checks = await forge.commit_checks(repo, pull.head_sha)
    failing = tuple(c for c in required if checks.get(c) in (StatusState.FAILURE, StatusState.ERROR))
    waiting = tuple(c for c in required if checks.get(c) in (None, StatusState.PENDING))
    return Readiness(ready.draft, ready.blocked, ready.conflicts, failing, waiting, unlisted)


# -- deriving and showing -------------------------------------------------------------------------


async def derive_pull(ctx: Context, forge: Forge, repo: str, number: int, *, pull: PullRequest | None = None,
                      config: RepoConfig | None = None) -> tuple[Derived, Memo, Comment | None] | None:
    """Read everything and fold it; None when review is off here or the pull request is not open."""
    config = config or await config_in_force(ctx, forge.platform, repo)
    if not review_enabled(config):
        return None
    # The reads do not depend on each other: they go out together.
    (read, changes), comments, reviews = await asyncio.gather(
        pull_and_changes(ctx, forge, repo, number), forge.list_comments(repo, number),
        forge.list_reviews(repo, number) if config.review.reviews_count else _no_reviews(),
    )
    pull = pull or read
    if pull.state != "open" or pull.merged:
        return None
    # Files the platform would not list need approvers nobody can name: not ready, whoever approved.
    unlisted = max(0, (read.changed_files or 0) - len(changes))
    bot = await ctx.forges.bot_login(forge.platform)
    changed = changed_paths(changes)
    own = marker(SUMMARY_KEY)
    existing = next((c for c in comments if own in c.body and (c.author or "").lower() == bot.lower()), None)
    remarks = remarks_of(comments, reviews, bot)
    memo = await advance_memo(ctx, forge, repo, pull, remarks, comments, summary.parse_memo(existing.body if existing else None))
    cache = permissions(ctx)
    levels = {login: await cache.level(forge, repo, login) for login in people(remarks, bot)}
    try:
        owners = await read_owners(ctx, forge, repo, pull.base_ref, changed)
    except OwnersError as problem:
        raise BrokenOwners(str(problem), pull, memo, existing, problem.hint) from None
    facts = Facts(pull.author or "", remarks, changed, owners, levels, frozenset(x.lower() for x in pull.labels),
                  memo.lgtm_since)
    state = derive(facts, rules_for(config, forge))
    readiness = await readiness_of(ctx, forge, repo, pull, config, state, unlisted)
    return Derived(pull, state, readiness, config), memo, existing


async def _no_reviews() -> list[Review]:
    return []


async def follow_labels(ctx: Context, forge: Forge, repo: str, derived: Derived) -> None:
    names = derived.config.review.labels
    wanted = {names.lgtm: bool(derived.state.lgtm), names.approved: derived.state.approved, names.hold: derived.state.held}
    present = {x.lower() for x in derived.pull.labels}
    for label, on in wanted.items():
        if on and label.lower() not in present:
            await forge.add_labels(repo, derived.pull.number, [await ensure_label(ctx, forge, repo, label)])
        elif not on and label.lower() in present:
            try:
                await forge.remove_label(repo, derived.pull.number, label)
            except NotFound:
                pass


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:10]


async def show(ctx: Context, forge: Forge, repo: str, derived: Derived, memo: Memo, existing: Comment | None,
               restate: bool = False) -> None:
    """Set the status (when it changed on this head, or `restate`: someone else set ours) and the
    summary comment (when it reads differently)."""
    state, description = summary.status(derived.state, derived.readiness)
    said = f"{state.value}:{_digest(description)}"
    if memo.status != said or restate:
        await forge.set_status(repo, derived.pull.head_sha, CommitStatus(state, STATUS_CONTEXT, description))
        memo = Memo(memo.head, memo.tree, memo.lgtm_since, said)
    author = derived.pull.author or ""
    body = with_marker(summary.render(derived.state, derived.readiness, author, memo), SUMMARY_KEY)
    if existing is None:
        await forge.create_comment(repo, derived.pull.number, body)
    elif existing.body.strip() != body.strip():
        await forge.edit_comment(repo, existing.id, body)


class BrokenOwners(Exception):
    """An OWNERS file of the base cannot be read; what the summary needs to say so."""

    def __init__(self, problem: str, pull: PullRequest, memo: Memo, existing: Comment | None,
                 hint: str = OwnersError.hint) -> None:
        super().__init__(problem)
        self.problem, self.pull, self.memo, self.existing = problem, pull, memo, existing
        self.hint = hint.format(base=pull.base_ref)


async def show_broken_owners(forge: Forge, repo: str, broken: BrokenOwners) -> None:
    """A broken OWNERS file approves nothing: say which, on the status and in the summary (which
    keeps its memo, so the lgtm history is not lost while the file is fixed)."""
    pull, memo = broken.pull, broken.memo
    line = f"cannot read {broken.problem}"[: summary.MAX_DESCRIPTION]
    said = f"{StatusState.ERROR.value}:{_digest(line)}"
    if memo.status != said:
        await forge.set_status(repo, pull.head_sha, CommitStatus(StatusState.ERROR, STATUS_CONTEXT, line))
    memo = Memo(memo.head, memo.tree, memo.lgtm_since, said)
    text = f"### Review\n\n**Not ready:** {broken.problem}. {broken.hint}\n\n{memo.render()}"
    body = with_marker(text, SUMMARY_KEY)
    if broken.existing is None:
        await forge.create_comment(repo, pull.number, body)
    elif broken.existing.body.strip() != body.strip():
        await forge.edit_comment(repo, broken.existing.id, body)


@asynccontextmanager
async def one_at_a_time(ctx: Context, platform: str, repo: str, number: int) -> AsyncIterator[None]:
    """One derivation of a pull request at a time in this process. Events about the pull request
    come in order already; this also covers what comes from elsewhere at the same moment (a push
    to its base, a check, the sweep), which would otherwise both find no summary and post two."""
    locks = ctx.services.review_locks
    key = (platform, repo.lower(), number)
    lock, users = locks.setdefault(key, (asyncio.Lock(), [0]))
    users[0] += 1  # the lock is forgotten only when nobody holds or waits for it
    try:
        async with lock:
            yield
    finally:
        users[0] -= 1
        if not users[0]:
            del locks[key]


async def refresh(ctx: Context, forge: Forge, repo: str, number: int, *, pull: PullRequest | None = None,
                  merge: bool = True, restate: bool = False) -> Derived | None:
    """Derive the pull request's review state and make labels, summary, status (and the merge) follow."""
    async with one_at_a_time(ctx, forge.platform, repo, number):
        return await _refresh(ctx, forge, repo, number, pull=pull, merge=merge, restate=restate)


async def _refresh(ctx: Context, forge: Forge, repo: str, number: int, *, pull: PullRequest | None,
                   merge: bool, restate: bool = False) -> Derived | None:
    try:
        found = await derive_pull(ctx, forge, repo, number, pull=pull)
    except BrokenOwners as broken:
        await show_broken_owners(forge, repo, broken)
        return None
    if found is None:
        return None
    derived, memo, existing = found
    await asyncio.gather(follow_labels(ctx, forge, repo, derived),
                         show(ctx, forge, repo, derived, memo, existing, restate))
    if merge and not derived.missing and derived.config.review.merge == "auto":
        try:
            await merge_when_ready(ctx, forge, repo, derived.pull, derived.config, None)
        except MergeRefused:
            pass  # said once on the pull request; tried again on the next change
    return derived


# -- events ---------------------------------------------------------------------------------------


def _review_comment(event: Event) -> bool:
    return (event.issue is not None and event.issue.is_pull and event.comment is not None
            and REVIEW_WORD_RE.search(event.comment.body + "\n" + (event.comment.previous_body or "")) is not None)


async def _refresh_event(event: Event, ctx: Context) -> None:
    if event.issue is None or event.repo is None:
        return
    if event.name == "pull_request" and event.action in ("labeled", "unlabeled") and event.label:
        bot = await ctx.forges.bot_login(event.platform)
        names = (await config_in_force(ctx, event.platform, event.repo.full_name)).review.labels
        ours = {names.lgtm.lower(), names.approved.lower(), names.hold.lower()}
        if event.sender is not None and event.sender.login.lower() == bot.lower() and event.label.lower() in ours:
            return  # the bot's own review labels follow from a state it has just shown (Gitea says no
            # which label changed, so there a label change of the bot's costs one more derivation)
    await refresh(ctx, ctx.forge, event.repo.full_name, event.issue.number)


for _action in ("created", "edited", "deleted"):
    router.on("issue_comment", _action, when=_review_comment)(_refresh_event)
router.on("pull_request_review")(_refresh_event)
for _action in ("opened", "reopened", "synchronize", "ready_for_review", "converted_to_draft", "edited",
                "labeled", "unlabeled", "labels_changed"):
    router.on("pull_request", _action)(_refresh_event)


@router.on("pull_request", "opened")
@router.on("pull_request", "ready_for_review")
async def request_reviewers(event: Event, ctx: Context) -> None:
    """`review.request_reviewers: N`: ask N reviewers from OWNERS once, when the pull request is
    opened ready for review or leaves draft."""
    issue, repo = event.issue, event.repo
    if issue is None or repo is None or issue.draft or not issue.base_ref:
        return
    config = await config_in_force(ctx, event.platform, repo.full_name)
    count = config.review.request_reviewers
    key = f"review-requested:{event.platform}:{repo.full_name.lower()}:{issue.number}"
    if not review_enabled(config) or count == 0 or await ctx.already_done(key):
        return
    forge = ctx.forge
    changes = await forge.list_pull_changes(repo.full_name, issue.number)
    try:
        owners = await read_owners(ctx, forge, repo.full_name, issue.base_ref, changed_paths(changes))
    except OwnersError:
        return  # the summary says what is broken
    weights = reviewer_weights(owners, changes, config.review.approvers)
    chosen = choose_reviewers(weights, count, author=issue.author or "", seed=f"{repo.full_name}#{issue.number}")
    asked = []
    for login in chosen:  # one at a time: the platform refuses a whole request for one non-collaborator
        try:
            await forge.request_reviewers(repo.full_name, issue.number, [login])
            asked.append(login)
        except (Invalid, NotFound) as exc:
            logger.info("could not request a review", extra={"repo": repo.full_name, "reviewer": login, "error": str(exc)})
    await ctx.mark_done(key, asked=asked)
    await ctx.record("review.requested", issue=issue.number, reviewers=asked)


def _checked_sha(event: Event) -> str | None:
    """The commit a status or check event is about; None for the bot's own review status."""
    payload = event.payload
    if event.name == "status":
        return None if payload.get("context") == STATUS_CONTEXT else payload.get("sha")
    run = payload.get(event.name)  # check_run / check_suite
    return run.get("head_sha") if isinstance(run, dict) else None


@router.on("status", when=lambda event: _checked_sha(event) is not None)
@router.on("check_run", "completed")
@router.on("check_suite", "completed")
async def checks_changed(event: Event, ctx: Context) -> None:
    """A check finished: the pull requests at that commit are derived again (and merged when ready)."""
    sha = _checked_sha(event)
    if sha is None or event.repo is None:
        return
    repo = event.repo.full_name
    if not review_enabled(await config_in_force(ctx, event.platform, repo)):
        return
    for pull in await ctx.forge.list_pulls(repo):
        if pull.head_sha == sha:
            await refresh(ctx, ctx.forge, repo, pull.number)


def _review_status_by_someone_else(event: Event) -> bool:
    return (event.name == "status" and event.payload.get("context") == STATUS_CONTEXT
            and event.sender is not None and isinstance(event.payload.get("sha"), str))


@router.on("status", when=_review_status_by_someone_else)
async def review_status_set(event: Event, ctx: Context) -> None:
    """Our `forgebot/review` status set by someone else (anyone who may write statuses could say
    "success" where branch protection requires it): the pull requests at that commit get ours back."""
    if event.repo is None or event.sender is None:
        return
    if event.sender.login.lower() == (await ctx.forges.bot_login(event.platform)).lower():
        return
    repo, sha = event.repo.full_name, event.payload["sha"]
    if not review_enabled(await config_in_force(ctx, event.platform, repo)):
        return
    for pull in await ctx.forge.list_pulls(repo):
        if pull.head_sha == sha:
            await refresh(ctx, ctx.forge, repo, pull.number, restate=True)


def _owners_touched(event: Event) -> bool:
    push = event.push
    if push is None or push.branch is None:
        return False
    return push.truncated or any(p.rsplit("/", 1)[-1] in (OWNERS, ALIASES) for p in push.touched_paths)


@router.on("push", when=_owners_touched)
async def owners_changed(event: Event, ctx: Context) -> None:
    """An OWNERS change on a base branch: its open pull requests are derived again."""
    assert event.push is not None and event.push.branch is not None
    if event.repo is None:
        return
    repo, branch = event.repo.full_name, event.push.branch
    forget_owners(ctx, event.platform, repo, branch)
    config = await config_in_force(ctx, event.platform, repo)
    if not review_enabled(config):
        return
    for pull in await ctx.forge.list_pulls(repo):
        if pull.base_ref == branch:
            await refresh(ctx, ctx.forge, repo, pull.number)


@router.job("review-sweep", every=SWEEP_SECONDS, jitter=30)
async def sweep_reviews(ctx: Context) -> None:
    """Every open pull request of every repository with review on, derived again: a lost webhook
    (a review, a check turning green) heals here."""
    for platform in ctx.forges.configured:
        forge = ctx.forges.get(platform)
        for repo in await ctx.storage.configs.repos_with_review(platform):
            try:
                for pull in await forge.list_pulls(repo):
                    await refresh(ctx, forge, repo, pull.number)
            except ForgeError as exc:
                logger.warning("review sweep: %s", exc, extra={"repo": repo})
