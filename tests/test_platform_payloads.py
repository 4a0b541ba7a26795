"""Webhooks as the platforms really send them: Gitea's label events for calls that changed nothing,
and push payloads that list only some of the commits (Gitea newest first and 5 at most, GitHub
oldest first and 2048 at most); the bot's label triggers, config pushes and leases hold up."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import REPO, World
from tests.test_claims import bot_comments

pytestmark = pytest.mark.anyio

TRIGGER_CONFIG = 'triggers:\n  labels:\n    "bot/claim": claim\n'


class GiteaUser:
    """Label calls through Gitea's own API, as a user's script or the web UI's API would make them."""

    def __init__(self, world: World, login: str) -> None:
        self.world = world
        self.headers = {"Authorization": f"token {world.fake.token(login)}"}

    def _url(self, number: int, tail: str = "") -> str:
        return f"/api/v1/repos/{REPO}/issues/{number}/labels{tail}"

    async def add(self, number: int, *names: str) -> None:
        answer = await self.world.http.post(self._url(number), json={"labels": list(names)}, headers=self.headers)
        assert answer.status_code == 200, answer.text

    async def replace(self, number: int, *names: str) -> None:
        answer = await self.world.http.put(self._url(number), json={"labels": list(names)}, headers=self.headers)
        assert answer.status_code == 200, answer.text

    async def remove(self, number: int, label_id: int) -> None:
        answer = await self.world.http.delete(self._url(number, f"/{label_id}"), headers=self.headers)
        assert answer.status_code == 204, answer.text

    async def clear(self, number: int) -> None:
        answer = await self.world.http.delete(self._url(number), headers=self.headers)
        assert answer.status_code == 204, answer.text


def label_actions(world: World, number: int) -> list[tuple[str, list[str]]]:
    """(action, label names in the payload) of each Gitea label delivery for issue `number`."""
    return [(d.action, sorted(x["name"] for x in d.payload["issue"]["labels"] or ()))
            for d in world.fake.deliveries if d.event_type == "issue_label" and d.payload["issue"]["number"] == number]


# -- 2. Gitea label events ------------------------------------------------------------------------


@pytest.mark.parametrize("world", ["gitea"], indirect=True)  # a Gitea behaviour
async def test_gitea_sends_label_updated_for_every_label_call_and_label_cleared_only_for_clearing(world: World) -> None:
    """services/issue/label.go: AddLabels, RemoveLabel and ReplaceLabels notify whatever changed;
    ClearLabels is the one source of `label_cleared`."""
    bug = await world.actor("alice").create_label(REPO, "bug")
    number = await world.actor("bob").open_issue(REPO, "Fix")
    world.fake.deliver_webhooks("gitea", target=_Sink(), secret=b"s")
    alice = GiteaUser(world, "alice")
    await alice.add(number, "bug")
    await alice.add(number, "bug")  # already there: nothing changes, Gitea tells anyway
    await alice.replace(number, "bug")
    await alice.remove(number, bug)  # the last label goes: still label_updated
    await alice.remove(number, bug)  # not on the issue any more: label_updated all the same
    await alice.clear(number)  # nothing to clear: label_cleared all the same
    assert label_actions(world, number) == [
        ("label_updated", ["bug"]), ("label_updated", ["bug"]), ("label_updated", ["bug"]),
        ("label_updated", []), ("label_updated", []), ("label_cleared", []),
    ]


@pytest.mark.parametrize("world", ["gitea"], indirect=True)  # a Gitea behaviour
async def test_a_trigger_label_runs_once_among_gitea_label_events_that_change_nothing(world: World, bot_factory: Any) -> None:
    await world.actor("alice").push(REPO, "main", {".forgebot.yml": TRIGGER_CONFIG})
    await world.actor("alice").create_label(REPO, "bot/claim")
    await world.actor("alice").create_label(REPO, "bug")
    number = await world.actor("bob").open_issue(REPO, "Fix")
    alice = GiteaUser(world, "alice")
    async with bot_factory(world) as app:
        world.fake.api_events = "queue"  # all of alice's calls reach the bot before it acts on one
        await alice.add(number, "bot/claim")
        await alice.add(number, "bot/claim")  # the same label again: one application, two deliveries
        await alice.replace(number, "bot/claim", "bug")
        await alice.add(number, "bug")
        for _ in range(3):  # then the bot's own label calls, and their echoes
            await world.fake.flush()
            await app.wait_idle()
        assert [a for a, _ in label_actions(world, number)].count("label_updated") >= 6
        [reply] = bot_comments(world, number)
        assert "@alice claimed this" in reply
        assert world.label_names(number) == ["bug", "status/claimed"]
        assert world.state().issue(number).assignees == ["alice"]


class _Sink:
    """An ASGI app that takes every delivery (for tests that look at what was sent)."""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})




# -- 5. push payloads ----------------------------------------------------------------------------

# A push one commit longer than each platform lists: Gitea's [ui] FEED_MAX_COMMIT_NUM (5), GitHub's 2048.
LISTED = {"gitea": 5, "github": 2048}


def pushes(world: World) -> list[dict[str, Any]]:
    return [d.payload for d in world.fake.deliveries if d.event == "push"]


def long_push(world: World, first: dict[str, str | bytes | None]) -> list[dict[str, str | bytes | None]]:
    """`first`, then enough one-file commits to pass what the platform's payload lists."""
    return [first] + [{"log.txt": f"{n}\n"} for n in range(LISTED[world.platform])]


async def test_push_payloads_list_what_each_platform_lists(world: World) -> None:
    world.fake.deliver_webhooks(world.platform, target=_Sink(), secret=b"s")
    alice = world.actor("alice")
    base = world.state().git.branches()["main"]
    head = await alice.push_commits(REPO, "main", [{f"f{n}.txt": str(n)} for n in range(7)])
    [payload] = pushes(world)
    shas = world.state().git.rev_list(base, head)  # oldest first
    ids = [c["id"] for c in payload["commits"]]
    if world.platform == "gitea":  # newest first, 5 of them, and the full count
        assert ids == shas[::-1][:5] and payload["total_commits"] == 7
        assert payload["head_commit"] == payload["commits"][0] and payload["head_commit"]["added"] == ["f6.txt"]
    else:  # oldest first, all 7 (up to 2048); no total_commits
        assert ids == shas and "total_commits" not in payload
        assert payload["head_commit"] == payload["commits"][-1]
    assert [c["added"] for c in payload["commits"]][0] == (["f6.txt"] if world.platform == "gitea" else ["f0.txt"])


@pytest.mark.parametrize("world", ["gitea"], indirect=True)  # a Gitea behaviour
async def test_gitea_counts_ten_ancestors_for_a_push_that_makes_a_branch(world: World) -> None:
    alice = world.actor("alice")
    await alice.push_commits(REPO, "main", [{f"f{n}.txt": str(n)} for n in range(12)])
    world.fake.deliver_webhooks("gitea", target=_Sink(), secret=b"s")
    head = await alice.push_commits(REPO, "feature", [{"new.txt": "1"}])
    [payload] = pushes(world)
    # services/repository/push.go: CommitsBeforeLimit(10) for a new branch, then cut to 5.
    assert payload["total_commits"] == 10 and len(payload["commits"]) == 5
    assert payload["commits"][0]["id"] == head and payload["commits"][1]["added"] == ["f11.txt"]


async def test_a_config_change_beyond_what_the_push_lists_is_applied(world: World, bot_factory: Any) -> None:
    config = "labels:\n  - {name: from-config, color: d73a4a}\n"
    async with bot_factory(world) as app:
        await world.actor("alice").push_commits(REPO, "main", long_push(world, {".forgebot.yml": config}))
        await app.wait_idle(timeout=60)
        [payload] = pushes(world)
        listed = [c["id"] for c in payload["commits"]]
        assert len(listed) == LISTED[world.platform]
        first = world.state().git.rev_list(None, payload["after"])[-LISTED[world.platform] - 1]
        assert first not in listed  # the commit that changed the file is not in the payload
        assert [label.name for label in world.state().labels.values()] == ["from-config"]


async def test_a_push_longer_than_the_payload_lists_renews_the_lease(world: World, bot_factory: Any) -> None:
    import time

    await world.actor("alice").push(REPO, "main", {".forgebot.yml": "claims:\n  renew_on_push: true\n  default_duration: 1h\n"})
    number = await world.actor("bob").open_issue(REPO, "Fix")
    now = [time.time()]
    async with bot_factory(world, clock=lambda: now[0]) as app:
        await world.actor("alice").comment(REPO, number, "/claim 30m")
        await app.wait_idle()
        now[0] += 1200
        await world.actor("alice").push_commits(REPO, f"issue-{number}-fix", long_push(world, {"fix.py": "1\n"}))
        await app.wait_idle(timeout=60)
        held = await app.storage.claims.active_claim(world.platform, REPO, number)
        assert held is not None and held.expires_at == now[0] + 3600
        [payload] = [p for p in pushes(world) if p["ref"] == f"refs/heads/issue-{number}-fix"]
        if world.platform == "gitea":  # a new branch: up to 10 of its ancestors counted (here 2 + 6), 5 listed
            assert (payload["total_commits"], len(payload["commits"])) == (8, 5)
        else:  # a new branch: the commits no other branch has, 2048 of them
            assert len(payload["commits"]) == 2048
