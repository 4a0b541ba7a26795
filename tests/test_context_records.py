"""What a handler records through its Context (activity, effect keys) lands in either database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.engine.context import Context
from bot.engine.router import Router
from bot.engine.services import Services
from bot.events import Event, Repo, User
from bot.forges.provider import Forges
from bot.storage.open import open_storage
from tests.conftest import make_settings

pytestmark = pytest.mark.anyio


async def test_a_handler_records_its_activity_and_effects_once(tmp_path: Path, database_settings: dict[str, Any]) -> None:
    settings = make_settings(tmp_path, **database_settings)
    storage = open_storage(settings)
    await storage.start()
    event = Event("gitea", "issue_comment", "created", "delivery-7", repo=Repo("Acme", "Widgets"), sender=User("alice"))
    services = Services(forges=Forges(settings))
    ctx = Context(settings, storage, Router(), services, event=event, clock=lambda: 1_700_000_000.0)
    job = Context(settings, storage, Router(), services, clock=lambda: 1_700_000_060.0)  # a scheduled job: no event
    try:
        assert not await ctx.already_done("comment:acme/widgets#1") and await ctx.done_detail("comment:acme/widgets#1") is None
        assert await ctx.mark_done("comment:acme/widgets#1", comment=99)
        assert not await job.mark_done("comment:acme/widgets#1", comment=100)  # a retry elsewhere acts no second time
        assert await job.already_done("comment:acme/widgets#1")
        assert await job.done_detail("comment:acme/widgets#1") == {"comment": 99}

        await ctx.record("claim.granted", issue=1, until=5.0)
        await job.record("claim.released.expired", actor="alice", platform="gitea", repo="Acme/Widgets", issue=1)
        newest, oldest = await storage.activity.recent(limit=10)
        assert (await storage.activity.verify()).ok
    finally:
        await services.aclose()
        await storage.stop()
    assert oldest["kind"] == "claim.granted" and oldest["detail"] == {"issue": 1, "until": 5.0}
    assert (oldest["platform"], oldest["repo"], oldest["actor"], oldest["delivery_id"]) == ("gitea", "Acme/Widgets", "alice", "delivery-7")
    assert oldest["subject"] == event.subject
    assert newest["kind"] == "claim.released.expired" and newest["delivery_id"] is None and newest["subject"] is None
    assert [e.kind for e in ctx.recorded] == ["claim.granted"]
