"""Pull request JSON for both platforms; head, base and numbers come from git."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import ghjson, gtjson
from .common import iso, node_id
from .state import Issue, Repo

if TYPE_CHECKING:
    from .forge import FakeForge


def github(f: FakeForge, repo: Repo, i: Issue, full: bool = True) -> dict[str, Any]:
    pull = i.pull
    assert pull is not None
    # List items carry no numbers, so they skip the diff and merge computations.
    stats = f.ops.pull_stats(repo, i) if full else None
    base_sha = stats.base_sha if stats else f.ops.pull_base_sha(repo, i)
    base = f"{ghjson.api(f)}/repos/{repo.full_name}"
    url = f"{base}/pulls/{i.number}"
    html = f"{f.base_url}/{repo.full_name}/pull/{i.number}"
    repo_json = ghjson.repository(f, repo)
    assignees = [ghjson.user(f, a) for a in i.assignees]
    data: dict[str, Any] = {
        "url": url, "id": i.id, "node_id": node_id("PullRequest", i.id), "html_url": html,
        "diff_url": f"{html}.diff", "patch_url": f"{html}.patch", "issue_url": f"{base}/issues/{i.number}",
        "number": i.number, "state": i.state, "locked": i.locked, "title": i.title,
        "user": ghjson.user(f, i.user), "body": i.body or None,
        "created_at": iso(i.created_at), "updated_at": iso(i.updated_at), "closed_at": iso(i.closed_at),
        "merged_at": iso(pull.merged_at), "merge_commit_sha": pull.merge_commit_sha,
        "assignee": assignees[0] if assignees else None, "assignees": assignees,
        "requested_reviewers": [ghjson.user(f, u) for u in pull.open_requests()], "requested_teams": [],
        "labels": [ghjson.label(f, repo, repo.labels[x]) for x in i.labels],
        "milestone": ghjson.milestone(f, repo, repo.milestones.get(i.milestone or -1)),
        "draft": pull.draft, "commits_url": f"{url}/commits",
        "review_comments_url": f"{url}/comments", "review_comment_url": f"{base}/pulls/comments{{/number}}",
        "comments_url": f"{base}/issues/{i.number}/comments",
        "statuses_url": f"{base}/statuses/{pull.head_sha}",
        "head": {"label": f"{repo.owner}:{pull.head}", "ref": pull.head, "sha": pull.head_sha,
                 "user": ghjson.user(f, repo.owner), "repo": repo_json},
        "base": {"label": f"{repo.owner}:{pull.base}", "ref": pull.base, "sha": base_sha,
                 "user": ghjson.user(f, repo.owner), "repo": repo_json},
        "_links": {
            "self": {"href": url}, "html": {"href": html}, "issue": {"href": f"{base}/issues/{i.number}"},
            "comments": {"href": f"{base}/issues/{i.number}/comments"},
            "review_comments": {"href": f"{url}/comments"},
            "review_comment": {"href": f"{base}/pulls/comments{{/number}}"},
            "commits": {"href": f"{url}/commits"}, "statuses": {"href": f"{base}/statuses/{pull.head_sha}"},
        },
        "author_association": ghjson.association(f, repo, i.user), "auto_merge": None,
        "active_lock_reason": None,
    }
    if stats is not None:
        blocked = i.state == "open" and f.ops.merge_blocker(repo, i, i.user, False) is not None
        if stats.mergeable is None:
            state = "unknown"
        else:
            state = "dirty" if not stats.mergeable else ("blocked" if blocked else "clean")
        data.update({
            "merged": pull.merged, "mergeable": stats.mergeable, "rebaseable": stats.mergeable,
            "mergeable_state": state, "merged_by": ghjson.user(f, pull.merged_by),
            "comments": len(i.comments), "review_comments": 0,
            "maintainer_can_modify": pull.maintainer_can_modify, "commits": stats.commits,
            "additions": stats.additions, "deletions": stats.deletions,
            "changed_files": stats.changed_files,
        })
    return data


def gitea(f: FakeForge, repo: Repo, i: Issue, viewer: str | None = None) -> dict[str, Any]:
    pull = i.pull
    assert pull is not None
    stats = f.ops.pull_stats(repo, i)
    html = f"{f.base_url}/{repo.full_name}/pulls/{i.number}"
    repo_json = gtjson.repository(f, repo, viewer)
    assignees = [gtjson.user(f, a) for a in i.assignees] or None
    return {
        "id": i.id, "url": html, "number": i.number, "user": gtjson.user(f, i.user),
        "title": i.title, "body": i.body,
        "labels": [gtjson.label(f, repo, repo.labels[x]) for x in i.labels],
        "milestone": gtjson.milestone(f, repo, repo.milestones.get(i.milestone or -1)),
        "assignee": assignees[0] if assignees else None, "assignees": assignees,
        "requested_reviewers": [gtjson.user(f, u) for u in pull.open_requests()] or None,
        "requested_reviewers_teams": None,
        "state": i.state, "draft": pull.draft, "is_locked": i.locked, "comments": len(i.comments),
        "review_comments": 0, "additions": stats.additions, "deletions": stats.deletions,
        "changed_files": stats.changed_files, "html_url": html, "diff_url": f"{html}.diff",
        "patch_url": f"{html}.patch", "mergeable": bool(stats.mergeable), "merged": pull.merged,
        "merged_at": iso(pull.merged_at), "merge_commit_sha": pull.merge_commit_sha,
        "merged_by": gtjson.user(f, pull.merged_by),
        "allow_maintainer_edit": pull.maintainer_can_modify,
        "base": {"label": pull.base, "ref": pull.base, "sha": stats.base_sha, "repo_id": repo.id,
                 "repo": repo_json},
        "head": {"label": pull.head, "ref": pull.head, "sha": pull.head_sha, "repo_id": repo.id,
                 "repo": repo_json},
        "merge_base": stats.merge_base or "", "due_date": None,
        "created_at": iso(i.created_at), "updated_at": iso(i.updated_at), "closed_at": iso(i.closed_at),
        "pin_order": 0,
    }
