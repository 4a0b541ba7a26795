"""Reconcile where the platforms really differ: Gitea versions, GitHub invitations, webhook events."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.forges.base import Permission
from bot.gitops.runner import reconcile
from bot.storage.open import open_storage
from tests.conftest import BOT, REPO, World, make_settings

pytestmark = pytest.mark.anyio

PROTECTION = """
branches:
  - name: main
    protection:
      required_approvals: 1
      enforce_admins: true
      allow_force_push: false
"""


async def _runs(world: World, tmp_path: Path, *modes: str, **kwargs: Any) -> list[Any]:
    store = open_storage(make_settings(tmp_path, database=tmp_path / "runs.db"))
    await store.start()
    try:
        return [await reconcile(world.client, store, REPO, trigger="test", mode=mode, bot_login=BOT, **kwargs) for mode in modes]
    finally:
        await store.stop()


# -- Gitea versions ---------------------------------------------------------------------------------


async def test_a_setting_the_server_cannot_have_is_noted_once_not_drift_every_run(world: World, tmp_path: Path) -> None:
    await world.actor("alice").push(REPO, "main", {".forgebot.yml": PROTECTION})
    applied, again, planned = await _runs(world, tmp_path, "apply", "apply", "plan")
    assert applied.outcome == "applied", applied.errors
    rule = world.state().protection_for("main")
    assert rule is not None and rule.required_approvals == 1
    if world.platform == "gitea":  # the emulator is Gitea 1.22: no block_admin_merge_override
        assert applied.notes == ["branch main: enforce_admins is not supported by Gitea 1.22"]
        assert not rule.enforce_admins
    else:
        assert applied.notes == [] and rule.enforce_admins
    assert (again.outcome, again.changes, again.results) == ("clean", (), [])  # nothing tried again
    assert (planned.outcome, planned.notes) == ("clean", applied.notes)


async def test_a_server_that_has_the_setting_applies_it(world: World, tmp_path: Path) -> None:
    world.fake.gitea_version = "1.23.0"  # Gitea 1.23 has block_admin_merge_override (GitHub always had)
    await world.actor("alice").push(REPO, "main", {".forgebot.yml": PROTECTION})
    applied, planned = await _runs(world, tmp_path, "apply", "plan")
    assert (applied.outcome, applied.notes) == ("applied", [])
    rule = world.state().protection_for("main")
    assert rule is not None and rule.enforce_admins
    assert (planned.outcome, planned.changes, planned.notes) == ("clean", (), [])
    assert (await world.client.server_capabilities()).server == ("Gitea 1.23" if world.platform == "gitea" else "GitHub")


async def test_the_status_and_the_plan_comment_say_what_is_not_supported(world: World, bot_factory: Any) -> None:
    alice = world.actor("alice")
    async with bot_factory(world) as app:
        await alice.push(REPO, "config", {".forgebot.yml": PROTECTION})
        number = await alice.open_pr(REPO, "config", "main", "Protect main")
        await app.wait_idle()
        [comment] = world.state().issue(number).comments
        body = world.state().comments[comment].body
        sha = await alice.push(REPO, "main", {".forgebot.yml": PROTECTION})
        await app.wait_idle()
        status = [s for s in world.state().statuses if s.sha == sha and s.context == "forgebot/config"][-1]
    if world.platform == "gitea":
        assert "Left as it is: branch main: enforce_admins is not supported by Gitea 1.22" in body
        assert status.state == "success" and "enforce_admins is not supported by Gitea 1.22" in status.description
    else:
        assert "Left as it is" not in body and "not supported" not in status.description


# -- collaborators: GitHub invites, Gitea adds ------------------------------------------------------


async def test_an_invited_collaborator_is_not_drift_and_not_invited_again(world: World, tmp_path: Path) -> None:
    await world.actor("alice").push(REPO, "main", {".forgebot.yml": "collaborators:\n  mallory: write\n"})
    applied, second, planned = await _runs(world, tmp_path, "apply", "apply", "plan")
    assert applied.outcome == "applied" and [c.target for c in applied.changes] == ["collaborator:mallory"]
    puts = [r for r in world.fake.requests if r.method == "PUT" and r.path.endswith("/collaborators/mallory")]
    assert len(puts) == 1  # the second run asked nothing again
    if world.platform == "github":
        assert "mallory" not in world.state().collaborators
        note = "collaborator mallory: invited as write, not yet accepted"
        assert (second.outcome, second.notes, planned.notes) == ("clean", [note], [note])
        world.actor("mallory").accept_invitation(REPO)
        [accepted] = await _runs(world, tmp_path, "plan")
        assert (accepted.outcome, accepted.notes) == ("clean", [])
    else:
        assert (second.outcome, second.notes) == ("clean", [])
    assert world.state().collaborators["mallory"] == "write"


async def test_a_new_level_changes_the_invitation_or_the_collaborator(world: World, tmp_path: Path) -> None:
    await world.actor("alice").push(REPO, "main", {".forgebot.yml": "collaborators:\n  mallory: read\n"})
    await _runs(world, tmp_path, "apply")
    await world.actor("alice").push(REPO, "main", {".forgebot.yml": "collaborators:\n  mallory: write\n"})
    [changed] = await _runs(world, tmp_path, "apply")
    assert changed.outcome == "applied"
    if world.platform == "github":  # still invited: the invitation changes, nobody is invited again
        assert changed.changes[0].why == "invitation read -> write"
        [invitation] = await world.client.list_invitations(REPO)
        assert invitation.permission == Permission.WRITE
        assert [r.method for r in world.fake.requests if "/invitations/" in r.path] == ["PATCH"]
    else:  # a collaborator since the first run
        assert changed.changes[0].why == "read -> write"
        assert world.state().collaborators["mallory"] == "write"


async def test_authoritative_collaborators_remove_whom_the_file_dropped_invited_or_not(world: World, tmp_path: Path) -> None:
    await world.actor("alice").push(REPO, "main", {".forgebot.yml": "collaborators:\n  mallory: write\n"})
    await _runs(world, tmp_path, "apply")
    config = ("collaborators:\n  alice: write\n  bob: read\n  carol: triage\n"
              "policy:\n  collaborators: {mode: authoritative, protect: [acme]}\n")  # GitHub lists the owner
    await world.actor("alice").push(REPO, "main", {".forgebot.yml": config})
    [run] = await _runs(world, tmp_path, "apply")
    assert [(c.kind.value, c.target) for c in run.changes] == [("delete", "collaborator:mallory")]
    assert run.outcome == "applied" and await world.client.list_invitations(REPO) == []  # GitHub: withdrawn
    assert "mallory" not in world.state().collaborators  # Gitea: removed


# -- webhooks: GitHub keeps one hook per URL, Gitea keeps switches -------------------------------------

HOOKS = """
webhooks:
  - url: https://ci.test/hook
    events: [push, pull_request_review, issue_comment]
  - url: https://chat.test/hook
    events: [pull_request, pull_request_sync, issues]
"""


async def test_webhooks_as_each_platform_reads_them_back_are_no_drift(world: World, tmp_path: Path) -> None:
    await world.actor("alice").push(REPO, "main", {".forgebot.yml": HOOKS})
    applied, planned = await _runs(world, tmp_path, "apply", "plan")
    assert applied.outcome == "applied", applied.errors
    stored = {h.config["url"]: h.events for h in world.state().hooks.values()}
    if world.platform == "gitea":  # Gitea keeps one switch per event; groups switch on their members
        assert stored["https://ci.test/hook"] == ["push", "issue_comment", "pull_request_review"]
        assert "pull_request_sync" in stored["https://chat.test/hook"] and "issue_label" in stored["https://chat.test/hook"]
    assert (planned.outcome, planned.changes) == ("clean", ())
    listed = {h.url: h.events for h in await world.client.list_hooks(REPO)}
    if world.platform == "gitea":
        assert listed == {"https://ci.test/hook": ("issue_comment", "pull_request_review", "push"),
                          "https://chat.test/hook": ("issues", "pull_request")}


async def test_a_hook_whose_events_changed_on_the_platform_is_drift_on_both(world: World, tmp_path: Path) -> None:
    await world.actor("alice").push(REPO, "main", {".forgebot.yml": HOOKS})
    await _runs(world, tmp_path, "apply")
    client = world.client
    ci = next(h for h in await client.list_hooks(REPO) if h.url == "https://ci.test/hook")
    assert ci.id is not None
    await client.update_hook(REPO, ci.id, replace_events(ci, ("push",)))
    [planned] = await _runs(world, tmp_path, "plan")
    assert [(c.target, c.why) for c in planned.changes] == [("webhook:https://ci.test/hook", "events differ")]
    [applied] = await _runs(world, tmp_path, "apply")
    assert applied.outcome == "applied"
    [clean] = await _runs(world, tmp_path, "plan")
    assert clean.changes == ()


def replace_events(hook: Any, events: tuple[str, ...]) -> Any:
    from dataclasses import replace

    return replace(hook, events=events)


async def test_creating_a_hook_that_appeared_meanwhile_updates_it(world: World) -> None:
    from bot.forges.base import Hook

    client = world.client
    first = await client.create_hook(REPO, Hook("https://ci.test/hook", ("push",)))
    second = await client.create_hook(REPO, Hook("https://ci.test/hook", ("push", "issues")))
    hooks = await client.list_hooks(REPO)
    if world.platform == "github":  # GitHub refused the second POST (422); the client updated the first
        assert second.id == first.id and [set(h.events) for h in hooks] == [{"push", "issues"}]
        refused = [r for r in world.fake.requests if r.method == "POST" and r.path.endswith("/hooks") and r.status == 422]
        assert len(refused) == 1 and "Hook already exists on this repository" in str(refused[0].response)
    else:  # Gitea takes a second hook with the same URL
        assert second.id != first.id and len(hooks) == 2
