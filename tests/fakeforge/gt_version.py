"""Which Gitea the emulator is: its version decides which fields exist in answers and requests.

Gitea 1.22 (the default, the version of `gitea-swagger.json`) has no force-push setting, no
"block admin merge override" and no rule priority on branch protection: those came with 1.23
(migrations v1_23/v300 `AddForcePushBranchProtection`, v306 `AddBlockAdminMergeOverrideBranchProtection`,
v310 `AddPriorityToProtectedBranch` in go-gitea/gitea). An older server leaves them out of its
answers, and Go's JSON decoding drops them from requests without a word.
"""

from __future__ import annotations

import re
from typing import Any

DEFAULT = "1.22.0"

# API object -> field -> the first Gitea version that has it.
SINCE: dict[str, dict[str, tuple[int, int]]] = {
    "Repository": {"licenses": (1, 23)},  # v1_23 migration AddRepositoryLicenses; not in the 1.22 swagger
    "BranchProtection": {
        "enable_force_push": (1, 23),
        "enable_force_push_allowlist": (1, 23),
        "force_push_allowlist_usernames": (1, 23),
        "force_push_allowlist_teams": (1, 23),
        "force_push_allowlist_deploy_keys": (1, 23),
        "block_admin_merge_override": (1, 23),
        "priority": (1, 23),
    },
}

_VERSION_RE = re.compile(r"^(\d+)\.(\d+)(?:\.(\d+))?")


def parse(version: str) -> tuple[int, int, int]:
    """"1.23" or "1.23.1" -> (1, 23, 1); anything else is a mistake in the test."""
    m = _VERSION_RE.match(version)
    if m is None:
        raise ValueError(f"not a Gitea version: {version!r}")
    return int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)


def normalized(version: str) -> str:
    return ".".join(str(part) for part in parse(version))


def has(version: str, definition: str, name: str) -> bool:
    since = SINCE.get(definition, {}).get(name)
    return since is None or parse(version)[:2] >= since


def shown(version: str, definition: str, data: dict[str, Any]) -> dict[str, Any]:
    """An answer without the fields this version does not have."""
    return {k: v for k, v in data.items() if has(version, definition, k)}


def taken(version: str, definition: str, body: dict[str, Any]) -> dict[str, Any]:
    """A request body as this version's decoder sees it: unknown fields are dropped."""
    return {k: v for k, v in body.items() if has(version, definition, k)}
