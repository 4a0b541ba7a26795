"""A description written to stall the bot: dependency lines are read in time linear in the body."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.conftest import REPO, World

pytestmark = pytest.mark.anyio


# Anyone who can open an issue writes up to 65,536 characters. "Depends on" and then line breaks
# alone made the line pattern backtrack quadratically (40,000: about 37 s, 65,000: about 100 s),
# holding the event loop, so that no webhook was answered, on every edit.


async def test_line_breaks_after_depends_on_do_not_hold_the_bot(world: World, bot_factory: Any) -> None:
    alice = world.actor("alice")
    first = await alice.open_issue(REPO, "First")
    async with bot_factory(world) as app:
        hostile = await alice.open_issue(REPO, "Stall", body="Depends on" + "\n" * 40_000)
        number = await alice.open_issue(REPO, "Waits", body=f"Blocked by #{first}")
        await asyncio.wait_for(app.wait_idle(), 15)  # minutes before; a few milliseconds of reading now
        assert world.label_names(number) == ["status/blocked"] and world.label_names(hostile) == []
