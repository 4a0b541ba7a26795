"""A scheduled job for the multi-replica tests: every TICK_SECONDS it writes one activity entry
naming the replica that ran it, so a test can count the runs per interval and see who ran them.

Loaded into `forgebot serve` with FORGEBOT_EXTRA_HANDLERS=tests.support.replica_jobs:router.
"""

from __future__ import annotations

from bot.engine.context import Context
from bot.engine.router import Router

router = Router()
TICK_SECONDS = 2.0
TICK = "replica.tick"


@router.job("replica-tick", every=TICK_SECONDS)
async def tick(ctx: Context) -> None:
    await ctx.record(TICK, replica=ctx.storage.replica, ran_at=ctx.clock())
