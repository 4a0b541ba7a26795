"""GitHub repository rulesets: `GET /rulesets` and `GET /rules/branches/{branch}` (read side only).

Tests put rulesets straight into the state (`forge.repo(name).rulesets.append(Ruleset(...))`);
the bot only reads them. Patterns follow GitHub's ref_name conditions: `refs/heads/<glob>` where
`*` stops at '/' and `**` does not, `~DEFAULT_BRANCH` and `~ALL`; exclusions win; only `active`
rulesets apply (`evaluate` ones are reported by neither endpoint's rule list).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .server import Ctx, Routes

routes = Routes()
R = "/repos/{owner}/{repo}"


@dataclass
class Ruleset:
    id: int
    name: str
    include: tuple[str, ...]  # ref_name.include
    exclude: tuple[str, ...] = ()
    rules: tuple[str, ...] = ("deletion",)  # rule types
    enforcement: str = "active"  # active | evaluate | disabled
    target: str = "branch"
    created_at: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def _glob(pattern: str) -> re.Pattern[str]:
    out = []
    for part in re.split(r"(\*\*|\*|\?)", pattern):
        out.append({"**": ".*", "*": "[^/]*", "?": "[^/]"}.get(part, re.escape(part)))
    return re.compile("".join(out) + r"\Z")


def _matches(patterns: tuple[str, ...], ref: str, default_ref: str) -> bool:
    for pattern in patterns:
        if pattern == "~ALL" or (pattern == "~DEFAULT_BRANCH" and ref == default_ref) or _glob(pattern).match(ref):
            return True
    return False


def applies(ruleset: Ruleset, branch: str, default_branch: str) -> bool:
    ref, default_ref = f"refs/heads/{branch}", f"refs/heads/{default_branch}"
    return (ruleset.enforcement == "active" and ruleset.target == "branch"
            and _matches(ruleset.include, ref, default_ref) and not _matches(ruleset.exclude, ref, default_ref))


@routes.get(R + "/rulesets")
def list_rulesets(ctx: Ctx) -> Any:
    repo = ctx.repo()
    return ctx.paged(list(repo.rulesets), lambda r: {
        "id": r.id, "name": r.name, "target": r.target, "source_type": "Repository", "source": repo.full_name,
        "enforcement": r.enforcement, "node_id": f"RRS_{r.id}",
    })


@routes.get(R + "/rules/branches/{branch:path}")
def rules_for_branch(ctx: Ctx) -> Any:
    # GitHub answers for any branch name, existing or not: the rules that would apply to it.
    repo = ctx.repo()
    branch = ctx.params["branch"]
    return [{"type": rule, "ruleset_source_type": "Repository", "ruleset_source": repo.full_name, "ruleset_id": r.id}
            for r in repo.rulesets if applies(r, branch, repo.default_branch) for rule in r.rules]
