"""Operations endpoints: health, readiness, metrics, and the admin API's authentication."""

from __future__ import annotations

from typing import Any

import pytest

from tests.test_inbox import comment


@pytest.mark.anyio
async def test_health_and_readiness(harness_factory: Any) -> None:
    async with harness_factory() as h:
        assert (await h.client.get("/healthz")).json() == {"status": "ok"}
        ready = await h.client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["status"] == "ready"
        await h.app.scheduler.stop()
        not_ready = await h.client.get("/readyz")
        assert not_ready.status_code == 503 and "scheduler is not running" in not_ready.json()["problems"]
        await h.app.scheduler.start()


@pytest.mark.anyio
async def test_metrics_count_what_happened(harness_factory: Any) -> None:
    async with harness_factory() as h:
        await h.post_github(comment(1, "hi"), "issue_comment", "m-1")
        await h.post_github(comment(1, "hi"), "issue_comment", "m-1")
        await h.client.post("/webhooks/github", content=b"{}", headers={"x-github-event": "ping", "x-github-delivery": "z"})
        await h.app.wait_idle()
        text = (await h.client.get("/metrics")).text
    assert 'forgebot_deliveries_received_total{event="issue_comment",platform="github"} 1.0' in text
    assert 'forgebot_deliveries_duplicate_total{platform="github"} 1.0' in text
    assert 'forgebot_deliveries_rejected_total{platform="github",reason="signature_missing"} 1.0' in text
    assert 'forgebot_deliveries_processed_total{event="issue_comment",outcome="ignored",platform="github"} 1.0' in text
    assert "forgebot_queue_depth 0.0" in text
    assert "forgebot_intake_seconds_bucket" in text and "forgebot_delivery_lag_seconds_count 1.0" in text


@pytest.mark.anyio
@pytest.mark.parametrize(("token", "header", "status"), [(None, "Bearer x", 403), ("s3cret", None, 401), ("s3cret", "Bearer wrong", 401), ("s3cret", "Bearer s3cret", 200)])
async def test_admin_api_needs_the_admin_token(harness_factory: Any, token: str | None, header: str | None, status: int) -> None:
    async with harness_factory(admin_token=token) as h:
        headers = {"authorization": header} if header else {}
        for path in ("/api/deliveries", "/api/activity"):
            assert (await h.client.get(path, headers=headers)).status_code == status
        replay = await h.client.post("/api/deliveries/nope/replay", headers=headers)
        assert replay.status_code == (404 if status == 200 else status)


@pytest.mark.anyio
async def test_readiness_says_so_while_another_process_holds_the_database(harness_factory: Any) -> None:
    import sqlite3

    async with harness_factory() as h:
        other = sqlite3.connect(h.app.settings.database, isolation_level=None)  # a stuck CLI command
        try:
            other.execute("BEGIN IMMEDIATE")
            locked = await h.client.get("/readyz")
            healthy = await h.client.get("/healthz")  # the loop still answers meanwhile
        finally:
            other.execute("ROLLBACK")
            other.close()
        again = await h.client.get("/readyz")
    assert locked.status_code == 503 and locked.json()["problems"] == [
        "database not writable: no commit within 2 s (locked by another process?)"
    ]
    assert healthy.json() == {"status": "ok"}
    assert again.status_code == 200
