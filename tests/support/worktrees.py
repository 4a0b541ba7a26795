"""Helpers for worktree tests: the forge served on loopback (git clones from it) and the bot on it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from bot.app import ForgebotApp
from tests.conftest import BOT, World, eventually


@asynccontextmanager
async def bot_on_served_forge(world: World, bot_factory: Callable[..., Any], tmp_path: Path, **overrides: Any) -> AsyncIterator[ForgebotApp]:
    """The emulator also on a loopback port (clone URLs point there) and forgebot with a git root."""
    settings = {"git_root": tmp_path / "git", "git_min_free": "1", **overrides}
    async with world.fake.serve():
        async with bot_factory(world, **settings) as app:
            yield app


def bot_comments(world: World, number: int) -> list[str]:
    state = world.state()
    return [state.comments[c].body for c in state.issue(number).comments if state.comments[c].user == BOT]


async def wait_for_comment(world: World, number: int, text: str, timeout: float = 30.0) -> str:
    await eventually(lambda: any(text in c for c in bot_comments(world, number)), timeout)
    return next(c for c in bot_comments(world, number) if text in c)
