"""The "Stale branches" issue: one per repository, found by its marker, edited only when it changes."""

from __future__ import annotations

import time
from collections.abc import Sequence

from bot.cleanup import records
from bot.cleanup.plan import Change, Kind
from bot.comments import marker, with_marker
from bot.forges.base import Forge, Issue
from bot.store import Store
from config.repo import CleanupMode, CleanupOptions

TITLE = "Stale branches"
KEY = "cleanup-dashboard"
DELETED_SHOWN = 50


def _day(epoch: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(epoch))


def restore_line(repo: str, row: records.Row) -> str:
    source = row.tag or row.sha
    return f"`forgebot cleanup restore {repo} {row.branch}` (or `git push origin {source}:refs/heads/{row.branch}`)"


def entry_prefix(branch: str) -> str:
    return f"- [ ] `{branch}` ("


def without(body: str, branch: str) -> str:
    """The dashboard with one branch's scheduled line taken out (a push took it off)."""
    return "\n".join(line for line in body.split("\n") if not line.startswith(entry_prefix(branch)))


def render(repo: str, config: CleanupOptions, changes: Sequence[Change], deleted: Sequence[records.Row]) -> str:
    """The dashboard's body. Each last committer is @mentioned once, on their first branch."""
    mentioned: set[str] = set()

    def who(name: str) -> str:
        if not name.startswith("@"):
            return name or "unknown"
        if name.lower() in mentioned:
            return f"`{name[1:]}`"
        mentioned.add(name.lower())
        return name

    listed = [c for c in changes if c.kind in (Kind.NOTICE, Kind.WAIT, Kind.DEFER, Kind.ARCHIVE, Kind.DELETE)]
    what = "deletes" if config.mode is CleanupMode.APPLY else "will delete (once `cleanup.mode` is `apply`)"
    lines = [
        f"forgebot {what} the branches below once they have been listed here for {config.grace} at the same commit. "
        "A push to a branch, or a `cleanup.protect` pattern in the config file that matches it, takes it off. "
        "A branch with commits the default branch lacks is tagged `archive/<branch>/<date>` first.",
        "",
        "### Scheduled for deletion",
        "",
    ]
    if not listed:
        lines.append("Nothing.")
    for change in listed:
        when = "due now" if change.due_at is None else f"after {_day(change.due_at)}"
        lines.append(f"{entry_prefix(change.branch)}{change.sha[:7]}): last commit {_day(change.committed_at)} by "
                     f"{who(change.committer)}; {change.why}; {when}")
    lines += ["", "### Deleted", ""]
    if not deleted:
        lines.append("Nothing yet.")
    for row in deleted[:DELETED_SHOWN]:
        archived = f", archived to `{row.tag}`" if row.tag else ""
        lines.append(f"- `{row.branch}` ({row.sha[:7]}) on {_day(row.deleted_at or 0)}{archived}; restore: {restore_line(repo, row)}")
    return with_marker("\n".join(lines), KEY)


async def find(forge: Forge, repo: str, bot_login: str | None) -> Issue | None:
    """The open dashboard issue the bot made (used when the store does not know its number yet)."""
    wanted = marker(KEY)
    for issue in await forge.list_issues(repo, state="open"):
        if not issue.is_pull and wanted in issue.body and (bot_login is None or (issue.author or "").lower() == bot_login.lower()):
            return issue
    return None


async def publish(forge: Forge, store: Store, platform: str, repo: str, body: str, *, bot_login: str | None, now: float) -> int:
    """Create or edit the dashboard; no call at all when it already says `body`."""
    known = await store.run(records.dashboard, platform, repo)
    if known is not None and known[1] == body:
        return known[0]
    number = known[0] if known is not None else None
    if number is None:
        found = await find(forge, repo, bot_login)
        number = found.number if found is not None else None
        if found is not None and found.body.strip() == body.strip():
            await store.run(records.save_dashboard, platform, repo, found.number, body, now)
            return found.number
    if number is None:
        number = (await forge.create_issue(repo, TITLE, body)).number
    else:
        await forge.edit_issue(repo, number, body=body)
    await store.run(records.save_dashboard, platform, repo, number, body, now)
    return number

