"""Review reads: what one derivation reads from the platform, and what may be remembered.

OWNERS files per base branch (until a push changes one, or OWNERS_TTL), tree hashes per commit
(forever: a commit never changes), changed files per head and base commit, required checks per
branch (a minute), and the pull request for the rest of one delivery (a command and the
derivation after it on the same comment share it).
"""

from __future__ import annotations

from datetime import UTC, datetime

from bot.comments import is_bot_comment
from bot.engine.context import Context
from bot.forges.base import Comment, FileChange, Forge, NotFound, PermissionDenied, PullRequest, Review
from bot.review.owners import ALIASES, Owners, owners_paths
from bot.review.state import COMMENT, REVIEW, Remark
from bot.review.summary import STATUS_CONTEXT, Memo

OWNERS_TTL = 600.0  # seconds an OWNERS file read from a base branch is trusted without a push saying so
CHECKS_TTL = 60.0
READS_TTL = 30.0
EPOCH = datetime.fromtimestamp(0, UTC)


def forget_owners(ctx: Context, platform: str, repo: str, branch: str) -> None:
    ctx.services.review_owners.pop((platform, repo.lower(), branch), None)


async def read_owners(ctx: Context, forge: Forge, repo: str, branch: str, changed: list[str]) -> Owners:
    """The OWNERS files covering `changed`, from `branch` (the base): remembered until a push to
    the branch changes one of them, or OWNERS_TTL passes. Raises OwnersError for a broken file."""
    cache = ctx.services.review_owners
    key = (forge.platform, repo.lower(), branch)
    now = ctx.clock()
    entry = cache.get(key)
    if entry is None or now - entry[0] > OWNERS_TTL:
        entry = cache[key] = (now, {})
    texts = entry[1]
    wanted = owners_paths(changed)
    for path in (*wanted, ALIASES):
        if path not in texts:
            found = await forge.read_file(repo, path, branch)
            texts[path] = found.content.decode("utf-8", errors="replace") if found else None
    return Owners.parse({path: texts[path] for path in wanted}, texts[ALIASES])


async def tree_of(ctx: Context, forge: Forge, repo: str, sha: str) -> str:
    """The git tree of a commit (a commit never changes, so it is remembered)."""
    trees = ctx.services.review_trees
    key = (forge.platform, repo.lower(), sha)
    if key not in trees:
        if len(trees) > 10_000:
            trees.clear()
        trees[key] = await forge.commit_tree(repo, sha)
    return trees[key]


def remarks_of(comments: list[Comment], reviews: list[Review], bot: str) -> list[Remark]:
    found = []
    for c in comments:
        if (c.author or "").lower() == bot.lower() or is_bot_comment(c.body) or not c.author:
            continue
        found.append(Remark(COMMENT, c.id, c.author, c.body, None, c.created_at))
    for r in reviews:
        if r.author and r.id is not None and r.state != "pending":
            found.append(Remark(REVIEW, r.id, r.author, r.body, r.state, r.submitted_at))
    return sorted(found, key=lambda r: (r.at or EPOCH, r.id))


async def advance_memo(ctx: Context, forge: Forge, repo: str, pull: PullRequest, remarks: list[Remark],
                       comments: list[Comment], memo: Memo | None) -> Memo:
    """The memo for the current head. A push that keeps the tree keeps the lgtm (a rebase, or a
    squash to the same content); a push that changes it makes everything written so far no longer
    count for lgtm."""
    if memo is not None and memo.head == pull.head_sha:
        return memo
    tree = await tree_of(ctx, forge, repo, pull.head_sha)
    if memo is None or not memo.tree or memo.tree == tree:
        return Memo(pull.head_sha, tree, memo.lgtm_since if memo else {}, "")
    since = {COMMENT: max((c.id for c in comments), default=0),
             REVIEW: max((r.id for r in remarks if r.kind == REVIEW), default=0)}
    return Memo(pull.head_sha, tree, since, "")


async def required_checks(ctx: Context, forge: Forge, repo: str, branch: str) -> tuple[str, ...]:
    """The base branch's required checks (without our own); none when the bot may not read them.
    Remembered for a minute: protection changes seldom, and a merge is refused anyway if it did."""
    cache = ctx.services.review_required
    key, now = (forge.platform, repo.lower(), branch), ctx.clock()
    if key in cache and now - cache[key][0] < CHECKS_TTL:
        return cache[key][1]
    try:
        protection = await forge.get_protection(repo, branch)
    except (NotFound, PermissionDenied):
        protection = None
    contexts = protection.required_status_checks if protection else None
    found = tuple(c for c in contexts or () if c != STATUS_CONTEXT)
    if len(cache) > 1000:
        cache.clear()
    cache[key] = (now, found)
    return found


async def pull_and_changes(ctx: Context, forge: Forge, repo: str, number: int) -> tuple[PullRequest, list[FileChange]]:
    """The pull request and its changed files, read once per delivery (a command and the
    derivation after it on the same comment share them)."""
    delivery = ctx.event.delivery_id if ctx.event else None
    memo = ctx.services.review_reads
    key = (delivery or "", forge.platform, repo.lower(), number)
    now = ctx.clock()
    if delivery and key in memo and now - memo[key][0] < READS_TTL:  # not for a redelivery hours later
        return memo[key][1], memo[key][2]
    pull = await forge.get_pull(repo, number)
    changes = await changes_of(ctx, forge, repo, pull)
    if delivery:
        memo[key] = (now, pull, changes)
    return pull, changes


async def changes_of(ctx: Context, forge: Forge, repo: str, pull: PullRequest) -> list[FileChange]:
    """The files a pull request changes: the same for the same head on the same base tip, so
    remembered by the two commits."""
    cache = ctx.services.review_changes
    key = (forge.platform, repo.lower(), pull.head_sha, pull.base_sha)
    if key not in cache:
        cache[key] = await forge.list_pull_changes(repo, pull.number)
    return cache[key]
