"""The emulator's shared in-memory state: one model that both API dialects read and write."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .gitrepo import GitRepo

# Permission levels, weakest first. GitHub has all six; Gitea shows triage as read and
# maintain as write (it has no such roles).
LEVELS = ("none", "read", "triage", "write", "maintain", "admin")

REACTIONS = ("+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes")

# Repository settings with their defaults, under GitHub's names where both platforms have
# the setting; Gitea-only settings keep Gitea's names. The dialects map the names.
DEFAULT_SETTINGS: dict[str, Any] = {
    "has_issues": True,
    "has_wiki": True,
    "has_projects": True,
    "has_pull_requests": True,
    "has_discussions": False,
    "has_releases": True,
    "has_packages": False,
    "has_actions": False,
    "is_template": False,
    "archived": False,
    "allow_forking": True,
    "allow_merge_commit": True,
    "allow_squash_merge": True,
    "allow_rebase_merge": True,
    "allow_auto_merge": False,
    "delete_branch_on_merge": False,
    "allow_update_branch": False,
    "use_squash_pr_title_as_default": False,
    "squash_merge_commit_title": "COMMIT_OR_PR_TITLE",
    "squash_merge_commit_message": "COMMIT_MESSAGES",
    "merge_commit_title": "MERGE_MESSAGE",
    "merge_commit_message": "PR_TITLE",
    "web_commit_signoff_required": False,
    "allow_rebase_explicit": True,
    "allow_fast_forward_only_merge": True,
    "allow_manual_merge": False,
    "autodetect_manual_merge": False,
    "allow_rebase_update": True,
    "default_merge_style": "merge",
    "default_allow_maintainer_edit": False,
    "ignore_whitespace_conflicts": False,
    "enable_prune": False,
    "mirror_interval": "",
    "projects_mode": "all",
}


def level_at_least(level: str, wanted: str) -> bool:
    return LEVELS.index(level) >= LEVELS.index(wanted)


@dataclass
class User:
    id: int
    login: str
    created_at: float
    type: str = "User"  # User | Organization | Bot
    email: str = ""
    full_name: str = ""
    site_admin: bool = False


@dataclass
class Token:
    value: str
    login: str
    kind: str = "pat"  # pat | installation
    expires_at: float | None = None
    installation_id: int | None = None
    scopes: list[str] | None = None  # a classic GitHub token's scopes; None: fine-grained, no scopes shown


@dataclass
class App:
    id: int
    slug: str
    name: str
    public_key: Any
    owner: str
    created_at: float
    permission: str = "admin"  # level the installation token gets on installed repos
    permissions: dict[str, str] = field(default_factory=dict)
    events: list[str] = field(default_factory=list)

    @property
    def bot_login(self) -> str:
        return f"{self.slug}[bot]"


@dataclass
class Installation:
    id: int
    app_id: int
    account: str
    repos: list[str]
    created_at: float


@dataclass
class Label:
    id: int
    name: str
    color: str
    description: str = ""
    exclusive: bool = False
    is_archived: bool = False
    default: bool = False


@dataclass
class Reaction:
    id: int
    user: str
    content: str
    created_at: float


@dataclass
class Comment:
    id: int
    issue_number: int
    user: str
    body: str
    created_at: float
    updated_at: float
    reactions: list[Reaction] = field(default_factory=list)


@dataclass
class Milestone:
    id: int
    number: int
    title: str
    creator: str
    created_at: float
    updated_at: float
    description: str = ""
    state: str = "open"
    due_on: str | None = None
    closed_at: float | None = None


@dataclass
class Review:
    id: int
    user: str
    state: str  # APPROVED | CHANGES_REQUESTED | COMMENTED | PENDING
    body: str
    commit_id: str
    submitted_at: float


@dataclass
class PullRequest:
    head: str
    base: str
    head_sha: str
    base_sha: str
    draft: bool = False
    merged: bool = False
    merged_at: float | None = None
    merged_by: str | None = None
    merge_commit_sha: str | None = None
    maintainer_can_modify: bool = True
    reviews: list[Review] = field(default_factory=list)
    # Requested reviewers: login -> (id of Gitea's REQUEST_REVIEW review, when asked).
    review_requests: dict[str, tuple[int, float]] = field(default_factory=dict)

    def open_requests(self) -> dict[str, tuple[int, float]]:
        """Requests not answered yet: a review submitted after the request answers it (both platforms)."""
        return {login: (rid, at) for login, (rid, at) in self.review_requests.items()
                if not any(r.user == login and r.state != "PENDING" and r.id > rid for r in self.reviews)}


@dataclass
class Issue:
    id: int
    number: int
    title: str
    body: str
    user: str
    created_at: float
    updated_at: float
    state: str = "open"
    state_reason: str | None = None
    labels: list[int] = field(default_factory=list)
    assignees: list[str] = field(default_factory=list)
    milestone: int | None = None  # milestone id
    closed_at: float | None = None
    closed_by: str | None = None
    locked: bool = False
    reactions: list[Reaction] = field(default_factory=list)
    comments: list[int] = field(default_factory=list)  # comment ids, oldest first
    blocked_by: list[int] = field(default_factory=list)  # issue ids
    pull: PullRequest | None = None

    @property
    def is_pull(self) -> bool:
        return self.pull is not None


@dataclass
class Protection:
    """One branch protection rule; GitHub rules are named by their branch, Gitea's may be globs."""

    rule_name: str
    created_at: float
    updated_at: float
    # pull request reviews (GitHub required_pull_request_reviews; Gitea required_approvals...)
    require_reviews: bool = False
    required_approvals: int = 0
    dismiss_stale_reviews: bool = False
    require_code_owner_reviews: bool = False
    require_last_push_approval: bool = False
    # status checks
    status_checks: bool = False
    strict: bool = False
    contexts: list[str] = field(default_factory=list)
    # who may push (GitHub restrictions; Gitea push whitelist)
    restrict_push: bool = False
    push_users: list[str] = field(default_factory=list)
    push_teams: list[str] = field(default_factory=list)
    push_apps: list[str] = field(default_factory=list)
    enable_push: bool = True  # Gitea: False means nobody may push directly
    enforce_admins: bool = False
    allow_force_pushes: bool = False
    allow_deletions: bool = False
    required_linear_history: bool = False
    block_creations: bool = False
    required_conversation_resolution: bool = False
    lock_branch: bool = False
    allow_fork_syncing: bool = False
    required_signatures: bool = False
    # Gitea-only fields, kept under Gitea's names
    gitea: dict[str, Any] = field(default_factory=dict)

    def matches(self, branch: str) -> bool:
        if any(ch in self.rule_name for ch in "*?["):
            return fnmatch.fnmatchcase(branch, self.rule_name)
        return branch == self.rule_name


@dataclass
class Invitation:
    """GitHub: someone asked to collaborate who has not accepted yet (not a collaborator until then)."""

    id: int
    invitee: str
    inviter: str
    level: str
    created_at: float


@dataclass
class Hook:
    id: int
    kind: str  # "web" on GitHub, the Gitea hook type ("gitea", "gogs", ...) on Gitea
    config: dict[str, Any]
    events: list[str]
    active: bool
    created_at: float
    updated_at: float
    branch_filter: str = ""
    authorization_header: str = ""


@dataclass
class CommitStatus:
    id: int
    sha: str
    state: str
    context: str
    creator: str
    created_at: float
    updated_at: float
    target_url: str | None = None
    description: str | None = None


@dataclass
class CheckRun:
    id: int
    app_id: int
    head_sha: str
    name: str
    started_at: float
    status: str = "queued"  # queued | in_progress | completed
    conclusion: str | None = None
    completed_at: float | None = None
    details_url: str | None = None
    external_id: str = ""
    output: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.status == "completed" and self.conclusion in ("success", "neutral", "skipped")


@dataclass
class Repo:
    id: int
    owner: str
    name: str
    git: GitRepo
    created_at: float
    updated_at: float
    pushed_at: float
    default_branch: str = "main"
    private: bool = False
    description: str = ""
    homepage: str = ""
    settings: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_SETTINGS))
    topics: list[str] = field(default_factory=list)
    labels: dict[int, Label] = field(default_factory=dict)
    issues: dict[int, Issue] = field(default_factory=dict)  # by number
    comments: dict[int, Comment] = field(default_factory=dict)  # by id
    milestones: dict[int, Milestone] = field(default_factory=dict)  # by id
    collaborators: dict[str, str] = field(default_factory=dict)  # login -> level
    invitations: dict[int, Invitation] = field(default_factory=dict)  # GitHub, pending, by id
    protections: dict[str, Protection] = field(default_factory=dict)  # by rule name
    hooks: dict[int, Hook] = field(default_factory=dict)
    statuses: list[CommitStatus] = field(default_factory=list)
    check_runs: list[CheckRun] = field(default_factory=list)
    rulesets: list[Any] = field(default_factory=list)  # gh_rules.Ruleset (GitHub only)
    next_number: int = 1
    next_milestone_number: int = 1

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"

    def label_named(self, name: str) -> Label | None:
        wanted = name.casefold()
        return next((lb for lb in self.labels.values() if lb.name.casefold() == wanted), None)

    def issue(self, number: int) -> Issue | None:
        return self.issues.get(number)

    def milestone_by_number(self, number: int) -> Milestone | None:
        return next((m for m in self.milestones.values() if m.number == number), None)

    def protection_for(self, branch: str) -> Protection | None:
        exact = self.protections.get(branch)
        if exact is not None:
            return exact
        return next((p for p in self.protections.values() if p.matches(branch)), None)

    def open_pulls_for_head(self, branch: str) -> list[Issue]:
        return [
            i for i in self.issues.values()
            if i.pull is not None and i.state == "open" and i.pull.head == branch
        ]


@dataclass
class State:
    users: dict[str, User] = field(default_factory=dict)  # by casefolded login
    tokens: dict[str, Token] = field(default_factory=dict)
    apps: dict[int, App] = field(default_factory=dict)
    installations: dict[int, Installation] = field(default_factory=dict)
    repos: dict[str, Repo] = field(default_factory=dict)  # by casefolded full name
    last_id: int = 1000

    def new_id(self) -> int:
        self.last_id += 1
        return self.last_id

    def user(self, login: str) -> User | None:
        return self.users.get(login.casefold())

    def repo(self, full_name: str) -> Repo | None:
        return self.repos.get(full_name.casefold())

    def installation_for(self, repo: Repo) -> Installation | None:
        wanted = repo.full_name.casefold()
        for inst in self.installations.values():
            if any(r.casefold() == wanted for r in inst.repos):
                return inst
        return None

    def app_for_bot(self, login: str) -> App | None:
        return next((a for a in self.apps.values() if a.bot_login == login), None)

    def level(self, repo: Repo, login: str | None) -> str:
        """The effective permission of a user on a repository (public repos give read to all)."""
        implicit = "none" if repo.private else "read"
        if login is None:
            return implicit
        if login.casefold() == repo.owner.casefold():
            return "admin"
        app = self.app_for_bot(login)
        if app is not None:
            inst = self.installation_for(repo)
            if inst is not None and inst.app_id == app.id:
                return app.permission
            return implicit
        explicit = next(
            (lvl for who, lvl in repo.collaborators.items() if who.casefold() == login.casefold()),
            None,
        )
        if explicit is None:
            return implicit
        return max(explicit, implicit, key=LEVELS.index)

    def is_collaborator(self, repo: Repo, login: str) -> bool:
        if login.casefold() == repo.owner.casefold():
            return True
        if self.app_for_bot(login) is not None:
            return self.level(repo, login) != "none"
        return any(
            who.casefold() == login.casefold() and lvl != "none"
            for who, lvl in repo.collaborators.items()
        )
