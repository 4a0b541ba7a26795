"""Comment and label commands end to end, on both platforms, through webhooks from the emulator."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import REPO, World, db_rows
from tests.test_claims import bot_comments, reactions

pytestmark = pytest.mark.anyio


async def test_assign_and_unassign(world: World, bot_factory: Any) -> None:
    number = await world.actor("bob").open_issue(REPO, "Fix")
    async with bot_factory(world) as app:
        await world.actor("alice").comment(REPO, number, "/assign @carol alice")
        await app.wait_idle()
        assert sorted(world.state().issue(number).assignees) == ["alice", "carol"]
        await world.actor("alice").comment(REPO, number, "/unassign")
        await world.actor("bob").comment(REPO, number, "/assign")  # read access
        await app.wait_idle()
        assert world.state().issue(number).assignees == ["carol"]
        who = "triage access and up" if world.client.capabilities.triage_level else "write access and up"
        assert f"only {who} may run /assign" in bot_comments(world, number)[-1]


async def test_labels_must_exist_and_restricted_ones_need_their_level(world: World, bot_factory: Any) -> None:
    config = "commands:\n  label:\n    restricted:\n      priority/critical: admin\n"
    await world.actor("alice").push(REPO, "main", {".forgebot.yml": config})
    for name in ("bug", "good first issue", "priority/critical"):
        await world.actor("alice").create_label(REPO, name)
    number = await world.actor("bob").open_issue(REPO, "Fix")
    async with bot_factory(world) as app:
        await world.actor("alice").comment(REPO, number, '/label bug "good first issue"')
        await world.actor("alice").comment(REPO, number, "/label nonsense")
        await world.actor("alice").comment(REPO, number, "/label priority/critical")
        await app.wait_idle()
        assert world.label_names(number) == ["bug", "good first issue"]
        unknown, restricted = bot_comments(world, number)
        assert "this repository has no label 'nonsense'" in unknown
        assert "only admin access and up may use the label 'priority/critical'" in restricted
        await world.actor("alice").comment(REPO, number, "/remove-label BUG")
        await app.wait_idle()
        assert world.label_names(number) == ["good first issue"]


async def test_a_label_restricted_to_the_author_is_refused_to_other_readers(world: World, bot_factory: Any) -> None:
    config = "commands:\n  label:\n    level: anyone\n    restricted:\n      triaged: author\n"
    await world.actor("alice").push(REPO, "main", {".forgebot.yml": config})
    await world.actor("alice").create_label(REPO, "triaged")
    world.fake.add_user("dave")
    world.fake.set_permission(REPO, "dave", "read")
    number = await world.actor("bob").open_issue(REPO, "Fix")  # bob: the author, read access
    async with bot_factory(world) as app:
        await world.actor("dave").comment(REPO, number, "/label triaged")
        await app.wait_idle()
        assert world.label_names(number) == []
        who = "triage access and up" if world.client.capabilities.triage_level else "write access and up"
        assert f"only the issue's author, or {who} may use the label 'triaged'" in bot_comments(world, number)[-1]
        await world.actor("bob").comment(REPO, number, "/label triaged")
        await app.wait_idle()
        assert world.label_names(number) == ["triaged"]


async def test_close_and_reopen_by_the_author_or_triage(world: World, bot_factory: Any) -> None:
    number = await world.actor("bob").open_issue(REPO, "Mine")
    async with bot_factory(world) as app:
        await world.actor("mallory").comment(REPO, number, "/close")
        await app.wait_idle()
        assert world.state().issue(number).state == "open"
        assert "only the issue's author, or" in bot_comments(world, number)[-1]
        await world.actor("bob").comment(REPO, number, "/close")
        await app.wait_idle()
        assert world.state().issue(number).state == "closed"
        await world.actor("alice").comment(REPO, number, "/reopen")
        await app.wait_idle()
        assert world.state().issue(number).state == "open"


async def test_help_lists_what_this_repository_allows(world: World, bot_factory: Any) -> None:
    await world.actor("alice").push(REPO, "main", {".forgebot.yml": "commands:\n  close:\n    enabled: false\n  label:\n    level: write\n    users: [bob]\n"})
    number = await world.actor("bob").open_issue(REPO, "How?")
    async with bot_factory(world) as app:
        await world.actor("bob").comment(REPO, number, "/forgebot help")
        await world.actor("bob").comment(REPO, number, "/forgebot dance")
        await world.actor("bob").comment(REPO, number, "/help\n/lgtm\n/cc @someone")  # other bots' words
        await app.wait_idle()
        help_text, unknown = bot_comments(world, number)
        assert "| `/claim [DURATION]` |" in help_text and "`/close`" not in help_text
        assert "| `/label NAME ...` | Add labels that exist in the repository. | @bob, or write access and up |" in help_text
        assert "`/forgebot dance` is not a forgebot command" in unknown


async def test_code_quotes_and_comments_are_not_commands(world: World, bot_factory: Any) -> None:
    number = await world.actor("bob").open_issue(REPO, "Docs")
    async with bot_factory(world) as app:
        cid = await world.actor("alice").comment(REPO, number, "```\n/claim\n```\n> /claim\n    /claim\n<!-- /claim -->")
        await app.wait_idle()
        assert world.state().issue(number).assignees == [] and bot_comments(world, number) == []
        assert reactions(world, cid) == []


async def test_an_edit_runs_only_the_lines_it_added(world: World, bot_factory: Any) -> None:
    await world.actor("alice").create_label(REPO, "bug")
    await world.actor("alice").create_label(REPO, "docs")
    number = await world.actor("bob").open_issue(REPO, "Fix")
    async with bot_factory(world) as app:
        cid = await world.actor("alice").comment(REPO, number, "/label bug")
        await app.wait_idle()
        await world.actor("alice").remove_label(REPO, number, "bug")
        await world.actor("alice").edit_comment(REPO, cid, "/label bug\n/label docs")
        await app.wait_idle()
        assert world.label_names(number) == ["docs"]  # bug was not added again


async def test_the_bots_own_comment_with_a_command_does_nothing(world: World, bot_factory: Any) -> None:
    number = await world.actor("bob").open_issue(REPO, "Fix")
    async with bot_factory(world) as app:
        await world.client.create_comment(REPO, number, "/claim")  # the bot itself, through the API
        await app.wait_idle()
        assert world.state().issue(number).assignees == [] and len(world.state().issue(number).comments) == 1


async def test_a_replayed_delivery_changes_nothing_and_posts_nothing(world: World, bot_factory: Any) -> None:
    number = await world.actor("bob").open_issue(REPO, "Fix")
    async with bot_factory(world, clock=lambda: 1_800_000_000.0) as app:
        alice = world.actor("alice")
        await alice.comment(REPO, number, "/claim")
        await app.wait_idle()
        delivery = next(d for d in alice.last if d.event == "issue_comment")
        comments_before = list(world.state().issue(number).comments)
        requests_before = len(world.fake.requests)
        replayed = await world.fake.redeliver(delivery.id)
        await app.wait_idle()
        assert replayed.status in (200, 202)  # GitHub reuses the id (duplicate); Gitea's replay is a new one
        assert world.state().issue(number).comments == comments_before
        writes = [r for r in world.fake.requests[requests_before:] if r.method != "GET"]
        assert writes == []


async def test_labels_act_as_commands_and_are_taken_off(world: World, bot_factory: Any) -> None:
    await world.actor("alice").push(REPO, "main", {".forgebot.yml": 'triggers:\n  labels:\n    "bot/claim": claim\n'})
    await world.actor("alice").create_label(REPO, "bot/claim")
    number = await world.actor("bob").open_issue(REPO, "Fix")
    async with bot_factory(world) as app:
        await world.actor("alice").add_label(REPO, number, "bot/claim")
        await app.wait_idle()
        issue = world.state().issue(number)
        assert issue.assignees == ["alice"] and world.label_names(number) == ["status/claimed"]
        assert "@alice claimed this" in bot_comments(world, number)[0]


async def test_a_label_application_runs_once_whatever_fails_or_comes_again(world: World, bot_factory: Any) -> None:
    await world.actor("alice").push(REPO, "main", {".forgebot.yml": 'triggers:\n  labels:\n    "bot/claim": claim\n'})
    await world.actor("alice").create_label(REPO, "bot/claim")
    number = await world.actor("bob").open_issue(REPO, "Fix")
    async with bot_factory(world) as app:
        alice = world.actor("alice")
        fault = world.fake.faults.add("POST", "/repos/{owner}/{repo}/issues/{number}/comments", status=500, times=1)
        await alice.add_label(REPO, number, "bot/claim")
        [labelled] = alice.last
        await app.wait_idle()
        assert fault.hits == 1  # the reply failed once; the retry answers with the first outcome
        [reply] = bot_comments(world, number)
        assert "@alice claimed this" in reply
        assert world.label_names(number) == ["status/claimed"]

        await world.fake.redeliver(labelled.id)  # Gitea's redelivery has a new id
        await app.wait_idle()
        assert bot_comments(world, number) == [reply]

        await alice.add_label(REPO, number, "bot/claim")  # a new application runs again
        await app.wait_idle()
        assert len(bot_comments(world, number)) == 2 and "@alice renewed the claim" in bot_comments(world, number)[1]
        assert world.label_names(number) == ["status/claimed"]


async def test_a_label_mapped_to_no_command_stays_and_the_bot_says_so_once(world: World, bot_factory: Any) -> None:
    await world.actor("alice").push(REPO, "main", {".forgebot.yml": 'triggers:\n  labels:\n    "bot/claim": clam\n'})
    await world.actor("alice").create_label(REPO, "bot/claim")
    await world.actor("alice").create_label(REPO, "bug")
    number = await world.actor("bob").open_issue(REPO, "Fix")
    async with bot_factory(world) as app:
        await world.actor("alice").add_label(REPO, number, "bot/claim")
        await app.wait_idle()
        await world.actor("alice").add_label(REPO, number, "bug")
        await world.fake.redeliver(next(d for d in world.fake.deliveries if "bot/claim" in d.body.decode()).id)
        await app.wait_idle()
        assert world.label_names(number) == ["bot/claim", "bug"]
        [said] = bot_comments(world, number)
        assert "the label `bot/claim` is set to run `/clam`" in said and "`triggers.labels`" in said
        assert world.state().issue(number).assignees == []


async def test_dependencies_block_and_unblock(world: World, bot_factory: Any) -> None:
    alice = world.actor("alice")
    first = await alice.open_issue(REPO, "First")
    second = await alice.open_issue(REPO, "Second")
    number = await alice.open_issue(REPO, "Waits")
    async with bot_factory(world) as app:
        await alice.comment(REPO, number, f"/depends-on #{first} #{second}")
        await app.wait_idle()
        assert world.label_names(number) == ["status/blocked"]
        status = [b for b in bot_comments(world, number) if "### Dependencies" in b]
        assert len(status) == 1 and "**Blocked**" in status[0]

        await alice.comment(REPO, first, f"/depends-on #{number}")  # would be a cycle
        await app.wait_idle()
        assert "that would be a cycle" in bot_comments(world, first)[-1]

        await alice.close_issue(REPO, first)
        await app.wait_idle()
        assert world.label_names(number) == ["status/blocked"]  # #second is still open
        await alice.close_issue(REPO, second)
        await app.wait_idle()
        assert world.label_names(number) == []
        assert sum("ready to be worked on" in b for b in bot_comments(world, number)) == 1
        assert len([b for b in bot_comments(world, number) if "### Dependencies" in b]) == 1  # edited in place

        await alice.reopen_issue(REPO, second)
        await app.wait_idle()
        assert world.label_names(number) == ["status/blocked"]


async def test_the_sweep_heals_a_missed_webhook(world: World, bot_factory: Any) -> None:
    alice = world.actor("alice")
    first = await alice.open_issue(REPO, "First")
    number = await alice.open_issue(REPO, "Waits")
    async with bot_factory(world) as app:
        await alice.comment(REPO, number, f"/depends-on #{first}")
        await app.wait_idle()
        world.fake.stop_webhooks()
        await alice.close_issue(REPO, first)  # the bot never hears of it
        assert world.label_names(number) == ["status/blocked"]
        assert await app.scheduler.run_job("dependency-sweep")
        assert world.label_names(number) == []


async def test_depends_on_lines_in_the_description(world: World, bot_factory: Any) -> None:
    alice = world.actor("alice")
    first = await alice.open_issue(REPO, "First")
    async with bot_factory(world) as app:
        number = await alice.open_issue(REPO, "Waits", body=f"Some text\nBlocked by #{first}")
        await app.wait_idle()
        assert world.label_names(number) == ["status/blocked"]
        await alice.edit_issue(REPO, number, body="Some text, no dependencies now")
        await app.wait_idle()
        assert world.label_names(number) == []


async def test_the_ready_list_and_claims_over_http(world: World, bot_factory: Any) -> None:
    alice = world.actor("alice")
    ready_one = await alice.open_issue(REPO, "Ready")
    claimed = await alice.open_issue(REPO, "Claimed")
    blocker = await alice.open_issue(REPO, "Blocker")
    blocked = await alice.open_issue(REPO, "Blocked", body=f"Depends on #{blocker}")
    token = "agent-token-0123456789"
    async with bot_factory(world, agent_tokens=f"alice:{token}") as app:
        await alice.edit_issue(REPO, blocked, body=f"Depends on #{blocker}\n")
        await world.actor("carol").comment(REPO, claimed, "/claim")
        await app.wait_idle()
        import httpx

        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bot") as http:
            auth = {"authorization": f"Bearer {token}"}
            assert (await http.get(f"/api/repos/{REPO}/ready")).status_code == 401
            assert (await http.get(f"/api/repos/{REPO}/ready", headers={"authorization": "Bearer wrong-token-123456"})).status_code == 401
            ready = (await http.get(f"/api/repos/{REPO}/ready", headers=auth)).json()
            assert [i["number"] for i in ready] == [ready_one, blocker]

            took = await http.post(f"/api/repos/{REPO}/issues/{ready_one}/claim", json={"duration": "2h"}, headers=auth)
            assert took.status_code == 200 and took.json()["holder"] == "alice"
            assert world.state().issue(ready_one).assignees == ["alice"]
            refused = await http.post(f"/api/repos/{REPO}/issues/{claimed}/claim", headers=auth)
            assert refused.status_code == 409 and "claimed by @carol" in refused.json()["error"]
            listed = (await http.get(f"/api/repos/{REPO}/claims", headers=auth)).json()
            assert sorted(c["holder"] for c in listed) == ["alice", "carol"]
            assert (await http.post(f"/api/repos/{REPO}/issues/{ready_one}/extend", json={"duration": "1d"}, headers=auth)).status_code == 200
            assert (await http.post(f"/api/repos/{REPO}/issues/{claimed}/release", headers=auth)).status_code == 409
            assert (await http.post(f"/api/repos/{REPO}/issues/{ready_one}/release", headers=auth)).status_code == 200
            assert world.state().issue(ready_one).assignees == []
        kinds = [row[0] for row in db_rows(app, "SELECT kind FROM activity ORDER BY id")]
        assert {"claim.granted", "claim.extended", "claim.released.unclaimed"} <= set(kinds)

