"""`make bench-reconcile`: what the scheduled reconcile costs in API calls when nothing drifted.

200 repositories on the forge emulator, each with 30 labels, settings, topics and a protected
branch, all matching their `.forgebot.yml`. forgebot's scheduled reconcile runs twice (pass 1,
pass 2) on each platform; every API call is counted by method from the emulator's request log.
Targets: no writes at all, and on pass 2 at least 90% of GitHub GETs answered 304 (free of rate
limit). In the same run, a naive sync (read everything, then write every setting, the way
probot/settings does) is counted for comparison. Prints a table; asserts nothing about time.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.app import ForgebotApp  # noqa: E402
from bot.forges.base import BranchProtection, RepoSettings  # noqa: E402
from bot.forges.provider import Forges  # noqa: E402
from config.settings import load_settings  # noqa: E402
from tests.fakeforge import FakeForge  # noqa: E402

REPOS = int(os.environ.get("BENCH_REPOS", "200"))
LABELS = 30
BOT = "forgebot"
WRITES = ("POST", "PUT", "PATCH", "DELETE")
SETTINGS = {"description": "Widgets, managed by forgebot", "homepage": "https://widgets.example", "has_wiki": False,
            "has_projects": False, "allow_rebase_merge": False, "delete_branch_on_merge": True}
TOPICS = ["bots", "python", "widgets"]
PROTECTION = {"required_approvals": 1, "dismiss_stale_approvals": True, "required_status_checks": ["ci/test"]}


def config_file() -> str:
    labels = [{"name": f"area/{n:02}", "color": f"{(n * 8231) % 0xFFFFFF:06x}", "description": f"Area number {n}"} for n in range(LABELS)]
    return yaml.safe_dump({
        "repository": SETTINGS, "labels": labels, "topics": TOPICS,
        "branches": [{"name": "main", "protection": PROTECTION}], "reconcile": {"mode": "apply"},
    }, sort_keys=False)


async def build(fake: FakeForge, client: Any) -> list[str]:
    """The repositories, already in the state their files describe."""
    text = config_file()
    labels = yaml.safe_load(text)["labels"]
    names = []
    for n in range(REPOS):
        name = f"acme/repo-{n:03}"
        repo = fake.create_repo(name, files={".forgebot.yml": text, "README.md": "hi\n"})
        fake.set_permission(name, BOT, "admin")
        for label in labels:
            fake.ops.create_label(repo, "acme", label["name"], label["color"], label["description"])
        await client.update_settings(name, RepoSettings(**SETTINGS))
        await client.set_topics(name, TOPICS)
        await client.set_protection(name, BranchProtection("main", required_approvals=1, dismiss_stale_approvals=True,
                                                           required_status_checks=("ci/test",)))
        names.append(name)
    return names


def count(requests: list[Any]) -> Counter[str]:
    tally: Counter[str] = Counter()
    for r in requests:
        if r.platform == "git":
            continue
        tally[r.method] += 1
        if r.was_304:
            tally["304"] += 1
    return tally


async def naive_sync(http: httpx.AsyncClient, platform: str, token: str, repos: list[str]) -> None:
    """Read everything, then write every setting and label, without conditional requests."""
    auth = {"authorization": f"token {token}"}
    api = "/api/v3" if platform == "github" else "/api/v1"
    wanted = yaml.safe_load(config_file())
    for repo in repos:
        await http.get(f"{api}/repos/{repo}/contents/.forgebot.yml", headers=auth)
        await http.get(f"{api}/repos/{repo}", headers=auth)
        labels = await http.get(f"{api}/repos/{repo}/labels", params={"per_page": 100, "limit": 50}, headers=auth)
        if platform == "gitea" and len(labels.json()) == 50:
            labels = await http.get(f"{api}/repos/{repo}/labels", params={"page": 2, "limit": 50}, headers=auth)
        await http.get(f"{api}/repos/{repo}/topics", headers=auth)
        if platform == "github":
            await http.patch(f"{api}/repos/{repo}", json={k: v for k, v in SETTINGS.items()}, headers=auth)
            for label in wanted["labels"]:
                await http.patch(f"{api}/repos/{repo}/labels/{label['name']}", json={"color": label["color"], "description": label["description"]}, headers=auth)
            await http.put(f"{api}/repos/{repo}/topics", json={"names": TOPICS}, headers=auth)
            await http.put(f"{api}/repos/{repo}/branches/main/protection", headers=auth, json={
                "required_status_checks": {"strict": False, "contexts": ["ci/test"]}, "enforce_admins": None,
                "required_pull_request_reviews": {"required_approving_review_count": 1, "dismiss_stale_reviews": True},
                "restrictions": None})
        else:
            await http.patch(f"{api}/repos/{repo}", json={"description": SETTINGS["description"], "website": SETTINGS["homepage"],
                                                          "has_wiki": False, "has_projects": False, "allow_rebase": False,
                                                          "default_delete_branch_after_merge": True}, headers=auth)
            ids = {}
            for page in (1, 2):
                for label in (await http.get(f"{api}/repos/{repo}/labels", params={"page": page, "limit": 50}, headers=auth)).json():
                    ids[label["name"]] = label["id"]
            for label in wanted["labels"]:
                await http.patch(f"{api}/repos/{repo}/labels/{ids[label['name']]}", json={"color": label["color"], "description": label["description"]}, headers=auth)
            await http.put(f"{api}/repos/{repo}/topics", json={"topics": TOPICS}, headers=auth)
            await http.patch(f"{api}/repos/{repo}/branch_protections/main", json={"required_approvals": 1, "dismiss_stale_approvals": True,
                                                                                 "enable_status_check": True, "status_check_contexts": ["ci/test"]}, headers=auth)


async def run(platform: str, tmp: Path) -> dict[str, Any]:
    fake = FakeForge(tmp / platform, api_events=False)
    fake.add_user(BOT)
    transport = httpx.ASGITransport(app=fake.app)
    base = {"github": {"github_token": fake.token(BOT), "github_api_url": "http://fakeforge/api/v3"},
            "gitea": {"gitea_url": "http://fakeforge", "gitea_token": fake.token(BOT)}}[platform]
    settings = load_settings(overrides={**base, "database": tmp / f"{platform}.db", "webhook_secrets": "bench",
                                        "reconcile_concurrency": 4, "log_level": "warning"})
    app = ForgebotApp(settings, forges=Forges(settings, transport=transport))
    started = time.perf_counter()
    await app.start()
    try:
        repos = await build(fake, app.forges.get(platform))
        setup = time.perf_counter() - started
        passes = []
        for _ in range(2):
            before = len(fake.requests)
            t0 = time.perf_counter()
            assert await app.scheduler.run_job("reconcile")
            passes.append((count(fake.requests[before:]), time.perf_counter() - t0))
        outcomes = Counter(row[0] for row in await app.storage.engine.run(
            lambda c: c.execute("SELECT outcome FROM reconcile_runs WHERE trigger = 'schedule'").fetchall()))
    finally:
        await app.stop()
    async with httpx.AsyncClient(transport=transport, base_url="http://fakeforge") as http:
        before = len(fake.requests)
        await naive_sync(http, platform, fake.token(BOT), repos)
        naive = count(fake.requests[before:])
    return {"platform": platform, "passes": passes, "naive": naive, "outcomes": dict(outcomes), "setup": setup}


def row(name: str, tally: Counter[str], seconds: float | None = None) -> str:
    gets, writes = tally["GET"], sum(tally[m] for m in WRITES)
    share = f"{tally['304'] / gets:.0%}" if gets else "-"
    per_repo = (gets + writes) / REPOS
    took = f"{seconds:.1f}" if seconds is not None else "-"
    return f"| {name} | {gets} | {tally['304']} ({share}) | {writes} | {per_repo:.1f} | {took} |"


def main() -> int:
    print(f"bench-reconcile: {REPOS} repositories x {LABELS} labels, settings, topics, a protected branch; all in sync", flush=True)
    results = []
    with tempfile.TemporaryDirectory(prefix="forgebot-bench-reconcile-") as tmp:
        for platform in ("github", "gitea"):
            results.append(asyncio.run(run(platform, Path(tmp))))
    print()
    print("| run | GETs | of which 304 | writes | calls per repo | seconds |")
    print("|---|---:|---:|---:|---:|---:|")
    ok = True
    for result in results:
        p = result["platform"]
        for n, (tally, seconds) in enumerate(result["passes"], start=1):
            print(row(f"{p} forgebot pass {n}", tally, seconds))
        print(row(f"{p} naive sync", result["naive"]))
        writes = sum(t[m] for t, _ in result["passes"] for m in WRITES)
        ok &= writes == 0
        print(f"|  | outcomes: {result['outcomes']} | | | | |")
    print()
    github_pass2 = results[0]["passes"][1][0]
    share = github_pass2["304"] / github_pass2["GET"] if github_pass2["GET"] else 0.0
    for text, met in (
        ("no writes on either pass, either platform", ok),
        (f"GitHub pass 2: {share:.1%} of GETs answered 304 (target >= 90%)", share >= 0.9),
    ):
        print(f"target {'met   ' if met else 'MISSED'}  {text}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
