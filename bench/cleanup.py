"""`make bench-cleanup`: the cost of a stale-branch plan on a repository of 5,000 branches.

One repository on the forge emulator, built in seconds with `git fast-import` and the emulator's
state API, with a known answer for every branch: merged (ancestors of main), squash-merged (their
whole diff is one commit on main), stale (unique commits, 200 days old), recent, protected, heads
of open pull requests, heads of pull requests closed unmerged 30 days ago, `archive/*`, and
branches the config protects. forgebot plans it twice on each platform (the first plan makes the
mirror; the second is the steady state: one incremental fetch). Every REST call is counted from
the emulator's request log (GitHub 304s are free, as on GitHub) and every decision is checked
against the known answer. For comparison, the per-branch approach of the stale-branch GitHub
Actions (list every branch, then one compare per branch) is run on a sample and its call count
computed for all branches; its time is extrapolated from the sample.

Targets: after the first mirror fetch, at most 20 API calls per plan and at most 10 s; zero
wrong decisions. The emulator runs in this process: the seconds it spends answering (Gitea's
pull request JSON costs it five git commands per pull request) are shown apart, and the time
target is on forgebot's own seconds (the git server side of the fetch is counted as forgebot's).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.cleanup.plan import Kind  # noqa: E402
from bot.cleanup.runner import run_cleanup  # noqa: E402
from bot.forges.base import Forge  # noqa: E402
from bot.git.mirror import GitRoot  # noqa: E402
from bot.storage.open import open_storage  # noqa: E402
from config.repo import CleanupOptions  # noqa: E402
from config.settings import load_settings  # noqa: E402
from tests.fakeforge import FakeForge  # noqa: E402
from tests.fakeforge.state import Protection  # noqa: E402

BOT = "forgebot"
REPO = "acme/big"
DAY = 86400
SCALE = int(os.environ.get("BENCH_BRANCHES", "5000")) / 5000
SHARES = {"merged": 1000, "squashed": 1000, "stale": 1000, "recent": 1000, "protected": 200, "open-pr": 300,
          "closed-pr": 300, "archive": 100, "keep": 100}
COUNTS = {kind: max(1, int(n * SCALE)) for kind, n in SHARES.items()}
SAMPLE = 100  # branches the per-branch approach really compares (the rest is extrapolated)
CONFIG = CleanupOptions(protect=("keep/*",))

# What the first plan must say about each kind of branch: (kind, start of the reason), or None (not listed).
EXPECTED: dict[str, tuple[Kind, str] | None] = {
    "merged": (Kind.NOTICE, "merged into main"),
    "squashed": (Kind.NOTICE, "squash-merged into main"),
    "stale": (Kind.NOTICE, "no commit since"),
    "recent": None,
    "protected": (Kind.SKIP, "protected on the platform"),
    "open-pr": (Kind.SKIP, "the head of an open pull request"),
    "closed-pr": (Kind.NOTICE, "pull request #"),
    "archive": (Kind.SKIP, "an archive branch"),
    "keep": (Kind.SKIP, "matches cleanup.protect"),
}


def branch_name(kind: str, n: int) -> str:
    return {"archive": f"archive/old-{n:04}", "keep": f"keep/k-{n:04}"}.get(kind, f"{kind}/b-{n:04}")


def fast_import_stream(now: int) -> str:
    """main: 1000 commits (merged branches point into it), then one squash commit per squashed
    branch; every other branch: its own commits off main, dated per its kind."""
    out: list[str] = []
    mark = 0

    def commit(ref: str, when: int, files: dict[str, str], parent: int | None, message: str) -> int:
        nonlocal mark
        mark += 1
        out.append(f"commit {ref}\nmark :{mark}\ncommitter Alice <alice@users.noreply.fakeforge.test> {when} +0000\n")
        out.append(f"data {len(message)}\n{message}\n")
        if parent is not None:
            out.append(f"from :{parent}\n")
        for path, text in files.items():
            out.append(f"M 100644 inline {path}\ndata {len(text.encode())}\n{text}\n")
        return mark

    old = now - 400 * DAY
    main_marks = [commit("refs/heads/main", old, {"README.md": "big\n"}, None, "start")]
    for n in range(COUNTS["merged"]):
        main_marks.append(commit("refs/heads/main", old + n, {f"main/{n}.txt": f"{n}\n"}, main_marks[-1], f"main {n}"))
    fork = main_marks[-1]
    for n in range(COUNTS["merged"]):
        out.append(f"reset refs/heads/{branch_name('merged', n)}\nfrom :{main_marks[n + 1]}\n\n")
    tip = fork
    for n in range(COUNTS["squashed"]):
        name = branch_name("squashed", n)
        first = commit(f"refs/heads/{name}", now - 300 * DAY, {f"sq/{n}/a.txt": f"a{n}\n"}, fork, f"{name} 1")
        commit(f"refs/heads/{name}", now - 300 * DAY + 1, {f"sq/{n}/b.txt": f"b{n}\n"}, first, f"{name} 2")
        tip = commit("refs/heads/main", now - 250 * DAY + n, {f"sq/{n}/a.txt": f"a{n}\n", f"sq/{n}/b.txt": f"b{n}\n"}, tip,
                     f"{name} (squashed)")
    ages = {"stale": 200, "recent": 2, "protected": 200, "open-pr": 200, "closed-pr": 40, "archive": 300, "keep": 300}
    for kind, age in ages.items():
        for n in range(COUNTS[kind]):
            name = branch_name(kind, n)
            commit(f"refs/heads/{name}", now - age * DAY, {f"{kind}/{n}.txt": f"{name}\n"}, tip, f"work on {name}")
    return "".join(out)


def build(fake: FakeForge, now: int) -> dict[str, str]:
    """The repository, and the known answer: branch -> kind of branch."""
    repo = fake.create_repo(REPO, files={"README.md": "big\n"})
    fake.set_permission(REPO, BOT, "admin")
    subprocess.run(["git", "--git-dir", str(repo.git.path), "fast-import", "--quiet", "--force"],
                   input=fast_import_stream(now).encode(), check=True, env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
    answers = {branch_name(kind, n): kind for kind, count in COUNTS.items() for n in range(count)}
    for n in range(COUNTS["protected"]):
        name = branch_name("protected", n)
        repo.protections[name] = Protection(name, now, now)
    real_clock = fake.clock
    fake.clock = lambda: now - 30 * DAY  # the closed pull requests closed 30 days ago
    for n in range(COUNTS["closed-pr"]):
        issue = fake.ops.create_pull(repo, "alice", branch_name("closed-pr", n), "main", f"closed {n}")
        fake.ops.edit_issue(repo, issue, "alice", state="closed")
    fake.clock = real_clock
    for n in range(COUNTS["open-pr"]):
        fake.ops.create_pull(repo, "alice", branch_name("open-pr", n), "main", f"open {n}")
    return answers


class TimedApp:
    """The emulator's ASGI app, timed: the emulator runs in this process, and its work (Gitea's
    pull request JSON alone runs five git commands per pull request) is the forge's, not forgebot's."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.seconds = 0.0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send)
        finally:
            self.seconds += time.perf_counter() - started


def client(platform: str, fake: FakeForge, http: httpx.AsyncClient) -> Forge:
    if platform == "github":
        from bot.forges.github import GitHubForge

        return GitHubForge(base_url="http://fakeforge/api/v3", http=http, token=fake.token(BOT))
    from bot.forges.gitea import GiteaForge

    return GiteaForge(base_url="http://fakeforge", http=http, token=fake.token(BOT))


def rest_calls(fake: FakeForge, since: int) -> int:
    return sum(1 for r in fake.requests[since:] if r.platform != "git" and not r.was_304)


def requests_304(fake: FakeForge, since: int) -> int:
    return sum(1 for r in fake.requests[since:] if r.platform != "git" and r.was_304)


def wrong_decisions(changes: Any, answers: dict[str, str]) -> list[str]:
    said = {c.branch: c for c in changes}
    wrong = []
    for name, kind in answers.items():
        expected, got = EXPECTED[kind], said.get(name)
        if expected is None:
            if got is not None:
                wrong.append(f"{name}: expected nothing, got {got.kind} ({got.why})")
        elif got is None or got.kind is not expected[0] or not got.why.startswith(expected[1]):
            wrong.append(f"{name}: expected {expected}, got {got and (got.kind, got.why)}")
    return wrong


async def per_branch(forge: Forge, fake: FakeForge, names: list[str]) -> tuple[int, float]:
    """List every branch, then compare a sample with main; (calls for all branches, seconds for all)."""
    since, t0 = len(fake.requests), time.perf_counter()
    branches = await forge.list_branches(REPO)
    listing_calls, listing_time = rest_calls(fake, since), time.perf_counter() - t0
    sample = [b.name for b in branches if b.name != "main"][:SAMPLE]
    t1 = time.perf_counter()
    for name in sample:
        await forge.compare(REPO, "main", name)
    per_compare = (time.perf_counter() - t1) / len(sample)
    return listing_calls + len(names), listing_time + per_compare * len(names)


async def run(platform: str, tmp: Path) -> dict[str, Any]:
    now = int(time.time())
    fake = FakeForge(tmp / platform, api_events=False)
    for login in (BOT, "alice"):
        fake.add_user(login)
    t0 = time.perf_counter()
    answers = build(fake, now)
    built = time.perf_counter() - t0
    root = GitRoot((tmp / f"{platform}-git").resolve())
    root.prepare()
    store = open_storage(load_settings(overrides={"database": tmp / f"{platform}.db", "webhook_secrets": "bench",
                                                  "webhook_secret_file": tmp / "secret"}))
    await store.start()
    plans = []
    timed = TimedApp(fake.app)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=timed), base_url="http://fakeforge", timeout=120) as http:
            async with fake.serve():
                forge = client(platform, fake, http)
                for _ in range(2):
                    since, t1, in_forge = len(fake.requests), time.perf_counter(), timed.seconds
                    result = await run_cleanup(forge, store, root, REPO, CONFIG, mode="plan", bot_login=BOT, clock=lambda: float(now))
                    took = time.perf_counter() - t1
                    plans.append((rest_calls(fake, since), took - (timed.seconds - in_forge), wrong_decisions(result.changes, answers),
                                  requests_304(fake, since), took))
                naive_calls, naive_seconds = await per_branch(forge, fake, list(answers))
    finally:
        await store.stop()
    return {"platform": platform, "built": built, "plans": plans, "naive": (naive_calls, naive_seconds), "branches": len(answers)}


def main() -> int:
    total = sum(COUNTS.values())
    print(f"bench-cleanup: {total} branches ({', '.join(f'{n} {k}' for k, n in COUNTS.items())}); "
          "the machine is shared, times are indicative", flush=True)
    results = []
    with tempfile.TemporaryDirectory(prefix="forgebot-bench-cleanup-") as tmp:
        for platform in ("github", "gitea"):
            results.append(asyncio.run(run(platform, Path(tmp))))
    print()
    print("| platform | approach | API calls | + answered 304 | seconds, forgebot | seconds, with the emulator's | wrong decisions |")
    print("|---|---|---:|---:|---:|---:|---:|")
    ok = True
    lines = []
    for r in results:
        p = r["platform"]
        (c1, s1, w1, n1, t1), (c2, s2, w2, n2, t2) = r["plans"]
        print(f"| {p} | forgebot plan, first (makes the mirror) | {c1} | {n1} | {s1:.1f} | {t1:.1f} | {len(w1)} |")
        print(f"| {p} | forgebot plan, after the first fetch | {c2} | {n2} | {s2:.1f} | {t2:.1f} | {len(w2)} |")
        print(f"| {p} | per branch: list + compare each (time extrapolated from {SAMPLE}) | {r['naive'][0]} | - | - | "
              f"{r['naive'][1]:.1f} | - |")
        for text, met in ((f"{p}: {c2 + n2} API requests per plan after the first fetch, 304s included (target <= 20)", c2 + n2 <= 20),
                          (f"{p}: {s2:.1f} s of forgebot's to a plan after the first fetch (target <= 10 s)", s2 <= 10),
                          (f"{p}: {len(w1) + len(w2)} wrong decisions of {2 * r['branches']} (target 0)", not w1 and not w2)):
            ok &= met
            lines.append(f"target {'met   ' if met else 'MISSED'}  {text}")
        for wrong in (w1 + w2)[:5]:
            lines.append(f"    wrong: {wrong}")
    print()
    print("\n".join(lines))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
