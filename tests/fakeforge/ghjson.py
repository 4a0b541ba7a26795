"""GitHub JSON representations of the shared state (REST responses and webhook payloads)."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

from .common import combined_state, iso, login_for_email, node_id
from .state import REACTIONS, Comment, Hook, Issue, Label, Milestone, Protection, Repo, Review

if TYPE_CHECKING:
    from .forge import FakeForge
    from .gitrepo import CommitInfo, FileChange

_REPO_URLS = [
    ("forks_url", "/forks"), ("keys_url", "/keys{/key_id}"),
    ("collaborators_url", "/collaborators{/collaborator}"), ("teams_url", "/teams"),
    ("hooks_url", "/hooks"), ("issue_events_url", "/issues/events{/number}"),
    ("events_url", "/events"), ("assignees_url", "/assignees{/user}"),
    ("branches_url", "/branches{/branch}"), ("tags_url", "/tags"),
    ("blobs_url", "/git/blobs{/sha}"), ("git_tags_url", "/git/tags{/sha}"),
    ("git_refs_url", "/git/refs{/sha}"), ("trees_url", "/git/trees{/sha}"),
    ("statuses_url", "/statuses/{sha}"), ("languages_url", "/languages"),
    ("stargazers_url", "/stargazers"), ("contributors_url", "/contributors"),
    ("subscribers_url", "/subscribers"), ("subscription_url", "/subscription"),
    ("commits_url", "/commits{/sha}"), ("git_commits_url", "/git/commits{/sha}"),
    ("comments_url", "/comments{/number}"), ("issue_comment_url", "/issues/comments{/number}"),
    ("contents_url", "/contents/{+path}"), ("compare_url", "/compare/{base}...{head}"),
    ("merges_url", "/merges"), ("archive_url", "/{archive_format}{/ref}"),
    ("downloads_url", "/downloads"), ("issues_url", "/issues{/number}"),
    ("pulls_url", "/pulls{/number}"), ("milestones_url", "/milestones{/number}"),
    ("notifications_url", "/notifications{?since,all,participating}"),
    ("labels_url", "/labels{/name}"), ("releases_url", "/releases{/id}"),
    ("deployments_url", "/deployments"),
]


def api(f: FakeForge) -> str:
    return f.base_url + "/api/v3"


def user(f: FakeForge, login: str | None) -> dict[str, Any] | None:
    if login is None:
        return None
    u = f.state.user(login)
    uid = u.id if u else 0
    kind = u.type if u else "User"
    base = f"{api(f)}/users/{login}"
    return {
        "login": login, "id": uid, "node_id": node_id(kind, uid),
        "avatar_url": f"{f.base_url}/avatars/u/{uid}", "gravatar_id": "",
        "url": base, "html_url": f"{f.base_url}/{login}",
        "followers_url": f"{base}/followers", "following_url": f"{base}/following{{/other_user}}",
        "gists_url": f"{base}/gists{{/gist_id}}", "starred_url": f"{base}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{base}/subscriptions", "organizations_url": f"{base}/orgs",
        "repos_url": f"{base}/repos", "events_url": f"{base}/events{{/privacy}}",
        "received_events_url": f"{base}/received_events", "type": kind,
        "site_admin": bool(u and u.site_admin), "user_view_type": "public",
    }


def permissions(f: FakeForge, repo: Repo, viewer: str | None) -> dict[str, bool]:
    level = f.state.level(repo, viewer)
    order = ["read", "triage", "write", "maintain", "admin"]
    rank = order.index(level) if level in order else -1
    return {
        "admin": rank >= 4, "maintain": rank >= 3, "push": rank >= 2,
        "triage": rank >= 1, "pull": rank >= 0,
    }


def repository(f: FakeForge, repo: Repo, viewer: str | None = None) -> dict[str, Any]:
    s = repo.settings
    url = f"{api(f)}/repos/{repo.full_name}"
    open_issues = sum(1 for i in repo.issues.values() if i.state == "open")
    data: dict[str, Any] = {
        "id": repo.id, "node_id": node_id("Repository", repo.id), "name": repo.name,
        "full_name": repo.full_name, "private": repo.private, "owner": user(f, repo.owner),
        "html_url": f"{f.base_url}/{repo.full_name}", "description": repo.description or None,
        "fork": False, "url": url,
    }
    data.update({key: url + suffix for key, suffix in _REPO_URLS})
    data.update({
        "created_at": iso(repo.created_at), "updated_at": iso(repo.updated_at),
        "pushed_at": iso(repo.pushed_at),
        "git_url": f"git://fakeforge/{repo.full_name}.git",
        "ssh_url": f"git@fakeforge:{repo.full_name}.git",
        "clone_url": f"{f.base_url}/{repo.full_name}.git",
        "svn_url": f"{f.base_url}/{repo.full_name}", "mirror_url": None,
        "homepage": repo.homepage or None, "size": 1, "language": None,
        "stargazers_count": 0, "watchers_count": 0, "watchers": 0, "forks_count": 0, "forks": 0,
        "open_issues_count": open_issues, "open_issues": open_issues,
        "has_issues": s["has_issues"], "has_projects": s["has_projects"],
        "has_downloads": True, "has_wiki": s["has_wiki"], "has_pages": False,
        "has_discussions": s["has_discussions"], "has_pull_requests": s["has_pull_requests"],
        "archived": s["archived"], "disabled": False, "license": None,
        "allow_forking": s["allow_forking"], "is_template": s["is_template"],
        "web_commit_signoff_required": s["web_commit_signoff_required"],
        "topics": list(repo.topics), "visibility": "private" if repo.private else "public",
        "default_branch": repo.default_branch,
        "network_count": 0, "subscribers_count": 0, "custom_properties": {},
    })
    for key in ("allow_merge_commit", "allow_squash_merge", "allow_rebase_merge", "allow_auto_merge",
                "delete_branch_on_merge", "allow_update_branch", "use_squash_pr_title_as_default",
                "squash_merge_commit_title", "squash_merge_commit_message", "merge_commit_title",
                "merge_commit_message"):
        data[key] = s[key]
    if viewer is not None:
        data["permissions"] = permissions(f, repo, viewer)
    return data


def label(f: FakeForge, repo: Repo, lb: Label) -> dict[str, Any]:
    return {
        "id": lb.id, "node_id": node_id("Label", lb.id),
        "url": f"{api(f)}/repos/{repo.full_name}/labels/{lb.name}", "name": lb.name,
        "color": lb.color, "default": lb.default, "description": lb.description or None,
    }


def milestone(f: FakeForge, repo: Repo, m: Milestone | None) -> dict[str, Any] | None:
    if m is None:
        return None
    url = f"{api(f)}/repos/{repo.full_name}/milestones/{m.number}"
    issues = [i for i in repo.issues.values() if i.milestone == m.id]
    return {
        "url": url, "html_url": f"{f.base_url}/{repo.full_name}/milestone/{m.number}",
        "labels_url": f"{url}/labels", "id": m.id, "node_id": node_id("Milestone", m.id),
        "number": m.number, "title": m.title, "description": m.description or None,
        "creator": user(f, m.creator), "state": m.state,
        "open_issues": sum(1 for i in issues if i.state == "open"),
        "closed_issues": sum(1 for i in issues if i.state == "closed"),
        "created_at": iso(m.created_at), "updated_at": iso(m.updated_at),
        "due_on": m.due_on, "closed_at": iso(m.closed_at),
    }


def association(f: FakeForge, repo: Repo, login: str) -> str:
    if login.casefold() == repo.owner.casefold():
        return "OWNER"
    if f.state.is_collaborator(repo, login):
        return "COLLABORATOR"
    return "NONE"


def rollup(url: str, reactions: list[Any]) -> dict[str, Any]:
    counts: dict[str, Any] = {name: sum(1 for r in reactions if r.content == name) for name in REACTIONS}
    return {"url": url, "total_count": len(reactions), **counts}


def issue(f: FakeForge, repo: Repo, i: Issue) -> dict[str, Any]:
    base = f"{api(f)}/repos/{repo.full_name}"
    url = f"{base}/issues/{i.number}"
    assignees = [user(f, a) for a in i.assignees]
    data: dict[str, Any] = {
        "url": url, "repository_url": base, "labels_url": f"{url}/labels{{/name}}",
        "comments_url": f"{url}/comments", "events_url": f"{url}/events",
        "html_url": f"{f.base_url}/{repo.full_name}/{'pull' if i.pull else 'issues'}/{i.number}",
        "id": i.id, "node_id": node_id("Issue", i.id), "number": i.number, "title": i.title,
        "user": user(f, i.user), "labels": [label(f, repo, repo.labels[x]) for x in i.labels],
        "state": i.state, "locked": i.locked, "assignee": assignees[0] if assignees else None,
        "assignees": assignees, "milestone": milestone(f, repo, repo.milestones.get(i.milestone or -1)),
        "comments": len(i.comments), "created_at": iso(i.created_at), "updated_at": iso(i.updated_at),
        "closed_at": iso(i.closed_at), "author_association": association(f, repo, i.user),
        "active_lock_reason": None, "body": i.body or None, "state_reason": i.state_reason,
        "closed_by": user(f, i.closed_by), "reactions": rollup(f"{url}/reactions", i.reactions),
        "timeline_url": f"{url}/timeline", "performed_via_github_app": None, "draft": False,
    }
    if i.pull is not None:
        data["draft"] = i.pull.draft
        data["pull_request"] = {
            "url": f"{base}/pulls/{i.number}", "html_url": data["html_url"],
            "diff_url": data["html_url"] + ".diff", "patch_url": data["html_url"] + ".patch",
            "merged_at": iso(i.pull.merged_at),
        }
    return data


def comment(f: FakeForge, repo: Repo, c: Comment) -> dict[str, Any]:
    base = f"{api(f)}/repos/{repo.full_name}"
    issue_obj = repo.issues[c.issue_number]
    kind = "pull" if issue_obj.pull else "issues"
    return {
        "url": f"{base}/issues/comments/{c.id}",
        "html_url": f"{f.base_url}/{repo.full_name}/{kind}/{c.issue_number}#issuecomment-{c.id}",
        "issue_url": f"{base}/issues/{c.issue_number}", "id": c.id,
        "node_id": node_id("IssueComment", c.id), "user": user(f, c.user),
        "created_at": iso(c.created_at), "updated_at": iso(c.updated_at),
        "author_association": association(f, repo, c.user), "body": c.body,
        "reactions": rollup(f"{base}/issues/comments/{c.id}/reactions", c.reactions),
        "performed_via_github_app": None,
    }


def reaction(f: FakeForge, r: Any) -> dict[str, Any]:
    return {"id": r.id, "node_id": node_id("Reaction", r.id), "user": user(f, r.user),
            "content": r.content, "created_at": iso(r.created_at)}


def commit(f: FakeForge, repo: Repo, info: CommitInfo, files: list[FileChange] | None = None) -> dict[str, Any]:
    base = f"{api(f)}/repos/{repo.full_name}"
    html = f"{f.base_url}/{repo.full_name}/commit/{info.sha}"
    data: dict[str, Any] = {
        "url": f"{base}/commits/{info.sha}", "sha": info.sha, "node_id": node_id("Commit", info.sha),
        "html_url": html, "comments_url": f"{base}/commits/{info.sha}/comments",
        "commit": {
            "url": f"{base}/git/commits/{info.sha}",
            "author": {"name": info.author.name, "email": info.author.email, "date": iso(info.author.when)},
            "committer": {"name": info.committer.name, "email": info.committer.email,
                          "date": iso(info.committer.when)},
            "message": info.message, "comment_count": 0,
            "tree": {"sha": info.tree, "url": f"{base}/git/trees/{info.tree}"},
            "verification": {"verified": False, "reason": "unsigned", "signature": None,
                             "payload": None, "verified_at": None},
        },
        "author": user(f, login_for_email(f, info.author.email)),
        "committer": user(f, login_for_email(f, info.committer.email)),
        "parents": [{"sha": p, "url": f"{base}/commits/{p}",
                     "html_url": f"{f.base_url}/{repo.full_name}/commit/{p}"} for p in info.parents],
    }
    if files is not None:
        adds, dels = sum(c.additions for c in files), sum(c.deletions for c in files)
        data["stats"] = {"total": adds + dels, "additions": adds, "deletions": dels}
        data["files"] = [diff_entry(f, repo, info.sha, c) for c in files]
    return data


def diff_entry(f: FakeForge, repo: Repo, ref: str, c: FileChange) -> dict[str, Any]:
    base = f"{api(f)}/repos/{repo.full_name}"
    entry = {
        "sha": c.blob_sha, "filename": c.path, "status": c.status, "additions": c.additions,
        "deletions": c.deletions, "changes": c.additions + c.deletions,
        "blob_url": f"{f.base_url}/{repo.full_name}/blob/{ref}/{c.path}",
        "raw_url": f"{f.base_url}/{repo.full_name}/raw/{ref}/{c.path}",
        "contents_url": f"{base}/contents/{c.path}?ref={ref}",
    }
    if c.previous_path:  # GitHub names the old path of a rename only
        entry["previous_filename"] = c.previous_path
    return entry


def protection(f: FakeForge, repo: Repo, branch: str, p: Protection) -> dict[str, Any]:
    url = f"{api(f)}/repos/{repo.full_name}/branches/{branch}/protection"
    data: dict[str, Any] = {"url": url}
    if p.status_checks:
        data["required_status_checks"] = {
            "url": f"{url}/required_status_checks", "strict": p.strict, "contexts": list(p.contexts),
            "contexts_url": f"{url}/required_status_checks/contexts",
            "checks": [{"context": c, "app_id": None} for c in p.contexts],
        }
    if p.require_reviews:
        data["required_pull_request_reviews"] = {
            "url": f"{url}/required_pull_request_reviews",
            "dismiss_stale_reviews": p.dismiss_stale_reviews,
            "require_code_owner_reviews": p.require_code_owner_reviews,
            "required_approving_review_count": p.required_approvals,
            "require_last_push_approval": p.require_last_push_approval,
        }
    data["required_signatures"] = {"url": f"{url}/required_signatures", "enabled": p.required_signatures}
    data["enforce_admins"] = {"url": f"{url}/enforce_admins", "enabled": p.enforce_admins}
    if p.restrict_push:
        data["restrictions"] = {
            "url": f"{url}/restrictions", "users_url": f"{url}/restrictions/users",
            "teams_url": f"{url}/restrictions/teams", "apps_url": f"{url}/restrictions/apps",
            "users": [user(f, u) for u in p.push_users], "teams": [], "apps": [],
        }
    for key in ("required_linear_history", "allow_force_pushes", "allow_deletions", "block_creations",
                "required_conversation_resolution", "lock_branch", "allow_fork_syncing"):
        data[key] = {"enabled": getattr(p, key)}
    return data


def branch_short(f: FakeForge, repo: Repo, name: str, sha: str) -> dict[str, Any]:
    base = f"{api(f)}/repos/{repo.full_name}"
    return {
        "name": name, "commit": {"sha": sha, "url": f"{base}/commits/{sha}"},
        "protected": repo.protection_for(name) is not None,
        "protection_url": f"{base}/branches/{name}/protection",
    }


def branch_full(f: FakeForge, repo: Repo, name: str, info: CommitInfo) -> dict[str, Any]:
    base = f"{api(f)}/repos/{repo.full_name}"
    p = repo.protection_for(name)
    return {
        "name": name, "commit": commit(f, repo, info),
        "_links": {"self": f"{base}/branches/{name}", "html": f"{f.base_url}/{repo.full_name}/tree/{name}"},
        "protected": p is not None,
        "protection": {
            "enabled": p is not None,
            "required_status_checks": {
                "enforcement_level": "non_admins" if p and p.status_checks else "off",
                "contexts": list(p.contexts) if p and p.status_checks else [],
                "checks": [{"context": c, "app_id": None} for c in (p.contexts if p and p.status_checks else [])],
            },
        },
        "protection_url": f"{base}/branches/{name}/protection",
    }


def hook(f: FakeForge, repo: Repo, h: Hook) -> dict[str, Any]:
    url = f"{api(f)}/repos/{repo.full_name}/hooks/{h.id}"
    config = {k: v for k, v in h.config.items() if k != "secret"}
    if h.config.get("secret"):
        config["secret"] = "********"
    config.setdefault("content_type", "form")
    config.setdefault("insecure_ssl", "0")
    return {
        "type": "Repository", "id": h.id, "name": "web", "active": h.active, "events": list(h.events),
        "config": config, "updated_at": iso(h.updated_at), "created_at": iso(h.created_at),
        "url": url, "test_url": f"{url}/test", "ping_url": f"{url}/pings",
        "deliveries_url": f"{url}/deliveries",
        "last_response": {"code": None, "status": "unused", "message": None},
    }


def status(f: FakeForge, s: Any) -> dict[str, Any]:
    return {
        "url": f"{api(f)}/repos/statuses/{s.sha}", "avatar_url": None, "id": s.id,
        "node_id": node_id("StatusContext", s.id), "state": s.state, "description": s.description,
        "target_url": s.target_url, "context": s.context, "created_at": iso(s.created_at),
        "updated_at": iso(s.updated_at), "creator": user(f, s.creator),
    }


def latest_statuses(repo: Repo, sha: str) -> list[Any]:
    latest: dict[str, Any] = {}
    for s in repo.statuses:
        if s.sha == sha:
            latest[s.context] = s
    return sorted(latest.values(), key=lambda s: s.id, reverse=True)


def combined(f: FakeForge, repo: Repo, sha: str, statuses: list[Any]) -> dict[str, Any]:
    url = f"{api(f)}/repos/{repo.full_name}/commits/{sha}/status"
    minimal = {k: v for k, v in repository(f, repo).items() if not k.endswith("_count") or k == "forks_count"}
    return {
        "state": combined_state([s.state for s in latest_statuses(repo, sha)]),
        "statuses": [status(f, s) for s in statuses], "sha": sha,
        "total_count": len(latest_statuses(repo, sha)), "repository": minimal,
        "commit_url": f"{api(f)}/repos/{repo.full_name}/commits/{sha}", "url": url,
    }


def review(f: FakeForge, repo: Repo, number: int, r: Review) -> dict[str, Any]:
    pr_url = f"{api(f)}/repos/{repo.full_name}/pulls/{number}"
    html = f"{f.base_url}/{repo.full_name}/pull/{number}#pullrequestreview-{r.id}"
    data = {
        "id": r.id, "node_id": node_id("PullRequestReview", r.id), "user": user(f, r.user),
        "body": r.body, "state": r.state, "html_url": html, "pull_request_url": pr_url,
        "author_association": association(f, repo, r.user),
        "_links": {"html": {"href": html}, "pull_request": {"href": pr_url}},
        "commit_id": r.commit_id,
    }
    if r.state != "PENDING":
        data["submitted_at"] = iso(r.submitted_at)
    return data


def content_entry(f: FakeForge, repo: Repo, ref: str, path: str, kind: str, sha: str, size: int) -> dict[str, Any]:
    url = f"{api(f)}/repos/{repo.full_name}/contents/{path}?ref={ref}"
    git_url = f"{api(f)}/repos/{repo.full_name}/git/{'trees' if kind == 'dir' else 'blobs'}/{sha}"
    html = f"{f.base_url}/{repo.full_name}/{'tree' if kind == 'dir' else 'blob'}/{ref}/{path}"
    return {
        "type": kind, "size": size, "name": path.rsplit("/", 1)[-1], "path": path, "sha": sha,
        "url": url, "git_url": git_url, "html_url": html,
        "download_url": f"{f.base_url}/{repo.full_name}/raw/{ref}/{path}" if kind == "file" else None,
        "_links": {"self": url, "git": git_url, "html": html},
    }


def file_content(f: FakeForge, repo: Repo, ref: str, path: str, sha: str, data: bytes) -> dict[str, Any]:
    encoded = base64.b64encode(data).decode()
    wrapped = "\n".join(encoded[i:i + 60] for i in range(0, len(encoded), 60)) + "\n"
    return {**content_entry(f, repo, ref, path, "file", sha, len(data)),
            "encoding": "base64", "content": wrapped}


def installation(f: FakeForge, inst: Any) -> dict[str, Any]:
    app = f.state.apps[inst.app_id]
    account = user(f, inst.account)
    return {
        "id": inst.id, "account": account, "app_id": app.id, "app_slug": app.slug,
        "client_id": f"Iv1.{app.id:016x}", "target_id": account["id"] if account else 0,
        "target_type": (account or {}).get("type", "User"),
        "repository_selection": "selected",
        "access_tokens_url": f"{api(f)}/app/installations/{inst.id}/access_tokens",
        "repositories_url": f"{api(f)}/installation/repositories",
        "html_url": f"{f.base_url}/settings/installations/{inst.id}",
        "permissions": dict(app.permissions), "events": list(app.events),
        "created_at": iso(inst.created_at), "updated_at": iso(inst.created_at),
        "single_file_name": None, "has_multiple_single_files": False, "single_file_paths": [],
        "suspended_by": None, "suspended_at": None,
    }


def ref(f: FakeForge, repo: Repo, name: str, sha: str, kind: str = "commit") -> dict[str, Any]:
    base = f"{api(f)}/repos/{repo.full_name}/git"
    return {
        "ref": name, "node_id": node_id("Ref", f"{repo.id}:{name}"), "url": f"{base}/{name}",
        "object": {"type": kind, "sha": sha, "url": f"{base}/{'tags' if kind == 'tag' else 'commits'}/{sha}"},
    }
