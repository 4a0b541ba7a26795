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

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_to_bytes

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


class MalformedPayload(ValueError):
    """The body is not a payload the normalizer can read."""


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


def form_payload(body: bytes) -> bytes | None:
    """The `payload` field of a form body, as GitHub and Gitea send it (content type
    application/x-www-form-urlencoded, `payload=<percent-encoded UTF-8 JSON>`): the exact JSON
    bytes, as signed. None when there is no such field."""
    for pair in body.split(b"&"):
        name, _, value = pair.partition(b"=")
        if name == b"payload":
            return unquote_to_bytes(value.replace(b"+", b" "))
    return None


def parse_body(body: bytes, content_type: str) -> dict[str, Any]:
    """Decode a stored body (JSON, or form-encoded `payload=`) into a dict."""
    try:
        if content_type == "application/x-www-form-urlencoded":
            payload = form_payload(body)
            if payload is None:
                raise MalformedPayload("form body has no payload field")
            data = json.loads(payload)
        else:
            data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedPayload(f"body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise MalformedPayload("payload is not a JSON object")
    return data


def normalize(
    platform: str, event: str, payload: dict[str, Any], *, delivery_id: str = "", event_type: str | None = None
) -> Event:
    """Build the neutral Event from one platform's payload."""
    try:
        if platform == GITEA:
            return _normalize_gitea(event, event_type, payload, delivery_id)
        return _normalize_github(event, payload, delivery_id)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise MalformedPayload(f"{event} payload is missing or has a malformed field: {exc!r}") from None


# -- shared pieces ----------------------------------------------------------------------------


def _login(user: Any) -> str | None:
    if not isinstance(user, dict):
        return None
    return user.get("login") or user.get("username") or None


def _user(user: Any) -> User | None:
    login = _login(user)
    return User(login, user.get("id")) if login else None


def _repo(data: Any) -> Repo | None:
    if not isinstance(data, dict):
        return None
    owner = _login(data.get("owner"))
    name = data.get("name")
    if not owner or not name:
        owner, _, name = str(data.get("full_name", "")).partition("/")
    if not owner or not name:
        return None
    return Repo(
        owner=owner,
        name=name,
        default_branch=data.get("default_branch") or data.get("master_branch"),
        clone_url=data.get("clone_url"),
        html_url=data.get("html_url"),
        private=data.get("private"),
    )


def _names(items: Any, key: str) -> tuple[str, ...]:
    if not items:
        return ()
    return tuple(item[key] if isinstance(item, dict) else str(item) for item in items)


def _issue(data: dict[str, Any], *, is_pull: bool, number: Any = None) -> Issue:
    assignees = _names(data.get("assignees"), "login")
    if not assignees and isinstance(data.get("assignee"), dict):
        assignees = (data["assignee"]["login"],)
    head = data.get("head") or {}
    base = data.get("base") or {}
    return Issue(
        number=int(data["number"] if "number" in data else number),
        title=data.get("title") or "",
        body=data.get("body") or "",
        state=data.get("state") or "open",
        author=_login(data.get("user")),
        labels=_names(data.get("labels"), "name"),
        assignees=assignees,
        is_pull=is_pull,
        html_url=data.get("html_url"),
        head_ref=head.get("ref"),
        head_sha=head.get("sha"),
        base_ref=base.get("ref"),
        base_sha=base.get("sha"),
        merged=data.get("merged") if is_pull else None,
        draft=data.get("draft") if is_pull else None,
    )


def _comment(data: Any, changes: Any) -> Comment | None:
    if not isinstance(data, dict):
        return None
    previous = None
    if isinstance(changes, dict) and isinstance(changes.get("body"), dict):
        previous = changes["body"].get("from")
    return Comment(
        id=int(data["id"]),
        body=data.get("body") or "",
        author=_login(data.get("user")),
        html_url=data.get("html_url"),
        previous_body=previous,
    )


def _push(payload: dict[str, Any], platform: str) -> Push:
    commits = tuple(
        Commit(
            sha=c.get("id") or c.get("sha") or "",
            message=c.get("message") or "",
            added=tuple(c.get("added") or ()),
            removed=tuple(c.get("removed") or ()),
            modified=tuple(c.get("modified") or ()),
        )
        for c in payload.get("commits") or ()
    )
    if platform == GITHUB:
        truncated = len(commits) >= GITHUB_PUSH_MAX_COMMITS or any(
            len(c.added) + len(c.removed) + len(c.modified) >= GITHUB_PUSH_MAX_FILES for c in commits
        )
    else:
        total = payload.get("total_commits")
        truncated = total > len(commits) if isinstance(total, int) else len(commits) >= GITEA_PUSH_MAX_COMMITS
    before, after = payload.get("before") or "", payload.get("after") or ""
    return Push(ref=payload["ref"], before=before, after=after, commits=commits, truncated=truncated)


def _common(platform: str, name: str, action: str | None, payload: dict[str, Any], delivery_id: str) -> dict[str, Any]:
    installation = payload.get("installation")
    return {
        "platform": platform,
        "name": name,
        "action": action,
        "delivery_id": delivery_id,
        "repo": _repo(payload.get("repository")),
        "sender": _user(payload.get("sender")),
        "installation_id": installation.get("id") if isinstance(installation, dict) else None,
        "payload": payload,
    }


# -- GitHub -----------------------------------------------------------------------------------


def _normalize_github(event: str, payload: dict[str, Any], delivery_id: str) -> Event:
    action = payload.get("action")
    fields = _common(GITHUB, event, action, payload, delivery_id)
    if event == "pull_request" or event == "pull_request_review":
        fields["issue"] = _issue(payload["pull_request"], is_pull=True)
    elif isinstance(payload.get("issue"), dict):
        fields["issue"] = _issue(payload["issue"], is_pull=isinstance(payload["issue"].get("pull_request"), dict))
    if event == "issue_comment":
        fields["comment"] = _comment(payload.get("comment"), payload.get("changes"))
    if event == "pull_request_review" and isinstance(payload.get("review"), dict):
        review = payload["review"]
        fields["review"] = Review(
            state=str(review.get("state", "")).lower(),
            body=review.get("body") or "",
            author=_login(review.get("user")),
            commit_sha=review.get("commit_id"),
        )
    if isinstance(payload.get("label"), dict) and event in ("issues", "pull_request"):
        fields["label"] = payload["label"]["name"]
    if event == "push":
        fields["push"] = _push(payload, GITHUB)
    if event in ("create", "delete"):
        fields["ref"] = payload["ref"]
        fields["ref_type"] = payload.get("ref_type")
    return Event(**fields)


# -- Gitea / Forgejo --------------------------------------------------------------------------


def _normalize_gitea(event: str, event_type: str | None, payload: dict[str, Any], delivery_id: str) -> Event:
    kind = event_type or event
    action = payload.get("action")
    review_state = GITEA_REVIEW_STATES.get(kind) if action == "reviewed" else None
    if review_state is not None:
        name, action = "pull_request_review", "submitted"
    elif isinstance(payload.get("issue"), dict) and isinstance(payload.get("comment"), dict):
        # Conversation comments, on issues and PRs alike (older Gitea typed the latter
        # `pull_request_comment`, which newer Gitea uses for review comments).
        name = "issue_comment"
    elif kind.startswith("pull_request"):
        name = "pull_request"
    elif kind.startswith("issue"):
        name = "issues"
    else:
        name = event
    action = GITEA_ACTIONS.get(action, action) if isinstance(action, str) else None

    fields = _common(GITEA, name, action, payload, delivery_id)
    if isinstance(payload.get("pull_request"), dict) and name != "issue_comment":
        # Trimmed Gitea payloads may leave the number only at the top level.
        fields["issue"] = _issue(payload["pull_request"], is_pull=True, number=payload.get("number"))
    elif isinstance(payload.get("issue"), dict):
        issue = payload["issue"]
        is_pull = bool(payload.get("is_pull")) or isinstance(issue.get("pull_request"), dict)
        fields["issue"] = _issue(issue, is_pull=is_pull)
    if name == "issue_comment":
        fields["comment"] = _comment(payload.get("comment"), payload.get("changes"))
    if review_state is not None:
        review = payload.get("review") or {}
        fields["review"] = Review(
            state=review_state,
            body=review.get("content") or "",
            author=_login(payload.get("sender")),
            commit_sha=payload.get("commit_id") or None,
        )
    if name == "push":
        fields["push"] = _push(payload, GITEA)
    if name in ("create", "delete"):
        fields["ref"] = payload["ref"]
        fields["ref_type"] = payload.get("ref_type")
    return Event(**fields)
