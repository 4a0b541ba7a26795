"""The status page's sections about claims, dependencies and reconciling, per repository."""

from __future__ import annotations

from bot.engine.context import Context
from bot.forges.base import Forge
from bot.status.sections import Cell, Link, StatusSections, Table
from handlers.agent_ops import ready_issues
from handlers.claims import open_dependencies
from handlers.common import when

sections = StatusSections()

MAX_ROWS = 50  # per section and repository: the page stays readable and its forge calls bounded
DRIFT_OUTCOMES = ("drift", "blocked", "partial", "failed", "invalid")


def issue_link(number: int, title: str | None = None, url: str | None = None) -> Cell:
    text = f"#{number}" + (f" {title}" if title else "")
    return Link(text, url) if url else text


@sections.repository("claims", title="Claims", order=10)
async def claims_section(ctx: Context, forge: Forge, repo: str) -> Table:
    held = await ctx.storage.claims.active_claims(forge.platform, repo)
    rows: list[tuple[Cell, ...]] = [(f"#{c.number}", f"@{c.holder}", when(c.expires_at)) for c in held[:MAX_ROWS]]
    return Table(("Issue", "Holder", "Until"), rows, empty="nobody holds an issue")


@sections.repository("ready", title="Ready to start", order=20)
async def ready_section(ctx: Context, forge: Forge, repo: str) -> Table:
    ready = await ready_issues(ctx, forge, repo)
    rows: list[tuple[Cell, ...]] = [
        (issue_link(i["number"], i["title"], i["url"]), ", ".join(i["labels"]), i["created_at"] or "")
        for i in ready[:MAX_ROWS]
    ]
    note = f"the oldest {MAX_ROWS} of {len(ready)}" if len(ready) > MAX_ROWS else None
    return Table(("Issue", "Labels", "Opened"), rows, empty="no open issue is free to start", note=note)


@sections.repository("blocked", title="Blocked", order=30)
async def blocked_section(ctx: Context, forge: Forge, repo: str) -> Table:
    with_dependencies = [n for r, n in await ctx.storage.dependencies.issues_with_dependencies(forge.platform)
                         if r == repo.lower()]
    if not with_dependencies:
        return Table(("Issue", "Waits for"), [], empty="no issue waits for another")
    still_open = {i.number: i for i in await forge.list_issues(repo, state="open")}
    rows: list[tuple[Cell, ...]] = []
    for number in with_dependencies:
        issue = still_open.get(number)
        if issue is None:
            continue
        blockers = await open_dependencies(ctx, forge, forge.platform, repo, number)
        if blockers:
            rows.append((issue_link(number, issue.title, issue.html_url), ", ".join(blockers)))
        if len(rows) >= MAX_ROWS:
            break
    return Table(("Issue", "Waits for"), rows, empty="no issue waits for another")


@sections.repository("reconcile", title="Last reconcile", order=40)
async def reconcile_section(ctx: Context, forge: Forge, repo: str) -> Table:
    runs = [r for r in await ctx.storage.configs.latest_runs() if r["platform"] == forge.platform and r["repo"].lower() == repo.lower()]
    rows: list[tuple[Cell, ...]] = []
    for run in runs[:1]:
        drift = "; ".join(f"{c['kind']} {c['target']}" for c in run["plan"][:10]) if run["outcome"] in DRIFT_OUTCOMES else ""
        errors = "; ".join(run["errors"][:3])
        rows.append((when(run["finished_at"]), run["trigger"], run["mode"], run["outcome"], drift or errors or "none"))
    return Table(("Finished", "Trigger", "Mode", "Outcome", "Drift or errors"), rows, empty="not reconciled yet")
