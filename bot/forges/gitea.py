"""GiteaForge: the Forge protocol on Gitea/Forgejo's REST API (1.22), over httpx.

Platform differences handled here, each a named branch rather than an approximation:
labels are addressed by id (a name -> id map per repository), assignees are replaced as a whole
list, approvals are spelled APPROVED, PRs for a head branch are found by listing, branches and
tags are created through /branches and /tags. Transport, retries and paging: `gitea_http`;
JSON mapping: `gitea_json`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import time
from collections.abc import Sequence
from typing import Any

import httpx

from bot.forges import gitea_json as gj
from bot.forges.base import (
    REACTIONS,
    Branch,
    Capabilities,
    Comment,
    CommitStatus,
    Comparison,
    Conflict,
    FileContent,
    ForgeError,
    GitAccess,
    Invalid,
    Issue,
    MergeMethod,
    NotFound,
    PermissionDenied,
    PullRequest,
    Repo,
    Review,
    ReviewEvent,
    Unavailable,
    Unsupported,
    User,
    basic_auth_header,
)
from bot.forges.common import Clock, IssueStateMixin, Sleep
from bot.forges.gitea_admin import GiteaAdmin
from bot.forges.gitea_cleanup import GiteaCleanupReads
from bot.forges.gitea_diagnose import GiteaDiagnostics
from bot.forges.gitea_http import PLATFORM, GiteaTransport, ref_path, repo_path, seg
from bot.forges.gitea_labels import GiteaLabels
from bot.forges.gitea_reviews import GiteaReviews
from bot.forges.gitea_version import GITEA, ServerVersion, capabilities_for, parse_version

CAPABILITIES = GITEA  # until the server's version is read (server_capabilities)
ISSUE_STATES = ("open", "closed", "all")


class GiteaForge(IssueStateMixin, GiteaLabels, GiteaAdmin, GiteaDiagnostics, GiteaReviews, GiteaCleanupReads):
    platform = PLATFORM
    capabilities = CAPABILITIES

    def __init__(
        self,
        *,
        base_url: str,
        token: str,
        http: httpx.AsyncClient,
        clock: Clock = time.time,
        sleep: Sleep = asyncio.sleep,
        max_wait: float = 60.0,
        retries: int = 4,
        write_interval: float = 0.0,
    ) -> None:
        self._t = GiteaTransport(base_url=base_url, token=token, http=http, clock=clock, sleep=sleep,
                                 max_wait=max_wait, retries=retries, write_interval=write_interval)
        GiteaLabels.__init__(self)
        self.version: ServerVersion | None = None
        self._version_lock = asyncio.Lock()

    async def aclose(self) -> None:
        """Nothing to close: the http client belongs to the caller."""

    async def server_capabilities(self) -> Capabilities:
        """GET /version once; what that version can do becomes `capabilities`. A server that will
        not say (404, 403) is taken as the oldest this client knows; an outage is raised, not kept."""
        async with self._version_lock:
            if self.version is None:
                try:
                    reported = (await self._t.get("/version") or {}).get("version")
                except (NotFound, PermissionDenied):
                    reported = None
                self.version = parse_version(reported)
                self.capabilities = capabilities_for(self.version)
        return self.capabilities

    # -- who and where -------------------------------------------------------------------
    async def whoami(self) -> User:
        return gj.user(await self._t.get("/user"))

    async def list_repositories(self) -> list[Repo]:
        """The repositories this token administers (`permissions.admin` in GET /user/repos)."""
        items = await self._t.pages("/user/repos")
        return [gj.repo(x) for x in items if (x.get("permissions") or {}).get("admin")]

    async def get_repo(self, repo: str) -> Repo:
        return gj.repo(await self._t.get(repo_path(repo)))

    async def git_access(self, repo: str) -> GitAccess:
        """The clone URL, and the token as the Basic password (Gitea's git endpoint ignores the
        user name when the password is a token: services/auth/basic.go)."""
        found = await self.get_repo(repo)
        if not found.clone_url:
            raise Unsupported(f"{repo} has no clone URL", platform=PLATFORM)
        return GitAccess(found.clone_url, basic_auth_header("forgebot", self._t.token))

    # -- files ---------------------------------------------------------------------------
    async def read_file(self, repo: str, path: str, ref: str | None = None) -> FileContent | None:
        """The file at `path`, or None when there is no file there (absent, or a directory)."""
        params = {"ref": ref} if ref else None
        data = await self._t.get_or_none(f"{repo_path(repo)}/contents/{ref_path(path)}", params)
        if not isinstance(data, dict) or data.get("type") != "file":
            return None
        if data.get("content") is None:
            # Gitea leaves out the content of large files; the raw endpoint has it.
            reply = await self._t.request("GET", f"{repo_path(repo)}/raw/{ref_path(path)}", params=params, raw=True)
            content = reply.data
        else:
            try:
                content = base64.b64decode(data["content"])
            except (binascii.Error, ValueError):
                raise ForgeError(message=f"undecodable content for {path}", platform=PLATFORM) from None
        return FileContent(path=data.get("path") or path, sha=data.get("sha") or "", content=content)

    # -- assignees: no endpoint of their own; PATCH the issue with the whole list --------------
    async def add_assignees(self, repo: str, number: int, logins: Sequence[str]) -> tuple[str, ...]:
        current = await self._assignees(repo, number)
        wanted = current + tuple(x for x in dict.fromkeys(logins) if x.casefold() not in _folded(current))
        return current if wanted == current else await self.set_assignees(repo, number, wanted)

    async def remove_assignees(self, repo: str, number: int, logins: Sequence[str]) -> tuple[str, ...]:
        current = await self._assignees(repo, number)
        gone = _folded(logins)
        wanted = tuple(x for x in current if x.casefold() not in gone)
        if wanted == current:
            return current
        after = await self.set_assignees(repo, number, wanted)
        if stuck := [x for x in after if x.casefold() in gone]:
            raise Unavailable(message=f"Gitea did not unassign {', '.join('@' + x for x in stuck)}", status=500,
                              platform=PLATFORM)
        return after

    async def set_assignees(self, repo: str, number: int, logins: Sequence[str]) -> tuple[str, ...]:
        """The assignees the issue has after the write, which may not be the ones asked for.

        Gitea answers 500 when it will not assign someone (EditIssue: any error of
        UpdateAssignees but an unknown user), after removing and adding some of the others; so
        on a 500 the issue is read back and its assignees are the answer, for the caller to judge.
        A 422 (a user Gitea does not know) changed nothing: the answer is the issue's assignees too.
        """
        path = f"{repo_path(repo)}/issues/{number}"
        try:
            reply = await self._t.request("PATCH", path, json={"assignees": list(dict.fromkeys(logins))},
                                          recover=lambda: self._t.get(path))
        except Invalid as exc:
            if exc.status != 422:
                raise
            return await self._assignees(repo, number)  # an unknown user: refused before any change
        return gj.logins(reply.data.get("assignees"))

    async def _assignees(self, repo: str, number: int) -> tuple[str, ...]:
        return gj.logins((await self._t.get(f"{repo_path(repo)}/issues/{number}")).get("assignees"))

    # -- comments and reactions ----------------------------------------------------------
    async def list_comments(self, repo: str, number: int) -> list[Comment]:
        # Not paged in 1.22: the endpoint takes only since/before and answers every comment.
        return [gj.comment(x) for x in await self._t.get(f"{repo_path(repo)}/issues/{number}/comments") or ()]

    async def create_comment(self, repo: str, number: int, body: str) -> Comment:
        # Not retried after a 5xx: a second POST could post twice. Callers dedupe with markers.
        reply = await self._t.request("POST", f"{repo_path(repo)}/issues/{number}/comments", json={"body": body})
        return gj.comment(reply.data)

    async def edit_comment(self, repo: str, comment_id: int, body: str) -> Comment:
        path = f"{repo_path(repo)}/issues/comments/{comment_id}"
        reply = await self._t.request("PATCH", path, json={"body": body})
        return gj.comment(reply.data if reply.data else await self._t.get(path))

    async def add_reaction(self, repo: str, comment_id: int, content: str) -> None:
        if content not in REACTIONS:
            raise Invalid(message=f"unknown reaction {content!r}", platform=PLATFORM)
        # Reacting twice answers 200 with the existing reaction, so a retry is harmless.
        await self._t.request("POST", f"{repo_path(repo)}/issues/comments/{comment_id}/reactions",
                              json={"content": content}, idempotent=True)

    # -- issues --------------------------------------------------------------------------
    async def get_issue(self, repo: str, number: int) -> Issue:
        return gj.issue(await self._t.get(f"{repo_path(repo)}/issues/{number}"))

    async def list_issues(self, repo: str, *, state: str = "open", labels: Sequence[str] = ()) -> list[Issue]:
        params: dict[str, Any] = {"state": _state(state)}
        if labels:
            params["labels"] = ",".join(labels)
        return [gj.issue(x) for x in await self._t.pages(f"{repo_path(repo)}/issues", params)]

    async def _patch_issue(self, repo: str, number: int, changes: dict[str, Any]) -> Issue:
        return gj.issue((await self._t.request("PATCH", f"{repo_path(repo)}/issues/{number}", json=changes)).data)

    # -- pull requests -------------------------------------------------------------------
    async def get_pull(self, repo: str, number: int) -> PullRequest:
        return gj.pull(await self._t.get(f"{repo_path(repo)}/pulls/{number}"))

    async def list_pulls(self, repo: str, *, head: str | None = None, state: str = "open") -> list[PullRequest]:
        """GET /pulls has no head filter: list and match head.ref (and the head repo's owner)."""
        items = await self._t.pages(f"{repo_path(repo)}/pulls", {"state": _state(state)})
        if head is not None:
            owner, _, branch = head.rpartition(":")
            items = [x for x in items if gj.head_matches(x, owner or None, branch)]
        return [gj.pull(x) for x in items]

    async def create_pull(self, repo: str, *, title: str, body: str, head: str, base: str, draft: bool = False) -> PullRequest:
        """Gitea 1.22's CreatePullRequestOption has no draft field: a title starting with one of
        `[repository.pull-request] WORK_IN_PROGRESS_PREFIXES` ("WIP:", "[WIP]") makes a draft."""
        if draft and not title.upper().startswith(("WIP:", "[WIP]")):
            title = f"WIP: {title}"
        data = {"title": title, "body": body, "head": head, "base": base}

        async def existing() -> Any:  # a lost answer: the pull request may have been made
            items = await self._t.pages(f"{repo_path(repo)}/pulls", {"state": "open"})
            return next((x for x in items if gj.head_matches(x, None, head) and (x.get("base") or {}).get("ref") == base), None)

        return gj.pull((await self._t.request("POST", f"{repo_path(repo)}/pulls", json=data, recover=existing)).data)

    async def list_pull_files(self, repo: str, number: int) -> list[str]:
        return [x["filename"] for x in await self._t.pages(f"{repo_path(repo)}/pulls/{number}/files")]

    async def create_review(
        self, repo: str, number: int, event: ReviewEvent, body: str = "", commit_sha: str | None = None
    ) -> Review:
        payload: dict[str, Any] = {"event": gj.REVIEW_EVENT[ReviewEvent(event)], "body": body}
        if commit_sha:
            payload["commit_id"] = commit_sha
        # Not retried after a 5xx: a second POST would leave a second review.
        reply = await self._t.request("POST", f"{repo_path(repo)}/pulls/{number}/reviews", json=payload)
        return gj.review(reply.data)

    async def merge_pull(self, repo: str, number: int, method: MergeMethod, sha: str | None = None) -> str:
        """POST /pulls/{n}/merge, then GET the PR for the merge commit (Gitea answers no body)."""
        path = f"{repo_path(repo)}/pulls/{number}"
        payload: dict[str, Any] = {"Do": MergeMethod(method).value}
        if sha:
            payload["head_commit_id"] = sha

        async def merged() -> Any:
            data = await self._t.get(path)
            return data if data.get("merged") else None

        try:
            await self._t.request("POST", f"{path}/merge", json=payload, recover=merged)
        except Invalid as exc:
            if exc.status != 405:
                raise
            # 405 is Gitea's "not now": already merged, blocked by protection, conflicts.
            raise Conflict(message=exc.message, status=exc.status, platform=PLATFORM, details=exc.details) from None
        except NotFound:
            # MergePullRequest answers a closed (unmerged) pull request with a bare 404.
            if (await self._t.get(path)).get("state") != "closed":
                raise
            raise Conflict(message=f"pull request #{number} is closed", status=404, platform=PLATFORM) from None
        return gj.pull(await self._t.get(path)).merge_commit_sha or ""

    # -- branches, refs, protection ------------------------------------------------------
    async def list_branches(self, repo: str, *, with_dates: bool = False) -> list[Branch]:
        """Gitea lists each head commit's timestamp, so `committed_at` is filled whatever `with_dates` says."""
        return [gj.branch(x) for x in await self._t.pages(f"{repo_path(repo)}/branches")]

    async def compare(self, repo: str, base: str, head: str) -> Comparison:
        """total_commits only: Gitea reports no ahead/behind, status or merge base."""
        return gj.comparison(await self._t.get(f"{repo_path(repo)}/compare/{ref_path(base)}...{ref_path(head)}"))

    async def create_branch(self, repo: str, name: str, sha: str) -> Branch:
        """POST /branches (Gitea has no POST git/refs); an unknown `sha` is a 500 there."""
        async def existing() -> Any:
            data = await self._t.get_or_none(f"{repo_path(repo)}/branches/{ref_path(name)}")
            if data and (data.get("commit") or {}).get("id") == sha:
                return data
            await self._commit_must_exist(repo, sha)
            return None

        reply = await self._t.request("POST", f"{repo_path(repo)}/branches",
                                      json={"new_branch_name": name, "old_ref_name": sha}, recover=existing)
        return gj.branch(reply.data)

    async def delete_branch(self, repo: str, name: str) -> None:
        await self._t.request("DELETE", f"{repo_path(repo)}/branches/{ref_path(name)}")

    async def create_tag(self, repo: str, name: str, sha: str, message: str | None = None) -> None:
        """POST /tags: annotated with a message, lightweight without."""
        payload = {"tag_name": name, "target": sha}
        if message is not None:
            payload["message"] = message

        async def existing() -> Any:
            data = await self._t.get_or_none(f"{repo_path(repo)}/tags/{ref_path(name)}")
            if data and (data.get("commit") or {}).get("sha") == sha:
                return data
            await self._commit_must_exist(repo, sha)
            return None

        await self._t.request("POST", f"{repo_path(repo)}/tags", json=payload, recover=existing)

    # -- commit statuses -----------------------------------------------------------------
    async def set_status(self, repo: str, sha: str, status: CommitStatus) -> None:
        payload = {"state": status.state.value, "context": status.context, "description": status.description}
        if status.target_url:
            payload["target_url"] = status.target_url
        path = f"{repo_path(repo)}/statuses/{seg(sha)}"

        async def recorded() -> Any:
            """After a 500 (Gitea's answer for a commit it does not have): is it there after all?"""
            await self._commit_must_exist(repo, sha)
            ours = [x for x in await self._t.get(path, {"limit": 50}) or () if x.get("context") == status.context]
            latest = max(ours, key=lambda x: int(x.get("id") or 0), default=None)
            if latest is None or latest.get("status") != status.state.value:
                return None
            return latest if (latest.get("description") or "") == (status.description or "") else None

        # A repeated status only supersedes the same context's, so a retry is harmless.
        await self._t.request("POST", path, json=payload, idempotent=True, recover=recorded)

    async def _commit_must_exist(self, repo: str, sha: str) -> None:
        """Raises NotFound, in words, when the repository has no commit `sha`."""
        if await self._t.get_or_none(f"{repo_path(repo)}/git/commits/{seg(sha)}") is None:
            raise NotFound(message=f"{repo} has no commit {sha}", status=404, platform=PLATFORM)


def _state(state: str) -> str:
    if state not in ISSUE_STATES:
        raise Invalid(message=f"state {state!r}; use one of {', '.join(ISSUE_STATES)}", platform=PLATFORM)
    return state


def _folded(logins: Sequence[str]) -> set[str]:
    return {x.casefold() for x in logins}
