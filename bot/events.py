"""The platform-neutral Event, and the normalizers that build it from GitHub and Gitea payloads.

Names follow GitHub's `event.action` vocabulary. Gitea's differences are mapped here and
nowhere else:

- `synchronized` becomes `synchronize`;
- reviews arrive as `pull_request_approved` / `_rejected` / `_comment` with action `reviewed`
  and become `pull_request_review.submitted` with `review.state` approved / changes_requested /
  commented;
- PR conversation comments arrive as `issue_comment` with `is_pull`; they stay `issue_comment`
  with `issue.is_pull` set, as on GitHub;
- `label_updated` / `label_cleared` carry the whole label set and no delta. GitHub's
  `labeled` / `unlabeled` name the one label changed. Gitea's become action `labels_changed`
  with `label` unset: a handler that needs the delta compares `issue.labels` with what it knew.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.payloads import Fields

# Re-exported: they used to live here, and callers that need only these import them from here.
from bot.payloads import MalformedPayload as MalformedPayload
from bot.payloads import form_payload as form_payload
from bot.payloads import parse_body as parse_body

GITHUB = "github"
GITEA = "gitea"

# Gitea's review event types (the X-Gitea-Event-Type header, or the coarse X-Gitea-Event name)
# and the GitHub review state each one means.
GITEA_REVIEW_STATES = {
    "pull_request_review_approved": "approved",
    "pull_request_approved": "approved",
    "pull_request_review_rejected": "changes_requested",
    "pull_request_rejected": "changes_requested",
    "pull_request_review_comment": "commented",
    "pull_request_comment": "commented",
}
GITEA_ACTIONS = {"synchronized": "synchronize", "label_updated": "labels_changed", "label_cleared": "labels_changed"}

# How far push payloads list what was pushed. GitHub lists at most 2048 commits and 3000 changed
# files per commit. Gitea lists `[ui] FEED_MAX_COMMIT_NUM` commits (5 by default) and says how many
# there were in `total_commits`, which Gitea before 1.18 does not send.
GITHUB_PUSH_MAX_COMMITS = 2048
GITHUB_PUSH_MAX_FILES = 3000
GITEA_PUSH_MAX_COMMITS = 5


@dataclass(frozen=True, slots=True)
class User:
    login: str
    id: int | None = None


@dataclass(frozen=True, slots=True)
class Repo:
    owner: str
    name: str
    default_branch: str | None = None
    clone_url: str | None = None
    html_url: str | None = None
    private: bool | None = None

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"


@dataclass(frozen=True, slots=True)
class Issue:
    """An issue or a pull request; the PR-only fields stay None for issues."""

    number: int
    title: str
    body: str
    state: str
    author: str | None
    labels: tuple[str, ...] = ()
    assignees: tuple[str, ...] = ()
    is_pull: bool = False
    html_url: str | None = None
    head_ref: str | None = None
    head_sha: str | None = None
    base_ref: str | None = None
    base_sha: str | None = None
    merged: bool | None = None
    draft: bool | None = None


@dataclass(frozen=True, slots=True)
class Comment:
    id: int
    body: str
    author: str | None
    html_url: str | None = None
    previous_body: str | None = None


@dataclass(frozen=True, slots=True)
class Review:
    state: str  # approved | changes_requested | commented | dismissed
    body: str
    author: str | None
    commit_sha: str | None = None


@dataclass(frozen=True, slots=True)
class Commit:
    sha: str
    message: str
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    modified: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Push:
    ref: str
    before: str
    after: str
    commits: tuple[Commit, ...] = ()
    truncated: bool = False  # the payload lists only some of the commits or files: `touched_paths` may miss some

    @property
    def branch(self) -> str | None:
        return self.ref.removeprefix("refs/heads/") if self.ref.startswith("refs/heads/") else None

    @property
    def touched_paths(self) -> frozenset[str]:
        return frozenset(p for c in self.commits for p in (*c.added, *c.removed, *c.modified))


@dataclass(frozen=True, slots=True)
class Event:
    platform: str
    name: str
    action: str | None
    delivery_id: str
    repo: Repo | None = None
    sender: User | None = None
    installation_id: int | None = None
    issue: Issue | None = None
    comment: Comment | None = None
    review: Review | None = None
    push: Push | None = None
    label: str | None = None  # the one label added or removed (GitHub only)
    ref: str | None = None  # create/delete: the short ref name
    ref_type: str | None = None  # create/delete: branch | tag
    payload: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def full_name(self) -> str:
        """`name.action`, or just the name when there is no action."""
        return f"{self.name}.{self.action}" if self.action else self.name

    @property
    def subject(self) -> str | None:
        """What must be processed in order: one issue or PR, or one ref of a repository."""
        if self.repo is None:
            return None
        base = f"{self.platform}:{self.repo.full_name}"
        if self.issue is not None:
            return f"{base}#{self.issue.number}"
        if self.push is not None:
            return f"{base}@{self.push.ref}"
        if self.ref is not None:
            prefix = "refs/tags/" if self.ref_type == "tag" else "refs/heads/"
            return f"{base}@{prefix}{self.ref}"
        return None


def normalize(
    platform: str, event: str, payload: dict[str, Any], *, delivery_id: str = "", event_type: str | None = None
) -> Event:
    """Build the neutral Event from one platform's payload: every field it reads has the type the
    Event declares, or MalformedPayload says which one does not."""
    try:
        if platform == GITEA:
            return _normalize_gitea(event, event_type, Fields(payload), delivery_id)
        return _normalize_github(event, Fields(payload), delivery_id)
    except MalformedPayload as exc:
        raise MalformedPayload(f"{event} payload: {exc}") from None
    except (KeyError, TypeError, ValueError, AttributeError, ArithmeticError) as exc:
        raise MalformedPayload(f"{event} payload is missing or has a malformed field: {exc!r}") from None


# An error message longer than this is cut: it goes into one log line and one database column.
MAX_REASON = 300


def read_event(
    platform: str, event: str, body: bytes, content_type: str, *, delivery_id: str = "", event_type: str | None = None
) -> Event:
    """The Event a delivery's body holds.

    Whatever the body holds, the only exception is MalformedPayload, with a one-line reason:
    this is the one place where a payload's content can fail, and its callers (the inbox's
    loader, `forgebot replay`, `forgebot receive`) make that a dead letter or a one-line error.
    The checks in `parse_body` and the normalizer name what is wrong; the last clause is the net
    for whatever they did not foresee, since one payload must never stop the inbox.
    """
    try:
        return normalize(platform, event, parse_body(body, content_type), delivery_id=delivery_id, event_type=event_type)
    except MalformedPayload as exc:
        reason = str(exc)
    except Exception as exc:  # see the docstring
        reason = f"{event} payload could not be read: {type(exc).__name__}: {exc}"
    reason = " ".join(reason.split())
    raise MalformedPayload(reason if len(reason) <= MAX_REASON else reason[: MAX_REASON - 3] + "...")


# -- shared pieces ----------------------------------------------------------------------------


def _login(user: Fields | None) -> str | None:
    if user is None:
        return None
    return user.string("login") or user.string("username") or None


def _user(user: Fields | None) -> User | None:
    login = _login(user)
    return User(login, user.integer("id")) if user is not None and login else None


def _repo(data: Fields | None) -> Repo | None:
    if data is None:
        return None
    owner = _login(data.object("owner"))
    name = data.string("name")
    if not owner or not name:
        owner, _, name = data.text("full_name").partition("/")
    if not owner or not name:
        return None
    return Repo(
        owner=owner,
        name=name,
        default_branch=data.string("default_branch") or data.string("master_branch"),
        clone_url=data.string("clone_url"),
        html_url=data.string("html_url"),
        private=data.flag("private"),
    )


def _issue(data: Fields, *, is_pull: bool, number: int | None = None) -> Issue:
    """`number`: the payload's top-level number, for an object that lacks its own."""
    assignees = data.names("assignees", "login")
    assignee = data.object("assignee")
    if not assignees and assignee is not None:
        assignees = (assignee.required_string("login"),)
    head = data.object("head") or Fields({}, data.where("head"))
    base = data.object("base") or Fields({}, data.where("base"))
    number = data.integer("number") if data.has("number") else number
    if number is None:
        raise MalformedPayload(f"{data.where('number')} is missing")
    return Issue(
        number=number,
        title=data.text("title"),
        body=data.text("body"),
        state=data.string("state") or "open",
        author=_login(data.object("user")),
        labels=data.names("labels", "name"),
        assignees=assignees,
        is_pull=is_pull,
        html_url=data.string("html_url"),
        head_ref=head.string("ref"),
        head_sha=head.string("sha"),
        base_ref=base.string("ref"),
        base_sha=base.string("sha"),
        merged=data.flag("merged") if is_pull else None,
        draft=data.flag("draft") if is_pull else None,
    )


def _comment(data: Fields | None, changes: Fields | None) -> Comment | None:
    if data is None:
        return None
    previous_body = changes.object("body") if changes is not None else None
    return Comment(
        id=data.required_integer("id"),
        body=data.text("body"),
        author=_login(data.object("user")),
        html_url=data.string("html_url"),
        previous_body=previous_body.string("from") if previous_body is not None else None,
    )


def _push(payload: Fields, platform: str) -> Push:
    commits = tuple(
        Commit(
            sha=c.string("id") or c.string("sha") or "",
            message=c.text("message"),
            added=c.strings("added"),
            removed=c.strings("removed"),
            modified=c.strings("modified"),
        )
        for c in payload.objects("commits")
    )
    if platform == GITHUB:
        truncated = len(commits) >= GITHUB_PUSH_MAX_COMMITS or any(
            len(c.added) + len(c.removed) + len(c.modified) >= GITHUB_PUSH_MAX_FILES for c in commits
        )
    else:
        total = payload.integer("total_commits")
        truncated = total > len(commits) if total is not None else len(commits) >= GITEA_PUSH_MAX_COMMITS
    return Push(
        ref=payload.required_string("ref"),
        before=payload.text("before"),
        after=payload.text("after"),
        commits=commits,
        truncated=truncated,
    )


def _common(platform: str, name: str, action: str | None, payload: Fields, delivery_id: str) -> dict[str, Any]:
    installation = payload.object("installation")
    return {
        "platform": platform,
        "name": name,
        "action": action,
        "delivery_id": delivery_id,
        "repo": _repo(payload.object("repository")),
        "sender": _user(payload.object("sender")),
        "installation_id": installation.integer("id") if installation is not None else None,
        "payload": payload.data,
    }


def _ref(payload: Fields, fields: dict[str, Any]) -> None:
    """create/delete: the short ref name and its type."""
    fields["ref"] = payload.required_string("ref")
    fields["ref_type"] = payload.string("ref_type")


# -- GitHub -----------------------------------------------------------------------------------


def _normalize_github(event: str, payload: Fields, delivery_id: str) -> Event:
    action = payload.string("action")
    fields = _common(GITHUB, event, action, payload, delivery_id)
    if event == "pull_request" or event == "pull_request_review":
        fields["issue"] = _issue(payload.required_object("pull_request"), is_pull=True)
    elif (issue := payload.object("issue")) is not None:
        fields["issue"] = _issue(issue, is_pull=issue.object("pull_request") is not None)
    if event == "issue_comment":
        fields["comment"] = _comment(payload.object("comment"), payload.object("changes"))
    if event == "pull_request_review" and (review := payload.object("review")) is not None:
        fields["review"] = Review(
            state=review.text("state").lower(),
            body=review.text("body"),
            author=_login(review.object("user")),
            commit_sha=review.string("commit_id"),
        )
    if event in ("issues", "pull_request") and (label := payload.object("label")) is not None:
        fields["label"] = label.required_string("name")
    if event == "push":
        fields["push"] = _push(payload, GITHUB)
    if event in ("create", "delete"):
        _ref(payload, fields)
    return Event(**fields)


# -- Gitea / Forgejo --------------------------------------------------------------------------


def _normalize_gitea(event: str, event_type: str | None, payload: Fields, delivery_id: str) -> Event:
    kind = event_type or event
    action = payload.string("action")
    review_state = GITEA_REVIEW_STATES.get(kind) if action == "reviewed" else None
    issue, comment = payload.object("issue"), payload.object("comment")
    if review_state is not None:
        name, action = "pull_request_review", "submitted"
    elif issue is not None and comment is not None:
        # Conversation comments, on issues and PRs alike (older Gitea typed the latter
        # `pull_request_comment`, which newer Gitea uses for review comments).
        name = "issue_comment"
    elif kind.startswith("pull_request"):
        name = "pull_request"
    elif kind.startswith("issue"):
        name = "issues"
    else:
        name = event
    action = GITEA_ACTIONS.get(action, action) if action is not None else None

    fields = _common(GITEA, name, action, payload, delivery_id)
    pull = payload.object("pull_request") if name != "issue_comment" else None
    if pull is not None:
        # Trimmed Gitea payloads may leave the number only at the top level.
        fields["issue"] = _issue(pull, is_pull=True, number=payload.integer("number"))
    elif issue is not None:
        is_pull = bool(payload.flag("is_pull")) or issue.object("pull_request") is not None
        fields["issue"] = _issue(issue, is_pull=is_pull)
    if name == "issue_comment":
        fields["comment"] = _comment(comment, payload.object("changes"))
    if review_state is not None:
        review = payload.object("review") or Fields({}, "review")
        fields["review"] = Review(
            state=review_state,
            body=review.text("content"),
            author=_login(payload.object("sender")),
            commit_sha=payload.string("commit_id") or None,
        )
    if name == "push":
        fields["push"] = _push(payload, GITEA)
    if name in ("create", "delete"):
        _ref(payload, fields)
    return Event(**fields)
