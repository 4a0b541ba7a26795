"""Branches on each repository's stale-branch dashboard, for the status page: what cleanup has
listed, why, and when each is due (bot/cleanup records them; nothing here asks the forge)."""

from __future__ import annotations

from bot.engine.context import Context
from bot.forges.base import Forge
from bot.repoconfig import config_in_force
from bot.storage.cleanup import RowState
from bot.status.sections import Cell, StatusSections, Table, when
from config.repo import parse_duration

sections = StatusSections()

MAX_ROWS = 50


@sections.repository("cleanup", title="Branches scheduled for cleanup", order=45)
async def scheduled_branches(ctx: Context, forge: Forge, repo: str) -> Table:
    listed = await ctx.storage.cleanup.open_rows(forge.platform, repo)
    grace = parse_duration((await config_in_force(ctx, forge.platform, repo)).cleanup.grace).total_seconds()
    rows: list[tuple[Cell, ...]] = [
        (row.branch, row.sha[:7], row.why, row.committer, when(row.noticed_at),
         "being deleted" if row.state is RowState.DELETING else when(row.noticed_at + grace))
        for row in listed[:MAX_ROWS]
    ]
    more = len(listed) - len(rows)
    return Table(("Branch", "Head", "Why", "Last committer", "Listed since", "Due"), rows,
                 empty="no branch scheduled", note=f"{more} more on the dashboard issue" if more > 0 else None)
