"""Tests act as users through `forge.actor(login)`: state changes, then webhooks, then return."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .common import ApiError
from .gitrepo import ZERO_SHA
from .state import Issue, Repo, level_at_least

if TYPE_CHECKING:
    from .forge import FakeForge
    from .webhooks import Delivery

_REVIEW_STATES = {"approved": "APPROVED", "changes_requested": "CHANGES_REQUESTED",
                  "commented": "COMMENTED", "pending": "PENDING"}


class Actor:
    """A user acting on the forge. Every method delivers the resulting webhooks before returning;
    `actor.last` holds those deliveries (with their HTTP status)."""

    def __init__(self, forge: FakeForge, login: str) -> None:
        if forge.state.user(login) is None:
            raise KeyError(f"unknown user {login!r}")
        self.forge = forge
        self.login = login
        self.last: list[Delivery] = []

    # -- helpers -------------------------------------------------------------------------
    def _repo(self, name: str, level: str = "read") -> Repo:
        repo = self.forge.repo(name)
        actual = self.forge.state.level(repo, self.login)
        if actual == "none":
            raise ApiError(404, f"{self.login} cannot see {name}")
        if not level_at_least(actual, level):
            raise ApiError(403, f"{self.login} has {actual} access to {name}, needs {level}")
        return repo

    def _issue(self, repo: Repo, number: int) -> Issue:
        issue = repo.issue(number)
        if issue is None:
            raise ApiError(404, f"no issue or pull request #{number} in {repo.full_name}")
        return issue

    def _own_or(self, repo: Repo, issue: Issue, level: str) -> None:
        if issue.user != self.login:
            self._repo(repo.full_name, level)

    async def _done(self) -> None:
        self.last = await self.forge.flush()

    @property
    def ops(self) -> Any:
        return self.forge.ops

    # -- issues --------------------------------------------------------------------------
    async def open_issue(self, repo: str, title: str, body: str = "", labels: list[str] | tuple[str, ...] = (),
                         assignees: list[str] | tuple[str, ...] = ()) -> int:
        r = self._repo(repo)
        issue = self.ops.create_issue(r, self.login, title, body)
        if labels:
            self.ops.set_labels(r, issue, self.login, [self._label_id(r, n) for n in labels])
        if assignees:
            self.ops.set_assignees(r, issue, self.login, list(assignees))
        await self._done()
        return issue.number

    async def edit_issue(self, repo: str, number: int, *, title: str | None = None, body: str | None = None) -> None:
        r = self._repo(repo)
        issue = self._issue(r, number)
        self._own_or(r, issue, "triage")
        from .ops import UNSET
        self.ops.edit_issue(r, issue, self.login, title=UNSET if title is None else title,
                            body=UNSET if body is None else body)
        await self._done()

    async def close_issue(self, repo: str, number: int, reason: str = "completed") -> None:
        r = self._repo(repo)
        issue = self._issue(r, number)
        self._own_or(r, issue, "triage")
        self.ops.edit_issue(r, issue, self.login, state="closed", state_reason=reason)
        await self._done()

    async def reopen_issue(self, repo: str, number: int) -> None:
        r = self._repo(repo)
        issue = self._issue(r, number)
        self._own_or(r, issue, "triage")
        self.ops.edit_issue(r, issue, self.login, state="open")
        await self._done()

    close_pr = close_issue
    reopen_pr = reopen_issue

    def _label_id(self, repo: Repo, name: str) -> int:
        lb = repo.label_named(name)
        if lb is None:
            lb = self.ops.create_label(repo, self.login, name, "ededed")
        return lb.id

    async def add_label(self, repo: str, number: int, *names: str) -> None:
        r = self._repo(repo, "triage")
        issue = self._issue(r, number)
        self.ops.set_labels(r, issue, self.login, issue.labels + [self._label_id(r, n) for n in names])
        await self._done()

    async def remove_label(self, repo: str, number: int, *names: str) -> None:
        r = self._repo(repo, "triage")
        issue = self._issue(r, number)
        gone = {lb.id for lb in (r.label_named(n) for n in names) if lb is not None}
        self.ops.set_labels(r, issue, self.login, [x for x in issue.labels if x not in gone])
        await self._done()

    async def assign(self, repo: str, number: int, *logins: str) -> None:
        r = self._repo(repo, "triage")
        issue = self._issue(r, number)
        self.ops.set_assignees(r, issue, self.login, issue.assignees + list(logins))
        await self._done()

    async def unassign(self, repo: str, number: int, *logins: str) -> None:
        r = self._repo(repo, "triage")
        issue = self._issue(r, number)
        self.ops.set_assignees(r, issue, self.login, [a for a in issue.assignees if a not in logins])
        await self._done()

    async def create_label(self, repo: str, name: str, color: str = "ededed", description: str = "") -> int:
        r = self._repo(repo, "write")
        lb = self.ops.create_label(r, self.login, name, color, description)
        await self._done()
        return lb.id

    # -- comments and reactions ----------------------------------------------------------
    async def comment(self, repo: str, number: int, body: str) -> int:
        r = self._repo(repo)
        c = self.ops.add_comment(r, self._issue(r, number), self.login, body)
        await self._done()
        return c.id

    def _comment(self, repo: Repo, comment_id: int) -> Any:
        c = repo.comments.get(comment_id)
        if c is None:
            raise ApiError(404, f"no comment {comment_id} in {repo.full_name}")
        if c.user != self.login:
            self._repo(repo.full_name, "write")
        return c

    async def edit_comment(self, repo: str, comment_id: int, body: str) -> None:
        r = self._repo(repo)
        self.ops.edit_comment(r, self._comment(r, comment_id), self.login, body)
        await self._done()

    async def delete_comment(self, repo: str, comment_id: int) -> None:
        r = self._repo(repo)
        self.ops.delete_comment(r, self._comment(r, comment_id), self.login)
        await self._done()

    async def react(self, repo: str, content: str, *, comment_id: int | None = None,
                    number: int | None = None) -> int:
        r = self._repo(repo)
        target = r.comments[comment_id] if comment_id is not None else self._issue(r, number or 0)
        reaction, _ = self.ops.react(target, self.login, content)
        await self._done()
        return reaction.id

    # -- git and pull requests -----------------------------------------------------------
    async def push(self, repo: str, branch: str, files: dict[str, str | bytes | None], message: str = "update",
                   from_ref: str | None = None) -> str:
        """Commits `files` (None deletes a path) on `branch`, creating it from `from_ref` (default
        branch) when needed; branch protection applies (ApiError 403 when refused)."""
        r = self._repo(repo, "write")
        sha = self.ops.push_files(r, self.login, branch, files, message, from_ref)
        await self._done()
        return sha

    async def push_commits(self, repo: str, branch: str, changes: list[dict[str, str | bytes | None]],
                           message: str = "update") -> str:
        """One push of len(changes) commits, one per entry, onto `branch` (made from the default
        branch when missing); branch protection applies. Returns the new head."""
        r = self._repo(repo, "write")
        ref = f"refs/heads/{branch}"
        before = r.git.ref_sha(ref) or ZERO_SHA
        parent = before if before != ZERO_SHA else r.git.resolve(r.default_branch)
        head = r.git.commit_series(parent, changes, message, self.ops.ident(self.login))[-1]
        blocker = self.ops.push_blocker(r, branch, self.login, before, head)
        if blocker:
            raise ApiError(403, blocker)
        r.git.update_ref(ref, head, before)
        self.ops.ref_updated(r, self.login, ref, before, head)
        await self._done()
        return head

    async def delete_branch(self, repo: str, branch: str) -> None:
        r = self._repo(repo, "write")
        ref = f"refs/heads/{branch}"
        before = r.git.ref_sha(ref)
        if before is None:
            raise ApiError(404, f"no branch {branch}")
        blocker = self.ops.push_blocker(r, branch, self.login, before, ZERO_SHA)
        if blocker:
            raise ApiError(403, blocker)
        r.git.delete_ref(ref)
        self.ops.ref_updated(r, self.login, ref, before, ZERO_SHA)
        await self._done()

    async def open_pr(self, repo: str, head: str, base: str | None = None, title: str = "", body: str = "",
                      draft: bool = False) -> int:
        r = self._repo(repo)
        base = base or r.default_branch
        for name in (head, base):
            if r.git.ref_sha(f"refs/heads/{name}") is None:
                raise ApiError(422, f"no branch {name}")
        issue = self.ops.create_pull(r, self.login, head, base, title or head, body, draft)
        await self._done()
        return issue.number

    async def review(self, repo: str, pr: int, state: str, body: str = "") -> int:
        r = self._repo(repo)
        issue = self._issue(r, pr)
        if issue.pull is None:
            raise ApiError(404, f"#{pr} is not a pull request")
        review = self.ops.add_review(r, issue, self.login, _REVIEW_STATES[state], body)
        await self._done()
        return review.id

    async def merge_pr(self, repo: str, pr: int, method: str = "merge", *, check: bool = True) -> str:
        """Merges like the platform would (protection rules apply unless `check=False`)."""
        r = self._repo(repo, "write")
        issue = self._issue(r, pr)
        if issue.pull is None or issue.state != "open":
            raise ApiError(405, "Pull Request is not mergeable")
        blocker = self.ops.merge_blocker(r, issue, self.login, not check)
        if blocker:
            raise ApiError(405, blocker)
        sha = self.ops.merge_pull(r, issue, self.login, method)
        await self._done()
        return sha

    async def set_status(self, repo: str, sha: str, state: str, context: str = "ci",
                         description: str | None = None, target_url: str | None = None) -> int:
        from .state import CommitStatus
        r = self._repo(repo, "write")
        full = r.git.resolve(sha)
        if full is None:
            raise ApiError(422, f"No commit found for SHA: {sha}")
        now = self.ops.now()
        s = CommitStatus(self.forge.state.new_id(), full, state, context, self.login, now, now,
                         target_url, description)
        r.statuses.append(s)
        return s.id

    # -- invitations (GitHub) ---------------------------------------------------------------
    def accept_invitation(self, repo_name: str) -> None:
        """Accepts this user's pending invitation to `repo_name`: they become a collaborator."""
        from .gh_invitations import accept

        repo = self.forge.repo(repo_name)
        inv = next((i for i in repo.invitations.values() if i.invitee.casefold() == self.login.casefold()), None)
        if inv is None:
            raise ApiError(404, f"{self.login} has no invitation to {repo_name}")
        accept(repo, inv)
