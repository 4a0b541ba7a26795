"""Review end to end on both platforms: OWNERS, /lgtm, /approve, /hold, reviews, labels, the status
and the summary, through webhooks from the emulator and the bot's real clients."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import REPO, World
from tests.test_claims import bot_comments

pytestmark = pytest.mark.anyio

CONFIG = "review: {}\n"
OWNERS = "approvers: [carol]\nreviewers: [dave]\n"


def setup(world: World, config: str = CONFIG, owners: str | None = OWNERS) -> None:
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


def review_status(world: World, number: int) -> tuple[str, str] | None:
    state = world.state()
    head = state.issue(number).pull.head_sha
    found = [s for s in state.statuses if s.sha == head and s.context == "forgebot/review"]
    return (found[-1].state, found[-1].description) if found else None


def summaries(world: World, number: int) -> list[str]:
    return [b for b in bot_comments(world, number) if b.startswith("### Review")]


async def test_lgtm_and_approve_make_it_ready(world: World, bot_factory: Any) -> None:
    setup(world)
    async with bot_factory(world) as app:
        number = await open_pull(world)
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
    setup(world)
    async with bot_factory(world) as app:
        number = await open_pull(world)
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
    setup(world)
    async with bot_factory(world) as app:
        number = await open_pull(world)
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
    setup(world)
    async with bot_factory(world) as app:
        number = await open_pull(world)
        await world.actor("dave").review(REPO, number, "approved")
        await world.actor("carol").review(REPO, number, "approved")  # an approver: /approve
        await app.wait_idle()
        assert world.label_names(number) == ["approved", "lgtm"]
        await world.actor("dave").review(REPO, number, "changes_requested", "not yet")
        await app.wait_idle()
        assert world.label_names(number) == ["approved"]


async def test_hold_blocks_until_released(world: World, bot_factory: Any) -> None:
    setup(world)
    async with bot_factory(world) as app:
        number = await open_pull(world)
        await world.actor("dave").comment(REPO, number, "/lgtm")
        await world.actor("carol").comment(REPO, number, "/approve")
        await world.actor("alice").comment(REPO, number, "/hold")
        await app.wait_idle()
        assert world.label_names(number) == ["approved", "do-not-merge/hold", "lgtm"]
        assert review_status(world, number) == ("pending", "held by @alice")
        await world.actor("alice").comment(REPO, number, "/unhold")
        await app.wait_idle()
        assert world.label_names(number) == ["approved", "lgtm"]
        assert review_status(world, number) == ("success", "ready to merge")


async def test_without_owners_write_access_approves(world: World, bot_factory: Any) -> None:
    setup(world)
    async with bot_factory(world) as app:
        number = await open_pull(world, owners=None)
        await world.actor("bob").comment(REPO, number, "/approve")  # read access
        await world.actor("dave").comment(REPO, number, "/approve\n/lgtm")
        await app.wait_idle()
        assert world.label_names(number) == ["approved", "lgtm"]
        assert "you are not an approver" in bot_comments(world, number)[-1]


async def test_review_is_off_without_a_review_section(world: World, bot_factory: Any) -> None:
    setup(world)
    async with bot_factory(world) as app:
        number = await open_pull(world, config="claims: {}\n")
        await world.actor("dave").comment(REPO, number, "/lgtm")
        await app.wait_idle()
        assert bot_comments(world, number) == [] and review_status(world, number) is None


async def test_auto_merge_when_ready_deletes_the_branch(world: World, bot_factory: Any) -> None:
    setup(world)
    config = "review:\n  merge: auto\n  merge_method: squash\n  delete_branch: true\n"
    async with bot_factory(world) as app:
        number = await open_pull(world, config=config)
        await world.actor("dave").comment(REPO, number, "/lgtm")
        await world.actor("carol").comment(REPO, number, "/approve")
        await app.wait_idle()
        pull = world.state().issue(number)
        assert pull.pull.merged and pull.state == "closed"
        assert "feature" not in world.state().git.branches()


async def test_merge_command_refuses_until_ready_then_merges(world: World, bot_factory: Any) -> None:
    setup(world)
    async with bot_factory(world) as app:
        number = await open_pull(world, config="review:\n  merge: command\n")
        await world.actor("alice").comment(REPO, number, "/merge")
        await app.wait_idle()
        assert "not ready: needs an approver for OWNERS" in bot_comments(world, number)[-1]
        await world.actor("dave").comment(REPO, number, "/lgtm")
        await world.actor("carol").comment(REPO, number, "/approve")
        await world.actor("alice").comment(REPO, number, "/merge rebase")
        await app.wait_idle()
        assert world.state().issue(number).pull.merged
