"""FakeForge: the emulator's public face for tests (set-up, state, ASGI app, webhooks, serving)."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization

from . import githttp, gt_version, webhooks
from .actors import Actor
from .auth import Bucket, RateLimiter
from .faults import Faults
from .gitea import Gitea
from .github import GitHub
from .gitrepo import GitRepo, Ident
from .ops import Change, Ops
from .server import ForgeApp, LoggedRequest
from .state import LEVELS, App, Installation, Repo, State, Token, User

INSTALLATION_TOKEN_LIFETIME = 3600


class FakeForge:
    """One emulated forge speaking GitHub (/api/v3) and Gitea (/api/v1) over shared state.

    `root` holds the bare repositories (created on first use); `clock` drives timestamps, token
    expiry, JWT checks and rate-limit windows. `api_events`: True delivers the webhooks an API
    call causes before the call answers, "queue" keeps them for `await forge.flush()`, False
    drops them. `gitea_version` ("1.22" by default, or e.g. "1.23") decides which fields the Gitea
    dialect knows (see gt_version).
    """

    def __init__(self, root: str | Path, clock: Callable[[], float] = time.time, *,
                 base_url: str = "http://fakeforge", api_events: bool | str = True,
                 rate_limit: int = 5000, gitea_version: str = gt_version.DEFAULT) -> None:
        self.root = Path(root)
        self.gitea_version = gt_version.normalized(gitea_version)  # what GET /api/v1/version says
        self.clock = clock
        self.base_url = base_url
        self.api_events = api_events
        self.state = State()
        self.ops = Ops(self)
        self.faults = Faults()
        self.rate = RateLimiter(self, rate_limit)
        self.requests: list[LoggedRequest] = []
        self.deliveries: list[webhooks.Delivery] = []
        self.outbox: list[Change] = []
        self.targets: dict[str, webhooks.Target] = {}
        self.hook_receivers: dict[str, Any] = {}  # origin -> ASGI app, for repository hooks' own deliveries
        self.delivery_counter = 0
        self._flushing = False
        self.app = ForgeApp(self, [GitHub(self), Gitea(self)],
                            lambda scope, body, headers: githttp.handle(self, scope, body, headers))

    @property
    def repos_root(self) -> Path:
        return self.root / "repos"

    # -- users, apps, repositories -------------------------------------------------------
    def add_user(self, login: str, *, email: str = "", full_name: str = "", kind: str = "User",
                 site_admin: bool = False) -> User:
        if self.state.user(login) is not None:
            raise ValueError(f"user {login!r} exists")
        user = User(self.state.new_id(), login, self.clock(), kind, email, full_name, site_admin)
        self.state.users[login.casefold()] = user
        if kind != "Organization":
            self.new_token(login)
        return user

    def add_org(self, login: str) -> User:
        return self.add_user(login, kind="Organization")

    def new_token(self, login: str, expires_at: float | None = None, *, scopes: list[str] | None = None) -> str:
        """A personal token; with `scopes`, a classic GitHub token limited to them (see github.py)."""
        value = "ghp_" + secrets.token_hex(18)
        self.state.tokens[value] = Token(value, self._login(login), "pat", expires_at, scopes=scopes)
        return value

    def token(self, login: str) -> str:
        """The user's first personal access token (works on both dialects and for git)."""
        login = self._login(login)
        found = next((t.value for t in self.state.tokens.values() if t.login == login and t.kind == "pat"), None)
        if found is None:
            raise KeyError(f"{login!r} has no personal token (organizations and bots have none)")
        return found

    def _login(self, login: str) -> str:
        user = self.state.user(login)
        if user is None:
            raise KeyError(f"unknown user {login!r}")
        return user.login

    def add_app(self, app_id: int, slug: str, private_key_pem: str | bytes, *, name: str | None = None,
                owner: str | None = None, permission: str = "admin",
                permissions: dict[str, str] | None = None, events: list[str] | None = None) -> App:
        """Registers a GitHub App; its bot user is `<slug>[bot]`, its tokens get `permission`."""
        pem = private_key_pem.encode() if isinstance(private_key_pem, str) else private_key_pem
        public = serialization.load_pem_private_key(pem, password=None).public_key()
        public_pem = public.public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)
        app = App(app_id, slug, name or slug, public_pem, owner or slug, self.clock(), permission,
                  permissions or {"metadata": "read", "contents": "write", "issues": "write",
                                  "pull_requests": "write", "statuses": "write", "administration": "write"},
                  events or ["issues", "issue_comment", "pull_request", "pull_request_review", "push"])
        self.state.apps[app_id] = app
        if self.state.user(app.bot_login) is None:
            self.add_user(app.bot_login, kind="Bot")
        return app

    def install_app(self, app_id: int, repos: list[str], account: str | None = None) -> int:
        inst = Installation(self.state.new_id(), app_id, account or repos[0].split("/")[0], list(repos),
                            self.clock())
        self.state.installations[inst.id] = inst
        return inst.id

    def issue_installation_token(self, installation_id: int) -> Token:
        inst = self.state.installations[installation_id]
        app = self.state.apps[inst.app_id]
        value = "ghs_" + secrets.token_hex(18)
        token = Token(value, app.bot_login, "installation", self.clock() + INSTALLATION_TOKEN_LIFETIME, inst.id)
        self.state.tokens[value] = token
        return token

    def create_repo(self, full_name: str, owner: str | None = None, *, default_branch: str = "main",
                    private: bool = False, files: dict[str, str | bytes] | None = None,
                    description: str = "") -> Repo:
        """A repository under `full_name`'s namespace (an organization is created for an unknown
        one) with one initial commit; an `owner` other than the namespace becomes an admin."""
        namespace, name = full_name.split("/", 1)
        if self.state.user(namespace) is None:
            self.add_org(namespace)
        namespace = self._login(namespace)
        if self.state.repo(full_name) is not None:
            raise ValueError(f"repository {full_name!r} exists")
        home = self.root / "home"
        home.mkdir(parents=True, exist_ok=True)
        git = GitRepo(self.repos_root / namespace / f"{name}.git", home)
        git.init(default_branch)
        now = self.clock()
        ident = Ident(namespace, f"{namespace}@users.noreply.fakeforge.test", int(now))
        initial: dict[str, str | bytes | None] = dict(files or {"README.md": f"# {name}\n"})
        sha = git.commit_files(None, initial, "Initial commit", ident)
        git.update_ref(f"refs/heads/{default_branch}", sha)
        repo = Repo(self.state.new_id(), namespace, name, git, now, now, now, default_branch, private, description)
        self.state.repos[repo.full_name.casefold()] = repo
        if owner is not None and owner.casefold() != namespace.casefold():
            self.set_permission(repo.full_name, owner, "admin")
        return repo

    def repo(self, full_name: str) -> Repo:
        repo = self.state.repo(full_name)
        if repo is None:
            raise KeyError(f"unknown repository {full_name!r}")
        return repo

    def set_permission(self, repo: str, login: str, level: str) -> None:
        if level not in LEVELS:
            raise ValueError(f"level must be one of {LEVELS}")
        self.repo(repo).collaborators[self._login(login)] = level

    def actor(self, login: str) -> Actor:
        return Actor(self, login)

    def rate_bucket(self, token: str | None) -> Bucket:
        """The GitHub rate-limit bucket of a token (None: anonymous); tests may change it."""
        return self.rate.bucket(token or "anonymous")

    # -- webhooks ------------------------------------------------------------------------
    def deliver_webhooks(self, platform: str = "github", target: Any = None, secret: bytes | str = b"",
                         path: str | None = None, *, events: list[str] | None = None,
                         raise_app_exceptions: bool = True) -> None:
        """Sends webhooks in `platform`'s dialect to an ASGI app (at `path`) or a URL."""
        if platform not in ("github", "gitea"):
            raise ValueError("platform must be 'github' or 'gitea'")
        self.targets[platform] = webhooks.Target(
            platform, target, secret.encode() if isinstance(secret, str) else secret,
            path or f"/webhooks/{platform}", self.state.new_id(), set(events) if events else None,
            raise_app_exceptions)

    def route_hooks(self, origin: str, app: Any) -> None:
        """Repository hooks whose URL starts with `origin` (scheme://host[:port]) reach `app` in-process
        when the forge pings or tests them (see hooktests.py)."""
        self.hook_receivers[origin.rstrip("/")] = app

    def stop_webhooks(self, platform: str | None = None) -> None:
        for name in [platform] if platform else list(self.targets):
            self.targets.pop(name, None)

    async def flush(self) -> list[webhooks.Delivery]:
        """Delivers every pending change to every configured target, in order."""
        if self._flushing:
            return []
        self._flushing = True
        sent: list[webhooks.Delivery] = []
        try:
            while self.outbox:
                change = self.outbox.pop(0)
                for target in list(self.targets.values()):
                    for delivery in webhooks.build(self, target, change):
                        self.deliveries.append(delivery)
                        sent.append(await webhooks.send(delivery))
        finally:
            self._flushing = False
        return sent

    async def after_api_change(self) -> None:
        if self.api_events == "queue":
            return
        if self.api_events:
            await self.flush()
        else:
            self.outbox.clear()

    async def redeliver(self, delivery_id: str) -> webhooks.Delivery:
        """Sends a delivery again: same id on GitHub, a new id on Gitea (as Gitea's replay does)."""
        old = next(d for d in reversed(self.deliveries) if d.id == delivery_id)
        new_id = old.id if old.platform == "github" else str(uuid.uuid4())
        headers = {k: (new_id if k.endswith("-Delivery") else v) for k, v in old.headers.items()}
        self.delivery_counter += 1
        new = webhooks.Delivery(new_id, self.delivery_counter, old.platform, old.event, old.action,
                                old.event_type, old.payload, old.body, headers, old.url, self.clock(),
                                old.installation_id, old.repository_id, redelivery=True, target=old.target)
        self.deliveries.append(new)
        return await webhooks.send(new)

    # -- serving -------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def serve(self, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
        """Runs the app with uvicorn on a loopback port inside the current event loop."""
        import uvicorn

        # IPPROTO_TCP, not 0: asyncio only turns Nagle off (TCP_NODELAY) on sockets that say TCP, and
        # with Nagle on, a response written in two parts waits 40 ms for a delayed ACK.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        config = uvicorn.Config(self.app, lifespan="off", log_level="warning", ws="none", http="h11",
                                access_log=False)
        server = uvicorn.Server(config)
        task = asyncio.ensure_future(server.serve(sockets=[sock]))
        previous = self.base_url
        try:
            while not server.started:
                if task.done():
                    task.result()
                await asyncio.sleep(0.01)
            self.base_url = f"http://{host}:{sock.getsockname()[1]}"
            yield self.base_url
        finally:
            self.base_url = previous
            server.should_exit = True
            await task
            sock.close()
