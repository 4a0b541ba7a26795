"""Judging credentials, permissions and the clock: facts in, findings out, no I/O."""

from __future__ import annotations

from bot.doctor.findings import Finding, fail, ok, warn
from bot.forges.base import Credentials, Permission, RepoAccess

# A GitHub App's permissions forgebot uses, the level each needs, and what stops without it.
APP_PERMISSIONS: dict[str, tuple[str, str]] = {
    "metadata": ("read", "everything: the repository cannot be read"),
    "issues": ("write", "commands, claims, labels, assignees and answers on issues"),
    "pull_requests": ("write", "commands and config plans on pull requests"),
    "contents": ("read", "reading .forgebot.yml, so nothing is reconciled"),
    "statuses": ("write", "the forgebot/config commit status"),
    "administration": ("write", "reconciling settings, branch protection, collaborators and topics"),
    "repository_hooks": ("write", "`webhooks:` in .forgebot.yml and `forgebot doctor --fix`"),
}
# The webhook events forgebot's handlers act on, and what is never seen without each.
EVENTS: dict[str, str] = {
    "issues": "dependencies from descriptions, unblocking on close, label triggers",
    "issue_comment": "commands in comments",
    "pull_request": "config plans on pull requests, claims renewed by pull requests",
    "push": "applying .forgebot.yml when it changes, claims renewed by pushes",
}
_APP_LEVELS = ("none", "read", "write", "admin")
# The bot's level from which each platform shows it other users' levels (GitHub's "Get repository
# permissions for a user" needs push access; Gitea's GetRepoPermissions needs repository admin).
SEES_LEVELS: dict[str, tuple[Permission, str]] = {
    "github": (Permission.WRITE, "GitHub shows permissions only to tokens with push access"),
    "gitea": (Permission.ADMIN, "Gitea shows other users' permissions only to repository admins"),
}
SKEW_WARN_SECONDS = 30
# A GitHub App's JWT is issued 60 s in the past and expires 9 minutes later; GitHub refuses one whose
# `iat` lies in its future or whose `exp` is more than 10 minutes ahead, so 60 s ahead breaks every JWT.
SKEW_JWT_SECONDS = 60


def judge_credentials(scope: str, creds: Credentials) -> list[Finding]:
    if creds.kind == "app":
        found = [ok(scope, "credentials", f"GitHub App acting as {creds.login}")]
        for name, (level, stops) in APP_PERMISSIONS.items():
            have = creds.permissions.get(name, "none")
            if _APP_LEVELS.index(have) < _APP_LEVELS.index(level):
                found.append(fail(scope, "app permissions", f"{name} is {have}, needs {level}: without it, {stops}",
                                  f"grant {name}: {level} in the App's settings, then accept it on each installation"))
        missing = [e for e in EVENTS if e not in creds.events]
        for event in missing:
            found.append(fail(scope, "app events", f"not subscribed to {event}: {EVENTS[event]} never arrive",
                              f"tick {event} under the App's 'Subscribe to events'"))
        return found
    who = f"token of {creds.login}" + (" (site admin)" if creds.site_admin else "")
    found = [ok(scope, "credentials", f"valid: {who}")]
    if creds.scopes is not None:
        shown = ", ".join(creds.scopes) or "none"
        found.append(ok(scope, "token scopes", f"classic token with scopes: {shown}"))
    return found


def judge_scopes(scope: str, scopes: tuple[str, ...] | None, private: bool) -> list[Finding]:
    """A classic token's scopes against one repository (None: not a classic token, nothing to judge)."""
    if scopes is None:
        return []
    if "repo" in scopes or (not private and "public_repo" in scopes):
        return []
    needed = "repo" if private else "repo (or public_repo)"
    return [fail(scope, "token scopes", f"the token lacks the {needed} scope: forgebot can read but not act here",
                 f"make a token with the {needed} scope and set FORGEBOT_GITHUB_TOKEN")]


def judge_access(scope: str, access: RepoAccess, platform: str) -> list[Finding]:
    if access.granted is not None:
        return _judge_installation(scope, access)
    level = access.permission
    if level is None:
        return [warn(scope, "permissions", f"{platform} did not say what the bot may do here")]
    grant = "grant the bot's user admin on the repository"
    if level < Permission.READ:
        return [fail(scope, "permissions", "the bot cannot read this repository", grant)]
    # A command with a level asks the platform for the actor's level, which each platform shows
    # only from a level of the bot's own (the forge clients' get_permission says the same).
    sees_levels, who_sees = SEES_LEVELS[platform]
    if level < sees_levels:
        also = ("the forgebot/config status and closing or reopening need write, " if level < Permission.WRITE else "")
        return [fail(scope, "permissions", f"the bot has {level.label}: {who_sees}, so commands that need a level "
                     f"are refused; {also}reconciling needs admin", grant)]
    if level < Permission.ADMIN:
        return [warn(scope, "permissions", f"the bot has {level.label}: commands work, but reconciling settings, "
                     "protection, collaborators and webhooks, and checking this webhook, need admin", grant)]
    return [ok(scope, "permissions", "the bot is admin")]


def _judge_installation(scope: str, access: RepoAccess) -> list[Finding]:
    granted = access.granted or {}
    found = []
    for name, (level, stops) in APP_PERMISSIONS.items():
        have = granted.get(name, "none")
        if _APP_LEVELS.index(have) < _APP_LEVELS.index(level):
            found.append(fail(scope, "permissions", f"the installation has {name}: {have}, needs {level}: "
                              f"without it, {stops}", "accept the App's new permissions on this installation"))
    for event in [e for e in EVENTS if e not in (access.events or ())]:
        found.append(fail(scope, "events", f"the installation does not receive {event}: {EVENTS[event]} never arrive",
                          "accept the App's new events on this installation"))
    return found or [ok(scope, "permissions", "the installation has every permission and event forgebot uses")]


def judge_clock(scope: str, local: float, server: float | None, app: bool) -> Finding:
    if server is None:
        return warn(scope, "clock", "the forge sent no Date header, so the clock could not be compared")
    skew = local - server
    where = f"{abs(skew):.0f} s {'ahead of' if skew > 0 else 'behind'} the forge"
    if app and skew >= SKEW_JWT_SECONDS:
        return fail(scope, "clock", f"this host is {where}: GitHub refuses the App's JWTs",
                    "synchronise the clock (NTP: systemd-timesyncd or chrony)")
    if abs(skew) > SKEW_WARN_SECONDS:
        return warn(scope, "clock", f"this host is {where}: claim leases and retries are timed wrong",
                    "synchronise the clock (NTP: systemd-timesyncd or chrony)")
    return ok(scope, "clock", f"within {max(abs(skew), 1):.0f} s of the forge")
