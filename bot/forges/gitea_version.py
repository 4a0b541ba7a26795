"""What a Gitea or Forgejo server can do, from the version it reports (GET /api/v1/version).

The client is written against Gitea 1.22's API. Newer servers add to it; what forgebot uses of
the additions is listed in `FEATURES`. Forgejo reports its own version with the Gitea API it
follows after "+gitea-" ("10.0.1+gitea-1.22.0"); that suffix is what counts here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from bot.forges.base import Capabilities

BASELINE = (1, 22, 0)
_NUMBERS_RE = re.compile(r"(\d+)\.(\d+)(?:\.(\d+))?")
_FORGEJO_API_RE = re.compile(r"\+gitea-(\d+\.\d+(?:\.\d+)?)")

# Capabilities field -> the first Gitea API version with it (go-gitea/gitea migrations v1_23:
# v300 adds force-push settings to branch protection, v306 block_admin_merge_override).
FEATURES: dict[str, tuple[int, int, int]] = {
    "protection_force_push": (1, 23, 0),
    "protection_admin_enforcement": (1, 23, 0),
}

# Everything else Gitea can or cannot do, whatever its version.
GITEA = Capabilities(
    triage_level=False,  # Gitea has read/write/admin only
    maintain_level=False,
    compare_ahead_behind=False,  # compare answers only commits and total_commits
    branch_commit_dates=True,  # each listed branch carries commit.timestamp
    app_installations=False,
    conditional_requests=False,
    protection_push_allowlist=True,  # enable_push_whitelist + push_whitelist_usernames
    # 1.22 does have /issues/{index}/dependencies and /blocks, but the protocol has no dependency
    # operation, so the bot cannot use them: claiming the capability would promise nothing.
    issue_dependencies=False,
    protection_force_push=False,
    protection_admin_enforcement=False,
    collaborator_invitations=False,  # PUT /collaborators adds at once
    server="Gitea",
)


@dataclass(frozen=True)
class ServerVersion:
    reported: str  # as the server said it
    api: tuple[int, int, int] | None  # the Gitea API it speaks; None when it could not be read
    forgejo: bool = False

    @property
    def label(self) -> str:
        """For messages: "Gitea 1.22", "Forgejo 10.0 (Gitea 1.22 API)"."""
        if self.api is None:
            return f"Gitea (version {self.reported!r} not understood)" if self.reported else "Gitea (version unknown)"
        gitea = f"{self.api[0]}.{self.api[1]}"
        if self.forgejo:
            own = _NUMBERS_RE.match(self.reported)
            name = f"Forgejo {own.group(1)}.{own.group(2)}" if own else "Forgejo"
            return f"{name} (Gitea {gitea} API)"
        return f"Gitea {gitea}"


def parse_version(reported: object) -> ServerVersion:
    text = str(reported or "").strip()
    forgejo = _FORGEJO_API_RE.search(text)
    m = _NUMBERS_RE.match(forgejo.group(1) if forgejo else text.lstrip("v"))
    if m is None:
        return ServerVersion(text, None)
    numbers = (int(m.group(1)), int(m.group(2)), int(m.group(3) or 0))
    return ServerVersion(text, numbers, forgejo=forgejo is not None)


def capabilities_for(version: ServerVersion) -> Capabilities:
    """What this server can do. A version that cannot be read is taken as the baseline (1.22):
    promising less than the server has costs a note in a plan, promising more costs drift."""
    api = version.api or BASELINE
    return replace(GITEA, server=version.label, **{name: api >= since for name, since in FEATURES.items()})
