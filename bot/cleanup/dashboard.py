"""The "Stale branches" issue: one per repository, found by its marker, edited only when it changes."""

from __future__ import annotations

import re
import shlex
import time
from collections.abc import Sequence

from bot.cleanup.plan import LOGIN_RE, Change, Kind
from bot.comments import marker, with_marker
from bot.forges.base import Forge, Issue, NotFound
from bot.storage.base import Storage
from bot.storage.cleanup import Row
from config.repo import CleanupMode, CleanupOptions

TITLE = "Stale branches"
KEY = "cleanup-dashboard"
DELETED_SHOWN = 50
# At most this many people are @mentioned by one dashboard; the rest are named without a mention.
# Logins from noreply addresses are whatever a pusher wrote: many branches must not page many people.
MENTIONS_MAX = 20


def _day(epoch: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(epoch))


def code(text: str) -> str:
    """`text` as an inline code span it cannot leave. Branch and committer names come from whoever
    pushed: git allows '`' and '@' in both, so a plain span could be closed early and the rest
    rendered as @mentions. The fence is one backtick longer than any run inside (CommonMark)."""
    run = max((len(m) for m in re.findall(r"`+", text)), default=0)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    fence = "`" * (run + 1)
    return f"{fence}{pad}{text}{pad}{fence}"

def restore_command(repo: str, branch: str) -> str:
    """The command line that restores `branch`, safe to paste into a shell: branch names may hold
    ';', '$(' or '|' (git forbids only spaces and a few others)."""
    return f"forgebot cleanup restore {shlex.quote(repo)} {shlex.quote(branch)}"

def restore_line(repo: str, row: Row) -> str:
    source = row.tag or row.sha
    git_line = f"git push origin {shlex.quote(f'{source}:refs/heads/{row.branch}')}"
    return f"{code(restore_command(repo, row.branch))} (or {code(git_line)})"

def entry_prefix(branch: str) -> str:
    return f"- [ ] {code(branch)} ("

def without(body: str, branch: str) -> str:
    """The dashboard with one branch's scheduled line taken out (a push took it off)."""
    return "\n".join(line for line in body.split("\n") if not line.startswith(entry_prefix(branch)))

def render(repo: str, config: CleanupOptions, changes: Sequence[Change], deleted: Sequence[Row]) -> str:
    """The dashboard's body. Each last committer is @mentioned once, on their first branch, and
    no more than MENTIONS_MAX people in all."""
    mentioned: set[str] = set()

    def who(name: str) -> str:
        if not (name.startswith("@") and LOGIN_RE.fullmatch(name[1:])):  # a committer's name: shown, never a mention
            return code(name or "unknown")
        if name.lower() in mentioned or len(mentioned) >= MENTIONS_MAX:
            return code(name[1:])
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
        archived = f", archived to {code(row.tag)}" if row.tag else ""
        lines.append(f"- {code(row.branch)} ({row.sha[:7]}) on {_day(row.deleted_at or 0)}{archived}; restore: {restore_line(repo, row)}")
    return with_marker("\n".join(lines), KEY)

async def find(forge: Forge, repo: str, bot_login: str | None) -> Issue | None:
    """The open dashboard issue the bot made (used when the store does not know its number yet)."""
    wanted = marker(KEY)
    for issue in await forge.list_issues(repo, state="open"):
        if not issue.is_pull and wanted in issue.body and (bot_login is None or (issue.author or "").lower() == bot_login.lower()):
            return issue
    return None

async def publish(forge: Forge, storage: Storage, platform: str, repo: str, body: str, *, bot_login: str | None, now: float) -> int:
    """Create or edit the dashboard; no call at all when it already says `body`."""
    known = await storage.cleanup.dashboard(platform, repo)
    if known is not None and known[1] == body:
        return known[0]
    number = known[0] if known is not None else None
    if number is None:
        found = await find(forge, repo, bot_login)
        number = found.number if found is not None else None
        if found is not None and found.body.strip() == body.strip():
            await storage.cleanup.save_dashboard(platform, repo, found.number, body, now)
            return found.number
    if number is not None:
        try:
            await forge.edit_issue(repo, number, body=body)
        except NotFound:  # deleted since (an admin may delete issues): a new one, or every run would fail here
            number = None
    if number is None:
        number = (await forge.create_issue(repo, TITLE, body)).number
    await storage.cleanup.save_dashboard(platform, repo, number, body, now)
    return number

