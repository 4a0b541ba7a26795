"""The repository config file (`.forgebot.yml`): its schema, as pydantic models.

Every section is optional; unknown keys are errors. Resource sections describe what the
platform should look like; `policy` says how far forgebot may go to get there; the remaining
sections are options that the command handlers read from the same file.
"""

from __future__ import annotations

import enum
import re
from datetime import date, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

COLOR_RE = re.compile(r"^#?[0-9a-fA-F]{6}$")
DURATION_RE = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
EXTENDS_RE = re.compile(r"^(?P<repo>[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+)(?::(?P<path>[^:\s]+))?$")
LOGIN_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,38})(?:\[bot\])?$")
# A webhook's secret comes from a variable of this prefix only, so a repository's file can never
# make the bot install a webhook whose secret is one of its own credentials (FORGEBOT_GITHUB_TOKEN).
HOOK_SECRET_PREFIX = "FORGEBOT_HOOK_SECRET_"
HOOK_SECRET_ENV_RE = re.compile(rf"^{HOOK_SECRET_PREFIX}[A-Z0-9_]+$")

CONFIG_PATHS = (".forgebot.yml", ".github/forgebot.yml", ".gitea/forgebot.yml")


def parse_duration(text: str | int | float) -> timedelta:
    """'30m', '4h', '2d', '1w' (or a number of seconds) -> timedelta."""
    try:
        if isinstance(text, int | float) and not isinstance(text, bool):
            return timedelta(seconds=text)
        match = DURATION_RE.match(str(text))
        if match:
            return timedelta(seconds=int(match.group(1)) * DURATION_UNITS[match.group(2)])
    except OverflowError:  # past timedelta's range, or infinite
        raise ValueError(f"{_shown(text)} is longer than any duration can be") from None
    except ValueError:  # NaN, or more digits than Python turns into an int
        pass
    raise ValueError(f"{_shown(text)} is not a duration like 30m, 4h, 2d or 1w")


def _shown(value: object) -> str:
    text = repr(value) if not isinstance(value, int) or abs(value) < 10**60 else "a number that large"
    return text if len(text) <= 60 else text[:57] + "..."


def format_duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    for unit in ("w", "d", "h", "m"):
        size = DURATION_UNITS[unit]
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# -- resources ----------------------------------------------------------------------------------


class LabelSpec(Strict):
    name: str = Field(min_length=1, max_length=50)
    color: str | None = Field(None, description="six hex digits, with or without '#'")
    description: str | None = Field(None, max_length=100)
    rename_from: tuple[str, ...] = Field((), description="old names to rename from instead of creating")

    @field_validator("color")
    @classmethod
    def _color(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not COLOR_RE.match(value):
            raise ValueError(f"{value!r} is not a colour like d73a4a or '#d73a4a'")
        return value.lstrip("#").lower()

    @field_validator("rename_from", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return (value,) if isinstance(value, str) else value


class RepositorySettings(Strict):
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


class ProtectionSpec(Strict):
    required_approvals: int | None = Field(None, ge=0, le=10)
    dismiss_stale_approvals: bool | None = None
    required_status_checks: tuple[str, ...] | None = None
    enforce_admins: bool | None = None
    allow_force_push: bool | None = None
    push_allowlist: tuple[str, ...] | None = None


class BranchSpec(Strict):
    name: str = Field(min_length=1)
    protection: ProtectionSpec | None = Field(None, description="omit or null: the branch is not protected")


class MilestoneSpec(Strict):
    title: str = Field(min_length=1)
    description: str | None = None
    due_on: date | None = None
    state: Literal["open", "closed"] | None = None


class WebhookSpec(Strict):
    url: str = Field(pattern=r"^https?://")
    events: tuple[str, ...] = ("push",)
    active: bool = True
    content_type: Literal["json"] = "json"
    secret_env: str | None = Field(
        None,
        description=f"name of an environment variable of forgebot that holds the secret (never the secret itself); "
                    f"only names starting with {HOOK_SECRET_PREFIX} are allowed",
        json_schema_extra={"pattern": HOOK_SECRET_ENV_RE.pattern},
    )

    @field_validator("secret_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        if value is not None:
            hook_secret_name(value)
        return value


def hook_secret_name(name: str) -> str:
    """`name`, if a webhook's secret may be read from it; else ValueError saying which names may."""
    if not HOOK_SECRET_ENV_RE.match(name):
        raise ValueError(f"{name!r} may not be named: secret_env takes only variables like {HOOK_SECRET_PREFIX}CI, "
                         f"of capitals, digits and _ after {HOOK_SECRET_PREFIX}")
    return name


class CollaboratorLevel(enum.StrEnum):
    READ = "read"
    TRIAGE = "triage"
    WRITE = "write"
    MAINTAIN = "maintain"
    ADMIN = "admin"


# -- policy -------------------------------------------------------------------------------------


class Mode(enum.StrEnum):
    ADDITIVE = "additive"  # create and update only
    AUTHORITATIVE = "authoritative"  # also delete what the file does not list


class KindPolicy(Strict):
    mode: Mode = Mode.ADDITIVE
    protect: tuple[str, ...] = Field((), description="name patterns (fnmatch) never changed or deleted")


def _policy(value: Any) -> Any:
    return {"mode": value} if isinstance(value, str) else value


class Policy(Strict):
    labels: KindPolicy = Field(default_factory=KindPolicy)
    topics: KindPolicy = Field(default_factory=KindPolicy)
    branches: KindPolicy = Field(default_factory=KindPolicy)
    milestones: KindPolicy = Field(default_factory=KindPolicy)
    collaborators: KindPolicy = Field(default_factory=KindPolicy)
    webhooks: KindPolicy = Field(default_factory=KindPolicy)
    max_deletions: int = Field(5, ge=0, description="a run that would delete more stops before applying")

    @field_validator("labels", "topics", "branches", "milestones", "collaborators", "webhooks", mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return _policy(value)


class ReconcileOptions(Strict):
    mode: Literal["report", "apply"] = Field("report", description="what scheduled runs do with drift")


# -- options for the command handlers -------------------------------------------------------------


Level = Literal["anyone", "author", "triage", "write", "maintain", "admin"]


class CommandOptions(Strict):
    level: Level | None = Field(None, description="who may run it; default: the command's own")
    users: tuple[str, ...] = Field((), description="these logins may run it whatever their level")
    enabled: bool = True
    restricted: dict[str, Level] = Field(
        default_factory=dict, description="for /label and /remove-label: label name -> level needed for it"
    )


class ClaimOptions(Strict):
    label: str = "status/claimed"
    default_duration: str = "24h"
    max_duration: str = "7d"
    max_per_user: int = Field(3, ge=1)
    renew_on_push: bool = False
    renew_on_pull_request: bool = False

    @field_validator("default_duration", "max_duration")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration(value)
        return value

    @model_validator(mode="after")
    def _within_maximum(self) -> ClaimOptions:
        if parse_duration(self.default_duration) > parse_duration(self.max_duration):
            raise ValueError("default_duration is longer than max_duration")
        return self


class TriggerOptions(Strict):
    labels: dict[str, str] = Field(default_factory=dict, description="label name -> command it runs")


class DependencyOptions(Strict):
    label: str = "status/blocked"




BRANCH_FIELDS_RE = re.compile(r"\{(\w*)\}")
PREFIX_RE = re.compile(r"^(?:[A-Za-z0-9_][A-Za-z0-9._-]*/?)*$")  # "issue-", "fix/", "team/feat-"
WORKTREE_CREATE_ON = Literal["claim", "assign"]
WORKTREE_REMOVE_ON = Literal["merged", "closed", "released", "expired"]


class WorktreeOptions(Strict):
    """Issue -> branch + git worktree on the bot's host (`/start`)."""

    branch_prefix: str = Field("issue-", description="the prefix of issues no `prefixes` entry matches")
    branch: str = Field("{prefix}{number}-{slug}", description="branch name template: {prefix}, {number}, {slug}")
    prefixes: dict[str, str] = Field(default_factory=dict, description="label -> branch prefix, first match in this order")
    base: str | None = Field(None, description="the branch work starts from (default: the repository's default branch)")
    base_for: dict[str, str] = Field(default_factory=dict, description="label -> base branch")
    create_on: tuple[WORKTREE_CREATE_ON, ...] = Field((), description="what else starts work: claim, assign")
    remove_on: tuple[WORKTREE_REMOVE_ON, ...] = Field(
        ("merged", "closed", "released", "expired"), description="what removes a worktree (never one with uncommitted work)")
    max_per_repo: int = Field(20, ge=1, le=1000)
    draft_pr: bool = Field(False, description="open a draft pull request with an empty first commit")

    @field_validator("branch")
    @classmethod
    def _template(cls, value: str) -> str:
        used = set(BRANCH_FIELDS_RE.findall(value))
        if not used <= {"prefix", "number", "slug"}:
            raise ValueError("the branch template may use only {prefix}, {number} and {slug}")
        if "number" not in used:
            raise ValueError("the branch template must contain {number}")
        if re.search(r"\.\.|@\{|[~^:?*\[\\\s]", value) or value.startswith(("-", "/")):
            raise ValueError("the branch template has characters git refuses in branch names")
        return value

    @field_validator("branch_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if ".." in value or not PREFIX_RE.match(value) or len(value) > 60:
            raise ValueError(f"{value!r} is not a branch prefix: letters, digits, '.', '_', '-', '/' (no '..')")
        return value

    @field_validator("prefixes")
    @classmethod
    def _prefixes(cls, value: dict[str, str]) -> dict[str, str]:
        for prefix in value.values():
            cls._prefix(prefix)
        return value

    @field_validator("base", "base_for")
    @classmethod
    def _bases(cls, value: str | dict[str, str] | None) -> str | dict[str, str] | None:
        for name in ([value] if isinstance(value, str) else list((value or {}).values())):
            if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9._/-]{0,199}", name) or ".." in name or name.endswith((".lock", "/")):
                raise ValueError(f"{name!r} is not a branch name")
        return value


class ReviewLabels(Strict):
    lgtm: str = "lgtm"
    approved: str = "approved"
    hold: str = "do-not-merge/hold"


class ReviewOptions(Strict):
    """Pull-request review: setting this section (even `review: {}`) turns it on."""

    approvers: tuple[str, ...] = Field(
        (), description="who approves files no OWNERS file covers; empty: everyone with write access"
    )
    lgtm_level: Literal["read", "triage", "write", "maintain", "admin"] = Field(
        "write", description="who may /lgtm (never the author)"
    )
    author_can_approve: bool = Field(False, description="the author's own /approve counts")
    reviews_count: bool = Field(True, description="platform reviews count: Approve is /approve or /lgtm, Request changes cancels")
    merge: Literal["off", "command", "auto"] = Field("off", description="command: /merge; auto: merge when ready")
    merge_method: Literal["merge", "squash", "rebase", "rebase-merge", "fast-forward-only"] = Field(
        "merge", description="rebase-merge and fast-forward-only are Gitea's"
    )
    delete_branch: bool = Field(False, description="delete the head branch after merging (same repository only)")
    request_reviewers: int = Field(0, ge=0, le=10, description="ask this many reviewers from OWNERS when a pull request opens")
    labels: ReviewLabels = Field(default_factory=ReviewLabels)

    @field_validator("approvers")
    @classmethod
    def _approver_logins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for login in value:
            if not LOGIN_RE.match(login.lstrip("@")):
                raise ValueError(f"{login!r} is not a user login")
        return tuple(login.lstrip("@") for login in value)


class CleanupMode(enum.StrEnum):
    REPORT = "report"  # the dashboard lists what is due; nothing is deleted
    APPLY = "apply"  # also archive and delete what has been on the dashboard for `grace`


class MergedPolicy(enum.StrEnum):
    DELETE = "delete"  # delete (still archived first when a commit is not on the default branch)
    ARCHIVE = "archive"  # always tag the head before deleting
    KEEP = "keep"  # leave merged branches alone


CLEANUP_PATTERN_RE = re.compile(r"^[A-Za-z0-9_.*?\[\]/-]{1,200}$")


class CleanupOptions(Strict):
    """Stale-branch cleanup: what counts as stale, how long the notice stands, how much one run may do."""

    mode: CleanupMode = Field(CleanupMode.REPORT, description="report: dashboard only; apply: also delete what is due")
    merged: MergedPolicy = Field(MergedPolicy.DELETE, description="branches whose work is in the default branch")
    stale_after: str = Field("90d", description="without a commit for this long, a branch is stale")
    closed_pr_after: str = Field("14d", description="the head of a pull request closed without merging, this long after")
    grace: str = Field("7d", description="how long a branch stands on the dashboard before it is deleted")
    max_per_run: int = Field(20, ge=1, le=500, description="deletions per run at most")
    protect: tuple[str, ...] = Field((), description="branch name patterns (fnmatch) never touched")
    notify: bool = Field(True, description="keep a 'Stale branches' dashboard issue and mention last committers")

    @field_validator("stale_after", "closed_pr_after", "grace")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration(value)
        return value

    @field_validator("protect")
    @classmethod
    def _patterns(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in value:
            if not CLEANUP_PATTERN_RE.match(pattern):
                raise ValueError(f"{pattern!r} is not a branch pattern (letters, digits, '._-/' and the wildcards *?[])")
        return value

    def seconds(self, name: str) -> float:
        return parse_duration(getattr(self, name)).total_seconds()


# -- the file -----------------------------------------------------------------------------------


class RepoConfig(Strict):
    """The whole `.forgebot.yml`."""

    extends: str | None = Field(None, description="owner/repo[:path] of the same owner whose file supplies defaults")
    labels: tuple[LabelSpec, ...] | None = None
    repository: RepositorySettings | None = None
    topics: tuple[str, ...] | None = None
    branches: tuple[BranchSpec, ...] | None = None
    milestones: tuple[MilestoneSpec, ...] | None = None
    collaborators: dict[str, CollaboratorLevel] | None = None
    webhooks: tuple[WebhookSpec, ...] | None = None
    policy: Policy = Field(default_factory=Policy)
    reconcile: ReconcileOptions = Field(default_factory=ReconcileOptions)
    commands: dict[str, CommandOptions] = Field(default_factory=dict)
    claims: ClaimOptions = Field(default_factory=ClaimOptions)
    triggers: TriggerOptions = Field(default_factory=TriggerOptions)
    dependencies: DependencyOptions = Field(default_factory=DependencyOptions)
    worktrees: WorktreeOptions = Field(default_factory=WorktreeOptions)
    review: ReviewOptions = Field(default_factory=ReviewOptions)
    cleanup: CleanupOptions = Field(default_factory=CleanupOptions)

    @field_validator("extends")
    @classmethod
    def _extends(cls, value: str | None) -> str | None:
        if value is not None and not EXTENDS_RE.match(value):
            raise ValueError(f"{value!r} is not of the form owner/repo or owner/repo:path")
        return value

    @field_validator("topics")
    @classmethod
    def _topics(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is None:
            return None
        for topic in value:
            if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,49}", topic):
                raise ValueError(f"topic {topic!r}: lowercase letters, digits and hyphens, at most 50")
        return value

    @field_validator("collaborators")
    @classmethod
    def _logins(cls, value: dict[str, CollaboratorLevel] | None) -> dict[str, CollaboratorLevel] | None:
        for login in value or {}:
            if not LOGIN_RE.match(login):
                raise ValueError(f"{login!r} is not a user login")
        return value

    @field_validator("labels", "branches", "milestones", "webhooks")
    @classmethod
    def _unique_names(cls, items: tuple[Any, ...] | None) -> tuple[Any, ...] | None:
        seen: set[str] = set()
        for item in items or ():
            name = getattr(item, "name", None) or getattr(item, "title", None) or item.url
            key = name.lower() if isinstance(item, LabelSpec) else name
            if key in seen:
                raise ValueError(f"{name!r} is listed twice")
            seen.add(key)
        return items


def review_enabled(config: RepoConfig) -> bool:
    """Review acts only where the file has a `review` section."""
    return "review" in config.model_fields_set



def schema() -> dict[str, Any]:
    """The JSON Schema editors use for `.forgebot.yml` (committed as config/schema.json)."""
    document = RepoConfig.model_json_schema()
    document["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    document["title"] = "forgebot repository config (.forgebot.yml)"
    return document
