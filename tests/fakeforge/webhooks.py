"""Webhook payloads in each platform's shape, signed and delivered to the bot under test."""

from __future__ import annotations

import hmac
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

from . import ghjson, gtjson, pulljson
from .common import iso, node_id, user_email
from .gitrepo import ZERO_SHA, PushedCommit
from .ops import Change

if TYPE_CHECKING:
    from .forge import FakeForge

_GITEA_REVIEW = {"APPROVED": ("pull_request_approved", "pull_request_review_approved"),
                 "CHANGES_REQUESTED": ("pull_request_rejected", "pull_request_review_rejected"),
                 "COMMENTED": ("pull_request_comment", "pull_request_review_comment")}
_TIMEOUTS = {"github": 10.0, "gitea": 5.0}
# GitHub lists at most 2048 commits in a push, oldest first (docs: webhook events, push); which
# 2048 of a longer push is not documented: the newest (*choice*), so head_commit stays the last.
GITHUB_PUSH_MAX_COMMITS = 2048
# Gitea (services/repository/push.go pushUpdates): newest first, cut to [ui] FEED_MAX_COMMIT_NUM
# (5 by default) after `total_commits` was counted; a new branch counts its newest 10 ancestors
# (CommitsBeforeLimit(10)) whether or not another branch has them.
GITEA_FEED_MAX_COMMIT_NUM = 5
GITEA_NEW_BRANCH_COMMITS = 10


@dataclass
class Target:
    platform: str
    target: Any  # an ASGI app, or a URL string
    secret: bytes
    path: str
    hook_id: int
    events: set[str] | None = None
    raise_app_exceptions: bool = True
    repo_hook: bool = False  # a repository hook's own ping or test (hooktests.py), not the App's webhook

    @property
    def url(self) -> str:
        return self.target if isinstance(self.target, str) else "http://bot" + self.path


@dataclass
class Delivery:
    """One entry of `forge.deliveries`."""

    id: str
    number: int
    platform: str
    event: str
    action: str | None
    event_type: str | None  # Gitea's X-Gitea-Event-Type
    payload: dict[str, Any]
    body: bytes
    headers: dict[str, str]
    url: str
    delivered_at: float
    installation_id: int | None = None
    repository_id: int | None = None
    status: int | None = None
    error: str | None = None
    duration: float = 0.0
    redelivery: bool = False
    response_body: bytes = b""
    target: Target | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def github_summary(self) -> dict[str, Any]:
        return {"id": self.number, "guid": self.id, "delivered_at": iso(self.delivered_at),
                "redelivery": self.redelivery, "duration": self.duration,
                "status": "OK" if self.ok else (self.error or f"HTTP {self.status}"),
                "status_code": self.status or 0, "event": self.event, "action": self.action,
                "installation_id": self.installation_id, "repository_id": self.repository_id,
                "throttled_at": None}


def sign(secret: bytes, body: bytes, digest: str = "sha256") -> str:
    return hmac.new(secret, body, digest).hexdigest()


# -- GitHub payloads ----------------------------------------------------------------------------
def _gh_push_commit(f: FakeForge, repo: Any, c: PushedCommit) -> dict[str, Any]:
    info = c.info

    def person(ident: Any) -> dict[str, Any]:
        from .common import login_for_email
        return {"name": ident.name, "email": ident.email, "username": login_for_email(f, ident.email)}
    return {"id": info.sha, "tree_id": info.tree, "distinct": True, "message": info.message,
            "timestamp": iso(info.committer.when), "url": f"{f.base_url}/{repo.full_name}/commit/{info.sha}",
            "author": person(info.author), "committer": person(info.committer),
            "added": c.added, "removed": c.removed, "modified": c.modified}


def github_payloads(f: FakeForge, ch: Change) -> list[tuple[str, dict[str, Any]]]:
    repo = ch.repo
    tail: dict[str, Any] = {"repository": ghjson.repository(f, repo), "sender": ghjson.user(f, ch.sender)}
    inst = f.state.installation_for(repo)
    if inst is not None:
        tail["installation"] = {"id": inst.id, "node_id": node_id("Installation", inst.id)}
    issue = ch.issue
    if ch.kind in ("issues", "pull_request") and issue is not None:
        if ch.kind == "issues":
            head: dict[str, Any] = {"issue": ghjson.issue(f, repo, issue)}
        else:
            head = {"number": issue.number, "pull_request": pulljson.github(f, repo, issue)}
        if ch.action == "labels":
            return ([(ch.kind, {"action": "labeled", **head, "label": ghjson.label(f, repo, lb), **tail})
                     for lb in ch.added] +
                    [(ch.kind, {"action": "unlabeled", **head, "label": ghjson.label(f, repo, lb), **tail})
                     for lb in ch.removed])
        if ch.action == "assignees":
            return ([(ch.kind, {"action": "assigned", **head, "assignee": ghjson.user(f, a), **tail})
                     for a in ch.added] +
                    [(ch.kind, {"action": "unassigned", **head, "assignee": ghjson.user(f, a), **tail})
                     for a in ch.removed])
        extra: dict[str, Any] = {}
        if ch.changes:
            extra["changes"] = ch.changes
        if ch.milestone is not None:
            extra["milestone"] = ghjson.milestone(f, repo, ch.milestone)
        if ch.action == "synchronize":
            extra.update({"before": ch.before, "after": ch.after})
        return [(ch.kind, {"action": ch.action, **head, **extra, **tail})]
    if ch.kind == "issue_comment" and issue is not None and ch.comment is not None:
        body = {"action": ch.action, "issue": ghjson.issue(f, repo, issue),
                "comment": ghjson.comment(f, repo, ch.comment)}
        if ch.changes:
            body["changes"] = ch.changes
        return [("issue_comment", {**body, **tail})]
    if ch.kind == "pull_request_review" and issue is not None and ch.review is not None:
        review = ghjson.review(f, repo, issue.number, ch.review)
        review["state"] = review["state"].lower()
        return [("pull_request_review", {"action": "submitted", "review": review,
                                         "pull_request": pulljson.github(f, repo, issue, full=False), **tail})]
    if ch.kind == "push":
        return [("push", _github_push(f, ch, tail))]
    if ch.kind == "create":
        return [("create", {"ref": ch.ref, "ref_type": ch.ref_type, "master_branch": repo.default_branch,
                            "description": repo.description or None, "pusher_type": "user", **tail})]
    if ch.kind == "delete":
        return [("delete", {"ref": ch.ref, "ref_type": ch.ref_type, "pusher_type": "user", **tail})]
    if ch.kind == "label" and ch.label is not None:
        body = {"action": ch.action, "label": ghjson.label(f, repo, ch.label)}
        if ch.changes:
            body["changes"] = ch.changes
        return [("label", {**body, **tail})]
    return []


def _github_push(f: FakeForge, ch: Change, tail: dict[str, Any]) -> dict[str, Any]:
    repo = ch.repo
    repository = dict(tail["repository"])
    # Push payloads carry epoch timestamps and a couple of legacy keys.
    repository.update({"created_at": int(repo.created_at), "pushed_at": int(repo.pushed_at),
                       "stargazers": 0, "master_branch": repo.default_branch})
    listed = ch.commits[-GITHUB_PUSH_MAX_COMMITS:]
    commits = [_gh_push_commit(f, repo, c) for c in repo.git.pushed_commits(listed)]
    created, deleted = ch.before == ZERO_SHA, ch.after == ZERO_SHA
    compare = (f"{f.base_url}/{repo.full_name}/commit/{ch.after}" if created
               else f"{f.base_url}/{repo.full_name}/compare/{(ch.before or '')[:12]}...{(ch.after or '')[:12]}")
    head_commit = commits[-1] if commits and listed[-1] == ch.after else None
    if head_commit is None and not deleted and ch.after:
        head_commit = _gh_push_commit(f, repo, repo.git.pushed_commit(ch.after))
    return {"ref": ch.ref, "before": ch.before, "after": ch.after, **tail, "repository": repository,
            "pusher": {"name": ch.sender, "email": user_email(f, ch.sender)},
            "created": created, "deleted": deleted, "forced": ch.forced, "base_ref": None,
            "compare": compare, "commits": commits, "head_commit": head_commit}


# -- Gitea payloads -----------------------------------------------------------------------------
def gitea_payloads(f: FakeForge, ch: Change) -> list[tuple[str, str, dict[str, Any]]]:
    repo = ch.repo
    tail = {"repository": gtjson.repository(f, repo, ch.sender), "sender": gtjson.user(f, ch.sender)}
    issue = ch.issue
    if ch.kind in ("issues", "pull_request") and issue is not None:
        is_pull = ch.kind == "pull_request"
        if is_pull:
            head: dict[str, Any] = {"number": issue.number, "pull_request": pulljson.gitea(f, repo, issue, ch.sender),
                                    "requested_reviewer": None}
            end = {"commit_id": "", "review": None}
        else:
            head, end = {"number": issue.number, "issue": gtjson.issue(f, repo, issue)}, {"commit_id": ""}
        prefix = "pull_request" if is_pull else "issue"
        if ch.action == "labels":
            action = "label_cleared" if ch.cleared else "label_updated"
            return [(ch.kind, f"{prefix}_label", {"action": action, **head, **tail, **end})]
        if ch.action == "assignees":
            return [(ch.kind, f"{prefix}_assign", {"action": action, **head, **tail, **end})
                    for action, who in [("assigned", a) for a in ch.added] + [("unassigned", a) for a in ch.removed]]
        if ch.action in ("milestoned", "demilestoned"):
            return [(ch.kind, f"{prefix}_milestone", {"action": ch.action, **head, **tail, **end})]
        if ch.action == "synchronize":
            return [(ch.kind, "pull_request_sync", {"action": "synchronized", **head, **tail,
                                                    "commit_id": ch.after or "", "review": None})]
        extra = {"changes": ch.changes} if ch.changes else {}
        return [(ch.kind, ch.kind, {"action": ch.action, **head, **extra, **tail, **end})]
    if ch.kind == "issue_comment" and issue is not None and ch.comment is not None:
        body: dict[str, Any] = {"action": ch.action, "issue": gtjson.issue(f, repo, issue)}
        if issue.pull is not None:
            body["pull_request"] = pulljson.gitea(f, repo, issue, ch.sender)
        body["comment"] = gtjson.comment(f, repo, ch.comment)
        if ch.changes:
            body["changes"] = ch.changes
        kind = "pull_request_comment" if issue.pull else "issue_comment"
        return [("issue_comment", kind, {**body, **tail, "is_pull": issue.pull is not None})]
    if ch.kind == "pull_request_review" and issue is not None and ch.review is not None:
        event, kind = _GITEA_REVIEW[ch.review.state]
        assert issue.pull is not None
        return [(event, kind, {"action": "reviewed", "number": issue.number,
                               "pull_request": pulljson.gitea(f, repo, issue, ch.sender),
                               "requested_reviewer": None, **tail, "commit_id": issue.pull.head_sha,
                               "review": {"type": kind, "content": ch.review.body}})]
    if ch.kind == "push" and ch.after and ch.after != ZERO_SHA:  # Gitea sends only `delete` for a deleted ref
        return [("push", "push", _gitea_push(f, ch, tail))]
    if ch.kind == "create":
        return [("create", "create", {"sha": ch.after, "ref": ch.ref, "ref_type": ch.ref_type, **tail})]
    if ch.kind == "delete":
        return [("delete", "delete", {"ref": ch.ref, "ref_type": ch.ref_type, "pusher_type": "user", **tail})]
    return []


def _gitea_push(f: FakeForge, ch: Change, tail: dict[str, Any]) -> dict[str, Any]:
    repo, after = ch.repo, ch.after or ""
    if not ch.ref or not ch.ref.startswith("refs/heads/"):
        counted: list[str] = []  # a tag lists no commits
    elif ch.before == ZERO_SHA:
        counted = repo.git.ancestors(after, GITEA_NEW_BRANCH_COMMITS)
    else:
        counted = list(reversed(ch.commits))
    listed = counted[:GITEA_FEED_MAX_COMMIT_NUM]
    commits = [gtjson.payload_commit(f, repo, c.info, c.added, c.removed, c.modified)
               for c in repo.git.pushed_commits(listed)]
    if commits and listed[0] == after:
        head_commit = commits[0]
    else:
        head = repo.git.pushed_commit(after)
        head_commit = gtjson.payload_commit(f, repo, head.info, head.added, head.removed, head.modified)
    return {"ref": ch.ref, "before": ch.before, "after": after,
            "compare_url": f"{f.base_url}/{repo.full_name}/compare/{ch.before}...{after}",
            "commits": commits, "total_commits": len(counted), "head_commit": head_commit,
            "repository": tail["repository"], "pusher": tail["sender"], "sender": tail["sender"]}


# -- delivery -----------------------------------------------------------------------------------
def headers_for(platform: str, event: str, event_type: str | None, delivery_id: str, body: bytes,
                secret: bytes, hook_id: int, installation_id: int | None) -> dict[str, str]:
    digest = sign(secret, body) if secret else ""
    sha1 = sign(secret, body, "sha1") if secret else ""
    if platform == "github":
        headers = {"X-GitHub-Event": event, "X-GitHub-Delivery": delivery_id,
                   "X-GitHub-Hook-ID": str(hook_id),
                   "X-GitHub-Hook-Installation-Target-Type": "integration" if installation_id else "repository",
                   "X-GitHub-Hook-Installation-Target-ID": str(installation_id or hook_id),
                   "User-Agent": "GitHub-Hookshot/fakeforge", "Content-Type": "application/json",
                   "Accept": "*/*"}
        if secret:
            headers["X-Hub-Signature"] = "sha1=" + sha1
            headers["X-Hub-Signature-256"] = "sha256=" + digest
        return headers
    return {"X-Gitea-Delivery": delivery_id, "X-Gogs-Delivery": delivery_id, "X-GitHub-Delivery": delivery_id,
            "X-Gitea-Event": event, "X-Gogs-Event": event, "X-GitHub-Event": event,
            "X-Gitea-Event-Type": event_type or event, "X-Gogs-Event-Type": event_type or event,
            "X-GitHub-Event-Type": event_type or event,
            # Gitea sends the signature headers even without a secret, then empty.
            "X-Gitea-Signature": digest, "X-Gogs-Signature": digest,
            "X-Hub-Signature-256": "sha256=" + digest, "X-Hub-Signature": "sha1=" + sha1,
            "User-Agent": "Go-http-client/1.1", "Content-Type": "application/json"}


def build(f: FakeForge, target: Target, ch: Change) -> list[Delivery]:
    rendered: list[tuple[str, str | None, dict[str, Any]]]
    if target.platform == "github":
        rendered = [(event, None, payload) for event, payload in github_payloads(f, ch)]
    else:
        rendered = list(gitea_payloads(f, ch))
    inst = f.state.installation_for(ch.repo) if target.platform == "github" else None
    result = []
    for event, event_type, payload in rendered:
        if target.events is not None and event not in target.events:
            continue
        if target.platform == "github":
            body = json.dumps(payload, separators=(",", ":")).encode()
        else:
            body = json.dumps(payload, indent=2).encode()
        delivery_id = str(uuid.uuid4())
        headers = headers_for(target.platform, event, event_type, delivery_id, body, target.secret,
                              target.hook_id, inst.id if inst else None)
        f.delivery_counter += 1
        result.append(Delivery(delivery_id, f.delivery_counter, target.platform, event, payload.get("action"),
                               event_type, payload, body, headers, target.url, f.clock(),
                               inst.id if inst else None, ch.repo.id, target=target))
    return result


async def send(d: Delivery) -> Delivery:
    target = d.target
    assert target is not None
    transport = None if isinstance(target.target, str) else httpx.ASGITransport(
        app=target.target, raise_app_exceptions=target.raise_app_exceptions)
    started = time.monotonic()
    # No TLS context for plain-http targets: building one (loading the CA bundle) costs ~20 ms.
    plain = transport is not None or d.url.startswith("http://")
    async with httpx.AsyncClient(transport=transport, timeout=_TIMEOUTS[d.platform], verify=not plain) as client:
        try:
            resp = await client.post(d.url, content=d.body, headers=d.headers)
            d.status, d.response_body = resp.status_code, resp.content
        except httpx.HTTPError as exc:
            d.error = f"{type(exc).__name__}: {exc}"
    d.duration = round(time.monotonic() - started, 3)
    return d
