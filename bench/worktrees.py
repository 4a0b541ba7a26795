"""`make bench-worktrees`: /start against a large repository, served by the emulator over loopback.

A repository of BENCH_COMMITS commits (20,000) and BENCH_FILES files (5,000), at least 100 MB
packed, is generated with `git fast-import` (incompressible blobs, so the pack cannot shrink) and
served by the forge emulator's git smart HTTP on 127.0.0.1. forgebot runs in-process with the
emulator's webhooks delivered to it, and each measurement goes from the /start comment (its
delivery) to the worktree being ready in forgebot's database:

  cold start   the first /start: forgebot makes its mirror (a full fetch) and the worktree
  warm start   later /starts on other issues: an incremental fetch and a worktree
  fresh clone  for comparison, what per-run agents do: `git clone` of the same repository per issue
  disk         what one more worktree adds (worktree directory + mirror growth) against a clone
  concurrent   20 /starts on 20 issues of one repository at once

Targets: a warm start takes at most 10% of a fresh clone; an extra worktree adds no object
storage (at most its checkout plus 5%); the 20 concurrent starts give 20 worktrees, 0 git lock
errors, 0 duplicate branches. Prints a table; times are wall clock on whatever machine runs it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.app import ForgebotApp  # noqa: E402
from bot.forges.provider import Forges  # noqa: E402
from bot.git.mirror import GitRoot  # noqa: E402
from bot.git.runner import run_git  # noqa: E402
from config.settings import load_settings  # noqa: E402
from tests.fakeforge import FakeForge  # noqa: E402

COMMITS = int(os.environ.get("BENCH_COMMITS", "20000"))
FILES = int(os.environ.get("BENCH_FILES", "5000"))
HISTORY_BLOB = int(os.environ.get("BENCH_HISTORY_BLOB", "5200"))  # bytes rewritten per commit: the history is the bulk
WARM_RUNS = 5
CLONE_RUNS = 3
CONCURRENT = 20
REPO = "acme/monorepo"
BOT = "forgebot"
SECRET = "bench-secret"


def generate(git_dir: Path, env: dict[str, str]) -> None:
    """COMMITS commits over FILES files through one fast-import stream."""
    proc = subprocess.Popen(["git", "--git-dir", str(git_dir), "fast-import", "--quiet", "--force"],
                            stdin=subprocess.PIPE, env=env)
    assert proc.stdin is not None
    out = proc.stdin
    when = 1_700_000_000

    def commit(mark: int, message: str, files: list[tuple[str, bytes]], parent: int | None) -> None:
        out.write(f"commit refs/heads/main\nmark :{mark}\ncommitter Bench <bench@example.test> {when + mark} +0000\n".encode())
        out.write(f"data {len(message)}\n{message}\n".encode())
        if parent is not None:
            out.write(f"from :{parent}\n".encode())
        for path, data in files:
            out.write(f"M 100644 inline {path}\ndata {len(data)}\n".encode() + data + b"\n")

    commit(1, "initial tree", [(f"src/pkg{i % 50:02}/file{i:05}.txt", os.urandom(600).hex().encode()) for i in range(FILES)], None)
    for n in range(2, COMMITS + 1):
        path = f"src/pkg{n % 50:02}/file{n % FILES:05}.txt"
        commit(n, f"change {n}", [(path, os.urandom(HISTORY_BLOB))], n - 1)
    out.close()
    if proc.wait() != 0:
        raise SystemExit("git fast-import failed")


def dir_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def checkout_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and ".git" not in f.relative_to(path).parts[:1])


class Bench:
    def __init__(self, work: Path) -> None:
        self.work = work
        self.forge = FakeForge(work / "forge")
        for login in (BOT, "alice"):
            self.forge.add_user(login)
        repo = self.forge.create_repo(REPO)
        self.forge.set_permission(REPO, BOT, "admin")
        self.forge.set_permission(REPO, "alice", "write")
        t0 = time.perf_counter()
        generate(repo.git.path, repo.git.env)
        self.generate_seconds = time.perf_counter() - t0
        count = repo.git.run("count-objects", "-v")
        self.packed = int(next(line.split()[1] for line in count.splitlines() if line.startswith("size-pack"))) * 1024
        self.commits = int(repo.git.run("rev-list", "--count", "main"))
        self.files = len(repo.git.run("ls-tree", "-r", "--name-only", "main").splitlines())

    async def run(self) -> dict[str, Any]:
        async with self.forge.serve() as base:
            settings = load_settings(overrides={
                "database": self.work / "bot.db", "webhook_secrets": SECRET, "webhook_secret_file": self.work / "secret",
                "github_token": self.forge.token(BOT), "github_api_url": f"{base}/api/v3",
                "git_root": self.work / "git", "git_min_free": "1", "workers": 24, "handler_timeout_seconds": 1800,
            })
            app = ForgebotApp(settings, forges=Forges(settings))
            await app.start()
            self.forge.deliver_webhooks("github", target=app, secret=SECRET)
            try:
                return await self.measure(app, base)
            finally:
                self.forge.stop_webhooks()
                await app.stop()

    async def start_and_wait(self, app: ForgebotApp, numbers: list[int], timeout: float = 1800) -> float:
        t0 = time.perf_counter()
        await asyncio.gather(*(self.forge.actor("alice").comment(REPO, n, "/start") for n in numbers))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            conn = sqlite3.connect(app.settings.database)
            try:
                ready = conn.execute("SELECT count(*) FROM worktrees WHERE state = 'ready' AND number IN (%s)"
                                     % ",".join("?" * len(numbers)), numbers).fetchone()[0]
            finally:
                conn.close()
            if ready == len(numbers):
                return time.perf_counter() - t0
            state = self.forge.repo(REPO)
            bodies = [state.comments[c].body for n in numbers for c in state.issue(n).comments]
            failed = [b for b in bodies if "Could not start" in b or "failed" in b]
            if failed:
                raise SystemExit(f"/start failed: {failed[0][:300]}")
            await asyncio.sleep(0.02)
        raise SystemExit(f"/start of {numbers} did not finish in {timeout}s")

    async def measure(self, app: ForgebotApp, base: str) -> dict[str, Any]:
        alice = self.forge.actor("alice")
        # One agent works on every issue here: lift the 3-claims-per-person default.
        await alice.push(REPO, "main", {".forgebot.yml": "claims:\n  max_per_user: 100\nworktrees:\n  max_per_repo: 100\n"})
        issues = [await alice.open_issue(REPO, f"Task {i}") for i in range(1 + WARM_RUNS + CONCURRENT)]
        cold = await self.start_and_wait(app, issues[:1])
        warm = [await self.start_and_wait(app, [n]) for n in issues[1:1 + WARM_RUNS]]
        conn = sqlite3.connect(app.settings.database)
        details = [json.loads(d) for (d,) in conn.execute("SELECT detail FROM activity WHERE kind = 'worktree.started' ORDER BY id")]
        conn.close()
        phases = {k: statistics.median(d[k] for d in details[1:]) for k in ("fetch_seconds", "branch_seconds", "add_seconds")}

        root = GitRoot((self.work / "git").resolve())
        mirror = root.mirror("github", REPO)
        access = await app.processor.context().forges.get("github").git_access(REPO)
        clones = []
        for i in range(CLONE_RUNS):
            target = self.work / f"clone{i}"
            t0 = time.perf_counter()
            await run_git(["clone", "--quiet", "--", access.clone_url, str(target)], env=root.env(access), timeout=3600)
            clones.append(time.perf_counter() - t0)
        clone_disk = dir_bytes(self.work / "clone0")
        for i in range(CLONE_RUNS):
            shutil.rmtree(self.work / f"clone{i}")

        objects_before = dir_bytes(mirror.path)
        extra = issues[1 + WARM_RUNS]
        await self.start_and_wait(app, [extra])
        conn = sqlite3.connect(app.settings.database)
        (path,) = conn.execute("SELECT path FROM worktrees WHERE number = ?", (extra,)).fetchone()
        conn.close()
        worktree_disk = dir_bytes(Path(path))
        mirror_growth = dir_bytes(mirror.path) - objects_before
        checkout = checkout_bytes(Path(path))

        many = issues[2 + WARM_RUNS:2 + WARM_RUNS + CONCURRENT - 1] + [await alice.open_issue(REPO, "Task last")]
        concurrent = await self.start_and_wait(app, many)
        conn = sqlite3.connect(app.settings.database)
        rows = conn.execute("SELECT branch FROM worktrees WHERE number IN (%s) AND state = 'ready'" % ",".join("?" * len(many)), many).fetchall()
        errors = conn.execute("SELECT count(*) FROM deliveries WHERE last_error LIKE '%.lock%'").fetchone()[0]
        conn.close()
        branches = [r[0] for r in rows]
        forge_branches = self.forge.repo(REPO).git.branches()
        return {
            "phases": phases, "cold_phases": details[0],
            "cold": cold, "warm": statistics.median(warm), "warm_all": warm, "clone": statistics.median(clones), "clones": clones,
            "clone_disk": clone_disk, "worktree_disk": worktree_disk, "mirror_growth": mirror_growth, "checkout": checkout,
            "mirror_disk": dir_bytes(mirror.path), "concurrent": concurrent, "concurrent_worktrees": len(rows),
            "lock_errors": errors, "duplicates": len(branches) - len(set(branches)) + sum(1 for b in branches if b not in forge_branches),
        }


def mb(n: float) -> str:
    return f"{n / 2**20:,.1f} MB"


def report(bench: Bench, r: dict[str, Any]) -> bool:
    verdict = {True: "target met", False: "target MISSED"}
    warm_ok = r["warm"] <= 0.10 * r["clone"]
    disk_ok = r["mirror_growth"] <= 0 + 0.05 * r["checkout"] and r["worktree_disk"] + r["mirror_growth"] <= 1.05 * r["checkout"] + 2**20
    conc_ok = r["concurrent_worktrees"] == CONCURRENT and r["lock_errors"] == 0 and r["duplicates"] == 0
    print(f"\nrepository: {bench.commits:,} commits, {bench.files:,} files, {mb(bench.packed)} packed "
          f"(generated in {bench.generate_seconds:.1f} s); served by the emulator on 127.0.0.1; {os.cpu_count()} CPUs, shared machine\n")
    rows = [
        ("cold start (first /start, makes the mirror)", f"{r['cold']:.2f} s", ""),
        ("warm start (median of 5)", f"{r['warm']:.2f} s", f"{r['warm'] / r['clone']:.1%} of a clone  {verdict[warm_ok]} (<= 10%)"),
        ("  of which git: fetch / branch / worktree add", "/".join(f"{r['phases'][k]:.2f}" for k in ("fetch_seconds", "branch_seconds", "add_seconds")) + " s", "the rest: claim, labels, API calls, answer"),
        ("fresh git clone per issue (median of 3)", f"{r['clone']:.2f} s", ""),
        ("disk: a fresh clone", mb(r["clone_disk"]), ""),
        ("disk: one more worktree (its directory)", mb(r["worktree_disk"]), f"checkout is {mb(r['checkout'])}"),
        ("disk: mirror growth for that worktree", mb(r["mirror_growth"]),
         f"{verdict[disk_ok]} (no object storage; <= checkout + 5%)"),
        ("disk: the mirror (shared by all worktrees)", mb(r["mirror_disk"]), ""),
        (f"{CONCURRENT} concurrent /starts, one repository", f"{r['concurrent']:.2f} s",
         f"{r['concurrent_worktrees']} worktrees, {r['lock_errors']} lock errors, {r['duplicates']} duplicate branches  {verdict[conc_ok]}"),
    ]
    width = max(len(a) for a, _, _ in rows)
    print(f"{'measure':<{width}}  {'value':>12}  note")
    print(f"{'-' * width}  {'-' * 12}  {'-' * 40}")
    for name, value, note in rows:
        print(f"{name:<{width}}  {value:>12}  {note}")
    print()
    for name, ok in (("warm start <= 10% of a fresh clone", warm_ok), ("extra worktree adds no object storage", disk_ok),
                     ("20 concurrent: 20 worktrees, 0 lock errors, 0 duplicates", conc_ok)):
        print(f"{verdict[ok]}: {name}")
    return warm_ok and disk_ok and conc_ok


def main() -> int:
    # Warnings only: the MCP SDK, which the app starts, sets up INFO logging to the terminal when
    # nothing has configured logging before it, and the table would drown in request lines.
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="forgebot-bench-worktrees-") as tmp:
        bench = Bench(Path(tmp))
        results = asyncio.run(bench.run())
        report(bench, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
