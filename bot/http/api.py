"""HTTP routes besides the webhooks: health, readiness, metrics, and the admin API."""

from __future__ import annotations

import asyncio
import hmac
import time
from typing import TYPE_CHECKING, Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from bot.storage.deliveries import DeliveryRow

if TYPE_CHECKING:
    from bot.http.parts import AppParts


def delivery_json(row: DeliveryRow) -> dict[str, Any]:
    return {
        "id": row.delivery_id,
        "platform": row.platform,
        "event": row.full_event,
        "repo": row.repo,
        "subject": row.subject,
        "status": row.status,
        "attempts": row.attempts,
        "received_at": row.received_at,
        "finished_at": row.finished_at,
        "next_attempt_at": row.next_attempt_at,
        "error": row.last_error,
    }


def routes(app: AppParts) -> list[Route]:
    def admin_denied(request: Request) -> Response | None:
        token = app.settings.admin_token
        if token is None:
            return JSONResponse({"error": "the admin API is off; set FORGEBOT_ADMIN_TOKEN"}, status_code=403)
        given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not given or not hmac.compare_digest(given.encode(), token.get_secret_value().encode()):
            return JSONResponse({"error": "missing or wrong bearer token"}, status_code=401, headers={"www-authenticate": "Bearer"})
        return None

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(_: Request) -> Response:
        problems = []
        if not app.storage.healthy:
            problems.append("database threads are not running" if app.storage.backend == "sqlite"
                            else "database connection pool is not running")
        try:
            await asyncio.wait_for(app.storage.deliveries.beat(time.time()), timeout=2.0)
        except TimeoutError:
            problems.append("database not writable: no commit within 2 s (locked by another process?)")
        except Exception as exc:  # any failure to write means "not ready", with the reason
            problems.append(f"database not writable: {type(exc).__name__}: {exc}")
        problems.extend(app.inbox.problems)
        if not app.scheduler.running:
            problems.append("scheduler is not running")
        if problems:
            return JSONResponse({"status": "unavailable", "problems": problems}, status_code=503)
        return JSONResponse({"status": "ready", "queue_depth": app.inbox.depth})

    async def metrics(_: Request) -> Response:
        return Response(generate_latest(app.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    async def list_deliveries(request: Request) -> Response:
        if (denied := admin_denied(request)) is not None:
            return denied
        failed = request.query_params.get("failed") in ("1", "true", "yes")
        try:
            limit = max(1, min(1000, int(request.query_params.get("limit", "50"))))
        except ValueError:
            return JSONResponse({"error": "limit must be a number"}, status_code=400)
        rows = await app.storage.deliveries.listing(failed, limit)
        return JSONResponse([delivery_json(row) for row in rows])

    async def replay(request: Request) -> Response:
        if (denied := admin_denied(request)) is not None:
            return denied
        rows = await app.storage.deliveries.find(request.path_params["delivery_id"])
        if not rows:
            return JSONResponse({"error": "no such delivery"}, status_code=404)
        if len(rows) > 1:
            return JSONResponse({"error": "the id exists on both platforms; use the CLI with --platform"}, status_code=409)
        await app.inbox.requeue(rows[0].id)
        return JSONResponse({"status": "queued", "delivery": rows[0].delivery_id}, status_code=202)

    async def recent_activity(request: Request) -> Response:
        if (denied := admin_denied(request)) is not None:
            return denied
        repo = request.query_params.get("repo")
        return JSONResponse(await app.storage.activity.recent(limit=100, repo=repo))

    return [
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics),
        Route("/api/deliveries", list_deliveries),
        Route("/api/deliveries/{delivery_id}/replay", replay, methods=["POST"]),
        Route("/api/activity", recent_activity),
        Route("/", lambda _: PlainTextResponse("forgebot: POST webhooks to /webhooks\n")),
    ]
