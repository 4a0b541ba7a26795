"""Housekeeping: forget deliveries past their retention, so the database does not grow for ever.

Finished deliveries are kept for FORGEBOT_DELIVERY_RETENTION (default 14d), dead letters and
effect keys four times as long. The activity log is never pruned: it is the record.
"""

from __future__ import annotations

import logging

from bot import deliveries
from bot.context import Context
from bot.router import Router

logger = logging.getLogger(__name__)
router = Router()


@router.job("prune-deliveries", every=3600, jitter=300)
async def prune_deliveries(ctx: Context) -> None:
    keep = ctx.settings.retention_seconds
    now = ctx.clock()
    removed = await ctx.store.run(deliveries.prune, now - keep, now - 4 * keep)
    if removed:
        logger.info("pruned %d deliveries past their retention", removed)
