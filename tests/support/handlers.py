"""Routers for tests that run forgebot as a separate process.

`recording` remembers each issue_comment it handles as an effect keyed by delivery id, written
in the same transaction as nothing else: the crash test counts them to prove each accepted
delivery's effect happened exactly once. `failing` always raises.
"""

from __future__ import annotations

import os

from bot.engine.context import Context
from bot.engine.router import Router
from bot.events import Event

recording = Router()
failing = Router()


@recording.on("issue_comment")
async def remember_comment(event: Event, ctx: Context) -> None:
    key = f"seen:{event.platform}:{event.delivery_id}"
    if await ctx.already_done(key):
        return
    log = os.environ.get("FORGEBOT_TEST_INVOCATIONS")
    if log:  # every run, including a repeat after a crash, leaves a line here
        with open(log, "a") as handle:
            handle.write(event.delivery_id + "\n")
    await ctx.mark_done(key)


@failing.on("issue_comment")
@failing.on("ping")
async def refuse(event: Event, ctx: Context) -> None:
    raise RuntimeError("handler refused on purpose")


slow = Router()


@slow.on("issue_comment")
async def take_a_second(event: Event, ctx: Context) -> None:
    import asyncio

    await asyncio.sleep(float(os.environ.get("FORGEBOT_TEST_SLEEP", "1")))
    await ctx.mark_done(f"slow:{event.delivery_id}")
