"""Gitea 1.22 JSON representations of the shared state (REST responses and webhook payloads)."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

from . import gt_version
from .common import gitea_combined_state, iso, login_for_email, user_email
from .state import Comment, Hook, Issue, Label, Milestone, Protection, Repo, Review

if TYPE_CHECKING:
    from .forge import FakeForge
    from .gitrepo import CommitInfo, FileChange

EPOCH = "1970-01-01T00:00:00Z"
# Gitea's review state names for the shared review states.
REVIEW_STATES = {"APPROVED": "APPROVED", "CHANGES_REQUESTED": "REQUEST_CHANGES",
                 "COMMENTED": "COMMENT", "PENDING": "PENDING", "REQUEST_REVIEW": "REQUEST_REVIEW"}


def api(f: FakeForge) -> str:
    return f.base_url + "/api/v1"


def user(f: FakeForge, login: str | None) -> dict[str, Any] | None:
    if login is None:
        return None
    u = f.state.user(login)
    uid = u.id if u else 0
    return {
        "id": uid, "login": login, "login_name": "", "source_id": 0,
        "full_name": (u.full_name if u else ""), "email": user_email(f, login),
        "avatar_url": f"{f.base_url}/avatars/{uid}", "html_url": f"{f.base_url}/{login}",
        "language": "", "is_admin": bool(u and u.site_admin), "last_login": EPOCH,
        "created": iso(u.created_at if u else 0), "restricted": False, "active": True,
        "prohibit_login": False, "location": "", "website": "", "description": "",
        "visibility": "public", "followers_count": 0, "following_count": 0,
        "starred_repos_count": 0, "username": login,
    }


def permissions(f: FakeForge, repo: Repo, viewer: str | None) -> dict[str, bool]:
    level = f.state.level(repo, viewer)
    return {"admin": level == "admin", "push": level in ("write", "maintain", "admin"),
            "pull": level != "none"}


def repository(f: FakeForge, repo: Repo, viewer: str | None = None) -> dict[str, Any]:
    s = repo.settings
    issues = [i for i in repo.issues.values() if i.state == "open"]
    data = {
        "id": repo.id, "owner": user(f, repo.owner), "name": repo.name, "full_name": repo.full_name,
        "description": repo.description, "empty": False, "private": repo.private, "fork": False,
        "template": s["is_template"], "parent": None, "mirror": False, "size": 1, "language": "",
        "languages_url": f"{api(f)}/repos/{repo.full_name}/languages",
        "html_url": f"{f.base_url}/{repo.full_name}", "url": f"{api(f)}/repos/{repo.full_name}",
        "link": "", "ssh_url": f"git@fakeforge:{repo.full_name}.git",
        "clone_url": f"{f.base_url}/{repo.full_name}.git", "original_url": "",
        "website": repo.homepage, "stars_count": 0, "forks_count": 0, "watchers_count": 0,
        "open_issues_count": sum(1 for i in issues if not i.pull),
        "open_pr_counter": sum(1 for i in issues if i.pull), "release_counter": 0,
        "default_branch": repo.default_branch, "archived": s["archived"],
        "created_at": iso(repo.created_at), "updated_at": iso(repo.updated_at), "archived_at": EPOCH,
        "permissions": permissions(f, repo, viewer), "has_issues": s["has_issues"],
        "internal_tracker": {"enable_time_tracker": False, "allow_only_contributors_to_track_time": True,
                             "enable_issue_dependencies": True},
        "has_wiki": s["has_wiki"], "has_pull_requests": s["has_pull_requests"],
        "has_projects": s["has_projects"], "projects_mode": s["projects_mode"],
        "has_releases": s["has_releases"], "has_packages": s["has_packages"],
        "has_actions": s["has_actions"], "ignore_whitespace_conflicts": s["ignore_whitespace_conflicts"],
        "allow_merge_commits": s["allow_merge_commit"], "allow_rebase": s["allow_rebase_merge"],
        "allow_rebase_explicit": s["allow_rebase_explicit"], "allow_squash_merge": s["allow_squash_merge"],
        "allow_fast_forward_only_merge": s["allow_fast_forward_only_merge"],
        "allow_rebase_update": s["allow_rebase_update"],
        "default_delete_branch_after_merge": s["delete_branch_on_merge"],
        "default_merge_style": s["default_merge_style"],
        "default_allow_maintainer_edit": s["default_allow_maintainer_edit"],
        "avatar_url": "", "internal": False, "mirror_interval": s["mirror_interval"],
        "object_format_name": "sha1", "mirror_updated": EPOCH, "repo_transfer": None,
        "topics": list(repo.topics), "licenses": [],
    }
    if not s["has_issues"]:
        # A nil pointer Go leaves out (omitempty): ToRepo sets it only with the issues unit on
        # (recorded: Forgejo v10, a repository with issues off).
        del data["internal_tracker"]
    return gt_version.shown(f.gitea_version, "Repository", data)


def label(f: FakeForge, repo: Repo, lb: Label) -> dict[str, Any]:
    return {"id": lb.id, "name": lb.name, "exclusive": lb.exclusive, "is_archived": lb.is_archived,
            "color": lb.color, "description": lb.description,
            "url": f"{api(f)}/repos/{repo.full_name}/labels/{lb.id}"}


def milestone(f: FakeForge, repo: Repo, m: Milestone | None) -> dict[str, Any] | None:
    if m is None:
        return None
    issues = [i for i in repo.issues.values() if i.milestone == m.id]
    return {
        "id": m.id, "title": m.title, "description": m.description, "state": m.state,
        "open_issues": sum(1 for i in issues if i.state == "open"),
        "closed_issues": sum(1 for i in issues if i.state == "closed"),
        "created_at": iso(m.created_at), "updated_at": iso(m.updated_at),
        "closed_at": iso(m.closed_at), "due_on": m.due_on,
    }


def _users(f: FakeForge, logins: list[str]) -> list[dict[str, Any]] | None:
    # Go marshals an empty slice that was never appended to as null.
    return [user(f, x) for x in logins] or None  # type: ignore[misc]


def issue(f: FakeForge, repo: Repo, i: Issue) -> dict[str, Any]:
    kind = "pulls" if i.pull else "issues"
    pr_meta = None
    if i.pull is not None:
        pr_meta = {"merged": i.pull.merged, "merged_at": iso(i.pull.merged_at), "draft": i.pull.draft,
                   "html_url": f"{f.base_url}/{repo.full_name}/pulls/{i.number}"}
    assignees = _users(f, i.assignees)
    return {
        "id": i.id, "url": f"{api(f)}/repos/{repo.full_name}/issues/{i.number}",
        "html_url": f"{f.base_url}/{repo.full_name}/{kind}/{i.number}", "number": i.number,
        "user": user(f, i.user), "original_author": "", "original_author_id": 0,
        "title": i.title, "body": i.body, "ref": "", "assets": [],
        "labels": [label(f, repo, repo.labels[x]) for x in i.labels],
        "milestone": milestone(f, repo, repo.milestones.get(i.milestone or -1)),
        "assignee": assignees[0] if assignees else None, "assignees": assignees,
        "state": i.state, "is_locked": i.locked, "comments": len(i.comments),
        "created_at": iso(i.created_at), "updated_at": iso(i.updated_at), "closed_at": iso(i.closed_at),
        "due_date": None, "pull_request": pr_meta,
        "repository": {"id": repo.id, "name": repo.name, "owner": repo.owner, "full_name": repo.full_name},
        "pin_order": 0,
    }


def comment(f: FakeForge, repo: Repo, c: Comment) -> dict[str, Any]:
    parent = repo.issues[c.issue_number]
    kind = "pulls" if parent.pull else "issues"
    issue_url = f"{f.base_url}/{repo.full_name}/{kind}/{c.issue_number}"
    return {
        "id": c.id, "html_url": f"{issue_url}#issuecomment-{c.id}",
        "pull_request_url": issue_url if parent.pull else "",
        "issue_url": "" if parent.pull else issue_url, "user": user(f, c.user),
        "original_author": "", "original_author_id": 0, "body": c.body, "assets": [],
        "created_at": iso(c.created_at), "updated_at": iso(c.updated_at),
    }


def reaction(f: FakeForge, r: Any) -> dict[str, Any]:
    return {"user": user(f, r.user), "content": r.content, "created_at": iso(r.created_at)}


def _person(f: FakeForge, name: str, email: str) -> dict[str, Any]:
    return {"name": name, "email": email, "username": login_for_email(f, email) or ""}


def payload_commit(f: FakeForge, repo: Repo, info: CommitInfo, added: list[str] | None = None,
                   removed: list[str] | None = None, modified: list[str] | None = None) -> dict[str, Any]:
    return {
        "id": info.sha, "message": info.message + "\n",
        "url": f"{f.base_url}/{repo.full_name}/commit/{info.sha}",
        "author": _person(f, info.author.name, info.author.email),
        "committer": _person(f, info.committer.name, info.committer.email),
        "verification": None, "timestamp": iso(info.committer.when),
        "added": added, "removed": removed, "modified": modified,
    }


def commit(f: FakeForge, repo: Repo, info: CommitInfo, files: list[FileChange] | None = None) -> dict[str, Any]:
    base = f"{api(f)}/repos/{repo.full_name}"
    stats = files or []
    adds, dels = sum(c.additions for c in stats), sum(c.deletions for c in stats)
    return {
        "url": f"{base}/git/commits/{info.sha}", "sha": info.sha, "created": iso(info.committer.when),
        "html_url": f"{f.base_url}/{repo.full_name}/commit/{info.sha}",
        "commit": {
            "url": f"{base}/git/commits/{info.sha}",
            "author": {"name": info.author.name, "email": info.author.email, "date": iso(info.author.when)},
            "committer": {"name": info.committer.name, "email": info.committer.email,
                          "date": iso(info.committer.when)},
            "message": info.message + "\n",
            "tree": {"url": f"{base}/git/trees/{info.tree}", "sha": info.tree, "created": iso(info.committer.when)},
            "verification": {"verified": False, "reason": "gpg.error.not_signed_commit",
                             "signature": "", "signer": None, "payload": ""},
        },
        "author": user(f, login_for_email(f, info.author.email)),
        "committer": user(f, login_for_email(f, info.committer.email)),
        "parents": [{"url": f"{base}/git/commits/{p}", "sha": p, "created": iso(info.committer.when)}
                    for p in info.parents],
        "files": [{"filename": c.path, "status": _file_status(c.status)} for c in stats] if files is not None else None,
        "stats": {"total": adds + dels, "additions": adds, "deletions": dels},
    }


def _file_status(status: str) -> str:
    return {"removed": "deleted", "modified": "changed"}.get(status, status)


def changed_file(f: FakeForge, repo: Repo, ref: str, c: FileChange) -> dict[str, Any]:
    return {
        "filename": c.path, "previous_filename": "", "status": _file_status(c.status),
        "additions": c.additions, "deletions": c.deletions, "changes": c.additions + c.deletions,
        "html_url": f"{f.base_url}/{repo.full_name}/src/commit/{ref}/{c.path}",
        "contents_url": f"{api(f)}/repos/{repo.full_name}/contents/{c.path}?ref={ref}",
        "raw_url": f"{f.base_url}/{repo.full_name}/raw/commit/{ref}/{c.path}",
    }


def branch(f: FakeForge, repo: Repo, name: str, info: CommitInfo, viewer: str | None) -> dict[str, Any]:
    p = repo.protection_for(name)
    level = f.state.level(repo, viewer)
    can_push = level in ("write", "maintain", "admin")
    return {
        "name": name, "commit": payload_commit(f, repo, info), "protected": p is not None,
        "required_approvals": p.required_approvals if p and p.require_reviews else 0,
        "enable_status_check": bool(p and p.status_checks),
        "status_check_contexts": list(p.contexts) if p and p.status_checks else [],
        "user_can_push": can_push and (p is None or (p.enable_push and not p.restrict_push)),
        "user_can_merge": can_push, "effective_branch_protection_name": p.rule_name if p else "",
    }


def protection(f: FakeForge, repo: Repo, p: Protection) -> dict[str, Any]:
    g = p.gitea
    data = {
        "branch_name": p.rule_name, "rule_name": p.rule_name,
        "enable_push": p.enable_push, "enable_push_whitelist": p.restrict_push,
        "push_whitelist_usernames": list(p.push_users), "push_whitelist_teams": list(p.push_teams),
        "push_whitelist_deploy_keys": g.get("push_whitelist_deploy_keys", False),
        "enable_force_push": p.allow_force_pushes,
        "enable_force_push_allowlist": g.get("enable_force_push_allowlist", False),
        "force_push_allowlist_usernames": g.get("force_push_allowlist_usernames", []),
        "force_push_allowlist_teams": g.get("force_push_allowlist_teams", []),
        "force_push_allowlist_deploy_keys": g.get("force_push_allowlist_deploy_keys", False),
        "enable_merge_whitelist": g.get("enable_merge_whitelist", False),
        "merge_whitelist_usernames": g.get("merge_whitelist_usernames", []),
        "merge_whitelist_teams": g.get("merge_whitelist_teams", []),
        "enable_status_check": p.status_checks, "status_check_contexts": list(p.contexts),
        "required_approvals": p.required_approvals if p.require_reviews else 0,
        "enable_approvals_whitelist": g.get("enable_approvals_whitelist", False),
        "approvals_whitelist_username": g.get("approvals_whitelist_username", []),
        "approvals_whitelist_teams": g.get("approvals_whitelist_teams", []),
        "block_on_rejected_reviews": g.get("block_on_rejected_reviews", False),
        "block_on_official_review_requests": g.get("block_on_official_review_requests", False),
        "block_on_outdated_branch": p.strict, "dismiss_stale_approvals": p.dismiss_stale_reviews,
        "ignore_stale_approvals": g.get("ignore_stale_approvals", False),
        "require_signed_commits": p.required_signatures,
        "protected_file_patterns": g.get("protected_file_patterns", ""),
        "unprotected_file_patterns": g.get("unprotected_file_patterns", ""),
        "block_admin_merge_override": p.enforce_admins, "priority": g.get("priority", 0),
        "created_at": iso(p.created_at), "updated_at": iso(p.updated_at),
    }
    return gt_version.shown(f.gitea_version, "BranchProtection", data)


def hook(f: FakeForge, h: Hook) -> dict[str, Any]:
    config = {k: v for k, v in h.config.items() if k != "secret"}
    return {"id": h.id, "type": h.kind, "branch_filter": h.branch_filter, "config": config,
            "events": list(h.events), "authorization_header": "", "active": h.active,
            "updated_at": iso(h.updated_at), "created_at": iso(h.created_at)}


def status(f: FakeForge, repo: Repo, s: Any) -> dict[str, Any]:
    return {"id": s.id, "status": s.state, "target_url": s.target_url or "",
            "description": s.description or "", "url": f"{api(f)}/repos/{repo.full_name}/statuses/{s.sha}",
            "context": s.context, "creator": user(f, s.creator),
            "created_at": iso(s.created_at), "updated_at": iso(s.updated_at)}


def combined(f: FakeForge, repo: Repo, sha: str, statuses: list[Any], viewer: str | None) -> dict[str, Any]:
    if not statuses:
        # Gitea answers an empty CombinedStatus when a commit has no statuses.
        return {"state": "", "sha": "", "total_count": 0, "statuses": None, "repository": None,
                "commit_url": "", "url": ""}
    return {
        "state": gitea_combined_state([s.state for s in statuses]), "sha": sha,
        "total_count": len(statuses), "statuses": [status(f, repo, s) for s in statuses],
        "repository": repository(f, repo, viewer),
        "commit_url": f"{api(f)}/repos/{repo.full_name}/commits/{sha}",
        "url": f"{api(f)}/repos/{repo.full_name}/commits/{sha}/status",
    }


def review(f: FakeForge, repo: Repo, number: int, r: Review) -> dict[str, Any]:
    html = f"{f.base_url}/{repo.full_name}/pulls/{number}"
    return {"id": r.id, "user": user(f, r.user), "team": None, "state": REVIEW_STATES[r.state],
            "body": r.body, "commit_id": r.commit_id, "stale": False, "official": r.state != "COMMENTED",
            "dismissed": False, "comments_count": 0, "submitted_at": iso(r.submitted_at),
            "updated_at": iso(r.submitted_at), "html_url": f"{html}#issuecomment-{r.id}",
            "pull_request_url": html}


def contents(f: FakeForge, repo: Repo, ref: str, last_commit: str, path: str, kind: str, sha: str,
             size: int, data: bytes | None = None) -> dict[str, Any]:
    self_url = f"{api(f)}/repos/{repo.full_name}/contents/{path}?ref={ref}"
    git_url = f"{api(f)}/repos/{repo.full_name}/git/{'trees' if kind == 'dir' else 'blobs'}/{sha}"
    html = f"{f.base_url}/{repo.full_name}/src/branch/{ref}/{path}"
    return {
        "name": path.rsplit("/", 1)[-1], "path": path, "sha": sha, "last_commit_sha": last_commit,
        "type": kind, "size": size, "encoding": "base64" if data is not None else None,
        "content": base64.b64encode(data).decode() if data is not None else None, "target": None,
        "url": self_url, "html_url": html, "git_url": git_url,
        "download_url": f"{f.base_url}/{repo.full_name}/raw/branch/{ref}/{path}" if kind == "file" else None,
        "submodule_git_url": None, "_links": {"self": self_url, "git": git_url, "html": html},
    }


def tag(f: FakeForge, repo: Repo, name: str, tag_sha: str, commit_sha: str, message: str,
        when: int) -> dict[str, Any]:
    return {"name": name, "message": message, "id": tag_sha,
            "commit": {"url": f"{api(f)}/repos/{repo.full_name}/git/commits/{commit_sha}",
                       "sha": commit_sha, "created": iso(when)},
            "zipball_url": f"{f.base_url}/{repo.full_name}/archive/{name}.zip",
            "tarball_url": f"{f.base_url}/{repo.full_name}/archive/{name}.tar.gz"}
