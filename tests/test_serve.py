"""`forgebot serve` as a real process: kill -9 during load loses nothing, SIGTERM drains politely."""

from __future__ import annotations

import asyncio
import os
import resource
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from bench.loadclient import http_request, run_load
from tests.conftest import REFERENCE, SECRET, github_headers

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
COMMENT = (REFERENCE / "github-webhooks" / "issue_comment.created.json").read_bytes()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(tmp_path: Path, port: int, open_files: tuple[int, int] | None = None, **env: str) -> subprocess.Popen[bytes]:
    """`forgebot serve` on `port`; `open_files` is the (soft, hard) RLIMIT_NOFILE it starts with."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FORGEBOT_")}
    full_env = {
        **clean,
        "FORGEBOT_DATABASE": str(tmp_path / "forgebot.db"),
        "FORGEBOT_WEBHOOK_SECRETS": SECRET,
        "FORGEBOT_LOG_LEVEL": "warning",
        **env,
    }
    log = tmp_path / f"serve-{port}-{time.monotonic_ns()}.log"

    def limit_files() -> None:
        if open_files is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, open_files)

    with log.open("wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "serve", "--port", str(port)],
            cwd=ROOT, env=full_env, stdout=subprocess.DEVNULL, stderr=stderr, preexec_fn=limit_files,
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"serve exited early: {log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("serve did not start listening")


def query(db: Path, sql: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def wait_until(predicate: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        time.sleep(0.05)


def test_kill_9_during_load_keeps_every_acknowledged_delivery_and_runs_it_once(tmp_path: Path) -> None:
    port = free_port()
    invocations = tmp_path / "invocations.log"
    env = {"FORGEBOT_EXTRA_HANDLERS": "tests.support.handlers:recording", "FORGEBOT_TEST_INVOCATIONS": str(invocations)}
    server = start(tmp_path, port, **env)

    def make(n: int) -> tuple[str, bytes]:
        delivery = f"crash-{n}"
        return delivery, http_request("/webhooks/github", "127.0.0.1", github_headers(COMMENT, "issue_comment", delivery), COMMENT)

    db = tmp_path / "forgebot.db"

    async def load_then_kill() -> Any:
        # Killed mid-flood once enough deliveries are stored, however fast this machine is.
        load = asyncio.create_task(run_load("127.0.0.1", port, make, concurrency=16, seconds=120, limit=50_000))
        while (await asyncio.to_thread(query, db, "SELECT count(*) FROM deliveries")) < [(200,)]:
            assert not load.done(), "the load ended before 200 deliveries were stored"
            await asyncio.sleep(0.02)
        os.kill(server.pid, signal.SIGKILL)
        return await load

    result = asyncio.run(load_then_kill())
    server.wait(timeout=10)
    acknowledged = {d for d, s in zip(result.ids, result.statuses, strict=True) if 200 <= s < 300}
    refused = {d for d, s in zip(result.ids, result.statuses, strict=True) if not 200 <= s < 300}
    assert acknowledged and not refused

    server = start(tmp_path, port, **env)  # resume
    try:
        wait_until(lambda: query(db, "SELECT count(*) FROM deliveries WHERE status IN ('pending', 'running')") == [(0,)])
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)

    stored = {row[0]: row[1] for row in query(db, "SELECT delivery_id, status FROM deliveries")}
    assert acknowledged <= set(stored), "an acknowledged delivery was lost"
    assert set(stored) - acknowledged <= {f"crash-{n}" for n in range(len(result.ids) + 16)}  # only ones in flight at the kill
    assert set(stored.values()) == {"done"}
    effects = [row[0] for row in query(db, "SELECT key FROM effects")]
    assert sorted(effects) == sorted(f"seen:github:{d}" for d in stored)  # each stored delivery's effect exactly once
    runs = invocations.read_text().split()
    assert set(runs) == set(stored)


def test_sigterm_finishes_the_running_handler_and_leaves_the_rest_pending(tmp_path: Path) -> None:
    port = free_port()
    server = start(tmp_path, port, FORGEBOT_EXTRA_HANDLERS="tests.support.handlers:slow", FORGEBOT_TEST_SLEEP="1.5")
    db = tmp_path / "forgebot.db"
    import urllib.request

    for n in range(3):
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/webhooks", data=COMMENT, method="POST", headers=github_headers(COMMENT, "issue_comment", f"t-{n}")
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 202
    wait_until(lambda: query(db, "SELECT count(*) FROM deliveries WHERE status = 'running'") == [(1,)])
    server.send_signal(signal.SIGTERM)
    # uvicorn shuts down gracefully, then re-raises the signal so the exit status says why.
    assert server.wait(timeout=30) in (0, -signal.SIGTERM)
    assert query(db, "SELECT delivery_id, status FROM deliveries ORDER BY id") == [("t-0", "done"), ("t-1", "pending"), ("t-2", "pending")]
    assert query(db, "SELECT key FROM effects") == [("slow:t-0",)]
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=0.5)
