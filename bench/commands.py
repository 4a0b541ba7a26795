"""`make bench-commands`: from a user's comment to the bot's effect: `/claim` and `/label` to its last
API call about them, `/lgtm` and `/approve` on pull requests to the `forgebot/review` status.

`forgebot serve` runs as its own process; the forge emulator runs on another loopback port in
this process and plays the users: it comments `/claim` or `/label bug` on many issues at
BENCH_RATE (20) comments per second for BENCH_SECONDS (60), delivering each webhook to forgebot
as GitHub would. Every bot request the emulator serves is timed; a comment's latency runs from
just before it is posted to the end of the bot's last request about it (the reaction, or the
reply). Then it checks: every delivery answered 2xx, nothing dead-lettered, no request failed,
and no effect twice (one reply and one reaction per comment at most, one claim per issue).
For /lgtm and /approve (bench/review_prs.py) it also counts the bot's API calls per review event
and, as the bot speaks GitHub here, how many were answered 304 from its ETag cache.
Prints a table; asserts nothing about time.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.review_prs import ReviewPulls, owners_file  # noqa: E402
from tests.fakeforge import FakeForge  # noqa: E402

RATE = float(os.environ.get("BENCH_RATE", "20"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "60"))
SECRET = "bench-commands-secret"
REPO = "acme/widgets"
BOT = "forgebot"
USERS = 40
ISSUE_RE = re.compile(r"/repos/[^/]+/[^/]+/issues/(\d+)")
COMMENT_RE = re.compile(r"/repos/[^/]+/[^/]+/issues/comments/(\d+)")


class TimedApp:
    """Wraps the emulator's ASGI app: records when each bot request ended, and its answer."""

    def __init__(self, app: Any, bot_token: str) -> None:
        self.app = app
        self.bot_auth = f"token {bot_token}".encode()
        self.log: list[tuple[float, str, str, int]] = []  # (end time, method, path, status)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or dict(scope["headers"]).get(b"authorization") != self.bot_auth:
            await self.app(scope, receive, send)
            return
        status = 0

        async def watch(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await self.app(scope, receive, watch)
        self.log.append((time.perf_counter(), scope["method"], scope["path"], status))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))] if ordered else float("nan")


async def main_async(tmp: Path) -> int:
    # 1,200 comments a minute, half of them review commands at about six calls each, is more than
    # GitHub's 5,000 calls an hour: the bench measures the bot, not the rate limit, so it is raised.
    fake = FakeForge(tmp / "forge", rate_limit=1_000_000)
    fake.add_user(BOT)
    users = [f"user{n:02}" for n in range(USERS)]
    for login in users:
        fake.add_user(login)
    repo = fake.create_repo(REPO, files={".forgebot.yml": "claims:\n  max_per_user: 1000\nreview: {}\n",
                                         "OWNERS": owners_file(users)})
    fake.set_permission(REPO, BOT, "admin")
    for login in users:
        fake.set_permission(REPO, login, "write")
    fake.ops.create_label(repo, "acme", "bug", "d73a4a", "")
    fake.ops.create_label(repo, "acme", "status/claimed", "fbca04", "")
    for name in ("lgtm", "approved"):  # as after a repository's first reviews
        fake.ops.create_label(repo, "acme", name, "ededed", "")
    total = int(RATE * SECONDS)
    # Every other comment is a review command: an /lgtm, and RATE/2 comments (a second) later the
    # /approve on the same pull request; the first second's /approve slots go to pull requests of their own.
    later = max(1, int(RATE / 2))
    review_slots = [n for n in range(total) if n % 2 == 1]
    issues = [fake.ops.create_issue(repo, users[n % USERS], f"Task {n}").number for n in range(total) if n % 2 == 0]
    review = ReviewPulls()
    pulls = review.open_many(fake, repo, users[USERS - 1], len(review_slots) // 2 + later)
    plan: dict[int, tuple[str, int]] = {}  # slot -> (kind, pull request)
    lgtm_pulls = iter(pulls)
    for k, n in enumerate(review_slots):
        if (k // later) % 2 == 0:
            plan[n] = ("lgtm", next(lgtm_pulls))
        else:
            plan[n] = ("approve", plan[review_slots[k - later]][1])
    fake.outbox.clear()

    timed = TimedApp(fake.app, fake.token(BOT))
    fake.app = timed  # serve() runs `fake.app`
    bot_port = free_port()
    async with fake.serve() as base_url:
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("FORGEBOT_")},
               "FORGEBOT_DATABASE": str(tmp / "bot.db"), "FORGEBOT_WEBHOOK_SECRETS": SECRET,
               "FORGEBOT_GITHUB_TOKEN": fake.token(BOT), "FORGEBOT_GITHUB_API_URL": f"{base_url}/api/v3",
               "FORGEBOT_LOG_LEVEL": "warning"}
        with (tmp / "bot.log").open("wb") as log:
            bot = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve", "--port", str(bot_port)], cwd=ROOT, env=env, stderr=log)
        try:
            await wait_for(bot_port, bot)
            fake.deliver_webhooks("github", f"http://127.0.0.1:{bot_port}/webhooks/github", SECRET)
            # Warm up: the bot learns who it is and reads the repository's config once.
            warm = await fake.actor(users[0]).open_issue(REPO, "warm-up")
            await fake.actor(users[0]).comment(REPO, warm, "/label bug")
            await asyncio.sleep(1.0)

            started_at: dict[int, float] = {}
            comment_issue: dict[int, int] = {}
            kinds: dict[int, str] = {}

            async def post(n: int) -> None:
                if n in plan:
                    kind, pull = plan[n]
                    who = users[n % 10] if kind == "approve" else users[10 + n % 20]
                    start = time.perf_counter()
                    cid = await fake.actor(who).comment(REPO, pull, f"/{kind}")
                    review.started[cid] = (pull, start, kind)
                    return
                number, user = issues[n // 2], users[n % USERS]
                kind = "claim" if n % 4 == 0 else "label"
                started_at[number] = time.perf_counter()
                kinds[number] = kind
                cid = await fake.actor(user).comment(REPO, number, "/claim" if kind == "claim" else "/label bug")
                comment_issue[cid] = number

            begin = time.perf_counter()
            tasks = []
            for n in range(total):
                delay = begin + n / RATE - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(post(n)))
            await asyncio.gather(*tasks)
            await asyncio.sleep(3.0)  # let the last ones finish
        finally:
            bot.send_signal(signal.SIGTERM)
            bot.wait(timeout=60)

    # -- what happened --------------------------------------------------------------------------
    last: dict[int, float] = {}
    # Expected answers, not failures: a probe for an OWNERS file a directory does not have, and
    # the protection of a branch that has none.
    expected = re.compile(r"/contents/(?:.*/)?(?:OWNERS|OWNERS_ALIASES)$|/branches/[^/]+/protection$")
    errors = [entry for entry in timed.log if entry[3] >= 400 and not (entry[3] == 404 and expected.search(entry[2]))]
    for end, _method, path, _status in timed.log:
        match = COMMENT_RE.search(path)
        number = comment_issue.get(int(match.group(1))) if match else None
        if number is None and (match := ISSUE_RE.search(path)):
            number = int(match.group(1))
        if number in started_at:
            last[number] = max(last.get(number, 0.0), end)
    latencies = {kind: [(last[n] - started_at[n]) * 1000 for n in started_at if kinds[n] == kind and n in last] for kind in ("claim", "label")}
    missing = [n for n in started_at if n not in last]
    conn = sqlite3.connect(tmp / "bot.db")
    statuses = dict(conn.execute("SELECT status, count(*) FROM deliveries GROUP BY status").fetchall())
    conn.close()
    bad_deliveries = [d for d in fake.deliveries if not 200 <= (d.status or 0) < 300]
    duplicates = Counter()
    for number in started_at:
        issue = repo.issue(number)
        replies = [c for c in issue.comments if repo.comments[c].user == BOT]
        duplicates["replies"] += max(0, len(replies) - 1)
        for cid in issue.comments:
            bot_reactions = [r for r in repo.comments[cid].reactions if r.user == BOT]
            duplicates["reactions"] += max(0, len(bot_reactions) - 1)
        if kinds[number] == "claim":
            duplicates["assignees"] += max(0, len(issue.assignees) - 1)
    per_request = Counter(f"{m} {re.sub(r'/[0-9]+', '/N', p.split('/repos/acme/widgets')[-1])}" for _, m, p, _ in timed.log)

    print(f"bench-commands: {total} comments at {RATE:g}/s for {SECONDS:g} s, forgebot serve + emulator on loopback")
    print()
    everything = latencies["claim"] + latencies["label"]
    print_table("command", {**latencies, "all": everything})
    print()
    print(f"bot requests: {len(timed.log)} ({len(timed.log) / max(1, total):.1f} per comment), failed: {len(errors)}")
    for name, n in Counter(f"{status} {m} {re.sub(r'/[0-9]+(?=/|$)', '/N', p)}" for _, m, p, status in errors).most_common(5):
        print(f"  failed {n:4}  {name}")
    for name, n in per_request.most_common(8):
        print(f"  {n:6}  {name}")
    print(f"deliveries: {dict(Counter((d.status or 0) // 100 * 100 for d in fake.deliveries))} by status class; in forgebot: {statuses}")
    print(f"duplicated effects: {dict(duplicates) or 'none'}; comments with no bot request: {len(missing)}")
    # -- review commands ------------------------------------------------------------------------
    bot_comments = {cid: c.issue_number for cid, c in repo.comments.items() if c.user == BOT}
    about = review.attribute(timed.log, bot_comments)
    review_latency = review.latencies(about)
    review_requests = [entry for entries in about.values() for entry in entries]
    events = len(review.started)
    answered_304 = sum(1 for entry in review_requests if entry[3] == 304)
    review_duplicates = review.duplicates(repo, BOT, about)
    unanswered = events - sum(len(v) for v in review_latency.values())
    print()
    both = review_latency["lgtm"] + review_latency["approve"]
    print_table("review command", {"/lgtm": review_latency["lgtm"], "/approve": review_latency["approve"], "both": both})
    print()
    print(f"API calls per review event (about the pull request): {len(review_requests) / max(1, events):.1f},"
          f" of which answered 304 (GitHub ETag cache): {answered_304 / max(1, events):.1f}"
          f" ({answered_304} of {len(review_requests)})")
    review_kinds = Counter(f"{m} {re.sub(r'/[0-9]+(?=/|$)', '/N', re.sub(r'/[0-9a-f]{40}', '/SHA', p.split('/repos/acme/widgets')[-1]))}"
                           for _, m, p, _ in review_requests)
    for name, n in review_kinds.most_common(10):
        print(f"  {n / max(1, events):5.2f}  {name}")
    print(f"review duplicated effects: {dict(review_duplicates) or 'none'}; review comments with no status: {unanswered}")

    p50, p99 = percentile(everything, 50), percentile(everything, 99)
    r50, r99 = percentile(both, 50), percentile(both, 99)
    checks = [
        (f"/claim and /label p50 {p50:.1f} ms <= 50 ms", p50 <= 50),
        (f"/claim and /label p99 {p99:.1f} ms <= 250 ms", p99 <= 250),
        (f"/lgtm and /approve to the status p50 {r50:.1f} ms <= 50 ms", r50 <= 50),
        (f"/lgtm and /approve to the status p99 {r99:.1f} ms <= 250 ms", r99 <= 250),
        ("zero errors", not errors and not bad_deliveries and set(statuses) <= {"done", "ignored"} and not missing
         and not unanswered),
        ("zero duplicated effects", not sum(duplicates.values()) and not sum(review_duplicates.values())),
    ]
    print()
    for text, met in checks:
        print(f"target {'met   ' if met else 'MISSED'}  {text}")
    return 0 if all(met for _, met in checks[4:]) else 1


def print_table(title: str, rows: dict[str, list[float]]) -> None:
    print(f"| {title} | comments | p50 ms | p90 ms | p99 ms | max ms |")
    print("|---|---:|---:|---:|---:|---:|")
    for kind, values in rows.items():
        print(f"| {kind} | {len(values)} | {percentile(values, 50):.1f} | {percentile(values, 90):.1f} |"
              f" {percentile(values, 99):.1f} | {max(values, default=0):.1f} |")


async def wait_for(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("forgebot exited before listening")
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            await writer.wait_closed()
            return
        except OSError:
            await asyncio.sleep(0.1)
    raise RuntimeError("forgebot did not start")


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="forgebot-bench-commands-") as tmp:
        return asyncio.run(main_async(Path(tmp)))


if __name__ == "__main__":
    raise SystemExit(main())
