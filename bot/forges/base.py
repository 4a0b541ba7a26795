"""The Forge protocol: every platform operation a handler may use, with typed models and errors.

Handlers never build URLs and never know which platform they talk to. `GitHubForge` and
`GiteaForge` implement this protocol; where a platform cannot do something, its `capabilities`
say so and the operation raises `Unsupported`, never a silent approximation.

Repositories are named "owner/name" strings throughout.
"""

from __future__ import annotations

import base64
import enum
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol, runtime_checkable

from bot.types import Ordered

# -- vocabulary ---------------------------------------------------------------------------------


class Permission(Ordered):
    """A user's level on a repository, from nothing to admin (GitHub's six roles)."""

    NONE = 0
    READ = 1
    TRIAGE = 2
    WRITE = 3
    MAINTAIN = 4
    ADMIN = 5


class ReviewEvent(enum.StrEnum):
    APPROVE = "approve"
    REQUEST_CHANGES = "request_changes"
    COMMENT = "comment"


class MergeMethod(enum.StrEnum):
    MERGE = "merge"
    SQUASH = "squash"
    REBASE = "rebase"
    REBASE_MERGE = "rebase-merge"  # Gitea only: rebase, then a merge commit
    FAST_FORWARD = "fast-forward-only"  # Gitea only


class StatusState(enum.StrEnum):
    PENDING = "pending"
    SUCCESS = "success"
    FAILURE = "failure"
    ERROR = "error"


REACTIONS = frozenset({"+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes"})


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a platform can and cannot do; code that depends on a gap checks here first."""

    triage_level: bool  # a permission level between read and write
    maintain_level: bool
    compare_ahead_behind: bool  # compare reports ahead_by/behind_by and a status
    branch_commit_dates: bool  # branch listings carry the head commit's date (else with_dates costs a call per head)
    app_installations: bool  # installation tokens per installation id
    conditional_requests: bool  # ETag/304 on GETs
    protection_push_allowlist: bool
    issue_dependencies: bool  # the platform tracks "blocked by" itself
    # Branch protection settings a server may lack (Gitea before 1.23 has neither).
    protection_force_push: bool = True  # allow_force_push can be turned on
    protection_admin_enforcement: bool = True  # enforce_admins can be turned on
    collaborator_invitations: bool = False  # adding someone invites them; they appear once they accept
    server: str = ""  # who answers, for messages: "GitHub", "Gitea 1.22"


# -- models -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class User:
    login: str
    id: int | None = None


@dataclass(frozen=True, slots=True)
class Repo:
    owner: str
    name: str
    default_branch: str
    private: bool = False
    archived: bool = False
    clone_url: str | None = None
    html_url: str | None = None
    permission: Permission | None = None  # the caller's own, when the platform says

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"


@dataclass(frozen=True, slots=True)
class Label:
    name: str
    color: str = "ededed"  # six lowercase hex digits, no '#'
    description: str = ""
    id: int | None = None  # Gitea addresses labels by id


@dataclass(frozen=True, slots=True)
class Comment:
    id: int
    body: str
    author: str | None
    html_url: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Issue:
    number: int
    title: str
    body: str
    state: str  # open | closed
    author: str | None
    labels: tuple[str, ...] = ()
    assignees: tuple[str, ...] = ()
    is_pull: bool = False
    html_url: str | None = None
    created_at: datetime | None = None
    closed_at: datetime | None = None
    milestone: str | None = None


@dataclass(frozen=True, slots=True)
class PullRequest:
    number: int
    title: str
    body: str
    state: str  # open | closed
    author: str | None
    head_ref: str
    head_sha: str
    base_ref: str
    base_sha: str
    merged: bool = False
    mergeable: bool | None = None
    draft: bool = False
    labels: tuple[str, ...] = ()
    assignees: tuple[str, ...] = ()
    head_repo: str | None = None  # "owner/name" of the head; differs from the base for forks
    html_url: str | None = None
    merge_commit_sha: str | None = None


@dataclass(frozen=True, slots=True)
class Review:
    id: int | None
    state: str  # approved | changes_requested | commented | pending | dismissed
    body: str
    author: str | None
    commit_sha: str | None = None
    submitted_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class FileChange:
    """One file a pull request changes, and how many lines."""

    path: str
    additions: int = 0
    deletions: int = 0


@dataclass(frozen=True, slots=True)
class Branch:
    name: str
    sha: str
    protected: bool = False
    committed_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class PullRecord:
    """What branch cleanup needs of a pull request: its head when it ended, and how it ended."""

    number: int
    state: str  # open | closed
    head_ref: str
    head_sha: str
    merged: bool
    author: str | None = None
    closed_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Comparison:
    total_commits: int  # commits on head that base lacks
    ahead_by: int | None = None  # None where the platform does not say (Gitea)
    behind_by: int | None = None
    status: str | None = None  # identical | ahead | behind | diverged
    merge_base_sha: str | None = None


@dataclass(frozen=True, slots=True)
class CommitStatus:
    state: StatusState
    context: str
    description: str = ""
    target_url: str | None = None


@dataclass(frozen=True, slots=True)
class RepoSettings:
    """Repository settings; None means "not set" in a change and "unknown" when read."""

    description: str | None = None
    homepage: str | None = None
    has_issues: bool | None = None
    has_wiki: bool | None = None
    has_projects: bool | None = None
    default_branch: str | None = None
    allow_merge_commit: bool | None = None
    allow_squash_merge: bool | None = None
    allow_rebase_merge: bool | None = None
    delete_branch_on_merge: bool | None = None


@dataclass(frozen=True, slots=True)
class BranchProtection:
    """The subset of protection both platforms share. None: not managed / unknown."""

    branch: str
    required_approvals: int | None = None
    dismiss_stale_approvals: bool | None = None
    required_status_checks: tuple[str, ...] | None = None
    enforce_admins: bool | None = None
    allow_force_push: bool | None = None
    push_allowlist: tuple[str, ...] | None = None  # logins allowed to push; None: anyone with write


@dataclass(frozen=True, slots=True)
class Milestone:
    title: str
    description: str = ""
    due_on: date | None = None
    state: str = "open"  # open | closed
    id: int | None = None  # GitHub's milestone number, Gitea's id


@dataclass(frozen=True, slots=True)
class Collaborator:
    login: str
    permission: Permission


@dataclass(frozen=True, slots=True)
class Invitation:
    """Someone asked to become a collaborator who has not accepted yet (GitHub)."""

    login: str
    permission: Permission
    id: int


@dataclass(frozen=True, slots=True)
class Hook:
    url: str
    events: tuple[str, ...] = ("*",)
    active: bool = True
    content_type: str = "json"
    id: int | None = None
    has_secret: bool | None = None  # GitHub says whether one is set (never its value); Gitea says nothing


@dataclass(frozen=True, slots=True)
class Credentials:
    """Who a client acts as, and what its credentials carry, as the platform describes them."""

    login: str
    kind: str  # "token", or "app" for a GitHub App
    scopes: tuple[str, ...] | None = None  # a classic GitHub token's scopes; None where the platform does not say
    permissions: dict[str, str] = field(default_factory=dict)  # a GitHub App's permissions
    events: tuple[str, ...] = ()  # a GitHub App's events
    site_admin: bool = False


@dataclass(frozen=True, slots=True)
class RepoAccess:
    """What the client may do on one repository."""

    permission: Permission | None  # None where the platform does not say (a GitHub App's token)
    private: bool = False
    granted: dict[str, str] | None = None  # a GitHub App installation's permissions
    events: tuple[str, ...] | None = None  # a GitHub App installation's events


@dataclass(frozen=True, slots=True)
class HookDelivery:
    """One delivery of a webhook as the platform recorded it."""

    id: int
    guid: str  # the X-GitHub-Delivery the receiver saw
    event: str
    status_code: int  # 0 when no HTTP answer came (connection refused, timeout)
    status: str  # the platform's words: "OK", "Invalid HTTP Response: 401"...
    delivered_at: datetime | None = None
    redelivery: bool = False


@dataclass(frozen=True, slots=True)
class FileContent:
    path: str
    sha: str
    content: bytes


@dataclass(frozen=True, slots=True)
class RateLimit:
    limit: int | None = None
    remaining: int | None = None
    reset_at: float | None = None  # epoch seconds


@dataclass(frozen=True)
class GitAccess:
    """What git needs to reach one repository on a forge: its URL and an Authorization header.

    Handlers pass it from the forge to the git layer without looking inside; the header never
    appears in its repr.
    """

    clone_url: str
    auth_header: str = field(repr=False)

    @property
    def scheme(self) -> str:
        return urllib.parse.urlsplit(self.clone_url).scheme

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every form the credential could take in text, for masking."""
        value = self.auth_header.partition(":")[2].strip()
        found = [value] if value else []
        scheme, _, encoded = value.partition(" ")
        if encoded:
            found.append(encoded)
        if scheme.lower() == "basic":
            try:
                found.append(base64.b64decode(encoded).decode().partition(":")[2])
            except ValueError:
                pass
        return tuple(s for s in found if s)


def basic_auth_header(user: str, token: str) -> str:
    """An Authorization header line for git over HTTP: both platforms take a token as the password."""
    encoded = base64.b64encode(f"{user}:{token}".encode()).decode()
    return f"Authorization: Basic {encoded}"


# -- errors -------------------------------------------------------------------------------------


@dataclass
class ForgeError(Exception):
    """A platform refused or failed a call. `message` is the platform's own words."""

    message: str
    status: int | None = None
    platform: str | None = None
    details: tuple[str, ...] = field(default=())

    def __str__(self) -> str:
        where = f"{self.platform} " if self.platform else ""
        code = f"{self.status}: " if self.status else ""
        extra = f" ({'; '.join(self.details)})" if self.details else ""
        return f"{where}{code}{self.message}{extra}"


class NotFound(ForgeError):
    """The thing does not exist, or the caller may not see it."""


class Conflict(ForgeError):
    """The change clashes with the current state (already exists, head moved...)."""


class Invalid(ForgeError):
    """The platform rejected the request's content (422, most 400s)."""


class PermissionDenied(ForgeError):
    """The caller lacks the rights for this call (401, 403)."""


@dataclass
class RateLimited(ForgeError):
    """Still limited after the longest wait allowed; `retry_at` is when to try again (epoch)."""

    retry_at: float | None = None


class Unavailable(ForgeError):
    """The platform failed (5xx) or could not be reached, even after retries."""


class Unsupported(ForgeError):
    """The platform cannot do this at all; see `Forge.capabilities`."""


# -- the protocol -------------------------------------------------------------------------------


@runtime_checkable
class Forge(Protocol):
    # After a lost answer (a 5xx, or a connection dropped once the request was sent) the clients
    # differ on purpose. GitHub does not send a non-idempotent POST again (create a comment, label,
    # branch, tag, hook, milestone, review) and raises Unavailable; Gitea first looks for what the
    # lost attempt would have made (the branch, tag, label, hook, milestone, protection rule, the
    # merge) and sends again only if it finds nothing. Comments and reviews are repeated on neither;
    # callers find their own earlier post by its marker. A DELETE whose retry finds its target gone
    # is done on both.
    platform: str
    capabilities: Capabilities

    # What this server can do; for Gitea it depends on the version, read once and remembered
    # (then `capabilities` says the same).
    async def server_capabilities(self) -> Capabilities: ...

    # who and where
    async def whoami(self) -> User: ...
    async def list_repositories(self) -> list[Repo]: ...
    async def get_repo(self, repo: str) -> Repo: ...

    # files
    async def read_file(self, repo: str, path: str, ref: str | None = None) -> FileContent | None: ...

    # labels
    async def list_labels(self, repo: str) -> list[Label]: ...
    async def create_label(self, repo: str, label: Label) -> Label: ...
    async def update_label(self, repo: str, name: str, label: Label) -> Label: ...
    async def delete_label(self, repo: str, name: str) -> None: ...
    async def add_labels(self, repo: str, number: int, names: Sequence[str]) -> tuple[str, ...]: ...
    async def remove_label(self, repo: str, number: int, name: str) -> None: ...

    # assignees
    async def add_assignees(self, repo: str, number: int, logins: Sequence[str]) -> tuple[str, ...]: ...
    async def remove_assignees(self, repo: str, number: int, logins: Sequence[str]) -> tuple[str, ...]: ...
    async def set_assignees(self, repo: str, number: int, logins: Sequence[str]) -> tuple[str, ...]: ...

    # comments and reactions
    async def list_comments(self, repo: str, number: int) -> list[Comment]: ...
    async def create_comment(self, repo: str, number: int, body: str) -> Comment: ...
    async def edit_comment(self, repo: str, comment_id: int, body: str) -> Comment: ...
    async def add_reaction(self, repo: str, comment_id: int, content: str) -> None: ...

    # issues
    async def get_issue(self, repo: str, number: int) -> Issue: ...
    async def list_issues(self, repo: str, *, state: str = "open", labels: Sequence[str] = ()) -> list[Issue]: ...
    async def edit_issue(self, repo: str, number: int, *, title: str | None = None, body: str | None = None) -> Issue: ...
    async def set_milestone(self, repo: str, number: int, milestone_id: int | None) -> Issue: ...
    async def close_issue(self, repo: str, number: int) -> Issue: ...
    async def reopen_issue(self, repo: str, number: int) -> Issue: ...

    # permissions
    async def get_permission(self, repo: str, login: str) -> Permission: ...

    # pull requests
    async def get_pull(self, repo: str, number: int) -> PullRequest: ...
    async def list_pulls(self, repo: str, *, head: str | None = None, state: str = "open") -> list[PullRequest]: ...
    async def list_pull_files(self, repo: str, number: int) -> list[str]: ...
    # `draft`: GitHub's draft flag; Gitea has none in its API and marks drafts by a "WIP:" title prefix.
    async def create_pull(self, repo: str, *, title: str, body: str, head: str, base: str, draft: bool = False) -> PullRequest: ...
    async def create_review(
        self, repo: str, number: int, event: ReviewEvent, body: str = "", commit_sha: str | None = None
    ) -> Review: ...
    async def merge_pull(self, repo: str, number: int, method: MergeMethod, sha: str | None = None) -> str: ...

    # review (bot/forges/github_reviews.py, gitea_reviews.py)
    async def list_reviews(self, repo: str, number: int) -> list[Review]: ...
    async def list_pull_changes(self, repo: str, number: int) -> list[FileChange]: ...
    async def commit_tree(self, repo: str, sha: str) -> str: ...
    # The latest state of each status context and (GitHub) check run of a commit, by name.
    async def commit_checks(self, repo: str, sha: str) -> dict[str, StatusState]: ...
    async def request_reviewers(self, repo: str, number: int, logins: Sequence[str]) -> None: ...
    async def remove_requested_reviewers(self, repo: str, number: int, logins: Sequence[str]) -> None: ...

    # branches, refs, protection
    # `committed_at` is filled when `with_dates` asks for it, or when the listing has it for free.
    async def list_branches(self, repo: str, *, with_dates: bool = False) -> list[Branch]: ...
    async def compare(self, repo: str, base: str, head: str) -> Comparison: ...
    async def create_branch(self, repo: str, name: str, sha: str) -> Branch: ...
    async def delete_branch(self, repo: str, name: str) -> None: ...
    async def create_tag(self, repo: str, name: str, sha: str, message: str | None = None) -> None: ...
    async def get_protection(self, repo: str, branch: str) -> BranchProtection | None: ...
    async def set_protection(self, repo: str, protection: BranchProtection) -> BranchProtection: ...
    async def remove_protection(self, repo: str, branch: str) -> None: ...

    # branch cleanup: reads whose cost does not grow with the number of branches
    # Names of protected branches (GitHub) or protection rule patterns (Gitea, globs).
    async def protected_patterns(self, repo: str) -> tuple[str, ...]: ...
    # Whether any ruleset could apply (GitHub); False where the platform has none (Gitea).
    async def has_rulesets(self, repo: str) -> bool: ...
    # Types of the ruleset rules in force on one branch (GitHub); () on Gitea.
    async def branch_rules(self, repo: str, branch: str) -> tuple[str, ...]: ...
    # Pull requests, most recently updated first: pages until one reaches back to `since`, at most `pages`.
    async def recent_pulls(self, repo: str, *, state: str, since: datetime | None, pages: int) -> list[PullRecord]: ...
    # An issue of the bot's own (the "Stale branches" dashboard). Not sent twice after a lost
    # answer: callers look for their marker first.
    async def create_issue(self, repo: str, title: str, body: str) -> Issue: ...

    # repository settings and topics
    async def get_settings(self, repo: str) -> RepoSettings: ...
    async def update_settings(self, repo: str, changes: RepoSettings) -> RepoSettings: ...
    async def get_topics(self, repo: str) -> tuple[str, ...]: ...
    async def set_topics(self, repo: str, topics: Sequence[str]) -> tuple[str, ...]: ...

    # milestones
    async def list_milestones(self, repo: str) -> list[Milestone]: ...
    async def create_milestone(self, repo: str, milestone: Milestone) -> Milestone: ...
    async def update_milestone(self, repo: str, milestone_id: int, milestone: Milestone) -> Milestone: ...
    async def close_milestone(self, repo: str, milestone_id: int) -> Milestone: ...

    # collaborators
    async def list_collaborators(self, repo: str) -> list[Collaborator]: ...
    async def add_collaborator(self, repo: str, login: str, permission: Permission) -> None: ...
    async def remove_collaborator(self, repo: str, login: str) -> None: ...
    # Pending invitations: GitHub's add_collaborator invites someone not yet a collaborator; Gitea
    # adds at once, so it never has any (and cannot update or delete one).
    async def list_invitations(self, repo: str) -> list[Invitation]: ...
    async def update_invitation(self, repo: str, invitation_id: int, permission: Permission) -> None: ...
    async def delete_invitation(self, repo: str, invitation_id: int) -> None: ...

    # webhooks
    # The events a hook made with `events` reads back as, in the form list_hooks gives (Gitea keeps
    # switches, not the list, and names some of them differently): what comparing hooks needs.
    def hook_events(self, events: Sequence[str]) -> tuple[str, ...]: ...
    async def list_hooks(self, repo: str) -> list[Hook]: ...
    async def create_hook(self, repo: str, hook: Hook, secret: str | None = None) -> Hook: ...
    async def update_hook(self, repo: str, hook_id: int, hook: Hook, secret: str | None = None) -> Hook: ...
    async def delete_hook(self, repo: str, hook_id: int) -> None: ...
    # Sends a test delivery to a hook: GitHub's ping; Gitea's test, which is a push of the last commit.
    async def test_hook(self, repo: str, hook_id: int) -> None: ...
    # The hook's recent deliveries, newest first; Gitea's API has none (Unsupported).
    async def list_hook_deliveries(self, repo: str, hook_id: int) -> list[HookDelivery]: ...
    # A GitHub App's own webhook's recent deliveries, newest first (Unsupported elsewhere).
    async def list_app_hook_deliveries(self) -> list[HookDelivery]: ...

    # diagnosis (forgebot doctor)
    @property
    def server_time(self) -> float | None: ...  # the platform's clock: the last answer's Date header, epoch seconds
    async def inspect_credentials(self) -> Credentials: ...
    async def repo_access(self, repo: str) -> RepoAccess: ...

    # git over HTTP: the clone URL and the header that authenticates git there (for bot/git only)
    async def git_access(self, repo: str) -> GitAccess: ...

    # commit statuses
    async def set_status(self, repo: str, sha: str, status: CommitStatus) -> None: ...

    async def aclose(self) -> None: ...


def split_repo(repo: str) -> tuple[str, str]:
    """"owner/name" -> (owner, name); anything else is Invalid."""
    owner, sep, name = repo.partition("/")
    if not sep or not owner or not name or "/" in name:
        raise Invalid(f"{repo!r} is not of the form owner/name")
    return owner, name


def parse_int(value: Any) -> int | None:
    """A header or JSON value as an int, or None when it is missing or not a number."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
