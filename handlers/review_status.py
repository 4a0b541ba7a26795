"""Pull requests' review state for agents (an MCP tool) and the status page (a section), derived
exactly as the review handler derives it (handlers/review.py: the same reads, the same fold),
without writing anything to the platform."""

from __future__ import annotations

from typing import Any

from bot.engine.context import Context
from bot.engine.toolbox import Toolbox
from bot.forges.base import Forge
from bot.repoconfig import config_in_force
from bot.review import summary
from bot.status.sections import Cell, Link, StatusSections, Table
from config.repo import review_enabled
from handlers.agent_ops import AgentFailure
from handlers.agent_tools import act
from handlers.review import BrokenOwners, Derived, derive_pull

toolbox = Toolbox()
sections = StatusSections()

MAX_PULLS = 20  # per repository on the status page: each costs a derivation's reads


def review_json(derived: Derived) -> dict[str, Any]:
    state, line = summary.status(derived.state, derived.readiness)
    pull = derived.pull
    return {
        "number": pull.number, "title": pull.title, "author": pull.author, "url": pull.html_url,
        "ready": not derived.missing, "missing": derived.missing, "status": state.value, "status_line": line,
        "lgtm": list(derived.state.lgtm), "approvers": list(derived.state.approvers),
        "held": derived.state.held, "needs_approval_from": summary.suggestions(derived.state, pull.author or ""),
    }


async def pull_review(ctx: Context, forge: Forge, repo: str, login: str, number: int) -> dict[str, Any]:
    """The review state of pull request `number` as `login` may see it (it can read the repository)."""
    try:
        found = await derive_pull(ctx, forge, repo, number)
    except BrokenOwners as broken:
        raise AgentFailure(409, f"cannot read {broken.problem}: nothing is approved until it is fixed") from None
    if found is None:
        raise AgentFailure(404, f"{repo}#{number} is not an open pull request, or review is off here (no `review` section)")
    return review_json(found[0])


@toolbox.tool("pull_request_review", read_only=True, title="A pull request's review state",
              description="What a pull request still needs before it may merge (approvers per OWNERS file, /lgtm, "
                          "holds, required checks, conflicts), who approved, and whom to ask.")
async def pull_request_review(repo: str, number: int, platform: str | None = None) -> dict[str, Any]:
    result: dict[str, Any] = await act(repo, platform, pull_review, number)
    return result


@sections.repository("review", title="Pull requests under review", order=35)
async def review_section(ctx: Context, forge: Forge, repo: str) -> Table:
    columns = ("Pull request", "Author", "Still needs", "Approved by")
    if not review_enabled(await config_in_force(ctx, forge.platform, repo)):
        return Table(columns, [], empty="review is off here (no review section in .forgebot.yml)")
    pulls = await forge.list_pulls(repo)
    rows: list[tuple[Cell, ...]] = []
    for pull in pulls[:MAX_PULLS]:
        link: Cell = Link(f"#{pull.number} {pull.title}", pull.html_url) if pull.html_url else f"#{pull.number} {pull.title}"
        try:
            found = await derive_pull(ctx, forge, repo, pull.number, pull=pull)
        except BrokenOwners as broken:
            rows.append((link, f"@{pull.author}", f"cannot read {broken.problem}", ""))
            continue
        if found is None:
            continue
        derived = found[0]
        rows.append((link, f"@{pull.author}", "; ".join(derived.missing) or "nothing: ready to merge",
                     ", ".join(f"@{a}" for a in derived.state.approvers)))
    note = f"the first {MAX_PULLS} of {len(pulls)}" if len(pulls) > MAX_PULLS else None
    return Table(columns, rows, empty="no open pull request", note=note)
