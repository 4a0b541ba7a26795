"""Real bare git repositories driven through git plumbing (argument lists only, never a shell)."""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

ZERO_SHA = "0" * 40


class GitError(RuntimeError):
    pass


@dataclass(frozen=True)
class Ident:
    name: str
    email: str
    when: int  # epoch seconds


@dataclass
class CommitInfo:
    sha: str
    tree: str
    parents: list[str]
    author: Ident
    committer: Ident
    message: str


@dataclass
class FileChange:
    status: str  # added | removed | modified
    path: str
    additions: int = 0
    deletions: int = 0
    blob_sha: str = ZERO_SHA


@dataclass
class TreeEntry:
    mode: str
    type: str  # blob | tree | commit
    sha: str
    size: int
    path: str


@dataclass
class PushedCommit:
    info: CommitInfo
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    modified: list[str] = field(default_factory=list)


def git_env(home: Path) -> dict[str, str]:
    """An environment that ignores the machine's git configuration."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_TERMINAL_PROMPT": "0",
        "LANG": "C",
        "LC_ALL": "C",
    }


def _ident_env(author: Ident, committer: Ident) -> dict[str, str]:
    return {
        "GIT_AUTHOR_NAME": author.name,
        "GIT_AUTHOR_EMAIL": author.email,
        "GIT_AUTHOR_DATE": f"@{author.when} +0000",
        "GIT_COMMITTER_NAME": committer.name,
        "GIT_COMMITTER_EMAIL": committer.email,
        "GIT_COMMITTER_DATE": f"@{committer.when} +0000",
    }


PURE_COMMANDS = frozenset({"log", "merge-base", "diff-tree", "merge-tree", "rev-list"})
FULL_SHA_RE = re.compile(r"^\^?[0-9a-f]{40}$")


def _immutable(args: tuple[str, ...]) -> bool:
    """A read-only command whose every revision is a full SHA (options and `--` aside)."""
    if not args or args[0] not in PURE_COMMANDS:
        return False
    revisions = [a for a in args[1:] if not a.startswith("-")]
    return bool(revisions) and all(FULL_SHA_RE.match(a) for a in revisions)


class GitRepo:
    def __init__(self, path: Path, home: Path) -> None:
        self.path = path
        self.home = home
        self.env = git_env(home)
        # Answers of read-only commands about commits named by full SHA: objects never change, so
        # these are remembered (a review derivation reads the same pull request's numbers often).
        self._answers: dict[tuple[str, ...], tuple[int, bytes]] = {}

    # -- running git ---------------------------------------------------------------------
    def run_bytes(
        self, *args: str, input: bytes | None = None, env: dict[str, str] | None = None,
        ok: tuple[int, ...] = (0,),
    ) -> tuple[int, bytes]:
        key = args if input is None and env is None and _immutable(args) else None
        if key is not None and key in self._answers:
            code, out = self._answers[key]
            if code in ok:
                return code, out
        code, out = self._run_bytes(*args, input=input, env=env, ok=ok)
        if key is not None and len(self._answers) < 100_000:
            self._answers[key] = (code, out)
        return code, out

    def _run_bytes(
        self, *args: str, input: bytes | None = None, env: dict[str, str] | None = None,
        ok: tuple[int, ...] = (0,),
    ) -> tuple[int, bytes]:
        proc = subprocess.run(
            ["git", "--git-dir", str(self.path), *args],
            input=input,
            capture_output=True,
            env={**self.env, **(env or {})},
            check=False,
        )
        if proc.returncode not in ok:
            raise GitError(f"git {args[0]} failed: {proc.stderr.decode(errors='replace').strip()}")
        return proc.returncode, proc.stdout

    def run(self, *args: str, input: bytes | None = None, env: dict[str, str] | None = None) -> str:
        return self.run_bytes(*args, input=input, env=env)[1].decode().strip()

    # -- setup ---------------------------------------------------------------------------
    def init(self, default_branch: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["git", "init", "--quiet", "--bare", f"--initial-branch={default_branch}", str(self.path)],
            env=self.env, check=True, capture_output=True,
        )
        # Lets `git http-backend` serve pushes for the authenticated user.
        self.run("config", "http.receivepack", "true")

    # -- writing -------------------------------------------------------------------------
    def hash_blob(self, data: bytes) -> str:
        return self.run("hash-object", "-w", "--stdin", input=data)

    def commit_files(
        self, parent: str | None, files: dict[str, str | bytes | None], message: str,
        author: Ident, committer: Ident | None = None,
    ) -> str:
        """A new commit on top of `parent` with `files` written (None deletes the path)."""
        with tempfile.TemporaryDirectory(dir=self.home) as tmp:
            index_env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
            if parent is not None:
                self.run("read-tree", parent, env=index_env)
            for path, content in files.items():
                if content is None:
                    # Mode 0 in --index-info removes the path (no work tree needed).
                    self.run("update-index", "--index-info", input=f"0 {ZERO_SHA}\t{path}\n".encode(),
                             env=index_env)
                    continue
                data = content.encode() if isinstance(content, str) else content
                blob = self.hash_blob(data)
                self.run("update-index", "--add", "--cacheinfo", f"100644,{blob},{path}", env=index_env)
            tree = self.run("write-tree", env=index_env)
        return self.commit_tree(tree, [parent] if parent else [], message, author, committer or author)

    def commit_tree(
        self, tree: str, parents: list[str], message: str, author: Ident, committer: Ident,
    ) -> str:
        args = ["commit-tree", tree]
        for p in parents:
            args += ["-p", p]
        return self.run(*args, input=message.encode(), env=_ident_env(author, committer))

    def commit_series(self, parent: str | None, changes: list[dict[str, str | bytes | None]], message: str,
                      author: Ident) -> list[str]:
        """One commit per entry of `changes` (None deletes a path), each on the one before, made by
        one `git fast-import` so that a test can push thousands; returns their shas, oldest first."""
        stream = bytearray()
        scratch = "refs/fakeforge/series"
        when = f"{author.name} <{author.email}> {author.when} +0000"
        for n, files in enumerate(changes, 1):
            text = f"{message} {n}".encode()
            stream += f"commit {scratch}\nauthor {when}\ncommitter {when}\ndata {len(text)}\n".encode() + text + b"\n"
            if n == 1 and parent:
                stream += f"from {parent}\n".encode()
            for path, content in files.items():
                if content is None:
                    stream += f"D {path}\n".encode()
                    continue
                data = content.encode() if isinstance(content, str) else content
                stream += f"M 100644 inline {path}\ndata {len(data)}\n".encode() + data + b"\n"
        self.run_bytes("fast-import", "--quiet", "--force", input=bytes(stream))
        tip = self.run("rev-parse", scratch)
        self.delete_ref(scratch)
        return self.rev_list(parent, tip) if parent else self.rev_list(None, tip)

    def update_ref(self, ref: str, new: str, old: str | None = None) -> None:
        args = ["update-ref", ref, new] + ([old] if old is not None else [])
        self.run(*args)

    def delete_ref(self, ref: str) -> None:
        self.run("update-ref", "-d", ref)

    def create_annotated_tag(self, name: str, target: str, message: str, tagger: Ident) -> str:
        env = _ident_env(tagger, tagger)
        self.run("tag", "-a", name, target, "-m", message, env=env)
        return self.run("rev-parse", f"refs/tags/{name}")

    # -- reading -------------------------------------------------------------------------
    def resolve(self, rev: str) -> str | None:
        """The commit a branch, tag or sha names, or None."""
        if not rev or rev.startswith("-"):
            return None
        code, out = self.run_bytes("rev-parse", "--verify", "--quiet", "--end-of-options",
                                   f"{rev}^{{commit}}", ok=(0, 1, 128))
        return out.decode().strip() if code == 0 else None

    def ref_sha(self, ref: str) -> str | None:
        code, out = self.run_bytes("rev-parse", "--verify", "--quiet", ref, ok=(0, 1, 128))
        return out.decode().strip() if code == 0 else None

    def refs(self, prefix: str = "refs/heads/") -> dict[str, str]:
        out = self.run("for-each-ref", "--format=%(refname)%00%(objectname)", prefix)
        result = {}
        for line in out.splitlines():
            name, sha = line.split("\0")
            result[name[len(prefix):]] = sha
        return result

    def branches(self) -> dict[str, str]:
        return self.refs("refs/heads/")

    def commit(self, sha: str) -> CommitInfo:
        fmt = "%H%x00%T%x00%P%x00%an%x00%ae%x00%at%x00%cn%x00%ce%x00%ct%x00%B"
        out = self.run_bytes("log", "-1", f"--format={fmt}", sha, "--")[1].decode()
        return _commit_info(out.split("\0"))

    def rev_list(self, exclude: str | list[str] | None, include: str) -> list[str]:
        """Commits reachable from `include` but from none of `exclude`, oldest first."""
        excludes = [exclude] if isinstance(exclude, str) else list(exclude or [])
        args = ["rev-list", "--reverse", include] + [f"^{e}" for e in excludes]
        return self.run(*args, "--").split()

    def ancestors(self, sha: str, limit: int) -> list[str]:
        """`sha` and the commits before it, newest first, at most `limit` (Gitea's CommitsBeforeLimit)."""
        return self.run("rev-list", f"--max-count={limit}", sha, "--").split()

    def ahead_behind(self, base: str, head: str) -> tuple[int, int]:
        out = self.run("rev-list", "--left-right", "--count", f"{base}...{head}", "--")
        behind, ahead = out.split()
        return int(ahead), int(behind)

    def merge_base(self, a: str, b: str) -> str | None:
        code, out = self.run_bytes("merge-base", a, b, ok=(0, 1))
        return out.decode().strip() if code == 0 else None

    def is_ancestor(self, a: str, b: str) -> bool:
        code, _ = self.run_bytes("merge-base", "--is-ancestor", a, b, ok=(0, 1))
        return code == 0

    def diff(self, a: str | None, b: str) -> list[FileChange]:
        base = a or self.run("hash-object", "-t", "tree", "/dev/null")
        status = self.run_bytes("diff-tree", "-r", "-z", "--no-renames", "--raw", base, b)[1]
        counts = self.run_bytes("diff-tree", "-r", "-z", "--no-renames", "--numstat", base, b)[1]
        numbers: dict[str, tuple[int, int]] = {}
        for item in counts.decode().split("\0"):
            if item.count("\t") == 2:
                plus, minus, path = item.split("\t")
                numbers[path] = (int(plus) if plus.isdigit() else 0, int(minus) if minus.isdigit() else 0)
        fields = status.decode().split("\0")
        changes = []
        for meta, path in zip(fields[0::2], fields[1::2]):
            if not meta.startswith(":"):
                continue
            _, _, _, new_sha, letter = meta[1:].split(" ")
            kind = {"A": "added", "D": "removed"}.get(letter[0], "modified")
            add, rem = numbers.get(path, (0, 0))
            changes.append(FileChange(kind, path, add, rem, new_sha))
        return changes

    def pushed_commits(self, shas: list[str]) -> list[PushedCommit]:
        """`pushed_commit` for many commits in two git runs (a push may list 2048 of them)."""
        if not shas:
            return []
        fmt = "%x1e%H%x00%T%x00%P%x00%an%x00%ae%x00%at%x00%cn%x00%ce%x00%ct%x00%B"
        log = self.run_bytes("log", "--no-walk=unsorted", "--stdin", f"--format={fmt}",
                             input="\n".join(shas).encode() + b"\n")[1].decode()
        found: dict[str, PushedCommit] = {}
        for record in log.split("\x1e")[1:]:
            info = _commit_info(record.split("\0"))
            found[info.sha] = PushedCommit(info)
        # diff-tree prints each commit's id, then status/path pairs, in the order it was given them.
        lines = "".join(f"{sha} {found[sha].info.parents[0]}\n" if found[sha].info.parents else f"{sha}\n"
                        for sha in shas)
        out = self.run_bytes("diff-tree", "--stdin", "-r", "-z", "--no-renames", "--root", "--name-status",
                             input=lines.encode())[1].decode().split("\0")
        order, current, i = iter(shas), None, 0
        expected: str | None = next(order)
        while i < len(out):
            token = out[i]
            if token == expected:
                current, expected = found[token], next(order, None)
                i += 1
            elif current is not None and i + 1 < len(out) and token:
                kind = {"A": "added", "D": "removed"}.get(token[0], "modified")
                getattr(current, kind).append(out[i + 1])
                i += 2
            else:
                i += 1
        return [found[sha] for sha in shas]

    def pushed_commit(self, sha: str) -> PushedCommit:
        info = self.commit(sha)
        pushed = PushedCommit(info)
        for change in self.diff(info.parents[0] if info.parents else None, sha):
            getattr(pushed, change.status).append(change.path)
        return pushed

    def last_commit(self, rev: str, path: str) -> str:
        """The last commit at or before `rev` that touched `path` (the tip for the root)."""
        args = ["log", "-1", "--format=%H", rev, "--"] + ([path.strip("/")] if path.strip("/") else [])
        return self.run(*args) or rev

    def object_type(self, rev: str, path: str) -> str | None:
        spec = f"{rev}:{path.strip('/')}" if path.strip("/") else f"{rev}^{{tree}}"
        code, out = self.run_bytes("cat-file", "-t", spec, ok=(0, 1, 128))
        return out.decode().strip() if code == 0 else None

    def read_blob(self, rev: str, path: str) -> bytes | None:
        if self.object_type(rev, path) != "blob":
            return None
        return self.run_bytes("cat-file", "blob", f"{rev}:{path.strip('/')}")[1]

    def entry(self, rev: str, path: str) -> TreeEntry | None:
        out = self.run_bytes("ls-tree", "-l", "-z", rev, "--", path.strip("/"))[1].decode()
        entries = self._entries(out)
        return entries[0] if entries else None

    def ls_tree(self, rev: str, path: str) -> list[TreeEntry]:
        spec = f"{rev}:{path.strip('/')}" if path.strip("/") else rev
        out = self.run_bytes("ls-tree", "-l", "-z", spec)[1].decode()
        prefix = path.strip("/") + "/" if path.strip("/") else ""
        return [
            TreeEntry(e.mode, e.type, e.sha, e.size, prefix + e.path) for e in self._entries(out)
        ]

    @staticmethod
    def _entries(out: str) -> list[TreeEntry]:
        entries = []
        for item in filter(None, out.split("\0")):
            meta, path = item.split("\t", 1)
            mode, kind, sha, size = meta.split()
            entries.append(TreeEntry(mode, kind, sha, int(size) if size.isdigit() else 0, path))
        return entries

    # -- merging -------------------------------------------------------------------------
    def merge_tree(self, ours: str, theirs: str) -> str | None:
        """The tree of a clean three-way merge, or None when the merge conflicts."""
        code, out = self.run_bytes("merge-tree", "--write-tree", "--allow-unrelated-histories",
                                   ours, theirs, ok=(0, 1))
        if code != 0:
            return None
        return out.decode().split("\n", 1)[0].strip()

    def cherry_pick(self, onto: str, sha: str, committer: Ident) -> str | None:
        """Replays `sha` on `onto` with plumbing only; None on conflict.

        A throw-away commit with `onto`'s tree and `sha`'s parent makes that parent the merge
        base, so `merge-tree` does exactly what a cherry-pick does.
        """
        info = self.commit(sha)
        if len(info.parents) != 1:
            return None
        onto_tree = self.commit(onto).tree
        scratch = self.commit_tree(onto_tree, [info.parents[0]], "scratch", committer, committer)
        tree = self.merge_tree(scratch, sha)
        if tree is None:
            return None
        return self.commit_tree(tree, [onto], info.message, info.author, committer)


def _commit_info(parts: list[str]) -> CommitInfo:
    """A commit from git log's %H %T %P %an %ae %at %cn %ce %ct %B, NUL-separated."""
    return CommitInfo(
        sha=parts[0], tree=parts[1], parents=parts[2].split(),
        author=Ident(parts[3], parts[4], int(parts[5])),
        committer=Ident(parts[6], parts[7], int(parts[8])),
        message=parts[9].rstrip("\n"),
    )
