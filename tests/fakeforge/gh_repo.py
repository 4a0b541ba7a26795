"""GitHub routes: repository settings, contents, branches, commits, compare, refs, protection, topics."""

from __future__ import annotations

import re
from typing import Any

from . import ghjson
from .common import ApiError, validation_failed
from .gitrepo import ZERO_SHA
from .server import Ctx, Resp, Routes
from .state import Protection

routes = Routes()
R = "/repos/{owner}/{repo}"
_TOPIC_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,49}$")
# PATCH /repos fields stored under the same name in repo.settings
_SETTINGS = ("has_issues", "has_projects", "has_wiki", "has_pull_requests", "has_discussions",
             "is_template", "allow_squash_merge", "allow_merge_commit", "allow_rebase_merge",
             "allow_auto_merge", "delete_branch_on_merge", "allow_update_branch",
             "use_squash_pr_title_as_default", "squash_merge_commit_title",
             "squash_merge_commit_message", "merge_commit_title", "merge_commit_message",
             "archived", "allow_forking", "web_commit_signoff_required")


@routes.get(R)
def get_repo(ctx: Ctx) -> Any:
    repo = ctx.repo()
    return ghjson.repository(ctx.forge, repo, ctx.login or "")


@routes.patch(R)
def update_repo(ctx: Ctx) -> Any:
    repo = ctx.repo("admin")
    body = ctx.body()
    if "name" in body and body["name"] != repo.name:
        raise ApiError(422, "Renaming repositories is not supported by the emulator")
    if "default_branch" in body:
        if body["default_branch"] not in repo.git.branches():
            raise validation_failed("Repository", "invalid", "default_branch",
                                    "Cannot update default branch for this repository")
        repo.default_branch = body["default_branch"]
        repo.git.run("symbolic-ref", "HEAD", f"refs/heads/{repo.default_branch}")
    if "description" in body:
        repo.description = body["description"] or ""
    if "homepage" in body:
        repo.homepage = body["homepage"] or ""
    if "private" in body:
        repo.private = bool(body["private"])
    if "visibility" in body:
        repo.private = body["visibility"] == "private"
    for key in _SETTINGS:
        if key in body:
            repo.settings[key] = body[key]
    repo.updated_at = ctx.ops.now()
    return ghjson.repository(ctx.forge, repo, ctx.login or "")


# -- contents ---------------------------------------------------------------------------------
def _ref(ctx: Ctx, repo: Any) -> tuple[str, str]:
    ref = ctx.arg("ref") or repo.default_branch
    sha = repo.git.resolve(ref)
    if sha is None:
        raise ApiError(404, f"No commit found for the ref {ref}")
    return ref, sha


@routes.get(R + "/contents")
@routes.get(R + "/contents/{path:path}")
def get_content(ctx: Ctx) -> Any:
    repo = ctx.repo()
    path = ctx.params.get("path", "").strip("/")
    ref, sha = _ref(ctx, repo)
    kind = repo.git.object_type(sha, path)
    if kind is None:
        raise ctx.dialect.not_found()
    if kind == "tree":
        entries = repo.git.ls_tree(sha, path)
        return [ghjson.content_entry(ctx.forge, repo, ref, e.path, "dir" if e.type == "tree" else "file",
                                     e.sha, e.size) for e in entries]
    data = repo.git.read_blob(sha, path) or b""
    if "raw" in ctx.headers.get("accept", ""):
        return Resp(200, data, {"content-type": "application/vnd.github.raw"})
    entry = repo.git.entry(sha, path)
    assert entry is not None
    return ghjson.file_content(ctx.forge, repo, ref, path, entry.sha, data)


# -- branches and commits ---------------------------------------------------------------------
@routes.get(R + "/branches")
def list_branches(ctx: Ctx) -> Resp:
    repo = ctx.repo()
    items = sorted(repo.git.branches().items())
    wanted = ctx.arg("protected")
    if wanted is not None:
        items = [(n, s) for n, s in items if (repo.protection_for(n) is not None) == bool(wanted)]
    return ctx.paged(items, lambda it: ghjson.branch_short(ctx.forge, repo, it[0], it[1]))


@routes.get(R + "/branches/{branch:path}/protection")
def get_protection(ctx: Ctx) -> Any:
    repo = ctx.repo("admin")
    branch = ctx.params["branch"]
    p = repo.protection_for(branch)
    if p is None:
        raise ApiError(404, "Branch not protected")
    return ghjson.protection(ctx.forge, repo, branch, p)


@routes.put(R + "/branches/{branch:path}/protection")
def put_protection(ctx: Ctx) -> Any:
    repo = ctx.repo("admin")
    branch = ctx.params["branch"]
    if branch not in repo.git.branches():
        raise ApiError(404, "Branch not found")
    body, now = ctx.body(), ctx.ops.now()
    old = repo.protections.get(branch)
    p = Protection(branch, old.created_at if old else now, now)
    checks = body.get("required_status_checks")
    if checks is not None:
        p.status_checks, p.strict = True, bool(checks.get("strict"))
        p.contexts = list(dict.fromkeys([*checks.get("contexts", []),
                                         *(c["context"] for c in checks.get("checks") or [])]))
    p.enforce_admins = bool(body.get("enforce_admins"))
    reviews = body.get("required_pull_request_reviews")
    if reviews is not None:
        p.require_reviews = True
        p.required_approvals = int(reviews.get("required_approving_review_count", 1))
        p.dismiss_stale_reviews = bool(reviews.get("dismiss_stale_reviews"))
        p.require_code_owner_reviews = bool(reviews.get("require_code_owner_reviews"))
        p.require_last_push_approval = bool(reviews.get("require_last_push_approval"))
    restrictions = body.get("restrictions")
    if restrictions is not None:
        p.restrict_push = True
        p.push_users = list(restrictions.get("users", []))
        p.push_teams = list(restrictions.get("teams", []))
        p.push_apps = list(restrictions.get("apps") or [])
    for key in ("required_linear_history", "allow_force_pushes", "allow_deletions", "block_creations",
                "required_conversation_resolution", "lock_branch", "allow_fork_syncing"):
        setattr(p, key, bool(body.get(key)))
    repo.protections[branch] = p
    return ghjson.protection(ctx.forge, repo, branch, p)


@routes.delete(R + "/branches/{branch:path}/protection")
def delete_protection(ctx: Ctx) -> Resp:
    repo = ctx.repo("admin")
    p = repo.protection_for(ctx.params["branch"])
    if p is None:
        raise ApiError(404, "Branch not protected")
    del repo.protections[p.rule_name]
    return Resp(204)


@routes.get(R + "/branches/{branch:path}")
def get_branch(ctx: Ctx) -> Any:
    repo = ctx.repo()
    name = ctx.params["branch"]
    sha = repo.git.branches().get(name)
    if sha is None:
        raise ApiError(404, "Branch not found")
    return ghjson.branch_full(ctx.forge, repo, name, repo.git.commit(sha))


def _commit_sha(repo: Any, ref: str) -> str:
    sha = repo.git.resolve(ref)
    if sha is None:
        raise ApiError(422, f"No commit found for SHA: {ref}")
    return sha


@routes.get(R + "/commits/{ref:path}/status")
def combined_status(ctx: Ctx) -> Resp:
    repo = ctx.repo()
    sha = _commit_sha(repo, ctx.params["ref"])
    latest = ghjson.latest_statuses(repo, sha)
    page = ctx.paged(latest)
    page.body = ghjson.combined(ctx.forge, repo, sha, page.body)
    return page


@routes.get(R + "/commits/{ref:path}/statuses")
def list_statuses(ctx: Ctx) -> Resp:
    repo = ctx.repo()
    sha = _commit_sha(repo, ctx.params["ref"])
    items = sorted((s for s in repo.statuses if s.sha == sha), key=lambda s: s.id, reverse=True)
    return ctx.paged(items, lambda s: ghjson.status(ctx.forge, s))


@routes.get(R + "/commits/{ref:path}")
def get_commit(ctx: Ctx) -> Any:
    repo = ctx.repo()
    sha = _commit_sha(repo, ctx.params["ref"])
    info = repo.git.commit(sha)
    files = repo.git.diff(info.parents[0] if info.parents else None, sha)
    return ghjson.commit(ctx.forge, repo, info, files)


@routes.get(R + "/compare/{basehead:path}")
def compare(ctx: Ctx) -> Any:
    repo = ctx.repo()
    base_name, sep, head_name = ctx.params["basehead"].partition("...")
    base, head = repo.git.resolve(base_name), repo.git.resolve(head_name)
    if not sep or base is None or head is None:
        raise ctx.dialect.not_found()
    git, f = repo.git, ctx.forge
    ahead, behind = git.ahead_behind(base, head)
    status = ("identical" if ahead == behind == 0 else "ahead" if behind == 0
              else "behind" if ahead == 0 else "diverged")
    merge_base = git.merge_base(base, head) or base
    commits = [git.commit(s) for s in git.rev_list(base, head)]
    html = f"{f.base_url}/{repo.full_name}/compare/{base_name}...{head_name}"
    return {
        "url": f"{ghjson.api(f)}/repos/{repo.full_name}/compare/{base_name}...{head_name}",
        "html_url": html, "permalink_url": f"{f.base_url}/{repo.full_name}/compare/{base}...{head}",
        "diff_url": html + ".diff", "patch_url": html + ".patch",
        "base_commit": ghjson.commit(f, repo, git.commit(base)),
        "merge_base_commit": ghjson.commit(f, repo, git.commit(merge_base)),
        "status": status, "ahead_by": ahead, "behind_by": behind, "total_commits": len(commits),
        "commits": [ghjson.commit(f, repo, c) for c in commits[:250]],
        "files": [ghjson.diff_entry(f, repo, head, c) for c in git.diff(merge_base, head)],
    }


# -- refs -------------------------------------------------------------------------------------
def _full_ref(name: str) -> str:
    return name if name.startswith("refs/") else f"refs/{name}"


@routes.get(R + "/git/ref/{ref:path}")
def get_ref(ctx: Ctx) -> Any:
    repo = ctx.repo()
    name = _full_ref(ctx.params["ref"])
    sha = repo.git.ref_sha(name) if name.count("/") >= 2 else None
    if sha is None:
        raise ctx.dialect.not_found()
    return ghjson.ref(ctx.forge, repo, name, sha, repo.git.run("cat-file", "-t", sha))


@routes.get(R + "/git/matching-refs/{ref:path}")
@routes.get(R + "/git/refs/{ref:path}")
def matching_refs(ctx: Ctx) -> Any:
    repo = ctx.repo()
    prefix = _full_ref(ctx.params["ref"])
    found = {f"refs/{k}": v for k, v in repo.git.refs("refs/").items() if f"refs/{k}".startswith(prefix)}
    if ctx.path.split("/git/")[1].startswith("refs/") and prefix in found:
        return ghjson.ref(ctx.forge, repo, prefix, found[prefix])
    if not found and "matching-refs" not in ctx.path:
        raise ctx.dialect.not_found()
    return [ghjson.ref(ctx.forge, repo, k, v) for k, v in sorted(found.items())]


def _check_ref_name(repo: Any, name: str) -> None:
    ok = name.startswith("refs/") and name.count("/") >= 2
    if ok:
        code, _ = repo.git.run_bytes("check-ref-format", name, ok=(0, 1))
        ok = code == 0
    if not ok:
        raise ApiError(422, "Reference name must start with 'refs/' and have at least two slashes.")


def _update_blocked(ctx: Ctx, repo: Any, name: str, before: str, after: str) -> None:
    if name.startswith("refs/heads/"):
        blocker = ctx.ops.push_blocker(repo, name[len("refs/heads/"):], ctx.login, before, after)
        if blocker:
            raise ApiError(422, f"Protected branch update failed for {name}.",
                           extra={"errors": [blocker]})


@routes.post(R + "/git/refs")
def create_ref(ctx: Ctx) -> Resp:
    repo = ctx.repo("write")
    name, sha = ctx.body()["ref"], ctx.body()["sha"]
    _check_ref_name(repo, name)
    code, _ = repo.git.run_bytes("cat-file", "-e", f"{sha}^{{object}}", ok=(0, 1, 128))
    if code != 0 or not re.fullmatch(r"[0-9a-f]{40}", sha):
        raise ApiError(422, "Object does not exist")
    if repo.git.ref_sha(name) is not None:
        raise ApiError(422, "Reference already exists")
    _update_blocked(ctx, repo, name, ZERO_SHA, sha)
    repo.git.update_ref(name, sha, ZERO_SHA)
    ctx.ops.ref_updated(repo, ctx.login, name, ZERO_SHA, sha)
    kind = repo.git.run("cat-file", "-t", sha)
    return Resp(201, ghjson.ref(ctx.forge, repo, name, sha, kind),
                {"location": f"{ghjson.api(ctx.forge)}/repos/{repo.full_name}/git/{name}"})


@routes.patch(R + "/git/refs/{ref:path}")
def update_ref(ctx: Ctx) -> Any:
    repo = ctx.repo("write")
    name = _full_ref(ctx.params["ref"])
    before = repo.git.ref_sha(name)
    if before is None:
        raise ApiError(422, "Reference does not exist")
    sha = ctx.body()["sha"]
    if repo.git.resolve(sha) is None:
        raise ApiError(422, "Object does not exist")
    if not ctx.body().get("force") and not repo.git.is_ancestor(before, sha):
        raise ApiError(422, "Update is not a fast forward")
    _update_blocked(ctx, repo, name, before, sha)
    repo.git.update_ref(name, sha, before)
    ctx.ops.ref_updated(repo, ctx.login, name, before, sha)
    return ghjson.ref(ctx.forge, repo, name, sha)


@routes.delete(R + "/git/refs/{ref:path}")
def delete_ref(ctx: Ctx) -> Resp:
    repo = ctx.repo("write")
    name = _full_ref(ctx.params["ref"])
    before = repo.git.ref_sha(name)
    if before is None:
        raise ApiError(422, "Reference does not exist")
    if name == f"refs/heads/{repo.default_branch}":
        raise ApiError(422, "Cannot delete the default branch")
    _update_blocked(ctx, repo, name, before, ZERO_SHA)
    repo.git.delete_ref(name)
    ctx.ops.ref_updated(repo, ctx.login, name, before, ZERO_SHA)
    return Resp(204)


@routes.post(R + "/git/tags")
def create_tag_object(ctx: Ctx) -> Resp:
    repo = ctx.repo("write")
    body = ctx.body()
    target = repo.git.resolve(body["object"])
    if target is None:
        raise ApiError(422, "Object does not exist")
    tagger = body.get("tagger") or {}
    ident = ctx.ops.ident(ctx.login or "ghost")
    name, email = tagger.get("name", ident.name), tagger.get("email", ident.email)
    text = (f"object {target}\ntype {body['type']}\ntag {body['tag']}\n"
            f"tagger {name} <{email}> {ident.when} +0000\n\n{body['message']}\n")
    sha = repo.git.run("mktag", input=text.encode())
    url = f"{ghjson.api(ctx.forge)}/repos/{repo.full_name}/git/tags/{sha}"
    from .common import iso, node_id
    return Resp(201, {
        "node_id": node_id("Tag", sha), "tag": body["tag"], "sha": sha, "url": url,
        "message": body["message"] + "\n",
        "tagger": {"name": name, "email": email, "date": iso(ident.when)},
        "object": {"type": body["type"], "sha": target,
                   "url": f"{ghjson.api(ctx.forge)}/repos/{repo.full_name}/git/commits/{target}"},
        "verification": {"verified": False, "reason": "unsigned", "signature": None, "payload": None,
                         "verified_at": None},
    })


# -- topics -----------------------------------------------------------------------------------
@routes.get(R + "/topics")
def get_topics(ctx: Ctx) -> Any:
    return {"names": list(ctx.repo().topics)}


@routes.put(R + "/topics")
def put_topics(ctx: Ctx) -> Any:
    repo = ctx.repo("admin")
    names = [n.strip().lower() for n in ctx.body()["names"]]
    bad = [n for n in names if not _TOPIC_RE.match(n)]
    if bad:
        raise validation_failed(
            "Repository", "invalid", "names",
            f"{', '.join(bad)} is not a valid topic. Topics must start with a lowercase "
            "letter or number, consist of 50 characters or less, and can include hyphens.")
    repo.topics = list(dict.fromkeys(names))
    return {"names": list(repo.topics)}
