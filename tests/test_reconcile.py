"""GitOps end to end, on both platforms: plan, apply, triggers, invalid files, drift, limits, dump."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.forges.base import Label
from bot.gitops.runner import reconcile
from bot.storage.base import Storage
from bot.storage.open import open_storage
from tests.conftest import BOT, REPO, World, db_rows, make_settings, read_metric

pytestmark = pytest.mark.anyio

CONFIG = """
repository:
  description: Widgets for everyone
  has_wiki: false
labels:
  - name: bug
    color: d73a4a
    description: Something is broken
  - name: kind/feature
    color: a2eeef
    rename_from: enhancement
topics: [python, widgets]
branches:
  - name: main
    protection:
      required_approvals: 1
      required_status_checks: [ci/test]
milestones:
  - title: v1.0
    description: First release
collaborators:
  carol: write
"""


async def _store(tmp_path: Path) -> Storage:
    store = open_storage(make_settings(tmp_path, database=tmp_path / "runs.db"))
    await store.start()
    return store


async def _reconcile(world: World, store: Storage, mode: str, **kwargs: Any) -> Any:
    return await reconcile(world.client, store, REPO, trigger="test", mode=mode, bot_login=BOT, **kwargs)


async def test_plan_apply_then_nothing_left_to_do(world: World, tmp_path: Path) -> None:
    await world.actor("alice").push(REPO, "main", {".forgebot.yml": CONFIG})
    await world.actor("alice").create_label(REPO, "enhancement", "84b6eb")
    store = await _store(tmp_path)
    try:
        planned = await _reconcile(world, store, "plan")
        assert planned.outcome == "drift"
        assert [(c.kind.value, c.target) for c in planned.changes] == [
            ("update", "repository"),
            ("rename", "label:enhancement"),
            ("create", "label:bug"),
            ("update", "topics"),
            ("create", "milestone:v1.0"),
            ("update", "collaborator:carol"),  # triage (read on Gitea) -> write
            ("create", "branch_protection:main"),
        ]
        assert [l.name for l in world.state().labels.values()] == ["enhancement"]  # a plan changes nothing

        applied = await _reconcile(world, store, "apply")
        assert applied.outcome == "applied", applied.errors
        state = world.state()
        assert sorted((l.name, l.color) for l in state.labels.values()) == [("bug", "d73a4a"), ("kind/feature", "a2eeef")]
        assert state.description == "Widgets for everyone" and sorted(state.topics) == ["python", "widgets"]
        assert state.collaborators["carol"] == "write"
        assert (await world.client.get_protection(REPO, "main")).required_approvals == 1  # type: ignore[union-attr]

        again = await _reconcile(world, store, "plan")
        assert (again.outcome, again.changes) == ("clean", ())
        runs = await store.engine.run(lambda conn: conn.execute("SELECT outcome, mode FROM reconcile_runs ORDER BY id").fetchall())
        assert [tuple(r) for r in runs] == [("drift", "plan"), ("applied", "apply"), ("clean", "plan")]
        # The activity log keeps what was found or done; a run that found nothing to do is not in it.
        kinds = await store.engine.run(lambda conn: [r[0] for r in conn.execute("SELECT kind FROM activity ORDER BY id")])
        assert kinds == ["reconcile.drift", "reconcile.applied"]
    finally:
        await store.stop()


async def test_a_repository_without_a_file_is_left_alone(world: World, tmp_path: Path) -> None:
    store = await _store(tmp_path)
    try:
        run = await _reconcile(world, store, "apply")
    finally:
        await store.stop()
    assert run.outcome == "no-config" and run.changes == ()


async def test_too_many_deletions_stop_before_anything_happens(world: World, tmp_path: Path) -> None:
    for n in range(4):
        await world.actor("alice").create_label(REPO, f"old-{n}")
    await world.actor("alice").push(REPO, "main", {".forgebot.yml": "labels: []\npolicy:\n  labels: authoritative\n  max_deletions: 3\n"})
    store = await _store(tmp_path)
    try:
        run = await _reconcile(world, store, "apply")
    finally:
        await store.stop()
    assert run.outcome == "blocked" and "removes 4 things" in run.errors[0]
    assert len(world.state().labels) == 4


async def test_one_failing_change_is_recorded_and_the_rest_continue(world: World, tmp_path: Path) -> None:
    config = "labels:\n  - name: a\n  - name: b\nwebhooks:\n  - url: https://ci.test/h\n    secret_env: FORGEBOT_HOOK_SECRET_MISSING\n"
    await world.actor("alice").push(REPO, "main", {".forgebot.yml": config})
    store = await _store(tmp_path)
    try:
        run = await _reconcile(world, store, "apply", environ={})
    finally:
        await store.stop()
    assert run.outcome == "partial"
    assert [r.change.target for r in run.results if not r.ok] == ["webhook:https://ci.test/h"]
    assert "FORGEBOT_HOOK_SECRET_MISSING is not set" in run.errors[0]
    assert sorted(l.name for l in world.state().labels.values()) == ["a", "b"]


async def test_push_to_the_default_branch_applies_and_sets_a_status(world: World, bot_factory: Any) -> None:
    async with bot_factory(world) as app:
        sha = await world.actor("alice").push(REPO, "main", {".forgebot.yml": "labels:\n  - name: bug\n    color: d73a4a\n"})
        await app.wait_idle()
        assert [l.name for l in world.state().labels.values()] == ["bug"]
        [status] = [s for s in world.state().statuses if s.context == "forgebot/config"]
        assert (status.sha, status.state) == (sha, "success") and "1 change" in status.description

        await world.actor("alice").push(REPO, "feature", {".forgebot.yml": "labels:\n  - name: other\n"})
        await world.actor("alice").push(REPO, "main", {"README.md": "no config change"})
        await app.wait_idle()
        assert [l.name for l in world.state().labels.values()] == ["bug"]  # neither push touched the config on main


async def test_an_invalid_file_changes_nothing_and_says_why(world: World, bot_factory: Any) -> None:
    async with bot_factory(world) as app:
        await world.actor("alice").push(REPO, "main", {".forgebot.yml": "labels:\n  - name: bug\nclaims:\n  max_per_user: 2\n"})
        await app.wait_idle()
        bad = await world.actor("alice").push(REPO, "main", {".forgebot.yml": "labels:\n  - name: bug\n    colour: red\n"})
        await app.wait_idle()
        [status] = [s for s in world.state().statuses if s.sha == bad]
        assert status.state == "failure" and "labels[0].colour: unknown key" in status.description
        from bot.repoconfig import config_in_force

        in_force = await config_in_force(app.processor.context(), world.platform, REPO)
        assert in_force.claims.max_per_user == 2  # the last valid file still rules
        kinds = [row[0] for row in db_rows(app, "SELECT kind FROM activity ORDER BY id")]
        assert "reconcile.invalid" in kinds


async def test_a_pull_request_gets_one_plan_comment_edited_in_place(world: World, bot_factory: Any) -> None:
    alice = world.actor("alice")
    async with bot_factory(world) as app:
        await alice.push(REPO, "config", {".forgebot.yml": "labels:\n  - name: bug\n"})
        number = await alice.open_pr(REPO, "config", "main", "Manage labels")
        await app.wait_idle()
        head = await alice.push(REPO, "config", {".forgebot.yml": "labels:\n  - name: bug\n  - name: docs\n"})
        await app.wait_idle()
        comments = [c for c in world.state().issue(number).comments]
        bodies = [world.state().comments[c].body for c in comments]
        assert len(bodies) == 1 and "+ label:docs" in bodies[0] and "2 changes" in bodies[0]
        assert world.state().labels == {}  # nothing applied from an unmerged pull request
        [status] = [s for s in world.state().statuses if s.sha == head]
        assert status.state == "success" and status.description.startswith("2 changes")


async def _drifted(app: Any) -> float:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://forgebot") as client:
        return await read_metric(client, "forgebot_repositories_drifted")


async def test_a_pull_request_whose_file_cannot_be_read_is_retried_not_planned_as_nothing(world: World, bot_factory: Any) -> None:
    alice = world.actor("alice")
    async with bot_factory(world, max_attempts=2) as app:
        head = await alice.push(REPO, "config", {".forgebot.yml": "labels:\n  - name: bug\n"})
        outage = world.fake.faults.add(
            "GET", f"^/(api/v1/)?repos/{REPO}/(contents|raw)/", status=403, times=None, rate_limited=False,
            body={"message": "Resource not accessible by integration"},
        )  # refused, so the client does not retry on its own
        number = await alice.open_pr(REPO, "config", "main", "Manage labels")
        await app.wait_idle()
        assert outage.hits and world.state().issue(number).comments == []  # no "no changes" for a file never read
        status = [s for s in world.state().statuses if s.sha == head][-1]
        assert status.state == "error" and status.description.startswith("not checked: reading the config")
        [(state, attempts)] = db_rows(app, "SELECT status, attempts FROM deliveries WHERE event = 'pull_request'")
        assert (state, attempts) == ("dead", 2)  # tried again, then left for `forgebot replay`

        world.fake.faults.clear()
        await alice.push(REPO, "config", {".forgebot.yml": "labels:\n  - name: bug\n  - name: docs\n"})
        await app.wait_idle()
        [comment] = world.state().issue(number).comments
        assert "+ label:docs" in world.state().comments[comment].body


async def test_the_schedule_reports_drift_and_repairs_in_apply_mode(world: World, bot_factory: Any) -> None:
    await world.actor("alice").push(REPO, "main", {".forgebot.yml": "labels:\n  - name: bug\n    color: d73a4a\n"})
    async with bot_factory(world) as app:
        assert await app.scheduler.run_job("reconcile")
        assert world.state().labels == {}  # report mode by default
        assert await _drifted(app) == 1
        [run] = db_rows(app, "SELECT outcome, plan FROM reconcile_runs WHERE trigger = 'schedule'")
        assert run[0] == "drift" and json.loads(run[1])[0]["target"] == "label:bug"

        await world.actor("alice").push(REPO, "main", {".forgebot.yml": "labels:\n  - name: bug\n    color: d73a4a\nreconcile:\n  mode: apply\n"})
        await app.wait_idle()
        assert [(l.name, l.color) for l in world.state().labels.values()] == [("bug", "d73a4a")]  # applied on push
        await world.make_client("alice").update_label(REPO, "bug", Label("bug", "000000"))  # someone drifts it by hand
        assert await app.scheduler.run_job("reconcile")
        assert [(l.name, l.color) for l in world.state().labels.values()] == [("bug", "d73a4a")]
        assert await _drifted(app) == 0


async def test_dump_writes_a_file_that_plans_to_nothing(world: World, tmp_path: Path) -> None:
    from bot.cli.repos import dump_state

    await world.actor("alice").create_label(REPO, "bug", "d73a4a", "Broken")
    await world.client.set_topics(REPO, ["python"])
    from bot.forges.base import BranchProtection

    await world.client.set_protection(REPO, BranchProtection("main", required_approvals=1))
    state = await dump_state(world.client, REPO, BOT, None)
    import yaml

    # main is protected now: the file goes on a branch, and the plan reads it from there
    await world.actor("alice").push(REPO, "adopt", {".forgebot.yml": yaml.safe_dump(state)})
    store = await _store(tmp_path)
    try:
        run = await _reconcile(world, store, "plan", ref="adopt")
    finally:
        await store.stop()
    assert (run.outcome, [c.target for c in run.changes]) == ("clean", [])


async def test_extends_reads_the_other_repository(world: World, tmp_path: Path) -> None:
    world.fake.create_repo("acme/.github", files={"forgebot/defaults.yml": "labels:\n  - name: from-org\n"})
    await world.actor("alice").push(REPO, "main", {".forgebot.yml": "extends: acme/.github:forgebot/defaults.yml\nlabels:\n  - name: local\n"})
    store = await _store(tmp_path)
    try:
        run = await _reconcile(world, store, "apply")
    finally:
        await store.stop()
    assert run.outcome == "applied"
    assert sorted(l.name for l in world.state().labels.values()) == ["from-org", "local"]



async def _plan_pull_request(world: World, app: Any, branch: str, config: str) -> tuple[str, str]:
    """Opens a pull request changing the file; the bot's plan comment and config status."""
    alice = world.actor("alice")
    head = await alice.push(REPO, branch, {".forgebot.yml": config})
    number = await alice.open_pr(REPO, branch, "main", f"Config from {branch}")
    await app.wait_idle()
    [body] = [world.state().comments[c].body for c in world.state().issue(number).comments]
    [status] = [s for s in world.state().statuses if s.sha == head and s.context == "forgebot/config"]
    return body, status.description


SECRET_FILE = "aws_access_key_id: AKIAEXAMPLE\naws_secret_access_key: wJalrXUtnFEMIEXAMPLEKEY\n"


async def test_extends_cannot_reach_another_owners_files(world: World, bot_factory: Any) -> None:
    world.fake.create_repo("victim/private", private=True, files={"creds.yml": SECRET_FILE})
    world.fake.set_permission("victim/private", BOT, "read")  # the bot is installed there too
    async with bot_factory(world) as app:
        body, status = await _plan_pull_request(world, app, "steal", "extends: victim/private:creds.yml\n")
    assert "victim/private:creds.yml: only a repository of acme can be extended" in body
    for text in (body, status):
        assert "aws" not in text and "AKIA" not in text
    assert not [r for r in world.fake.requests if "victim" in r.path]  # never even read


async def test_an_extended_file_is_not_found_alike_when_missing_or_unreadable_and_never_echoed(world: World, bot_factory: Any) -> None:
    world.fake.create_repo("acme/hidden", private=True, files={"creds.yml": SECRET_FILE})  # the bot cannot read it
    world.fake.create_repo("acme/vault", private=True, files={"creds.yml": SECRET_FILE})
    world.fake.set_permission("acme/vault", BOT, "read")
    world.fake.create_repo("acme/locked", files={"creds.yml": SECRET_FILE})
    world.fake.faults.add("GET", "^/repos/acme/locked/contents/", status=403, times=None, rate_limited=False,
                          body={"message": "Resource not accessible by integration"})
    async with bot_factory(world) as app:
        missing = await _plan_pull_request(world, app, "missing", "extends: acme/nothing:creds.yml\n")
        hidden = await _plan_pull_request(world, app, "hidden", "extends: acme/hidden:creds.yml\n")
        locked = await _plan_pull_request(world, app, "locked", "extends: acme/locked:creds.yml\n")
        vault = await _plan_pull_request(world, app, "vault", "extends: acme/vault:creds.yml\n")
    assert "extends acme/nothing:creds.yml: not found" in missing[0]
    assert [t.replace("acme/hidden", "acme/nothing") for t in hidden] == list(missing)
    assert [t.replace("acme/locked", "acme/nothing") for t in locked] == list(missing)  # 403, not 404
    assert "acme/vault:creds.yml:1: not a valid config file (2 problems)" in vault[0]
    for text in vault:
        assert "aws" not in text and "AKIA" not in text


async def test_deleting_the_file_puts_the_defaults_back_in_force(world: World, bot_factory: Any) -> None:
    from bot.repoconfig import config_in_force

    alice = world.actor("alice")
    async with bot_factory(world) as app:
        await alice.push(REPO, "main", {".forgebot.yml": "claims:\n  max_per_user: 1\ntriggers:\n  labels: {bot/claim: claim}\n"})
        await app.wait_idle()
        in_force = await config_in_force(app.processor.context(), world.platform, REPO)
        assert (in_force.claims.max_per_user, in_force.triggers.labels) == (1, {"bot/claim": "claim"})

        await alice.push(REPO, "main", {".forgebot.yml": None}, message="stop managing this repository")
        await app.wait_idle()
        in_force = await config_in_force(app.processor.context(), world.platform, REPO)
    assert (in_force.claims.max_per_user, in_force.triggers.labels) == (3, {})  # the defaults


async def test_a_scheduled_run_without_the_file_records_the_defaults_once(world: World, tmp_path: Path) -> None:
    await world.actor("alice").push(REPO, "main", {".gitea/forgebot.yml": "claims:\n  max_per_user: 1\n"})
    store = await _store(tmp_path)
    try:
        await _reconcile(world, store, "auto")
        await world.actor("alice").push(REPO, "main", {".gitea/forgebot.yml": None})  # no webhook reaches the bot
        assert (await _reconcile(world, store, "plan")).outcome == "no-config"
        assert (await store.configs.last_valid_config(world.platform, REPO))[0] == {"claims": {"max_per_user": 1}}  # a plan records nothing
        for _ in range(2):
            assert (await _reconcile(world, store, "auto")).outcome == "no-config"
        in_force = await store.configs.last_valid_config(world.platform, REPO)
        versions = await store.engine.run(lambda conn: conn.execute("SELECT count(*) FROM config_versions").fetchone()[0])
    finally:
        await store.stop()
    assert in_force[:2] == ({}, []) and versions == 2


async def test_scheduled_runs_of_an_unchanged_file_record_one_version(world: World, tmp_path: Path) -> None:
    await world.actor("alice").push(REPO, "main", {".forgebot.yml": "claims:\n  max_per_user: 1\n"})
    store = await _store(tmp_path)
    try:
        for _ in range(3):
            await _reconcile(world, store, "auto")
        await world.actor("alice").push(REPO, "main", {".forgebot.yml": "claims:\n  max_per_user: 2\n"})
        for _ in range(2):
            await _reconcile(world, store, "auto")
        rows = await store.engine.run(lambda conn: conn.execute("SELECT config FROM config_versions ORDER BY id").fetchall())
    finally:
        await store.stop()
    assert [json.loads(config)["claims"]["max_per_user"] for (config,) in rows] == [1, 2]


def _cut_push(world: World, before: str, after: str, listed: int, pushed: int) -> tuple[str, dict[str, Any]]:
    """A recorded push payload of `world`'s platform, moved to acme/widgets' main, listing `listed`
    commits (none of them touching the config) of `pushed`."""
    from tests.reference import REFERENCE

    name = "push.5.json" if world.platform == "github" else "push.4.json"
    payload = json.loads((REFERENCE / f"{world.platform}-webhooks" / name).read_text())
    commit = dict(payload["commits"][0], added=[], removed=[], modified=["README.md"])
    payload["commits"] = [dict(commit, id=f"{n:040x}") for n in range(listed)]
    if world.platform == "gitea":
        payload["total_commits"] = pushed
    owner = payload["repository"]["owner"]
    payload["repository"].update(name="widgets", full_name=REPO, default_branch="main", owner=dict(owner, login="acme", username="acme"))
    payload.update(ref="refs/heads/main", before=before, after=after)
    return f"push-{listed}-{pushed}", payload


async def _deliver(world: World, app: Any, delivery: str, payload: dict[str, Any]) -> None:
    import httpx

    from tests.conftest import gitea_headers, github_headers

    body = json.dumps(payload).encode()
    if world.platform == "github":
        headers = github_headers(body, "push", delivery)
    else:
        headers = gitea_headers(body, "push", "push", delivery)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://forgebot.test") as client:
        reply = await client.post(f"/webhooks/{world.platform}", content=body, headers=headers)
    assert reply.status_code == 202, reply.text
    await app.wait_idle()


async def test_a_push_whose_commit_list_was_cut_reads_the_file_again(world: World, bot_factory: Any) -> None:
    alice = world.actor("alice")
    before = await alice.push(REPO, "main", {"notes.txt": "start"})
    await alice.push(REPO, "main", {".forgebot.yml": "labels:\n  - name: bug\n"}, message="manage labels")  # no bot yet
    after = await alice.push(REPO, "main", {"README.md": "later"})
    # GitHub lists up to 2048 commits and has no total; Gitea lists 5 by default, and the total.
    listed, pushed = (2048, 2049) if world.platform == "github" else (5, 8)
    async with bot_factory(world) as app:
        await _deliver(world, app, *_cut_push(world, before, after, listed=25, pushed=25))
        assert world.state().labels == {}  # every commit listed, none touched the file: not read
        await _deliver(world, app, *_cut_push(world, before, after, listed=listed, pushed=pushed))
        assert [l.name for l in world.state().labels.values()] == ["bug"]


async def test_a_cleanup_section_is_acted_on_not_noted_as_reserved(world: World, bot_factory: Any) -> None:
    """`cleanup` was reserved until stale-branch cleanup (issue 13) acted on it: the plan no
    longer says it is not acted on, and it changes nothing GitOps manages."""
    async with bot_factory(world) as app:
        body, status = await _plan_pull_request(world, app, "later", "labels:\n  - name: bug\ncleanup:\n  stale_after: 60d\n")
        plain, _ = await _plan_pull_request(world, app, "now", "labels:\n  - name: bug\n")
    assert "reserved" not in body and "not acted on" not in body and "reserved" not in plain
    assert status.startswith("1 change") and "+ label:bug" in body


async def test_a_deleted_file_ends_the_drift_the_last_run_found(world: World, tmp_path: Path) -> None:
    await world.actor("alice").push(REPO, "main", {".forgebot.yml": "labels:\n  - name: wanted\n"})
    store = await _store(tmp_path)
    try:
        schedule = dict(trigger="schedule", mode="auto", bot_login=BOT)
        assert (await reconcile(world.client, store, REPO, **schedule)).outcome == "drift"
        await world.actor("alice").push(REPO, "main", {".forgebot.yml": None})
        assert (await reconcile(world.client, store, REPO, **schedule)).outcome == "no-config"
        latest = await store.configs.latest_runs("schedule")
    finally:
        await store.stop()
    assert [(run["repo"], run["outcome"]) for run in latest] == [(REPO, "no-config")]  # `forgebot drift` shows nothing
