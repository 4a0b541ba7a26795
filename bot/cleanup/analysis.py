"""What the local mirror says about every branch, in a handful of git processes whatever their number.

- `for-each-ref` once: each head with its last commit's date and committer;
- `for-each-ref --merged` once: heads reachable from the default branch (merged in the plain sense);
- `rev-list --parents` once over every other head: each branch's own commits and where it forked;
- `log -p | patch-id` twice (the branches' commits, the default branch's recent commits) and
  `diff-tree --stdin | patch-id` once (each multi-commit branch as one diff): a branch whose every
  commit reappears on the default branch was rebase-merged; one whose whole diff reappears as one
  commit was squash-merged. Neither is an ancestor, yet its work is in.

Per-branch API calls (compare, commit reads) are what this replaces.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from bot.git.mirror import FORGE_HEADS, FORGE_TAGS, Mirror

SQUASH_WINDOW = 86400.0  # look for a branch's work among default-branch commits made since a day before its oldest commit
DEFAULT_LOG_LIMIT = 50000  # default-branch commits read for patch ids at most


@dataclass(frozen=True)
class Head:
    name: str
    sha: str
    committed_at: float  # epoch seconds of the head commit (committer date)
    committer: str  # committer name
    email: str  # committer email


@dataclass(frozen=True)
class Analysis:
    default_branch: str
    heads: Mapping[str, Head]
    reachable: frozenset[str]  # heads that are ancestors of the default branch's head
    equivalent: Mapping[str, str]  # head -> "rebase-merged" | "squash-merged": not reachable, work is in
    tags: Mapping[str, str]  # forge tags: name -> commit


async def analyse(mirror: Mirror, default_branch: str) -> Analysis:
    heads = await _heads(mirror)
    tags = await mirror.refs(FORGE_TAGS)
    default = heads.get(default_branch)
    if default is None:
        return Analysis(default_branch, heads, frozenset(), {}, tags)
    merged = await _merged(mirror, default.sha)
    others = {name: head for name, head in heads.items() if name not in merged}
    equivalent = await _equivalent(mirror, default.sha, others) if others else {}
    return Analysis(default_branch, heads, frozenset(merged), equivalent, tags)


async def _heads(mirror: Mirror) -> dict[str, Head]:
    fmt = "%(refname)%00%(objectname)%00%(committerdate:unix)%00%(committername)%00%(committeremail:trim)"
    out = (await mirror.git("for-each-ref", f"--format={fmt}", FORGE_HEADS)).stdout
    heads = {}
    for line in out.splitlines():
        ref, sha, when, name, email = line.split("\0")
        branch = ref[len(FORGE_HEADS):]
        heads[branch] = Head(branch, sha, float(when or 0), name, email)
    return heads


async def _merged(mirror: Mirror, default_sha: str) -> set[str]:
    out = (await mirror.git("for-each-ref", f"--merged={default_sha}", "--format=%(refname)", FORGE_HEADS)).stdout
    return {line[len(FORGE_HEADS):] for line in out.splitlines()}


def _revisions(tips: Iterable[str]) -> bytes:
    return ("\n".join(dict.fromkeys(tips)) + "\n").encode()


async def _equivalent(mirror: Mirror, default_sha: str, others: Mapping[str, Head]) -> dict[str, str]:
    stdin = _revisions(h.sha for h in others.values())
    not_default = f"^{default_sha}"  # on the command line: older gits take no options on --stdin
    graph: dict[str, list[str]] = {}
    for line in (await mirror.git("rev-list", "--parents", not_default, "--stdin", input=stdin)).stdout.splitlines():
        commit, *parents = line.split()
        graph[commit] = parents
    own = {name: _own_commits(head.sha, graph) for name, head in others.items()}
    dates = await _commit_dates(mirror, [not_default], stdin)
    patch_of = await _patch_ids(mirror, [not_default, "--stdin"], stdin)
    # One diff per multi-commit branch that forked once, for squash merges.
    pairs = {name: (others[name].sha, forks[0]) for name, (commits, forks) in own.items() if len(commits) > 1 and len(forks) == 1}
    whole = await _whole_patch_ids(mirror, list(pairs.values())) if pairs else {}
    if not patch_of and not whole:
        return {}
    since = min((dates[c] for commits, _ in own.values() for c in commits if c in dates), default=0.0) - SQUASH_WINDOW
    on_default = set((await _patch_ids(mirror, [f"--since={int(since)}", f"--max-count={DEFAULT_LOG_LIMIT}", default_sha], b"")).values())
    found = {}
    for name, (commits, _) in own.items():
        ids = [patch_of[c] for c in commits if c in patch_of]  # a commit without a diff has no patch id
        if ids and all(i in on_default for i in ids):
            found[name] = "rebase-merged" if len(commits) > 1 else "cherry-picked or squash-merged"
        elif name in pairs and whole.get(pairs[name][0]) in on_default:
            found[name] = "squash-merged"
    return found


def _own_commits(tip: str, graph: Mapping[str, list[str]]) -> tuple[list[str], list[str]]:
    """The branch's commits that the default branch lacks, and the parents where it leaves them."""
    commits, forks, stack, seen = [], [], [tip], set()
    while stack:
        commit = stack.pop()
        if commit in seen:
            continue
        seen.add(commit)
        if commit not in graph:
            forks.append(commit)
            continue
        commits.append(commit)
        stack.extend(graph[commit])
    return commits, forks


async def _commit_dates(mirror: Mirror, revisions: list[str], stdin: bytes) -> dict[str, float]:
    out = (await mirror.git("log", "--format=%H %ct", *revisions, "--stdin", input=stdin)).stdout
    return {sha: float(when) for sha, when in (line.split() for line in out.splitlines())}


async def _patch_ids(mirror: Mirror, revisions: list[str], stdin: bytes) -> dict[str, str]:
    """commit -> stable patch id, for the non-merge commits `revisions` (and `stdin`) name."""
    diff = await mirror.git("log", "--no-merges", "--no-color", "-p", "--format=commit %H", *revisions, input=stdin)
    return await _identify(mirror, diff.stdout)


async def _whole_patch_ids(mirror: Mirror, pairs: list[tuple[str, str]]) -> dict[str, str]:
    """tip -> stable patch id of the whole diff fork..tip ("<tip> <fork>" makes diff-tree show that)."""
    diff = await mirror.git("diff-tree", "--stdin", "-p", "--no-color", input="".join(f"{tip} {fork}\n" for tip, fork in pairs).encode())
    return await _identify(mirror, diff.stdout)


async def _identify(mirror: Mirror, diff: str) -> dict[str, str]:
    if not diff.strip():
        return {}
    result = await mirror.git("patch-id", "--stable", input=diff.encode())
    return {commit: patch for patch, commit in (line.split() for line in result.stdout.splitlines())}
