"""Who may run a command: levels from the platform (cached briefly), overridden by the repo config."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.engine.router import CommandSpec, Level
from bot.forges.base import Capabilities, Forge, NotFound, Permission, PermissionDenied
from config.repo import CommandOptions

logger = logging.getLogger(__name__)

CACHE_SECONDS = 60.0


class PermissionCache:
    """A user's level per repository, read through the forge and kept for 60 s."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, ttl: float = CACHE_SECONDS) -> None:
        self.clock = clock
        self.ttl = ttl
        self._entries: dict[tuple[str, str, str], tuple[float, Permission]] = {}

    async def level(self, forge: Forge, repo: str, login: str) -> Permission:
        key = (forge.platform, repo.lower(), login.lower())
        entry = self._entries.get(key)
        now = self.clock()
        if entry is not None and now - entry[0] < self.ttl:
            return entry[1]
        try:
            permission = await forge.get_permission(repo, login)
        except PermissionDenied as exc:
            if exc.status == 403:  # the bot's own access falls short: say so once per ask, in the log too
                logger.warning("cannot read permissions", extra={"repo": repo, "error": exc.message})
            raise
        self._entries[key] = (now, permission)
        if len(self._entries) > 10_000:  # keep memory bounded: drop the stale ones
            self._entries = {k: v for k, v in self._entries.items() if now - v[0] < self.ttl}
        return permission

    async def level_or_none(self, forge: Forge, repo: str, login: str) -> Permission:
        """`level`, with a repository the bot cannot see, or whose levels it may not ask for
        (Gitea tells only repository admins the levels of others), counting as no access."""
        try:
            return await self.level(forge, repo, login)
        except (NotFound, PermissionDenied):
            return Permission.NONE

    async def can_read(self, forge: Forge, repo: str, login: str) -> bool:
        """Whether the platform would show `repo` to `login`.

        Only the level counts, never that the permission endpoint answered: a bot that may ask
        (GitHub: push access; Gitea: repository admin) is answered for any login ("none" for one
        without access), and a public repository gives read to everyone. When the bot may not ask,
        the answer is no, and `level` has logged the one line saying what access to give it.
        """
        try:
            return await self.level(forge, repo, login) >= Permission.READ
        except (NotFound, PermissionDenied):
            return False


def platform_level(level: Level, capabilities: Capabilities) -> Permission:
    """The platform permission a command level needs (Gitea has no triage or maintain)."""
    wanted = {
        Level.TRIAGE: Permission.TRIAGE,
        Level.WRITE: Permission.WRITE,
        Level.MAINTAIN: Permission.MAINTAIN,
        Level.ADMIN: Permission.ADMIN,
    }[level]
    if wanted is Permission.TRIAGE and not capabilities.triage_level:
        return Permission.WRITE
    if wanted is Permission.MAINTAIN and not capabilities.maintain_level:
        return Permission.ADMIN
    return wanted


@dataclass(frozen=True)
class Rule:
    """The effective rule for one command in one repository."""

    level: Level
    users: tuple[str, ...] = ()

    @classmethod
    def of(cls, spec: CommandSpec, options: CommandOptions | None) -> Rule:
        if options is None:
            return cls(spec.level)
        level = Level.parse(options.level) if options.level else spec.level
        return cls(level, tuple(u.lstrip("@") for u in options.users))

    def allows(self, actor: str, *, author: str | None, permission: Permission | None, capabilities: Capabilities) -> bool:
        if actor.lower() in (u.lower() for u in self.users) or self.level is Level.ANYONE:
            return True
        if self.level is Level.AUTHOR and author and actor.lower() == author.lower():
            return True
        needed = platform_level(Level.TRIAGE if self.level is Level.AUTHOR else self.level, capabilities)
        return permission is not None and permission >= needed

    async def permits(
        self, actor: str, *, author: str | None, permission: Callable[[], Awaitable[Permission]], capabilities: Capabilities
    ) -> bool:
        """`allows`, asking for the actor's level only when it matters: anyone, a listed user or
        the author needs no call to the platform."""
        if self.allows(actor, author=author, permission=None, capabilities=capabilities):
            return True
        return self.allows(actor, author=author, permission=await permission(), capabilities=capabilities)

    def describe(self, capabilities: Capabilities) -> str:
        """Who may run it, in words: 'anyone', 'the author, or triage and up', '@alice or write and up'."""
        if self.level is Level.ANYONE:
            return "anyone"
        base = self.level if self.level is not Level.AUTHOR else Level.TRIAGE
        needed = platform_level(base, capabilities).label
        who = f"{needed} access and up"
        if self.level is Level.AUTHOR:
            who = f"the issue's author, or {who}"
        if self.users:
            who = f"{', '.join('@' + u for u in self.users)}, or {who}"
        return who
