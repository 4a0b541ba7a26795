"""The router: registration by event and action, commands with metadata, jobs, composition."""

from __future__ import annotations

import pytest

from bot.engine.context import Context
from bot.engine.router import Level, Router
from bot.events import Event


def _event(name: str, action: str | None) -> Event:
    return Event(platform="github", name=name, action=action, delivery_id="d")


async def _noop(event: Event, ctx: Context) -> None:
    return None


def test_handlers_match_by_event_and_optional_action() -> None:
    router = Router()
    any_action = router.on("issues")(_noop)

    async def only_opened(event: Event, ctx: Context) -> None:
        return None

    router.on("issues", "opened")(only_opened)
    assert router.handlers_for(_event("issues", "opened")) == [any_action, only_opened]
    assert router.handlers_for(_event("issues", "closed")) == [any_action]
    assert router.handlers_for(_event("push", None)) == []


def test_commands_carry_what_help_needs_and_refuse_duplicates() -> None:
    router = Router()
    router.command("claim", usage="/claim [DURATION]", description="Take the issue", level=Level.ANYONE, aliases=("take",))(_noop)
    spec = router.find_command("TAKE")
    assert spec is not None and spec.name == "claim" and spec.usage == "/claim [DURATION]"
    assert [c.name for c in router.commands] == ["claim"]
    with pytest.raises(ValueError, match="registered twice"):
        router.command("take", usage="", description="")(_noop)


def test_include_composes_routers_and_refuses_clashes() -> None:
    a, b = Router(), Router()
    a.on("ping")(_noop)
    a.command("label", usage="/label X", description="")(_noop)
    b.job("sweep", every=60)(_noop)
    combined = Router().include(a, b)
    assert combined.handlers_for(_event("ping", None)) == [_noop]
    assert [j.name for j in combined.jobs] == ["sweep"]
    with pytest.raises(ValueError):
        combined.include(a)


def test_levels_parse_and_order() -> None:
    assert Level.parse(" Write ") is Level.WRITE
    assert Level.TRIAGE < Level.WRITE < Level.ADMIN
    with pytest.raises(ValueError, match="use one of anyone, author"):
        Level.parse("owner")


def test_job_intervals_can_come_from_settings() -> None:
    router = Router()
    router.job("reconcile", every=lambda settings: settings["interval"], jitter=5)(_noop)
    [job] = router.jobs
    assert job.interval({"interval": 3600}) == 3600.0 and job.jitter == 5


def test_a_handler_may_say_what_the_replica_running_it_needs_and_composition_keeps_it() -> None:
    feature = Router()

    async def in_the_worktree(event: Event, ctx: Context) -> None:
        return None

    feature.on("issue_comment", "created", needs="worktrees")(in_the_worktree)
    anywhere = feature.on("issue_comment")(_noop)
    app = Router().include(feature)
    selected = app.handlers_for(_event("issue_comment", "created"))
    assert selected == [anywhere, in_the_worktree]
    assert app.needs(selected) == "worktrees"
    assert app.needs(app.handlers_for(_event("issue_comment", "deleted"))) is None
