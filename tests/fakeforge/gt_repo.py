"""Gitea routes: repository, contents, branches, commits, compare, statuses, tags."""

from __future__ import annotations

from typing import Any

from . import gtjson
from .common import ApiError
from .gitrepo import ZERO_SHA
from .server import Ctx, Resp, Routes

routes = Routes()
R = "/repos/{owner}/{repo}"
# Gitea PATCH /repos field -> shared settings key (None: the same name)
_SETTINGS = {
    "has_issues": None, "has_wiki": None, "has_pull_requests": None, "has_projects": None,
    "has_releases": None, "has_packages": None, "has_actions": None, "template": "is_template",
    "allow_merge_commits": "allow_merge_commit", "allow_rebase": "allow_rebase_merge",
    "allow_rebase_explicit": None, "allow_squash_merge": None, "allow_fast_forward_only_merge": None,
    "allow_manual_merge": None, "autodetect_manual_merge": None, "allow_rebase_update": None,
    "default_delete_branch_after_merge": "delete_branch_on_merge", "default_merge_style": None,
    "default_allow_maintainer_edit": None, "ignore_whitespace_conflicts": None, "archived": None,
    "mirror_interval": None, "enable_prune": None, "projects_mode": None,
}


@routes.get(R)
def get_repo(ctx: Ctx) -> Any:
    return gtjson.repository(ctx.forge, ctx.repo(), ctx.login)


@routes.patch(R)
def edit_repo(ctx: Ctx) -> Any:
    repo = ctx.repo("admin")
    body = {k: v for k, v in ctx.body().items() if v is not None}
    if "name" in body and body["name"] != repo.name:
        raise ApiError(422, "Renaming repositories is not supported by the emulator")
    if "default_branch" in body:
        if body["default_branch"] not in repo.git.branches():
            raise ApiError(404, "The target couldn't be found.")
        repo.default_branch = body["default_branch"]
        repo.git.run("symbolic-ref", "HEAD", f"refs/heads/{repo.default_branch}")
    repo.description = body.get("description", repo.description)
    repo.homepage = body.get("website", repo.homepage)
    repo.private = bool(body.get("private", repo.private))
    for key, shared in _SETTINGS.items():
        if key in body:
            repo.settings[shared or key] = body[key]
    repo.updated_at = ctx.ops.now()
    return gtjson.repository(ctx.forge, repo, ctx.login)


# -- contents ---------------------------------------------------------------------------------
def _ref(ctx: Ctx, repo: Any) -> tuple[str, str]:
    ref = ctx.arg("ref") or repo.default_branch
    sha = repo.git.resolve(ref)
    if sha is None:
        raise ctx.dialect.not_found()
    return ref, sha


@routes.get(R + "/contents")
@routes.get(R + "/contents/{filepath:path}")
def get_contents(ctx: Ctx) -> Any:
    repo = ctx.repo()
    path = ctx.params.get("filepath", "").strip("/")
    ref, sha = _ref(ctx, repo)
    git = repo.git
    kind = git.object_type(sha, path)
    if kind is None:
        raise ctx.dialect.not_found()
    if kind == "tree":
        return [gtjson.contents(ctx.forge, repo, ref, git.last_commit(sha, e.path), e.path,
                                "dir" if e.type == "tree" else "file", e.sha, e.size)
                for e in git.ls_tree(sha, path)]
    entry = git.entry(sha, path)
    assert entry is not None
    return gtjson.contents(ctx.forge, repo, ref, git.last_commit(sha, path), path, "file", entry.sha,
                           entry.size, git.read_blob(sha, path) or b"")


@routes.get(R + "/raw/{filepath:path}")
def get_raw(ctx: Ctx) -> Resp:
    repo = ctx.repo()
    path = ctx.params["filepath"].strip("/")
    if ctx.arg("ref"):
        candidates = [(ctx.arg("ref"), path)]
    else:
        # Without ?ref= Gitea also accepts /raw/{ref}/{path}.
        head, _, rest = path.partition("/")
        candidates = [(repo.default_branch, path), (head, rest)]
    for ref, file_path in candidates:
        sha = repo.git.resolve(ref) if ref else None
        data = repo.git.read_blob(sha, file_path) if sha and file_path else None
        if data is not None:
            try:
                data.decode()
                kind = "text/plain; charset=utf-8"
            except UnicodeDecodeError:
                kind = "application/octet-stream"
            return Resp(200, data, {"content-type": kind})
    raise ctx.dialect.not_found()


# -- branches, commits, compare ---------------------------------------------------------------
@routes.get(R + "/branches")
def list_branches(ctx: Ctx) -> Resp:
    repo = ctx.repo()
    items = sorted(repo.git.branches().items())
    return ctx.paged(items, lambda it: gtjson.branch(ctx.forge, repo, it[0], repo.git.commit(it[1]), ctx.login))


@routes.get(R + "/branches/{branch:path}")
def get_branch(ctx: Ctx) -> Any:
    repo = ctx.repo()
    sha = repo.git.branches().get(ctx.params["branch"])
    if sha is None:
        raise ctx.dialect.not_found()
    return gtjson.branch(ctx.forge, repo, ctx.params["branch"], repo.git.commit(sha), ctx.login)


@routes.post(R + "/branches")
def create_branch(ctx: Ctx) -> Resp:
    repo = ctx.repo("write")
    body = ctx.body()
    name = body["new_branch_name"]
    # CreateBranch (routers/api/v1/repo/branch.go): an old_ref_name that GetCommit cannot find is
    # a 500; only an unknown old_branch_name gets the 404.
    if body.get("old_ref_name"):
        sha = repo.git.resolve(body["old_ref_name"])
        if sha is None:
            raise ApiError(500, f"object does not exist [id: {body['old_ref_name']}, rel_path: ]")
    else:
        sha = repo.git.branches().get(body.get("old_branch_name") or repo.default_branch)
        if sha is None:
            raise ApiError(404, "The old branch does not exist")
    if name in repo.git.branches():
        raise ApiError(409, "The branch with the same name already exists.")
    ref = f"refs/heads/{name}"
    code, _ = repo.git.run_bytes("check-ref-format", ref, ok=(0, 1))
    if code != 0:
        raise ApiError(422, f"The branch name {name} is invalid")
    repo.git.update_ref(ref, sha, ZERO_SHA)
    ctx.ops.ref_updated(repo, ctx.login, ref, ZERO_SHA, sha)
    return Resp(201, gtjson.branch(ctx.forge, repo, name, repo.git.commit(sha), ctx.login))


@routes.delete(R + "/branches/{branch:path}")
def delete_branch(ctx: Ctx) -> Resp:
    repo = ctx.repo("write")
    name = ctx.params["branch"]
    sha = repo.git.branches().get(name)
    if sha is None:
        raise ctx.dialect.not_found()
    if name == repo.default_branch:
        raise ApiError(403, "can not delete default branch")
    if repo.protection_for(name) is not None:
        raise ApiError(403, "branch protected")
    repo.git.delete_ref(f"refs/heads/{name}")
    ctx.ops.ref_updated(repo, ctx.login, f"refs/heads/{name}", sha, ZERO_SHA)
    return Resp(204)


def _commit(ctx: Ctx, repo: Any, ref: str) -> str:
    sha = repo.git.resolve(ref)
    if sha is None:
        raise ctx.dialect.not_found()
    return sha


@routes.get(R + "/git/commits/{sha}")
def get_commit(ctx: Ctx) -> Any:
    repo = ctx.repo()
    sha = _commit(ctx, repo, ctx.params["sha"])
    info = repo.git.commit(sha)
    return gtjson.commit(ctx.forge, repo, info, repo.git.diff(info.parents[0] if info.parents else None, sha))


@routes.get(R + "/commits")
def list_commits(ctx: Ctx) -> Resp:
    repo = ctx.repo()
    sha = _commit(ctx, repo, ctx.arg("sha") or repo.default_branch)
    args = ["rev-list", sha, "--"] + ([ctx.arg("path")] if ctx.arg("path") else [])
    shas = repo.git.run(*args).split()
    return ctx.paged(shas, lambda s: gtjson.commit(ctx.forge, repo, repo.git.commit(s)))


@routes.get(R + "/compare/{basehead:path}")
def compare(ctx: Ctx) -> Any:
    repo = ctx.repo()
    base_name, sep, head_name = ctx.params["basehead"].partition("...")
    base, head = repo.git.resolve(base_name), repo.git.resolve(head_name)
    if not sep or base is None or head is None:
        raise ctx.dialect.not_found()
    shas = repo.git.rev_list(base, head)
    return {"commits": [gtjson.commit(ctx.forge, repo, repo.git.commit(s)) for s in shas],
            "total_commits": len(shas)}


# -- statuses ---------------------------------------------------------------------------------
@routes.post(R + "/statuses/{sha}")
def create_status(ctx: Ctx) -> Resp:
    from .state import CommitStatus
    repo = ctx.repo("write")
    # CreateCommitStatus (services/repository/commitstatus) fails on GetCommit, and NewCommitStatus
    # answers any failure with a 500 (routers/api/v1/repo/status.go).
    sha = repo.git.resolve(ctx.params["sha"])
    if sha is None:
        raise ApiError(500, f"GetCommit[{ctx.params['sha']}]: object does not exist [id: {ctx.params['sha']}, rel_path: ]")
    body, now = ctx.body(), ctx.ops.now()
    if body.get("state") not in ("pending", "success", "error", "failure", "warning"):
        raise ApiError(400, "invalid state")
    s = CommitStatus(ctx.forge.state.new_id(), sha, body["state"], body.get("context") or "default",
                     ctx.login or "", now, now, body.get("target_url"), body.get("description"))
    repo.statuses.append(s)
    return Resp(201, gtjson.status(ctx.forge, repo, s))


def _latest(repo: Any, sha: str) -> list[Any]:
    latest: dict[str, Any] = {}
    for s in repo.statuses:
        if s.sha == sha:
            latest[s.context] = s
    return sorted(latest.values(), key=lambda s: s.id)


@routes.get(R + "/commits/{ref:path}/status")
def combined_status(ctx: Ctx) -> Any:
    repo = ctx.repo()
    sha = _commit(ctx, repo, ctx.params["ref"])
    return gtjson.combined(ctx.forge, repo, sha, _latest(repo, sha), ctx.login)


@routes.get(R + "/commits/{ref:path}/statuses")
@routes.get(R + "/statuses/{sha}")
def list_statuses(ctx: Ctx) -> Resp:
    repo = ctx.repo()
    sha = _commit(ctx, repo, ctx.params.get("ref") or ctx.params["sha"])
    items = sorted((s for s in repo.statuses if s.sha == sha), key=lambda s: s.id, reverse=True)
    return ctx.paged(items, lambda s: gtjson.status(ctx.forge, repo, s))


# -- tags -------------------------------------------------------------------------------------
def _tag_json(ctx: Ctx, repo: Any, name: str) -> dict[str, Any]:
    tag_sha = repo.git.ref_sha(f"refs/tags/{name}")
    commit_sha = repo.git.resolve(f"refs/tags/{name}")
    message = ""
    if repo.git.run("cat-file", "-t", tag_sha) == "tag":
        message = repo.git.run("cat-file", "tag", tag_sha).split("\n\n", 1)[-1]
    info = repo.git.commit(commit_sha)
    return gtjson.tag(ctx.forge, repo, name, tag_sha, commit_sha, message, info.committer.when)


@routes.get(R + "/tags")
def list_tags(ctx: Ctx) -> Resp:
    repo = ctx.repo()
    return ctx.paged(sorted(repo.git.refs("refs/tags/"), reverse=True), lambda n: _tag_json(ctx, repo, n))


@routes.get(R + "/tags/{tag:path}")
def get_tag(ctx: Ctx) -> Any:
    repo = ctx.repo()
    if repo.git.ref_sha(f"refs/tags/{ctx.params['tag']}") is None:
        raise ctx.dialect.not_found()
    return _tag_json(ctx, repo, ctx.params["tag"])


@routes.post(R + "/tags")
def create_tag(ctx: Ctx) -> Resp:
    repo = ctx.repo("write")
    body = ctx.body()
    name = body["tag_name"]
    target = repo.git.resolve(body.get("target") or repo.default_branch)
    if target is None:
        raise ctx.dialect.not_found()
    ref = f"refs/tags/{name}"
    if repo.git.ref_sha(ref) is not None:
        raise ApiError(409, "tag exists")
    if body.get("message"):
        repo.git.create_annotated_tag(name, target, body["message"], ctx.ops.ident(ctx.login))
    else:
        repo.git.update_ref(ref, target, ZERO_SHA)
    ctx.ops.ref_updated(repo, ctx.login, ref, ZERO_SHA, repo.git.ref_sha(ref))
    return Resp(201, _tag_json(ctx, repo, name))


@routes.delete(R + "/tags/{tag:path}")
def delete_tag(ctx: Ctx) -> Resp:
    repo = ctx.repo("write")
    ref = f"refs/tags/{ctx.params['tag']}"
    before = repo.git.ref_sha(ref)
    if before is None:
        raise ctx.dialect.not_found()
    repo.git.delete_ref(ref)
    ctx.ops.ref_updated(repo, ctx.login, ref, before, ZERO_SHA)
    return Resp(204)
