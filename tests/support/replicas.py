"""Several `forgebot serve` processes on one database: the multi-replica tests and `make bench-scale`.

Each replica is a real `python -m bot.cli serve` process with its own port, FORGEBOT_REPLICA_ID and
git root, all on one FORGEBOT_DATABASE_URL (a PostgreSQL database of its own, from
tests/support/postgres.py, or a SQLite file for the single-process baseline). The forge emulator
runs in the caller's event loop on another loopback port (`FakeForge.serve()`); each replica
reaches it with a token of its own, so `AttributedForge` can say which replica made each request.

Every wait is bounded in time: a replica that does not become ready, a condition that is never
reached, a process that does not stop fail with a message naming what was awaited. `close()`
ends every process the harness started (SIGTERM, then SIGKILL), whatever happened before.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
READY_SECONDS = 60.0
STOP_SECONDS = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def known_setting(name: str) -> bool:
    """Whether forgebot has a setting of this name: the lease lengths arrive with the inbox and the
    scheduler's leader lease, and an unknown FORGEBOT_ variable is refused at start."""
    from config.settings import Settings

    return name in Settings.model_fields


def lease_env(*, delivery_seconds: float | None = None, leader_seconds: float | None = None) -> dict[str, str]:
    """Short leases for tests and benchmarks, through the settings that exist."""
    env = {}
    for setting, value in (("delivery_lease_seconds", delivery_seconds), ("leader_lease_seconds", leader_seconds)):
        if value is not None and known_setting(setting):
            env[f"FORGEBOT_{setting.upper()}"] = f"{value:g}"
    return env


def forge_env(platform: str, forge_url: str, token: str) -> dict[str, str]:
    """How a replica reaches the emulator served at `forge_url`, as the bot with `token`."""
    if platform == "github":
        return {"FORGEBOT_GITHUB_TOKEN": token, "FORGEBOT_GITHUB_API_URL": f"{forge_url}/api/v3"}
    return {"FORGEBOT_GITEA_URL": forge_url, "FORGEBOT_GITEA_TOKEN": token}


@dataclass
class Replica:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path
    git_root: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@dataclass
class Replicas:
    """Replicas of one forgebot on one database. `env` holds what every replica shares (webhook
    secret, forge, leases); `per_replica(name)` may add what differs (the forge token)."""

    root: Path
    database_url: str
    env: Mapping[str, str] = field(default_factory=dict)
    per_replica: Callable[[str], Mapping[str, str]] = lambda _name: {}
    started: list[Replica] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)

    # -- processes ---------------------------------------------------------------------------

    def spawn(self, name: str | None = None) -> Replica:
        """Start one replica (not yet ready: see `ready`)."""
        name = name or f"replica-{len(self.started) + 1}"
        port = free_port()
        home = self.root / name
        home.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("FORGEBOT_")}
        env |= {
            "FORGEBOT_DATABASE_URL": self.database_url,
            "FORGEBOT_REPLICA_ID": name,
            "FORGEBOT_GIT_ROOT": str(home / "git"),
            "FORGEBOT_WEBHOOK_SECRET_FILE": str(home / "webhook-secret"),
            "FORGEBOT_LOG_LEVEL": "warning",
        }
        env |= dict(self.env) | dict(self.per_replica(name))
        log = home / "serve.log"
        with log.open("ab") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "bot.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
                cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=out,
            )
        replica = Replica(name, port, process, log, home / "git")
        self.started.append(replica)
        return replica

    async def ready(self, replica: Replica, timeout: float = READY_SECONDS) -> None:
        """Wait until the replica's /readyz answers 200."""
        deadline = time.monotonic() + timeout
        last = "no answer"
        async with httpx.AsyncClient(timeout=5.0) as client:
            while time.monotonic() < deadline:
                if not replica.alive:
                    raise RuntimeError(f"{replica.name} exited with {replica.process.returncode} before it was ready:\n{replica.log_tail()}")
                try:
                    answer = await client.get(f"{replica.url}/readyz")
                except httpx.HTTPError as exc:
                    last = type(exc).__name__
                else:
                    if answer.status_code == 200:
                        return
                    last = f"{answer.status_code} {answer.text[:300]}"
                await asyncio.sleep(0.1)
        raise TimeoutError(f"{replica.name} not ready after {timeout:g} s (last: {last}):\n{replica.log_tail()}")

    async def start(self, count: int, timeout: float = READY_SECONDS) -> list[Replica]:
        """Start `count` replicas together and wait until all are ready."""
        replicas = [self.spawn() for _ in range(count)]
        await asyncio.gather(*(self.ready(r, timeout) for r in replicas))
        return replicas

    def kill(self, replica: Replica) -> float:
        """`kill -9`: no shutdown, no lease released, nothing flushed. Returns the time by which
        it was dead (reaped): nothing it sends can arrive later."""
        with contextlib.suppress(ProcessLookupError):
            replica.process.send_signal(signal.SIGKILL)
        replica.process.wait(timeout=STOP_SECONDS)
        return time.time()

    async def stop(self, replica: Replica, timeout: float = STOP_SECONDS) -> int:
        """SIGTERM, as an orchestrator stops a replica; SIGKILL after `timeout`. Its exit code."""
        if replica.alive:
            replica.process.send_signal(signal.SIGTERM)
        try:
            return await asyncio.to_thread(replica.process.wait, timeout)
        except subprocess.TimeoutExpired:
            self.kill(replica)
            raise TimeoutError(f"{replica.name} did not stop within {timeout:g} s of SIGTERM; killed") from None

    async def close(self) -> None:
        """Stop every replica still running: SIGTERM to all at once, then SIGKILL to any left."""
        running = [r for r in self.started if r.alive]
        for replica in running:
            replica.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_SECONDS
        for replica in running:
            try:
                await asyncio.to_thread(replica.process.wait, max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.kill(replica)

    # -- the database ------------------------------------------------------------------------

    def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """Rows read through a connection of the harness's own (PostgreSQL; `%s` placeholders)."""
        import psycopg

        with psycopg.connect(self.database_url, autocommit=True, connect_timeout=10) as conn:
            return [tuple(row) for row in conn.execute(sql, params).fetchall()]

    def value(self, sql: str, *params: Any) -> Any:
        found = self.rows(sql, *params)
        return found[0][0] if found else None


async def wait_for(condition: Callable[[], bool | Awaitable[bool]], timeout: float, what: str, every: float = 0.1) -> float:
    """Poll `condition` until it holds; its time in seconds. TimeoutError naming `what` after `timeout`."""
    started = time.monotonic()
    while True:
        held = condition()
        if not isinstance(held, bool):
            held = await held
        if held:
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"not reached within {timeout:g} s: {what}")
        await asyncio.sleep(every)


# -- webhooks, sent by the test rather than by the emulator -------------------------------------


async def post_delivery(client: httpx.AsyncClient, replica: Replica, delivery: Any) -> int:
    """POST one of the emulator's built deliveries to a replica; its status, 0 when none came
    (refused, reset, timed out: not acknowledged)."""
    headers = {k: v for k, v in delivery.headers.items() if k.lower() not in ("content-length", "host")}
    try:
        answer = await client.post(f"{replica.url}/webhooks/{delivery.platform}", content=delivery.body, headers=headers)
    except httpx.HTTPError:
        return 0
    return answer.status_code


def raw_request(delivery: Any, port: int) -> bytes:
    """A delivery as the bytes of one HTTP/1.1 request, for tests that write many at once."""
    path = f"/webhooks/{delivery.platform}"
    lines = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", f"Content-Length: {len(delivery.body)}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in delivery.headers.items() if name.lower() not in ("content-length", "host")]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + delivery.body


# -- which replica asked the forge what -----------------------------------------------------------


@dataclass(frozen=True)
class ForgeCall:
    at: float  # time.time() when the request arrived
    replica: str
    method: str
    path: str
    status: int


class AttributedForge:
    """Wraps the emulator's ASGI app: every request carrying one of the replicas' tokens is logged
    with the replica it came from. `FakeForge.serve()` serves whatever `fake.app` is, so install
    with `fake.app = AttributedForge(fake.app)` before serving."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.tokens: dict[str, str] = {}
        self.calls: list[ForgeCall] = []

    def add(self, replica: str, token: str) -> None:
        self.tokens[token] = replica

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        replica = None
        if scope["type"] == "http":
            # "token X" (both platforms' clients) or "Bearer X": the token is the last word
            words = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1").split()
            replica = self.tokens.get(words[-1]) if words else None
        if replica is None:
            await self.app(scope, receive, send)
            return
        status = 0
        arrived = time.time()

        async def watch(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await self.app(scope, receive, watch)
        self.calls.append(ForgeCall(arrived, replica, scope["method"], scope["path"], status))
