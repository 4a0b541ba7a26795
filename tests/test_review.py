"""Review end to end on both platforms: OWNERS, /lgtm, /approve, /hold, reviews, labels, the status
and the summary, through webhooks from the emulator and the bot's real clients."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from tests.conftest import REPO, World
from tests.test_claims import bot_comments

pytestmark = pytest.mark.anyio

CONFIG = "review: {}\n"
OWNERS = "approvers: [carol]\nreviewers: [dave]\n"


def setup(world: World) -> None:
    """dave: write access, not in OWNERS (an lgtm giver); carol (triage) is the approver."""
    world.fake.add_user("dave")
    world.fake.set_permission(REPO, "dave", "write")


async def open_pull(world: World, files: dict[str, str | None] | None = None, config: str = CONFIG,
                    owners: str | None = OWNERS, author: str = "alice") -> int:
    base: dict[str, str | None] = {".forgebot.yml": config}
    if owners is not None:
        base["OWNERS"] = owners
    await world.actor("alice").push(REPO, "main", base)
    await world.actor(author).push(REPO, "feature", files or {"src/app.py": "print('hi')\n"})
    return int(await world.actor(author).open_pr(REPO, "feature", title="Feature"))


@asynccontextmanager
async def reviewing(world: World, bot_factory: Any, checks: tuple[str, ...] = (),
                    **options: Any) -> AsyncIterator[tuple[Any, int]]:
    """The bot running, and a pull request opened on a base with the config and OWNERS given
    (and `checks` required by the base's protection)."""
    from bot.forges.base import BranchProtection

    setup(world)
    if checks:
        await world.client.set_protection(REPO, BranchProtection("main", required_status_checks=checks))
    async with bot_factory(world) as app:
        yield app, await open_pull(world, **options)


async def lgtm_and_approve(world: World, number: int) -> None:
    await world.actor("dave").comment(REPO, number, "/lgtm")
    await world.actor("carol").comment(REPO, number, "/approve")


def review_status(world: World, number: int) -> tuple[str, str] | None:
    state = world.state()
    head = state.issue(number).pull.head_sha
    found = [s for s in state.statuses if s.sha == head and s.context == "forgebot/review"]
    return (found[-1].state, found[-1].description) if found else None


def review_statuses(world: World) -> list[Any]:
    return [s for s in world.state().statuses if s.context == "forgebot/review"]


def pull_writes(world: World, number: int) -> list[Any]:
    """Writes about the pull request: its labels, comments, reactions, reviewers, merge, and review statuses."""
    about = (f"/issues/{number}/", f"/pulls/{number}/", "/issues/comments/")
    return [r for r in world.fake.requests if r.method != "GET" and (
        any(part in r.path for part in about)
        or ("/statuses/" in r.path and isinstance(r.json, dict) and r.json.get("context") == "forgebot/review"))]


def summaries(world: World, number: int) -> list[str]:
    return [b for b in bot_comments(world, number) if b.startswith("### Review")]


async def test_lgtm_and_approve_make_it_ready(world: World, bot_factory: Any) -> None:
    async with reviewing(world, bot_factory) as (app, number):
        await app.wait_idle()
        assert review_status(world, number) == ("pending", "needs an approver for OWNERS (+1 more)")
        assert "needs `/approve` from one of @carol" in summaries(world, number)[0]
        await world.actor("dave").comment(REPO, number, "/lgtm")
        await app.wait_idle()
        assert world.label_names(number) == ["lgtm"]
        assert review_status(world, number) == ("pending", "needs an approver for OWNERS")
        await world.actor("carol").comment(REPO, number, "/approve")
        await app.wait_idle()
        assert world.label_names(number) == ["approved", "lgtm"]
        assert review_status(world, number) == ("success", "ready to merge")
        [text] = summaries(world, number)  # one summary, edited in place
        assert "**Ready to merge.**" in text and "approved by @carol" in text and "lgtm: @dave" in text
        await world.actor("carol").comment(REPO, number, "/approve cancel")
        await app.wait_idle()
        assert world.label_names(number) == ["lgtm"]


async def test_refusals_say_who_may(world: World, bot_factory: Any) -> None:
    async with reviewing(world, bot_factory) as (app, number):
        await world.actor("alice").comment(REPO, number, "/lgtm")
        await world.actor("bob").comment(REPO, number, "/lgtm")
        await world.actor("dave").comment(REPO, number, "/approve")
        await app.wait_idle()
        replies = [b for b in bot_comments(world, number) if not b.startswith("### Review")]
        assert "you cannot /lgtm your own pull request" in replies[0]
        assert "only write access and up may /lgtm here" in replies[1]
        assert "you are not an approver of any file this pull request changes" in replies[2]
        assert world.label_names(number) == []


async def test_owners_come_from_the_base_not_the_head(world: World, bot_factory: Any) -> None:
    setup(world)
    async with bot_factory(world) as app:
        # The pull request names dave as an approver; only the base's OWNERS count.
        number = await open_pull(world, {"OWNERS": "approvers: [dave]\n", "src/x.py": "x = 1\n"})
        await world.actor("dave").comment(REPO, number, "/approve")
        await app.wait_idle()
        assert "approved" not in world.label_names(number)
        assert "you are not an approver" in bot_comments(world, number)[-1]


async def test_a_push_keeps_lgtm_only_when_the_tree_is_the_same(world: World, bot_factory: Any) -> None:
    async with reviewing(world, bot_factory) as (app, number):
        await world.actor("dave").comment(REPO, number, "/lgtm")
        await app.wait_idle()
        assert world.label_names(number) == ["lgtm"]
        await world.actor("alice").push(REPO, "feature", {"src/app.py": "print('hi')\n"}, message="same tree")
        await app.wait_idle()
        assert world.label_names(number) == ["lgtm"]
        comments_before = len(bot_comments(world, number))
        await world.actor("alice").push(REPO, "feature", {"src/app.py": "print('bye')\n"}, message="new code")
        await app.wait_idle()
        assert world.label_names(number) == []
        assert len(bot_comments(world, number)) == comments_before  # no comment of its own
        assert "lgtm: nobody yet" in summaries(world, number)[0]
        await world.actor("dave").comment(REPO, number, "/lgtm")
        await app.wait_idle()
        assert world.label_names(number) == ["lgtm"]


async def test_platform_reviews_count(world: World, bot_factory: Any) -> None:
    async with reviewing(world, bot_factory) as (app, number):
        await world.actor("dave").review(REPO, number, "approved")
        await world.actor("carol").review(REPO, number, "approved")  # an approver: /approve
        await app.wait_idle()
        assert world.label_names(number) == ["approved", "lgtm"]
        await world.actor("dave").review(REPO, number, "changes_requested", "not yet")
        await app.wait_idle()
        assert world.label_names(number) == ["approved"]


async def test_hold_blocks_until_released(world: World, bot_factory: Any) -> None:
    async with reviewing(world, bot_factory) as (app, number):
        await lgtm_and_approve(world, number)
        await world.actor("alice").comment(REPO, number, "/hold")
        await app.wait_idle()
        assert world.label_names(number) == ["approved", "do-not-merge/hold", "lgtm"]
        assert review_status(world, number) == ("pending", "held by @alice")
        await world.actor("alice").comment(REPO, number, "/unhold")
        await app.wait_idle()
        assert world.label_names(number) == ["approved", "lgtm"]
        assert review_status(world, number) == ("success", "ready to merge")


async def test_without_owners_write_access_approves(world: World, bot_factory: Any) -> None:
    async with reviewing(world, bot_factory, owners=None) as (app, number):
        await world.actor("bob").comment(REPO, number, "/approve")  # read access
        await world.actor("dave").comment(REPO, number, "/approve\n/lgtm")
        await app.wait_idle()
        assert world.label_names(number) == ["approved", "lgtm"]
        assert "you are not an approver" in bot_comments(world, number)[-1]


async def test_review_is_off_without_a_review_section(world: World, bot_factory: Any) -> None:
    async with reviewing(world, bot_factory, config="claims: {}\n") as (app, number):
        await world.actor("dave").comment(REPO, number, "/lgtm")
        await app.wait_idle()
        assert bot_comments(world, number) == [] and review_status(world, number) is None


async def test_auto_merge_when_ready_deletes_the_branch(world: World, bot_factory: Any) -> None:
    setup(world)
    config = "review:\n  merge: auto\n  merge_method: squash\n  delete_branch: true\n"
    async with bot_factory(world) as app:
        number = await open_pull(world, config=config)
        await lgtm_and_approve(world, number)
        await app.wait_idle()
        pull = world.state().issue(number)
        assert pull.pull.merged and pull.state == "closed"
        assert "feature" not in world.state().git.branches()


async def test_merge_command_refuses_until_ready_then_merges(world: World, bot_factory: Any) -> None:
    async with reviewing(world, bot_factory, config="review:\n  merge: command\n") as (app, number):
        await world.actor("alice").comment(REPO, number, "/merge")
        await app.wait_idle()
        assert "not ready: needs an approver for OWNERS" in bot_comments(world, number)[-1]
        await lgtm_and_approve(world, number)
        await world.actor("alice").comment(REPO, number, "/merge rebase")
        await app.wait_idle()
        assert world.state().issue(number).pull.merged


def requested(world: World, number: int) -> list[str]:
    return sorted(world.state().issue(number).pull.open_requests())


async def test_cc_and_uncc_ask_and_withdraw(world: World, bot_factory: Any) -> None:
    async with reviewing(world, bot_factory) as (app, number):
        await world.actor("alice").comment(REPO, number, "/cc @dave @carol")
        await app.wait_idle()
        assert requested(world, number) == ["carol", "dave"]
        await world.actor("alice").comment(REPO, number, "/uncc @carol")
        await world.actor("alice").comment(REPO, number, "/cc @alice")  # the author
        await app.wait_idle()
        assert requested(world, number) == ["dave"]
        assert "the platform would not ask them" in bot_comments(world, number)[-1]
        # A request is no approval: Gitea lists it among the reviews, and it changes nothing.
        assert world.label_names(number) == []


async def test_reviewers_are_requested_from_owners_when_it_opens(world: World, bot_factory: Any) -> None:
    setup(world)
    owners = "approvers: [carol]\nreviewers: [dave, alice, bob]\n"
    async with bot_factory(world) as app:
        number = await open_pull(world, config="review:\n  request_reviewers: 2\n", owners=owners)
        await app.wait_idle()
        chosen = requested(world, number)
        assert len(chosen) == 2 and "alice" not in chosen and set(chosen) <= {"dave", "bob"}
        assert len([b for b in bot_comments(world, number) if "@" + chosen[0] in b]) == 0  # asked, not pinged


async def test_replayed_deliveries_change_nothing(world: World, bot_factory: Any) -> None:
    async with reviewing(world, bot_factory, config="review:\n  request_reviewers: 1\n") as (app, number):
        await lgtm_and_approve(world, number)
        await app.wait_idle()
        comments, statuses = bot_comments(world, number), len(review_statuses(world))
        labels, asked = world.label_names(number), requested(world, number)
        writes = len(pull_writes(world, number))
        for delivery in list(world.fake.deliveries):
            await world.fake.redeliver(delivery.id)
        await app.wait_idle()
        assert bot_comments(world, number) == comments and len(review_statuses(world)) == statuses
        assert world.label_names(number) == labels and requested(world, number) == asked
        assert len(pull_writes(world, number)) == writes  # not one write more


async def test_required_checks_wait_and_the_sweep_merges_once_green(world: World, bot_factory: Any) -> None:
    async with reviewing(world, bot_factory, checks=("ci/test",), config="review:\n  merge: auto\n") as (app, number):
        await lgtm_and_approve(world, number)
        await app.wait_idle()
        assert review_status(world, number) == ("pending", "waiting for check ci/test")
        head = world.state().issue(number).pull.head_sha
        await world.actor("alice").set_status(REPO, head, "failure", "ci/test")
        assert await app.scheduler.run_job("review-sweep")
        assert review_status(world, number) == ("pending", "check ci/test failed")
        assert "required check `ci/test` failed" in summaries(world, number)[0]
        await world.actor("alice").set_status(REPO, head, "success", "ci/test")
        assert await app.scheduler.run_job("review-sweep")
        assert world.state().issue(number).pull.merged


async def test_a_refused_merge_is_answered_in_one_line_once(world: World, bot_factory: Any) -> None:
    setup(world)
    config = "review:\n  merge: auto\n  merge_method: fast-forward-only\n"
    async with bot_factory(world) as app:
        number = await open_pull(world, config=config)
        await world.actor("alice").push(REPO, "main", {"other.txt": "moved on\n"})  # no fast-forward now
        await lgtm_and_approve(world, number)
        await world.actor("carol").comment(REPO, number, "/hold\n/unhold")  # another derivation, same refusal
        await app.wait_idle()
        refusals = [b for b in bot_comments(world, number) if b.startswith("Could not merge")]
        assert len(refusals) == 1 and not world.state().issue(number).pull.merged
        if world.platform == "github":
            assert "GitHub has no fast-forward-only merge" in refusals[0] and "review.merge_method" in refusals[0]
        else:
            assert "the bot tries again on the next change" in refusals[0]


@pytest.mark.parametrize("world", ["gitea"], indirect=True)  # rebase-merge is Gitea's own style
async def test_gitea_merge_styles(world: World, bot_factory: Any) -> None:
    async with reviewing(world, bot_factory, config="review:\n  merge: command\n  merge_method: rebase-merge\n") as (app, number):
        await lgtm_and_approve(world, number)
        await world.actor("alice").comment(REPO, number, "/merge")
        await app.wait_idle()
        assert world.state().issue(number).pull.merged


async def test_an_owners_change_on_the_base_is_followed(world: World, bot_factory: Any) -> None:
    async with reviewing(world, bot_factory) as (app, number):
        await world.actor("dave").comment(REPO, number, "/approve")
        await app.wait_idle()
        assert "approved" not in world.label_names(number)
        await world.actor("alice").push(REPO, "main", {"OWNERS": "approvers: [dave]\n"})
        await app.wait_idle()
        assert "approved" in world.label_names(number)  # dave's earlier /approve counts now


async def test_a_broken_owners_file_approves_nothing_and_says_so(world: World, bot_factory: Any) -> None:
    async with reviewing(world, bot_factory, owners="approvers: carol\n") as (app, number):
        await world.actor("carol").comment(REPO, number, "/approve")
        await app.wait_idle()
        assert review_status(world, number) == ("error", "cannot read OWNERS: approvers must be a list of logins")
        assert "approved" not in world.label_names(number)
        statuses = len(review_statuses(world))
        await world.actor("dave").comment(REPO, number, "/lgtm")  # derived again: said once, not again
        await app.wait_idle()
        assert len(review_statuses(world)) == statuses and len(summaries(world, number)) == 1
        await world.actor("alice").push(REPO, "main", {"OWNERS": "approvers: [carol]\n"})  # fixed on the base
        await app.wait_idle()
        assert world.label_names(number) == ["approved", "lgtm"]


async def test_open_dependencies_block_readiness(world: World, bot_factory: Any) -> None:
    setup(world)
    async with bot_factory(world) as app:
        dep = await world.actor("alice").open_issue(REPO, "first this")
        number = await open_pull(world)
        await world.actor("alice").comment(REPO, number, f"/depends-on #{dep}")
        await lgtm_and_approve(world, number)
        await app.wait_idle()
        assert review_status(world, number) == ("pending", "blocked by open dependencies")
        await world.actor("alice").close_issue(REPO, dep)  # the bot takes the blocked label off: derived again
        await app.wait_idle()
        assert review_status(world, number) == ("success", "ready to merge")


async def test_help_lists_review_commands_where_review_is_on(world: World, bot_factory: Any) -> None:
    async with reviewing(world, bot_factory) as (app, number):
        await world.actor("bob").comment(REPO, number, "/forgebot help")
        await app.wait_idle()
        text = bot_comments(world, number)[-1]
        assert "| `/lgtm [cancel]` |" in text and "| `/approve [cancel]` |" in text and "`/merge [merge|squash|rebase]`" in text


async def status_webhook(world: World, app: Any, sha: str, context: str, sender: str) -> None:
    """The platform's status webhook for a success of `context` on `sha` (the emulator sends none for statuses)."""
    import json

    import httpx

    from tests.conftest import gitea_headers, github_headers

    body = json.dumps({"sha": sha, "state": "success", "context": context, "id": 1,
                       "repository": {"name": "widgets", "full_name": REPO, "owner": {"login": "acme"}},
                       "sender": {"login": sender}}).encode()
    delivery = f"status-{sender}-{sha[:8]}"
    if world.platform == "github":
        headers, path = github_headers(body, "status", delivery), "/webhooks/github"
    else:
        headers, path = gitea_headers(body, "status", "status", delivery), "/webhooks/gitea"
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bot") as client:
        assert (await client.post(path, content=body, headers=headers)).status_code == 202


async def test_a_check_turning_green_is_followed_at_once(world: World, bot_factory: Any) -> None:
    async with reviewing(world, bot_factory, checks=("ci/test",), config="review:\n  merge: auto\n") as (app, number):
        await lgtm_and_approve(world, number)
        await app.wait_idle()
        head = world.state().issue(number).pull.head_sha
        await world.actor("alice").set_status(REPO, head, "success", "ci/test")
        await status_webhook(world, app, head, "ci/test", "alice")
        await app.wait_idle()
        assert world.state().issue(number).pull.merged


async def test_levels_and_label_names_come_from_the_config(world: World, bot_factory: Any) -> None:
    setup(world)
    world.fake.set_permission(REPO, "mallory", "admin")
    config = "review:\n  lgtm_level: admin\n  labels: {lgtm: review/lgtm, hold: review/hold}\n"
    async with bot_factory(world) as app:
        number = await open_pull(world, config=config)
        await world.actor("dave").comment(REPO, number, "/lgtm")  # write access only
        await world.actor("mallory").comment(REPO, number, "/lgtm")
        await world.actor("alice").comment(REPO, number, "/hold")
        await app.wait_idle()
        assert world.label_names(number) == ["review/hold", "review/lgtm"]
        assert any("only admin access and up may /lgtm here" in b for b in bot_comments(world, number))
        assert "lgtm: @mallory" in summaries(world, number)[0]


async def test_a_deleted_or_edited_lgtm_no_longer_counts(world: World, bot_factory: Any) -> None:
    async with reviewing(world, bot_factory) as (app, number):
        said = await world.actor("dave").comment(REPO, number, "/lgtm")
        await app.wait_idle()
        assert world.label_names(number) == ["lgtm"]
        await world.actor("dave").edit_comment(REPO, said, "on second thought, not yet")
        await app.wait_idle()
        assert world.label_names(number) == []
        again = await world.actor("dave").comment(REPO, number, "/lgtm")
        await app.wait_idle()
        assert world.label_names(number) == ["lgtm"]
        await world.actor("dave").delete_comment(REPO, again)
        await app.wait_idle()
        assert world.label_names(number) == []


async def test_a_pull_request_adding_its_author_to_owners_does_not_approve_itself(world: World, bot_factory: Any) -> None:
    setup(world)
    config = "review:\n  author_can_approve: true\n"
    async with bot_factory(world) as app:
        # dave (write access) opens it, and names himself an approver in the pull request's OWNERS.
        number = await open_pull(world, {"OWNERS": "approvers: [carol, dave]\n", "src/x.py": "x = 1\n"},
                                 config=config, author="dave")
        await world.actor("dave").comment(REPO, number, "/approve")
        await app.wait_idle()
        assert "approved" not in world.label_names(number)
        assert "you are not an approver of any file" in bot_comments(world, number)[-1]
        assert "needs `/approve` from one of @carol" in summaries(world, number)[0]
        await world.actor("carol").comment(REPO, number, "/approve")  # the base's approver
        await app.wait_idle()
        assert "approved" in world.label_names(number)


async def test_moving_a_file_out_of_a_directory_needs_its_approvers(world: World, bot_factory: Any) -> None:
    """Both platforms list a rename once, under its new path: the old directory's OWNERS still decide."""
    setup(world)
    world.fake.add_user("erin")
    secret = "".join(f"KEY_{n} = {n * 7919}\n" for n in range(40))
    async with bot_factory(world) as app:
        await world.actor("alice").push(REPO, "main", {
            "secure/OWNERS": "options: {no_parent_owners: true}\napprovers: [erin]\n", "secure/keys.py": secret})
        number = await open_pull(world, {"secure/keys.py": None, "docs/keys.py": secret})
        await world.actor("dave").comment(REPO, number, "/lgtm")
        await world.actor("carol").comment(REPO, number, "/approve")  # a root approver: not enough for secure/
        await app.wait_idle()
        assert world.label_names(number) == ["lgtm"]
        assert review_status(world, number) == ("pending", "needs an approver for secure/OWNERS")
        assert "`secure/OWNERS`: needs `/approve` from one of @erin" in summaries(world, number)[0]


async def test_a_head_from_a_deleted_fork_keeps_the_base_branch_of_the_same_name(world: World, bot_factory: Any) -> None:
    """The platform no longer says where the head lives: the branch of that name here is someone else's."""
    setup(world)
    config = "review:\n  merge: auto\n  delete_branch: true\n"
    async with bot_factory(world) as app:
        number = await open_pull(world, config=config)
        world.state().issue(number).pull.head_repo_deleted = True
        await lgtm_and_approve(world, number)
        await app.wait_idle()
        assert world.state().issue(number).pull.merged
        assert "feature" in world.state().git.branches()


async def test_cc_takes_a_few_real_logins_and_asks_for_nothing_else(world: World, bot_factory: Any) -> None:
    async with reviewing(world, bot_factory) as (app, number):
        many = " ".join(f"@user{n}" for n in range(500))
        await world.actor("alice").comment(REPO, number, f"/cc {many}")
        await world.actor("alice").comment(REPO, number, "/cc @dave ../../admin")
        await app.wait_idle()
        replies = [b for b in bot_comments(world, number) if not b.startswith("### Review")]
        assert "name at most 10 people at a time" in replies[0]
        assert "'../../admin' is not a login" in replies[1]
        assert requested(world, number) == []
        assert not [r for r in world.fake.requests if r.method == "POST" and r.path.endswith("/requested_reviewers")]


async def test_files_the_platform_does_not_list_keep_it_from_being_ready(world: World, bot_factory: Any) -> None:
    """GitHub lists 3000 files of a pull request (the emulator 30 here): a change hidden past them
    needs approvers nobody can name. Gitea lists them all: there the hidden directory's approver is asked for."""
    setup(world)
    world.fake.add_user("erin")
    world.fake.github_listed_files = 30
    async with bot_factory(world) as app:
        await world.actor("alice").push(REPO, "main", {"secure/OWNERS": "options: {no_parent_owners: true}\napprovers: [erin]\n"})
        files: dict[str, str | None] = {f"bulk/f{n:04}.txt": f"{n}\n" for n in range(30)}
        files["secure/zz.py"] = "leak = True\n"
        number = await open_pull(world, files)
        await lgtm_and_approve(world, number)  # carol approves the root's files
        await app.wait_idle()
        if world.platform == "github":
            assert review_status(world, number) == (
                "pending", "changed files the platform does not list: 1 (their OWNERS are unknown)")
        else:
            assert review_status(world, number) == ("pending", "needs an approver for secure/OWNERS")


async def test_a_pull_request_touching_too_many_directories_costs_no_owners_reads(world: World, bot_factory: Any) -> None:
    """Each directory costs a read of its OWNERS file: a pull request anyone may open is bounded."""
    async with reviewing(world, bot_factory, files={f"d{n}/x.txt": "x\n" for n in range(251)}) as (app, number):
        await lgtm_and_approve(world, number)
        await app.wait_idle()
        assert review_status(world, number) == ("error", "cannot read OWNERS files for 252 directories (at most 250)")
        assert "Split the pull request" in summaries(world, number)[0]
        assert "approved" not in world.label_names(number)
        assert len([r for r in world.fake.requests if r.method == "GET" and "OWNERS" in r.path]) < 10


async def test_merge_needs_write_and_hold_needs_the_author_or_triage(world: World, bot_factory: Any) -> None:
    async with reviewing(world, bot_factory, config="review:\n  merge: command\n") as (app, number):
        await lgtm_and_approve(world, number)
        await world.actor("bob").comment(REPO, number, "/hold")  # read access, not the author
        await world.actor("carol").comment(REPO, number, "/merge")  # triage: below write
        await app.wait_idle()
        assert not world.state().issue(number).pull.merged
        assert world.label_names(number) == ["approved", "lgtm"]
        assert review_status(world, number) == ("success", "ready to merge")
        replies = [b for b in bot_comments(world, number) if not b.startswith("### Review")]
        assert len(replies) == 2 and all("@bob" in r or "@carol" in r for r in replies)
        await world.actor("dave").comment(REPO, number, "/merge")  # write access
        await app.wait_idle()
        assert world.state().issue(number).pull.merged


async def test_a_push_between_the_check_and_the_merge_is_not_merged(world: World, bot_factory: Any) -> None:
    """The merge names the head that was checked: a push while the checks are read is not merged."""
    import anyio

    async with reviewing(world, bot_factory, checks=("ci/test",), config="review:\n  merge: auto\n") as (app, number):
        head = world.state().issue(number).pull.head_sha
        await world.actor("alice").set_status(REPO, head, "success", "ci/test")
        await world.actor("dave").comment(REPO, number, "/lgtm")
        await app.wait_idle()
        slow = world.fake.faults.add("GET", "/repos/{owner}/{repo}/commits/{sha}/status", status=None, latency=2.0)
        await world.actor("carol").comment(REPO, number, "/approve")  # ready: the checks are read last
        with anyio.fail_after(10):
            while not slow.hits:
                await anyio.sleep(0.02)
        await world.actor("alice").push(REPO, "feature", {"src/app.py": "print('unreviewed')\n"})
        await app.wait_idle()
        assert not world.state().issue(number).pull.merged
        assert world.label_names(number) == ["approved"]  # the new tree has no lgtm
        assert [b for b in bot_comments(world, number) if not b.startswith("### Review")] == []  # no one has anything to do


async def test_our_status_set_by_someone_else_is_set_back(world: World, bot_factory: Any) -> None:
    async with reviewing(world, bot_factory) as (app, number):
        await app.wait_idle()
        head = world.state().issue(number).pull.head_sha
        assert review_status(world, number) == ("pending", "needs an approver for OWNERS (+1 more)")
        await world.actor("dave").set_status(REPO, head, "success", "forgebot/review")  # write access: may set statuses
        assert review_status(world, number) == ("success", None)
        await status_webhook(world, app, head, "forgebot/review", "dave")
        await app.wait_idle()
        assert review_status(world, number) == ("pending", "needs an approver for OWNERS (+1 more)")
