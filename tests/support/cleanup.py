"""Helpers for cleanup tests: the emulator served on loopback (the mirror fetches and pushes over
git smart HTTP), forgebot's storage (SQLite unless told otherwise) and git root, and runs at chosen times."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.cleanup.runner import CleanupRun, run_cleanup
from bot.git.mirror import GitRoot
from bot.storage.base import Storage
from bot.storage.open import open_storage
from config.repo import CleanupOptions
from tests.conftest import BOT, REPO, World, make_settings

DAY = 86400.0


@dataclass
class Cleanup:
    world: World
    storage: Storage
    root: GitRoot
    base_url: str

    async def run(self, how: str, at: float, **options: Any) -> CleanupRun:
        config = CleanupOptions.model_validate(options)
        return await run_cleanup(self.world.client, self.storage, self.root, REPO, config, mode=how, bot_login=BOT,
                                 clock=lambda: at)

    def branches(self) -> dict[str, str]:
        return dict(self.world.state().git.branches())

    def tags(self) -> dict[str, str]:
        return self.world.state().git.refs("refs/tags/")

    def writes(self, since: int = 0) -> list[str]:
        """API writes and git pushes the emulator received after request number `since`."""
        return [f"{r.method} {r.path}" for r in self.world.fake.requests[since:]
                if (r.platform != "git" and r.method != "GET") or (r.platform == "git" and "receive-pack" in r.path + str(r.query))]

    def api_calls(self, since: int = 0) -> int:
        """REST requests answered (a 304 costs no rate limit and is not counted, as on GitHub)."""
        return sum(1 for r in self.world.fake.requests[since:] if r.platform != "git" and not r.was_304)


@asynccontextmanager
async def cleanup_world(world: World, tmp_path: Path, **database: Any) -> AsyncIterator[Cleanup]:
    """`database`: settings overrides naming the database (the `database_settings` fixture's)."""
    root = GitRoot((tmp_path / "git").resolve())
    root.prepare()
    storage = open_storage(make_settings(tmp_path, **database))
    await storage.start()
    try:
        async with world.fake.serve() as base_url:
            yield Cleanup(world, storage, root, base_url)
    finally:
        await storage.stop()


async def branch(world: World, name: str, *files: str, login: str = "alice", from_ref: str | None = None) -> str:
    sha = ""
    for path in files or (f"{name.replace('/', '-')}.txt",):
        sha = await world.actor(login).push(REPO, name, {path: f"{name} {path} {time.time()}\n"}, f"work on {name}", from_ref=from_ref)
    return sha
