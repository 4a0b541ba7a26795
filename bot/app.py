"""The application: composes routers, store, inbox, scheduler and HTTP routes in one place."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable
from types import FunctionType
from typing import Any

from starlette.applications import Starlette
from starlette.routing import BaseRoute

from bot.engine.dispatch import Processor
from bot.engine.inbox import DeliveryQueue, Inbox, RetryPolicy
from bot.engine.leadership import SCHEDULER, WORKTREES, Leadership
from bot.engine.leased_inbox import LeasedInbox
from bot.engine.metrics import Metrics
from bot.engine.pressure import IntakePressure
from bot.engine.router import Router
from bot.engine.scheduler import Scheduler
from bot.engine.services import Services
from bot.engine.toolbox import Toolbox
from bot.forges.provider import Forges
from bot.http.api import routes
from bot.http.auth import agent_login
from bot.http.limits import ConnectionGuard, HeadBudget, ServeLimits, UnverifiedBudget, connection_cap, open_file_limit
from bot.http.mcp import PATH as MCP_PATH
from bot.http.mcp import MCPEndpoint
from bot.http.parts import AppParts
from bot.http.webhooks import GITEA, GITHUB, Delivery, Stored, WebhookEndpoint
from bot.status.routes import routes as status_routes
from bot.status.sections import StatusSections
from bot.storage.open import open_storage
from config.settings import Settings

logger = logging.getLogger(__name__)

BUILTIN_HANDLERS = (
    "handlers.meta",
    "handlers.housekeeping",
    "handlers.reconcile",
    "handlers.review",  # before the commands: a review comment's status does not wait for its reaction
    "handlers.cleanup",
    "handlers.commands",
    "handlers.triggers",
    "handlers.claims",
    "handlers.assign",
    "handlers.labels",
    "handlers.state",
    "handlers.dependencies",
    "handlers.review_commands",
    "handlers.worktrees",
    "handlers.help",
)

# MCP tools (bot/toolbox.py), `package.module:toolbox`; a feature adds its module here.
BUILTIN_TOOLBOXES = ("handlers.agent_tools:toolbox", "handlers.review_status:toolbox", "handlers.worktree_tools:toolbox")
# Status page sections (bot/status/sections.py), `package.module:sections`; a feature adds its module here.
BUILTIN_STATUS_SECTIONS = ("bot.status.engine:sections", "handlers.status_sections:sections", "handlers.worktree_tools:sections",
                           "handlers.review_status:sections", "handlers.cleanup_status:sections")
# HTTP routes of features, `package.module:function` taking the app (bot/http/parts.py's AppParts).
BUILTIN_ROUTES = ("handlers.agents:routes", "handlers.worktrees_api:routes")


def load_router(module_path: str) -> Router:
    """Import `package.module:attribute` (or a module exporting `router`) and return its Router."""
    module_name, _, attribute = module_path.partition(":")
    module = importlib.import_module(module_name)
    router = getattr(module, attribute or "router")
    if not isinstance(router, Router):
        raise TypeError(f"{module_path} is not a forgebot Router")
    return router


def build_router(settings: Settings, modules: Iterable[str] = BUILTIN_HANDLERS) -> Router:
    """One Router holding every built-in handler module's registrations and any extra ones."""
    return Router().include(*(load_router(m) for m in (*modules, *settings.extra_handlers)))


def _load(module_path: str, kind: type[Any]) -> Any:
    """`package.module:attribute`, checked to be a `kind`."""
    module_name, _, attribute = module_path.partition(":")
    found = getattr(importlib.import_module(module_name), attribute)
    if not isinstance(found, kind):
        raise TypeError(f"{module_path} is not a forgebot {kind.__name__}")
    return found


def build_toolbox(modules: Iterable[str] = BUILTIN_TOOLBOXES) -> Toolbox:
    """One Toolbox holding every built-in module's MCP tools."""
    return Toolbox().include(*(_load(m, Toolbox) for m in modules))


def build_feature_routes(app: AppParts, modules: Iterable[str] = BUILTIN_ROUTES) -> list[BaseRoute]:
    """Every built-in feature's HTTP routes, made for `app`."""
    return [route for m in modules for route in _load(m, FunctionType)(app)]


def build_status_sections(modules: Iterable[str] = BUILTIN_STATUS_SECTIONS) -> StatusSections:
    """Every built-in module's status page sections."""
    return StatusSections().include(*(_load(m, StatusSections) for m in modules))


def build_services(settings: Settings, *, forges: Forges | None = None, clock: Callable[[], float] = time.time) -> Services:
    """The clients and caches handlers reach through `ctx.services`, for the service and the CLI
    alike. Whoever builds them closes them (`await services.aclose()`)."""
    return Services(forges=forges if forges is not None else Forges(settings, clock=clock))


class ForgebotApp:
    """The ASGI application. Webhook paths go straight to the lean endpoint; the rest to Starlette."""

    def __init__(
        self,
        settings: Settings,
        *,
        router: Router | None = None,
        services: Services | None = None,
        forges: Forges | None = None,
        clock: Callable[[], float] = time.time,
        pressure: IntakePressure | None = None,
        capabilities: Callable[[], frozenset[str]] | None = None,
    ) -> None:
        """`capabilities`: what this replica can run right now (PostgreSQL: deliveries whose
        handlers need another are handed to the replica that has it); None: what this replica's
        leases give it (`ForgebotApp.capabilities`: 'worktrees' on the worktree host)."""
        self.settings = settings
        self.services = services if services is not None else build_services(settings, forges=forges, clock=clock)
        self.forges: Forges = self.services.forges
        self.metrics: Metrics = self.services.metrics
        self.clock = clock
        self.router = router if router is not None else build_router(settings)
        self.pressure = pressure if pressure is not None else IntakePressure()
        self.storage = open_storage(settings)
        self.processor = Processor(settings, self.storage, self.router, self.services, clock)
        self.inbox = self._make_inbox(capabilities or self.capabilities)  # asked only once started
        self.services.capabilities = capabilities or self.capabilities  # the MCP worktree tools ask too
        self.metrics.queue_depth.set_function(lambda: self.inbox.depth)
        # One replica at a time runs the scheduled jobs (the 'scheduler' lease), and one owns the
        # worktree root (the 'worktrees' lease, competed for where FORGEBOT_WORKTREE_HOST is on).
        self.leadership = self._leadership(SCHEDULER)
        self.worktree_host = self._leadership(WORKTREES) if settings.worktree_host else None
        self.scheduler = Scheduler(
            self.router.jobs, settings=settings, make_context=self.processor.context, runs=self.metrics.job_runs,
            leases=self.storage.leases, replica=self.storage.replica, leaderships=self.leaderships,
        )
        open_files = open_file_limit()
        self.limits = ServeLimits(
            header_timeout=settings.header_timeout_seconds,
            body_timeout=settings.body_timeout_seconds,
            guard=ConnectionGuard(connection_cap(open_files, settings.max_connections), open_files),
            budget=UnverifiedBudget(settings.max_unverified_bytes),
            heads=HeadBudget(settings.max_incomplete_head_bytes),
        )
        secrets = settings.secret_values()
        self.endpoints = {
            path: WebhookEndpoint(
                platform=platform,
                secrets=secrets,
                max_body_bytes=settings.max_body_bytes,
                store_delivery=self.store_delivery,
                observe=self.metrics.observe_intake,
                pressure=self.pressure,
            )
            for path, platform in (("/webhooks", None), ("/webhooks/github", GITHUB), ("/webhooks/gitea", GITEA))
        }
        self.mcp = MCPEndpoint(settings, build_toolbox(), self.processor.context, lambda header: agent_login(settings, header))
        self.http = Starlette(routes=[*routes(self), *build_feature_routes(self), *status_routes(self, build_status_sections())],
                              lifespan=self._lifespan)

    def _leadership(self, name: str) -> Leadership:
        return Leadership(
            self.storage.leases, name, self.storage.replica, self.settings.leader_lease_seconds, metrics=self.metrics,
            sole=self.storage.backend == "sqlite",  # one process per SQLite file: it always leads
        )

    @property
    def leaderships(self) -> dict[str, Leadership]:
        """The leases this replica competes for, by name."""
        held = {SCHEDULER: self.leadership}
        if self.worktree_host is not None:
            held[WORKTREES] = self.worktree_host
        return held

    def capabilities(self) -> frozenset[str]:
        """What this replica can run now that not every replica can: 'worktrees' while it is the
        worktree host (it holds the lease with its margin left)."""
        return frozenset(name for name, held in self.leaderships.items() if name != SCHEDULER and held.leads())

    def _make_inbox(self, capabilities: Callable[[], frozenset[str]] | None) -> DeliveryQueue:
        """SQLite: one process sorts the deliveries by subject in memory. PostgreSQL: replicas lease them."""
        settings = self.settings
        policy = RetryPolicy(settings.max_attempts, settings.retry_base_seconds, settings.retry_max_seconds)
        if self.storage.backend == "postgresql":
            return LeasedInbox(
                self.storage.deliveries,  # type: ignore[arg-type]  # PostgresDeliveries: the leased kind
                self.processor,
                select=self.processor.select,
                needs=self.processor.needs,
                capabilities=capabilities,
                replica=self.storage.replica,
                workers=settings.workers,
                policy=policy,
                handler_timeout=settings.handler_timeout_seconds,
                lease_seconds=settings.delivery_lease_seconds,
                metrics=self.metrics,
                clock=self.clock,
            )
        return Inbox(
            self.storage.deliveries,
            self.processor,
            workers=settings.workers,
            policy=policy,
            handler_timeout=settings.handler_timeout_seconds,
            metrics=self.metrics,
            clock=self.clock,
            pressure=self.pressure,
            select=self.processor.select,
        )

    def store_delivery(self, delivery: Delivery, stored: Stored) -> None:
        """Commit the delivery, then call `stored` with its row id (None when it was stored
        before) or the error. The inbox learns of a new row once it is committed."""

        def committed(row_id: int | None, error: BaseException | None) -> None:
            if row_id is not None:
                self.inbox.notify(row_id)
            stored(row_id, error)

        self.storage.deliveries.insert_soon(delivery, self.clock(), committed)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            endpoint = self.endpoints.get(scope["path"].rstrip("/"))
            if endpoint is not None:
                await endpoint(scope, receive, send)
                return
            if scope["path"].rstrip("/") == MCP_PATH:
                await self.mcp(scope, receive, send)
                return
        await self.http(scope, receive, send)

    @contextlib.asynccontextmanager
    async def _lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        await self.start()
        try:
            yield
        finally:
            await self.stop()

    async def start(self) -> None:
        await self.storage.start()
        await self.mcp.start()  # before the inbox: this awaits, and the inbox starts its loops last as before
        for leadership in self.leaderships.values():  # before the inbox: it asks which leases are held
            await leadership.start()
        await self.inbox.start()
        await self.scheduler.start()
        logger.info("forgebot started", extra={"workers": self.settings.workers, "jobs": len(self.scheduler.jobs)})

    async def stop(self) -> None:
        # Each lease is released as soon as its work here is over, so a successor takes over at once.
        await self.scheduler.stop()
        await self.leadership.stop()
        await self.mcp.stop()
        await self.inbox.stop(self.settings.shutdown_grace_seconds)
        if self.worktree_host is not None:
            await self.worktree_host.stop()
        await self.forges.aclose()
        await self.storage.stop()
        logger.info("forgebot stopped")

    @property
    def ready(self) -> bool:
        return self.storage.healthy and self.inbox.running and self.scheduler.running

    async def wait_idle(self, timeout: float = 10.0) -> None:
        """Wait until every stored delivery is finished (tests and benchmarks)."""
        deadline = time.monotonic() + timeout
        while self.inbox.depth:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.inbox.depth} deliveries still queued after {timeout}s")
            await asyncio.sleep(0.01)
