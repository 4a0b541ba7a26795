"""Platform-neutral state changes; each one records the webhook events it causes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .common import ApiError, iso, parse_iso, user_email
from .gitrepo import ZERO_SHA, Ident
from .state import (
    Comment,
    Issue,
    Label,
    Milestone,
    PullRequest,
    Reaction,
    Repo,
    Review,
    level_at_least,
)

if TYPE_CHECKING:
    from .forge import FakeForge

UNSET: Any = object()


def due_date(value: Any) -> str | None:
    """A milestone's due date as both platforms store it: whole seconds, UTC, or none."""
    return iso(parse_iso(value)) if value else None


@dataclass
class Change:
    """One thing that happened, rendered into each platform's webhook(s) on delivery."""

    kind: str  # issues | pull_request | issue_comment | pull_request_review | push | create | delete | label
    action: str | None
    repo: Repo
    sender: str
    issue: Issue | None = None
    comment: Comment | None = None
    label: Label | None = None
    review: Review | None = None
    milestone: Milestone | None = None
    changes: dict[str, Any] | None = None
    added: list[Any] = field(default_factory=list)
    removed: list[Any] = field(default_factory=list)
    cleared: bool = False
    ref: str | None = None
    ref_type: str | None = None
    before: str | None = None
    after: str | None = None
    commits: list[str] = field(default_factory=list)  # a push's new commits, oldest first
    forced: bool = False


@dataclass
class PullStats:
    base_sha: str
    merge_base: str | None
    commits: int
    additions: int
    deletions: int
    changed_files: int
    mergeable: bool | None


class Ops:
    def __init__(self, forge: FakeForge) -> None:
        self.forge = forge
        self.state = forge.state

    # -- helpers -------------------------------------------------------------------------
    def now(self) -> float:
        return float(int(self.forge.clock()))

    def ident(self, login: str) -> Ident:
        user = self.state.user(login)
        name = (user.full_name if user and user.full_name else login)
        return Ident(name, user_email(self.forge, login), int(self.now()))

    def emit(self, change: Change) -> None:
        self.forge.outbox.append(change)

    def _kind(self, issue: Issue) -> str:
        return "pull_request" if issue.pull else "issues"

    # -- issues --------------------------------------------------------------------------
    def create_issue(self, repo: Repo, login: str, title: str, body: str = "",
                     pull: PullRequest | None = None) -> Issue:
        now = self.now()
        issue = Issue(id=self.state.new_id(), number=repo.next_number, title=title, body=body or "",
                      user=login, created_at=now, updated_at=now, pull=pull)
        repo.next_number += 1
        repo.issues[issue.number] = issue
        self.emit(Change(self._kind(issue), "opened", repo, login, issue=issue))
        return issue

    def edit_issue(self, repo: Repo, issue: Issue, login: str, *, title: Any = UNSET, body: Any = UNSET,
                   state: Any = UNSET, state_reason: Any = UNSET, milestone: Any = UNSET,
                   base: Any = UNSET) -> None:
        kind, now = self._kind(issue), self.now()
        changes: dict[str, Any] = {}
        if title is not UNSET and title != issue.title:
            changes["title"] = {"from": issue.title}
            issue.title = title
        if body is not UNSET and (body or "") != issue.body:
            changes["body"] = {"from": issue.body}
            issue.body = body or ""
        if base is not UNSET and issue.pull and base != issue.pull.base:
            changes["base"] = {"ref": {"from": issue.pull.base}, "sha": {"from": issue.pull.base_sha}}
            issue.pull.base = base
        if changes:
            issue.updated_at = now
            self.emit(Change(kind, "edited", repo, login, issue=issue, changes=changes))
        if milestone is not UNSET and milestone != issue.milestone:
            old = repo.milestones.get(issue.milestone or -1)
            issue.milestone = milestone
            issue.updated_at = now
            if milestone is None:
                self.emit(Change(kind, "demilestoned", repo, login, issue=issue, milestone=old))
            else:
                self.emit(Change(kind, "milestoned", repo, login, issue=issue,
                                 milestone=repo.milestones[milestone]))
        if state_reason is not UNSET and state is UNSET:
            issue.state_reason = state_reason
        if state is not UNSET and state != issue.state:
            issue.state, issue.updated_at = state, now
            if state == "closed":
                issue.closed_at, issue.closed_by = now, login
                issue.state_reason = "completed" if state_reason is UNSET else state_reason
                if issue.pull:
                    issue.pull.base_sha = repo.git.resolve(issue.pull.base) or issue.pull.base_sha
            else:
                issue.closed_at, issue.closed_by = None, None
                issue.state_reason = "reopened" if state_reason is UNSET else state_reason
                if issue.pull:
                    issue.pull.head_sha = repo.git.resolve(issue.pull.head) or issue.pull.head_sha
            self.emit(Change(kind, "closed" if state == "closed" else "reopened", repo, login, issue=issue))

    def set_labels(self, repo: Repo, issue: Issue, login: str, label_ids: list[int], *, always: bool = False,
                   cleared: bool = False) -> None:
        """`always`: report the change even when nothing changed (Gitea's API does, see gt_issues);
        `cleared`: it was Gitea's "clear all labels", its only source of `label_cleared`."""
        wanted = list(dict.fromkeys(label_ids))
        added = [repo.labels[x] for x in wanted if x not in issue.labels]
        removed = [repo.labels[x] for x in issue.labels if x not in wanted]
        if not added and not removed and not always:
            return
        if added or removed:
            issue.labels = wanted
            issue.updated_at = self.now()
        self.emit(Change(self._kind(issue), "labels", repo, login, issue=issue, added=added,
                         removed=removed, cleared=cleared))

    def set_assignees(self, repo: Repo, issue: Issue, login: str, logins: list[str]) -> None:
        wanted = list(dict.fromkeys(logins))
        added = [a for a in wanted if a not in issue.assignees]
        removed = [a for a in issue.assignees if a not in wanted]
        if not added and not removed:
            return
        issue.assignees = wanted
        issue.updated_at = self.now()
        self.emit(Change(self._kind(issue), "assignees", repo, login, issue=issue, added=added,
                         removed=removed))

    def assignable(self, repo: Repo, login: str, platform: str = "github") -> bool:
        """GitHub: collaborators (*choice*). Gitea: anyone who can read pull requests there, so
        anyone at all on a public repository (models/perm/access/repo_permission.go CanBeAssigned)."""
        user = self.state.user(login)
        if user is None or user.type == "Organization":
            return False
        if platform == "gitea":
            return level_at_least(self.state.level(repo, login), "read")
        return self.state.is_collaborator(repo, login)

    # -- comments and reactions ----------------------------------------------------------
    def add_comment(self, repo: Repo, issue: Issue, login: str, body: str) -> Comment:
        now = self.now()
        c = Comment(id=self.state.new_id(), issue_number=issue.number, user=login, body=body,
                    created_at=now, updated_at=now)
        repo.comments[c.id] = c
        issue.comments.append(c.id)
        issue.updated_at = now
        self.emit(Change("issue_comment", "created", repo, login, issue=issue, comment=c))
        return c

    def edit_comment(self, repo: Repo, c: Comment, login: str, body: str) -> None:
        if body == c.body:
            return
        old, c.body, c.updated_at = c.body, body, self.now()
        self.emit(Change("issue_comment", "edited", repo, login, issue=repo.issues[c.issue_number],
                         comment=c, changes={"body": {"from": old}}))

    def delete_comment(self, repo: Repo, c: Comment, login: str) -> None:
        issue = repo.issues[c.issue_number]
        del repo.comments[c.id]
        issue.comments.remove(c.id)
        self.emit(Change("issue_comment", "deleted", repo, login, issue=issue, comment=c))

    def react(self, target: Issue | Comment, login: str, content: str) -> tuple[Reaction, bool]:
        for r in target.reactions:
            if r.user == login and r.content == content:
                return r, False
        r = Reaction(self.state.new_id(), login, content, self.now())
        target.reactions.append(r)
        return r, True

    def unreact(self, target: Issue | Comment, login: str, content: str) -> bool:
        before = len(target.reactions)
        target.reactions[:] = [r for r in target.reactions if not (r.user == login and r.content == content)]
        return len(target.reactions) != before

    # -- labels --------------------------------------------------------------------------
    def create_label(self, repo: Repo, login: str, name: str, color: str, description: str = "",
                     exclusive: bool = False, is_archived: bool = False) -> Label:
        lb = Label(self.state.new_id(), name, color.lstrip("#").lower(), description or "",
                   exclusive, is_archived)
        repo.labels[lb.id] = lb
        self.emit(Change("label", "created", repo, login, label=lb))
        return lb

    def update_label(self, repo: Repo, lb: Label, login: str, **fields: Any) -> None:
        changes = {}
        for key, value in fields.items():
            if value is None or value is UNSET:
                continue
            if key == "color":
                value = value.lstrip("#").lower()
            if getattr(lb, key) != value:
                changes[key] = {"from": getattr(lb, key)}
                setattr(lb, key, value)
        if changes:
            self.emit(Change("label", "edited", repo, login, label=lb, changes=changes))

    def delete_label(self, repo: Repo, lb: Label, login: str) -> None:
        del repo.labels[lb.id]
        for issue in repo.issues.values():
            if lb.id in issue.labels:
                issue.labels.remove(lb.id)
        self.emit(Change("label", "deleted", repo, login, label=lb))

    # -- milestones ----------------------------------------------------------------------
    def create_milestone(self, repo: Repo, login: str, title: str, description: str = "",
                         state: str = "open", due_on: Any = None) -> Milestone:
        now = self.now()
        m = Milestone(self.state.new_id(), repo.next_milestone_number, title, login, now, now,
                      description, state, due_date(due_on))
        if m.state == "closed":
            m.closed_at = now
        repo.next_milestone_number += 1
        repo.milestones[m.id] = m
        return m

    def set_milestone_state(self, m: Milestone, state: str) -> None:
        if state != m.state:
            m.state = state
            m.closed_at = self.now() if state == "closed" else None

    def delete_milestone(self, repo: Repo, m: Milestone) -> None:
        del repo.milestones[m.id]
        for issue in repo.issues.values():
            if issue.milestone == m.id:
                issue.milestone = None

    # -- git -----------------------------------------------------------------------------
    def push_blocker(self, repo: Repo, branch: str, login: str, before: str, after: str) -> str | None:
        """Why branch protection refuses this update of `branch`, or None."""
        p = repo.protection_for(branch)
        if p is None:
            return None
        admin_bypass = level_at_least(self.state.level(repo, login), "admin") and not p.enforce_admins
        if after == ZERO_SHA:
            return None if p.allow_deletions else "Cannot delete this protected branch"
        if p.lock_branch:
            return "Cannot push to a locked branch"
        if before != ZERO_SHA and not repo.git.is_ancestor(before, after) and not p.allow_force_pushes:
            return "Cannot force-push to this protected branch"
        if not p.enable_push:
            return "Not allowed to push to protected branch " + branch
        if admin_bypass:
            return None
        if p.restrict_push and login not in p.push_users:
            return "You're not authorized to push to this branch"
        if p.require_reviews:
            return "Changes must be made through a pull request."
        return None

    def ref_updated(self, repo: Repo, login: str, ref: str, before: str, after: str) -> None:
        """Records a moved ref: create/push/delete events, PR synchronize, auto-close."""
        if before == after:
            return
        now = self.now()
        repo.pushed_at = repo.updated_at = now
        kind = "branch" if ref.startswith("refs/heads/") else "tag"
        short = ref.split("/", 2)[2]
        if before == ZERO_SHA:
            self.emit(Change("create", None, repo, login, ref=short, ref_type=kind, after=after))
        shas: list[str] = []
        forced = False
        if after != ZERO_SHA:
            # Every commit the push brought, oldest first; a new branch's are those no other branch
            # has. Each platform's payload lists its own share of them (webhooks.py).
            exclude = [before] if before != ZERO_SHA else [
                sha for name, sha in repo.git.branches().items() if name != short]
            shas = repo.git.rev_list(exclude, after) if kind == "branch" else []
            forced = before != ZERO_SHA and not repo.git.is_ancestor(before, after)
        self.emit(Change("push", None, repo, login, ref=ref, before=before, after=after,
                         commits=shas, forced=forced))
        if after == ZERO_SHA:
            self.emit(Change("delete", None, repo, login, ref=short, ref_type=kind, before=before))
        if kind != "branch":
            return
        for issue in repo.open_pulls_for_head(short):
            assert issue.pull is not None
            if after == ZERO_SHA:
                self.edit_issue(repo, issue, login, state="closed")
                continue
            issue.pull.head_sha = after
            issue.updated_at = now
            self.emit(Change("pull_request", "synchronize", repo, login, issue=issue,
                             before=before, after=after))

    def push_files(self, repo: Repo, login: str, branch: str, files: dict[str, str | bytes | None],
                   message: str, from_ref: str | None = None, check: bool = True) -> str:
        git = repo.git
        before = git.ref_sha(f"refs/heads/{branch}") or ZERO_SHA
        parent = before if before != ZERO_SHA else git.resolve(from_ref or repo.default_branch)
        ident = self.ident(login)
        sha = git.commit_files(parent, files, message, ident, ident)
        if check:
            blocker = self.push_blocker(repo, branch, login, before, sha)
            if blocker:
                raise ApiError(403, blocker)
        git.update_ref(f"refs/heads/{branch}", sha, before)
        self.ref_updated(repo, login, f"refs/heads/{branch}", before, sha)
        return sha

    # -- pull requests -------------------------------------------------------------------
    def create_pull(self, repo: Repo, login: str, head: str, base: str, title: str, body: str = "",
                    draft: bool = False) -> Issue:
        head_sha, base_sha = repo.git.resolve(f"refs/heads/{head}"), repo.git.resolve(f"refs/heads/{base}")
        assert head_sha and base_sha
        pull = PullRequest(head=head, base=base, head_sha=head_sha, base_sha=base_sha, draft=draft)
        return self.create_issue(repo, login, title, body, pull=pull)

    def pull_base_sha(self, repo: Repo, issue: Issue) -> str:
        """The base branch tip for an open pull request, the recorded one once it is closed."""
        pull = issue.pull
        assert pull is not None
        if issue.state == "open":
            return repo.git.resolve(f"refs/heads/{pull.base}") or pull.base_sha
        return pull.base_sha

    def pull_range(self, repo: Repo, issue: Issue) -> tuple[str | None, str]:
        """(merge base, head): what a pull request's commits and files are computed between."""
        assert issue.pull is not None
        head = issue.pull.head_sha
        return repo.git.merge_base(self.pull_base_sha(repo, issue), head), head

    def pull_stats(self, repo: Repo, issue: Issue) -> PullStats:
        pull = issue.pull
        assert pull is not None
        git = repo.git
        base_sha = self.pull_base_sha(repo, issue)
        mb = git.merge_base(base_sha, pull.head_sha)
        files = git.diff(mb, pull.head_sha, renames=True) if mb else []
        mergeable: bool | None = None
        if issue.state == "open":
            mergeable = git.merge_tree(base_sha, pull.head_sha) is not None
        return PullStats(
            base_sha=base_sha, merge_base=mb, commits=len(git.rev_list(base_sha, pull.head_sha)),
            additions=sum(c.additions for c in files), deletions=sum(c.deletions for c in files),
            changed_files=len(files), mergeable=mergeable,
        )

    def add_review(self, repo: Repo, issue: Issue, login: str, state: str, body: str,
                   commit_id: str | None = None) -> Review:
        assert issue.pull is not None
        r = Review(self.state.new_id(), login, state, body or "", commit_id or issue.pull.head_sha, self.now())
        issue.pull.reviews.append(r)
        if state != "PENDING":
            self.emit(Change("pull_request_review", "submitted", repo, login, issue=issue, review=r))
        return r

    def merge_blocker(self, repo: Repo, issue: Issue, login: str, admin_override: bool) -> str | None:
        assert issue.pull is not None
        p = repo.protection_for(issue.pull.base)
        if p is None or admin_override:
            return None
        latest: dict[str, Review] = {}
        for r in issue.pull.reviews:
            if r.state in ("APPROVED", "CHANGES_REQUESTED") and r.user != issue.user:
                latest[r.user] = r
        writers = {u: r for u, r in latest.items() if level_at_least(self.state.level(repo, u), "write")}
        if p.require_reviews:
            approvals = [r for r in writers.values() if r.state == "APPROVED"
                         and (not p.dismiss_stale_reviews or r.commit_id == issue.pull.head_sha)]
            if len(approvals) < p.required_approvals:
                n = p.required_approvals
                return f"At least {n} approving review{'s are' if n > 1 else ' is'} required by reviewers with write access."
            if any(r.state == "CHANGES_REQUESTED" for r in writers.values()):
                return "Changes requested by a reviewer with write access."
        if p.status_checks:
            # A required context is met by a successful status or a passing check run of that name.
            states = {s.context: s.state for s in repo.statuses if s.sha == issue.pull.head_sha}
            states.update({c.name: "success" if c.passed else "failure"
                           for c in repo.check_runs if c.head_sha == issue.pull.head_sha})
            for ctx in p.contexts:
                if states.get(ctx) != "success":
                    return f'Required status check "{ctx}" is expected.'
        return None

    def merge_pull(self, repo: Repo, issue: Issue, login: str, method: str, title: str | None = None,
                   message: str | None = None, delete_branch: bool | None = None) -> str:
        """Merges in git and moves the base branch; raises ApiError(409) on conflicts."""
        pull = issue.pull
        assert pull is not None
        git, me = repo.git, self.ident(login)
        base_ref = f"refs/heads/{pull.base}"
        base_tip = git.resolve(base_ref)
        assert base_tip
        head = pull.head_sha
        default_title = f"Merge pull request #{issue.number} from {repo.owner}/{pull.head}"
        if method == "manually-merged":
            new = head
        elif method in ("merge", "squash"):
            tree = git.merge_tree(base_tip, head)
            if tree is None:
                raise ApiError(405, "Pull Request is not mergeable")
            if method == "merge":
                msg = (title or default_title) + "\n\n" + (message if message is not None else issue.title)
                new = git.commit_tree(tree, [base_tip, head], msg.strip() + "\n", me, me)
            else:
                shas = git.rev_list(base_tip, head)
                default_body = "\n\n".join("* " + git.commit(s).message for s in shas)
                msg = (title or f"{issue.title} (#{issue.number})") + "\n\n" + (message if message is not None else default_body)
                new = git.commit_tree(tree, [base_tip], msg.strip() + "\n", self.ident(issue.user), me)
        elif method in ("rebase", "rebase-merge", "fast-forward-only"):
            if method == "fast-forward-only":
                if not git.is_ancestor(base_tip, head):
                    raise ApiError(405, "Pull Request is not fast-forwardable")
                new = head
            else:
                new = base_tip
                for sha in git.rev_list(base_tip, head):
                    if len(git.commit(sha).parents) > 1:
                        continue
                    picked = git.cherry_pick(new, sha, me)
                    if picked is None:
                        raise ApiError(405, "Pull Request is not mergeable")
                    new = picked
                if method == "rebase-merge":
                    tree = git.commit(new).tree
                    new = git.commit_tree(tree, [base_tip, new], default_title + "\n", me, me)
        else:
            raise ApiError(422, f"unknown merge method {method}")
        if new != base_tip and method != "manually-merged":
            git.update_ref(base_ref, new, base_tip)
        now = self.now()
        pull.merged, pull.merged_at, pull.merged_by = True, now, login
        pull.merge_commit_sha, pull.base_sha = new, base_tip
        issue.state, issue.closed_at, issue.closed_by, issue.updated_at = "closed", now, login, now
        self.emit(Change("pull_request", "closed", repo, login, issue=issue))
        if new != base_tip and method != "manually-merged":
            self.ref_updated(repo, login, base_ref, base_tip, new)
        if delete_branch if delete_branch is not None else repo.settings["delete_branch_on_merge"]:
            head_ref = f"refs/heads/{pull.head}"
            current = git.ref_sha(head_ref)
            if current and pull.head != repo.default_branch:
                git.delete_ref(head_ref)
                self.ref_updated(repo, login, head_ref, current, ZERO_SHA)
        return new
