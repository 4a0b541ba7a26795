"""Housekeeping: forget what is past its retention, so the database does not grow for ever.

Finished deliveries and reconcile runs are kept for FORGEBOT_DELIVERY_RETENTION (default 14d),
dead letters and effect keys four times as long; the newest reconcile run of each repository
and trigger stays whatever its age. The activity log is never pruned: it is the record.
"""

from __future__ import annotations

import logging

from bot.engine.context import Context
from bot.engine.router import Router
from bot.storage.deliveries import PRUNE_CHUNK

logger = logging.getLogger(__name__)
router = Router()


# The first run comes soon after start: a service restarted more often than hourly would never
# prune at all if it came one interval after.
@router.job("prune-deliveries", every=3600, jitter=300, first=30)
async def prune_deliveries(ctx: Context) -> None:
    # A chunk per transaction: after a flood, a day's worth of rows can come due at once, and
    # the webhooks arriving meanwhile must not wait for all of them to go.
    keep = ctx.settings.retention_seconds
    now = ctx.clock()
    removed = 0
    after: int | None = 0
    while after is not None:
        count, after = await ctx.storage.deliveries.prune_chunk(now - keep, now - 4 * keep, after)
        removed += count
    while await ctx.storage.effects.prune(now - 4 * keep):
        pass
    runs = 0
    after = 0
    while after is not None:
        count, after = await ctx.storage.configs.prune_runs_chunk(now - keep, after, PRUNE_CHUNK)
        runs += count
    if removed or runs:
        logger.info("pruned %d deliveries and %d reconcile runs past their retention", removed, runs)
