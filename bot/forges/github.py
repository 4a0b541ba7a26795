"""GitHub and GitHub Enterprise behind the Forge protocol, on gidgethub over the caller's httpx client.

Credentials are a personal token, or a GitHub App: the App acts on a repository with the token of
the installation that covers it (see github_auth). Every exchange runs through one path
(github_limits): writes are paced, rate limits waited out, safe calls retried, failures mapped to
the protocol's errors. URLs are RFC 6570 templates that gidgethub expands, so names from users
(labels, branches, paths) are always escaped; GETs are conditional through gidgethub's ETag cache.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

import httpx

from bot.forges.base import (
    REACTIONS,
    Branch,
    BranchProtection,
    Capabilities,
    Collaborator,
    Comment,
    CommitStatus,
    Comparison,
    Conflict,
    FileContent,
    GitAccess,
    Invalid,
    Issue,
    Label,
    MergeMethod,
    Milestone,
    NotFound,
    Permission,
    PermissionDenied,
    PullRequest,
    RateLimit,
    Repo,
    RepoSettings,
    Review,
    ReviewEvent,
    Unsupported,
    User,
    basic_auth_header,
    split_repo,
)
from bot.forges.common import Clock, IssueStateMixin, Sleep, parse_time
from bot.forges.github_auth import AppAuth
from bot.forges.github_cleanup import GitHubCleanupReads
from bot.forges.github_diagnose import GitHubDiagnostics
from bot.forges.github_hooks import GitHubHooks
from bot.forges.github_invitations import GitHubInvitations
from bot.forges.github_limits import PLATFORM, RETRY_SAFE_METHODS, CountingAPI, RequestPolicy
from bot.forges.github_models import (
    GRANTS,
    REVIEW_EVENTS,
    SETTINGS,
    comment_from,
    issue_from,
    label_from,
    level_named,
    milestone_body,
    milestone_from,
    protection_body,
    protection_from,
    pull_from,
    repo_from,
    review_from,
    settings_from,
    user_level,
    wire_color,
)
from bot.forges.github_reviews import GitHubReviews

T = TypeVar("T")
Credential = tuple[str, str]  # ("token" | "jwt", secret)
NO_BODY = b""
R = "/repos/{owner}/{repo}"
CANNOT_SEE_PERMISSIONS = ("forgebot cannot see who may do what in {repo}: GitHub shows permissions only to "
                          "tokens with push access, so give forgebot write access to {repo}")

class GitHubForge(IssueStateMixin, GitHubDiagnostics, GitHubInvitations, GitHubHooks, GitHubReviews, GitHubCleanupReads):
    platform = "github"
    capabilities = Capabilities(
        triage_level=True, maintain_level=True, compare_ahead_behind=True, branch_commit_dates=False,
        app_installations=True, conditional_requests=True, protection_push_allowlist=True,
        issue_dependencies=True, collaborator_invitations=True, server="GitHub",
    )
    page_size: int | None = 100  # per_page on listings (GitHub's maximum); None sends none

    def __init__(
        self, *, base_url: str, http: httpx.AsyncClient, token: str | None = None,
        app_id: int | None = None, private_key: str | None = None, clock: Clock = time.time,
        sleep: Sleep = asyncio.sleep, max_wait: float = 60.0, write_interval: float = 0.0,
        cache_size: int = 4096, user_agent: str = "forgebot",
    ) -> None:
        if token is not None and (app_id is not None or private_key is not None):
            raise ValueError("give either token, or app_id and private_key, not both")
        self._token = token
        self._app: AppAuth | None = None
        if token is None:
            if app_id is None or private_key is None:
                raise ValueError("give either token, or app_id and private_key")
            self._app = AppAuth(app_id, private_key, clock)
        self.policy = RequestPolicy(clock=clock, sleep=sleep, max_wait=max_wait,
                                    write_interval=write_interval, secrets=self._secrets)
        self._gh = CountingAPI(http, user_agent, policy=self.policy, cache_size=cache_size,
                               base_url=base_url.rstrip("/"))
        self._me: User | None = None

    @property
    def stats(self) -> Counter[str]:
        """HTTP exchanges by method, and how many were answered 304 from the ETag cache."""
        return self.policy.stats

    @property
    def rate_limit(self) -> RateLimit:
        return self.policy.rate_limit

    def remember_installation(self, repo: str, installation_id: int) -> None:
        """The webhook says which installation covers `repo`; saves a lookup."""
        if self._app is not None:
            self._app.remember(repo, installation_id)

    async def aclose(self) -> None:
        """The http client belongs to the caller; there is nothing of ours to close."""

    async def server_capabilities(self) -> Capabilities:
        return self.capabilities  # the same for every repository and every day

    # -- the request path -----------------------------------------------------------------
    def _secrets(self) -> list[str]:
        return [self._token] if self._token else self._app.secrets() if self._app else []

    async def _send(self, method: str, url: str, url_vars: Mapping[str, Any], *, cred: Credential,
                    data: Any = NO_BODY, retry_safe: bool | None = None, pace: bool = True) -> Any:
        jwt, token = _split(cred)

        async def send() -> Any:
            return await self._gh.call(method, url, url_vars, data, jwt=jwt, oauth_token=token)

        safe = method in RETRY_SAFE_METHODS if retry_safe is None else retry_safe
        # A DELETE without a body removes what its URL names, so finding that gone on a retry means
        # the lost attempt worked (as on Gitea). One with a body (assignees) removes *from* it.
        gone = _nothing if method == "DELETE" and data is NO_BODY else None
        return await self.policy.run(method, send, retry_safe=safe, pace=pace, gone=gone)

    async def _collect(self, url: str, url_vars: Mapping[str, Any], *, cred: Credential,
                       key: str = "items") -> list[Any]:
        """Every page of a listing (restarted as a whole on retry: pages already seen answer 304)."""
        jwt, token = _split(cred)
        url_vars = {**url_vars, "per_page": self.page_size}

        async def fetch() -> list[Any]:
            pages = self._gh.getiter(url, url_vars, iterable_key=key, jwt=jwt, oauth_token=token)
            return [item async for item in pages]

        return await self.policy.run("GET", fetch, retry_safe=True)

    async def _as_repo(self, repo: str, call: Callable[[Credential, dict[str, Any]], Awaitable[T]]) -> T:
        owner, name = split_repo(repo)
        url_vars = {"owner": owner, "repo": name}
        cred = await self._credential(repo)
        try:
            return await call(cred, url_vars)
        except PermissionDenied as exc:
            if exc.status != 401 or self._app is None:
                raise
            # The installation token was revoked or expired early; a 401 changed nothing, so retry once.
            installation = self._app.installation_of(repo)
            if installation is not None:
                self._app.tokens.forget(installation)
            return await call(await self._credential(repo), url_vars)

    async def _repo(self, method: str, repo: str, path: str, *, data: Any = NO_BODY,
                    retry_safe: bool | None = None, **params: Any) -> Any:
        return await self._as_repo(repo, lambda cred, url_vars: self._send(
            method, R + path, {**url_vars, **params}, cred=cred, data=data, retry_safe=retry_safe))

    async def _repo_list(self, repo: str, path: str, **params: Any) -> list[Any]:
        return await self._as_repo(repo, lambda cred, url_vars: self._collect(
            R + path, {**url_vars, **params}, cred=cred))

    # -- credentials ----------------------------------------------------------------------
    def _jwt(self) -> Credential:
        assert self._app is not None
        return ("jwt", self._app.jwt.token())

    async def _credential(self, repo: str) -> Credential:
        if self._app is None:
            assert self._token is not None
            return ("token", self._token)
        installation = self._app.installation_of(repo)
        if installation is None:
            owner, name = split_repo(repo)
            found = await self._send("GET", R + "/installation", {"owner": owner, "repo": name}, cred=self._jwt())
            installation = int(found["id"])
            self._app.remember(repo, installation)
        return ("token", await self._installation_token(installation))

    async def _installation_token(self, installation_id: int) -> str:
        assert self._app is not None
        try:
            return await self._app.tokens.get(installation_id, self._fetch_token)
        except NotFound:
            self._app.forget_installation(installation_id)
            raise

    async def _fetch_token(self, installation_id: int) -> dict[str, Any]:
        # A new token leaves the old one valid, so a repeat is harmless; it is not a content write.
        answer: dict[str, Any] = await self._send(
            "POST", "/app/installations/{installation_id}/access_tokens", {"installation_id": installation_id},
            cred=self._jwt(), retry_safe=True, pace=False)
        return answer

    async def git_access(self, repo: str) -> GitAccess:
        """The clone URL, and the token (the App installation's for this repository) as Basic auth:
        GitHub's git endpoint takes `x-access-token:<token>`."""
        found = await self.get_repo(repo)
        if not found.clone_url:
            raise Unsupported(f"{repo} has no clone URL", platform=PLATFORM)
        _, token = await self._credential(repo)
        return GitAccess(found.clone_url, basic_auth_header("x-access-token", token))

    # -- who and where --------------------------------------------------------------------
    async def whoami(self) -> User:
        if self._me is None:
            if self._app is not None:
                app = await self._send("GET", "/app", {}, cred=self._jwt())
                self._me = User(login=f"{app['slug']}[bot]")
            else:
                assert self._token is not None
                me = await self._send("GET", "/user", {}, cred=("token", self._token))
                self._me = User(login=me["login"], id=me.get("id"))
        return self._me

    async def list_repositories(self) -> list[Repo]:
        """As an App: every repository of every installation. With a token: all it can access."""
        if self._app is None:
            assert self._token is not None
            found = await self._collect("/user/repos{?per_page}", {}, cred=("token", self._token))
        else:
            found = []
            for inst in await self._collect("/app/installations{?per_page}", {}, cred=self._jwt()):
                token = await self._installation_token(int(inst["id"]))
                repos = await self._collect("/installation/repositories{?per_page}", {},
                                            cred=("token", token), key="repositories")
                for data in repos:
                    self._app.remember(data["full_name"], int(inst["id"]))
                found.extend(repos)
        unique = {d["full_name"].casefold(): repo_from(d) for d in found}
        return list(unique.values())

    async def get_repo(self, repo: str) -> Repo:
        return repo_from(await self._repo("GET", repo, ""))

    # -- files ----------------------------------------------------------------------------
    async def read_file(self, repo: str, path: str, ref: str | None = None) -> FileContent | None:
        segments = [s for s in path.split("/") if s]
        try:
            data = await self._repo("GET", repo, "/contents{/segments*}{?ref}", segments=segments, ref=ref)
        except NotFound:
            return None
        if not isinstance(data, dict) or data.get("type") != "file":
            return None  # a directory, symlink or submodule is not a file to read
        if data.get("encoding") != "base64":
            raise Unsupported(f"{path} is over 1 MB; the contents API does not inline it", platform=PLATFORM)
        try:
            content = base64.b64decode(data.get("content") or "")
        except (binascii.Error, ValueError):
            raise Invalid(f"GitHub sent undecodable content for {path}", platform=PLATFORM) from None
        return FileContent(path=data.get("path", path), sha=data["sha"], content=content)

    # -- labels ---------------------------------------------------------------------------
    async def list_labels(self, repo: str) -> list[Label]:
        return [label_from(d) for d in await self._repo_list(repo, "/labels{?per_page}")]

    async def create_label(self, repo: str, label: Label) -> Label:
        data = {"name": label.name, "color": wire_color(label.color)}
        if label.description:
            data["description"] = label.description
        return label_from(await self._repo("POST", repo, "/labels", data=data))

    async def update_label(self, repo: str, name: str, label: Label) -> Label:
        """Reads the label, then sends only what differs (nothing at all when nothing does)."""
        current = label_from(await self._repo("GET", repo, "/labels/{name}", name=name))
        changes: dict[str, str] = {}
        if label.name != current.name:
            changes["new_name"] = label.name
        if wire_color(label.color).lower() != current.color:
            changes["color"] = wire_color(label.color)
        if (label.description or "") != current.description:
            changes["description"] = label.description or ""
        if not changes:
            return current
        return label_from(await self._repo("PATCH", repo, "/labels/{name}", name=name, data=changes))

    async def delete_label(self, repo: str, name: str) -> None:
        await self._repo("DELETE", repo, "/labels/{name}", name=name)

    async def add_labels(self, repo: str, number: int, names: Sequence[str]) -> tuple[str, ...]:
        # Adding is a set union: repeating it after an unclear failure changes nothing.
        data = await self._repo("POST", repo, "/issues/{number}/labels", number=number,
                                data={"labels": list(names)}, retry_safe=True)
        return tuple(d["name"] for d in data)

    async def remove_label(self, repo: str, number: int, name: str) -> None:
        """Idempotent: a label that is not on the issue is already removed."""
        try:
            await self._repo("DELETE", repo, "/issues/{number}/labels/{name}", number=number, name=name)
        except NotFound:
            pass

    # -- assignees ------------------------------------------------------------------------
    async def add_assignees(self, repo: str, number: int, logins: Sequence[str]) -> tuple[str, ...]:
        data = await self._repo("POST", repo, "/issues/{number}/assignees", number=number,
                                data={"assignees": list(logins)}, retry_safe=True)
        return issue_from(data).assignees

    async def remove_assignees(self, repo: str, number: int, logins: Sequence[str]) -> tuple[str, ...]:
        data = await self._repo("DELETE", repo, "/issues/{number}/assignees", number=number,
                                data={"assignees": list(logins)})
        return issue_from(data).assignees

    async def set_assignees(self, repo: str, number: int, logins: Sequence[str]) -> tuple[str, ...]:
        current = (await self.get_issue(repo, number)).assignees
        have = {a.casefold() for a in current}
        want = {a.casefold() for a in logins}
        result = current
        if extra := [a for a in current if a.casefold() not in want]:
            result = await self.remove_assignees(repo, number, extra)
        if missing := [a for a in logins if a.casefold() not in have]:
            result = await self.add_assignees(repo, number, missing)
        return result

    # -- comments and reactions -----------------------------------------------------------
    async def list_comments(self, repo: str, number: int) -> list[Comment]:
        items = await self._repo_list(repo, "/issues/{number}/comments{?per_page}", number=number)
        return [comment_from(d) for d in items]

    async def create_comment(self, repo: str, number: int, body: str) -> Comment:
        return comment_from(await self._repo("POST", repo, "/issues/{number}/comments", number=number,
                                             data={"body": body}))

    async def edit_comment(self, repo: str, comment_id: int, body: str) -> Comment:
        return comment_from(await self._repo("PATCH", repo, "/issues/comments/{comment_id}",
                                             comment_id=comment_id, data={"body": body}, retry_safe=True))

    async def add_reaction(self, repo: str, comment_id: int, content: str) -> None:
        if content not in REACTIONS:
            raise Invalid(f"{content!r} is not a reaction; use one of {', '.join(sorted(REACTIONS))}",
                          platform=PLATFORM)
        # GitHub answers a repeated reaction with the existing one, so a retry is harmless.
        await self._repo("POST", repo, "/issues/comments/{comment_id}/reactions", comment_id=comment_id,
                         data={"content": content}, retry_safe=True)

    # -- issues ---------------------------------------------------------------------------
    async def get_issue(self, repo: str, number: int) -> Issue:
        return issue_from(await self._repo("GET", repo, "/issues/{number}", number=number))

    async def list_issues(self, repo: str, *, state: str = "open", labels: Sequence[str] = ()) -> list[Issue]:
        """Issues and pull requests (GitHub lists both; `is_pull` tells them apart)."""
        items = await self._repo_list(repo, "/issues{?state,labels,per_page}",
                                      state=None if state == "open" else state, labels=list(labels) or None)
        return [issue_from(d) for d in items]

    async def _patch_issue(self, repo: str, number: int, changes: dict[str, Any]) -> Issue:
        # Absolute values: sending them twice leaves the same issue.
        return issue_from(await self._repo("PATCH", repo, "/issues/{number}", number=number, data=changes,
                                           retry_safe=True))

    # -- permissions ----------------------------------------------------------------------
    async def get_permission(self, repo: str, login: str) -> Permission:
        """A user GitHub does not know has no permission at all. GitHub shows levels only to a
        token that can push: without it, PermissionDenied saying what access the bot needs."""
        try:
            data = await self._repo("GET", repo, "/collaborators/{username}/permission", username=login)
        except NotFound:
            return Permission.NONE
        except PermissionDenied as exc:
            if exc.status != 403:
                raise
            raise PermissionDenied(CANNOT_SEE_PERMISSIONS.format(repo=repo), status=403, platform=PLATFORM,
                                   details=(exc.message,)) from None
        return level_named(data.get("role_name"), data.get("permission")) or Permission.NONE

    # -- pull requests --------------------------------------------------------------------
    async def get_pull(self, repo: str, number: int) -> PullRequest:
        return pull_from(await self._repo("GET", repo, "/pulls/{number}", number=number))

    async def list_pulls(self, repo: str, *, head: str | None = None, state: str = "open") -> list[PullRequest]:
        if head is not None and ":" not in head:
            head = f"{split_repo(repo)[0]}:{head}"  # GitHub filters on OWNER:BRANCH
        items = await self._repo_list(repo, "/pulls{?state,head,per_page}",
                                      state=None if state == "open" else state, head=head)
        return [pull_from(d) for d in items]

    async def create_pull(self, repo: str, *, title: str, body: str, head: str, base: str, draft: bool = False) -> PullRequest:
        data = {"title": title, "body": body, "head": head, "base": base, "draft": draft}
        return pull_from(await self._repo("POST", repo, "/pulls", data=data))

    async def list_pull_files(self, repo: str, number: int) -> list[str]:
        items = await self._repo_list(repo, "/pulls/{number}/files{?per_page}", number=number)
        return [d["filename"] for d in items]

    async def create_review(self, repo: str, number: int, event: ReviewEvent, body: str = "",
                            commit_sha: str | None = None) -> Review:
        data: dict[str, Any] = {"event": REVIEW_EVENTS[event], "body": body}
        if commit_sha:
            data["commit_id"] = commit_sha
        return review_from(await self._repo("POST", repo, "/pulls/{number}/reviews", number=number, data=data))

    async def merge_pull(self, repo: str, number: int, method: MergeMethod, sha: str | None = None) -> str:
        if method not in (MergeMethod.MERGE, MergeMethod.SQUASH, MergeMethod.REBASE):
            raise Unsupported(f"GitHub has no {method.value} merge; use merge, squash or rebase", platform=PLATFORM)
        data: dict[str, Any] = {"merge_method": method.value}
        if sha:
            data["sha"] = sha
        try:
            # Not retried: a repeat after a merge that went through answers 405 "not mergeable".
            merged = await self._repo("PUT", repo, "/pulls/{number}/merge", number=number, data=data,
                                      retry_safe=False)
        except Invalid as exc:
            if exc.status != 405:
                raise
            # 405 is GitHub's "not now": conflicts, missing approvals, checks, a draft.
            raise Conflict(exc.message, status=405, platform=PLATFORM, details=exc.details) from None
        return str(merged["sha"])

    # -- branches, refs, protection -------------------------------------------------------
    async def list_branches(self, repo: str, *, with_dates: bool = False) -> list[Branch]:
        """GitHub's listing has no dates: `with_dates` costs one GET /commits/{sha} per distinct
        head (ETag-cached); without it `committed_at` stays None."""
        items = await self._repo_list(repo, "/branches{?per_page}")
        dates: dict[str, datetime | None] = {}
        for sha in dict.fromkeys(d["commit"]["sha"] for d in items) if with_dates else ():
            commit = await self._repo("GET", repo, "/commits/{sha}", sha=sha)
            dates[sha] = parse_time(commit["commit"]["committer"]["date"])
        return [Branch(name=d["name"], sha=d["commit"]["sha"], protected=bool(d.get("protected")),
                       committed_at=dates.get(d["commit"]["sha"])) for d in items]

    async def compare(self, repo: str, base: str, head: str) -> Comparison:
        data = await self._repo("GET", repo, "/compare/{basehead}", basehead=f"{base}...{head}")
        merge_base = data.get("merge_base_commit") or {}
        return Comparison(total_commits=int(data["total_commits"]), ahead_by=data.get("ahead_by"),
                          behind_by=data.get("behind_by"), status=data.get("status"),
                          merge_base_sha=merge_base.get("sha"))

    async def create_branch(self, repo: str, name: str, sha: str) -> Branch:
        data = await self._repo("POST", repo, "/git/refs", data={"ref": f"refs/heads/{name}", "sha": sha})
        return Branch(name=name, sha=data["object"]["sha"])

    async def delete_branch(self, repo: str, name: str) -> None:
        await self._repo("DELETE", repo, "/git/refs/heads/{branch}", branch=name)

    async def create_tag(self, repo: str, name: str, sha: str, message: str | None = None) -> None:
        target = sha
        if message is not None:
            tag = await self._repo("POST", repo, "/git/tags",
                                   data={"tag": name, "message": message, "object": sha, "type": "commit"})
            target = tag["sha"]
        await self._repo("POST", repo, "/git/refs", data={"ref": f"refs/tags/{name}", "sha": target})

    async def get_protection(self, repo: str, branch: str) -> BranchProtection | None:
        try:
            data = await self._repo("GET", repo, "/branches/{branch}/protection", branch=branch)
        except NotFound as exc:
            if "not protected" in exc.message.lower():
                return None
            raise
        return protection_from(branch, data)

    async def set_protection(self, repo: str, protection: BranchProtection) -> BranchProtection:
        """PUT replaces the whole rule: what the model leaves None is switched off on GitHub."""
        data = await self._repo("PUT", repo, "/branches/{branch}/protection", branch=protection.branch,
                                data=protection_body(protection))
        return protection_from(protection.branch, data)

    async def remove_protection(self, repo: str, branch: str) -> None:
        try:
            await self._repo("DELETE", repo, "/branches/{branch}/protection", branch=branch)
        except NotFound as exc:
            if "not protected" not in exc.message.lower():
                raise

    # -- repository settings and topics ---------------------------------------------------
    async def get_settings(self, repo: str) -> RepoSettings:
        return settings_from(await self._repo("GET", repo, ""))

    async def update_settings(self, repo: str, changes: RepoSettings) -> RepoSettings:
        data = {name: getattr(changes, name) for name in SETTINGS if getattr(changes, name) is not None}
        if not data:
            return await self.get_settings(repo)
        return settings_from(await self._repo("PATCH", repo, "", data=data, retry_safe=True))

    async def get_topics(self, repo: str) -> tuple[str, ...]:
        return tuple((await self._repo("GET", repo, "/topics"))["names"])

    async def set_topics(self, repo: str, topics: Sequence[str]) -> tuple[str, ...]:
        return tuple((await self._repo("PUT", repo, "/topics", data={"names": list(topics)}))["names"])

    # -- milestones -----------------------------------------------------------------------
    async def list_milestones(self, repo: str) -> list[Milestone]:
        items = await self._repo_list(repo, "/milestones{?state,per_page}", state="all")
        return [milestone_from(d) for d in items]

    async def create_milestone(self, repo: str, milestone: Milestone) -> Milestone:
        return milestone_from(await self._repo("POST", repo, "/milestones", data=milestone_body(milestone)))

    async def update_milestone(self, repo: str, milestone_id: int, milestone: Milestone) -> Milestone:
        return milestone_from(await self._repo("PATCH", repo, "/milestones/{number}", number=milestone_id,
                                               data=milestone_body(milestone), retry_safe=True))

    async def close_milestone(self, repo: str, milestone_id: int) -> Milestone:
        return milestone_from(await self._repo("PATCH", repo, "/milestones/{number}", number=milestone_id,
                                               data={"state": "closed"}, retry_safe=True))

    # -- collaborators --------------------------------------------------------------------
    async def list_collaborators(self, repo: str) -> list[Collaborator]:
        """Direct collaborators only: people who reach the repo through an org or team are not listed."""
        items = await self._repo_list(repo, "/collaborators{?affiliation,per_page}", affiliation="direct")
        return [Collaborator(login=d["login"], permission=user_level(d)) for d in items]

    async def add_collaborator(self, repo: str, login: str, permission: Permission) -> None:
        """An existing collaborator gets the level at once (204); anyone else is invited (201) and
        is listed only once they accept (see list_invitations)."""
        if permission not in GRANTS:
            raise Invalid(f"cannot grant {permission.label}; remove the collaborator instead", platform=PLATFORM)
        await self._repo("PUT", repo, "/collaborators/{username}", username=login,
                         data={"permission": GRANTS[permission]})

    async def remove_collaborator(self, repo: str, login: str) -> None:
        await self._repo("DELETE", repo, "/collaborators/{username}", username=login)

    # -- commit statuses ------------------------------------------------------------------
    async def set_status(self, repo: str, sha: str, status: CommitStatus) -> None:
        data: dict[str, Any] = {"state": status.state.value, "context": status.context}
        if status.description:
            data["description"] = status.description
        if status.target_url:
            data["target_url"] = status.target_url
        # The latest status per context wins, so a repeat changes nothing anyone sees.
        await self._repo("POST", repo, "/statuses/{sha}", sha=sha, data=data, retry_safe=True)


def _nothing() -> None:
    return None


def _split(cred: Credential) -> tuple[str | None, str | None]:
    """(jwt, oauth_token) for gidgethub, which sends `bearer` for the one and `token` for the other."""
    return (cred[1], None) if cred[0] == "jwt" else (None, cred[1])
