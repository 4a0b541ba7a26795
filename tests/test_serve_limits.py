"""`forgebot serve` as a real process under hostile load: slow clients past the open-file limit,
unsigned bodies of the largest size at once, and a database it cannot write."""

from __future__ import annotations

import asyncio
import os
import random
import re
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import SECRET, github_headers
from tests.test_serve import COMMENT, ROOT, free_port, start

pytestmark = pytest.mark.slow


def serve_log(tmp_path: Path, port: int) -> str:
    return "".join(log.read_text() for log in sorted(tmp_path.glob(f"serve-{port}-*.log")))


def stop(server: subprocess.Popen[bytes]) -> None:
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def signed_post(delivery: str) -> bytes:
    headers = {**github_headers(COMMENT, "issue_comment", delivery), "host": "bot", "content-length": str(len(COMMENT))}
    return b"POST /webhooks HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()).encode() + b"\r\n" + COMMENT


async def status_of(port: int, request: bytes, timeout: float = 5.0) -> str:
    """The status code of the answer, or why there was none."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout)
    except (OSError, asyncio.TimeoutError) as exc:
        return type(exc).__name__
    try:
        writer.write(request)
        line = await asyncio.wait_for(reader.readline(), timeout)
        return line.split()[1].decode() if line else "closed"
    except (OSError, asyncio.TimeoutError, IndexError) as exc:
        return type(exc).__name__
    finally:
        writer.close()


@pytest.fixture
def client_files() -> Iterator[None]:
    """This test process holds 1,100 sockets and more: its own soft open-file limit must allow it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 4096
    if hard != resource.RLIM_INFINITY and hard < wanted:
        pytest.skip(f"needs an open-file hard limit of {wanted} for the test's own sockets (ulimit -Hn is {hard})")
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.mark.usefixtures("client_files")
def test_eleven_hundred_slow_clients_past_the_file_limit_do_not_keep_deliveries_out(tmp_path: Path) -> None:
    port = free_port()
    # Started with a soft limit of 256 open files under a hard one of 1024: forgebot raises the
    # soft limit and keeps 256 descriptors back from the cap.
    server = start(tmp_path, port, open_files=(256, 1024))
    slow_line = b"POST /webhooks HTTP/1.1\r\nhost: bot\r\nx-github-event: ping\r\n"

    async def slow_client(stop_at: float) -> None:
        """Sends a byte every 2 s; connects again whenever it is closed, until `stop_at`."""
        while time.monotonic() < stop_at:
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                await asyncio.sleep(0.5)
                continue
            try:
                for byte in slow_line:
                    if time.monotonic() >= stop_at or reader.at_eof():
                        break
                    writer.write(bytes([byte]))
                    await writer.drain()
                    try:
                        await asyncio.wait_for(reader.read(1024), timeout=2.0)  # b"" once closed
                    except asyncio.TimeoutError:
                        pass
            except OSError:
                pass
            finally:
                writer.close()

    async def attack() -> list[str]:
        stop_at = time.monotonic() + 8
        slow = [asyncio.create_task(slow_client(stop_at)) for _ in range(1100)]
        await asyncio.sleep(2 + random.random())  # all 1,100 connected and dripping
        statuses = []
        for n in range(15):
            statuses.append(await status_of(port, signed_post(f"loris-{n}")))
            await asyncio.sleep(0.2)
        await asyncio.gather(*slow)
        return statuses

    try:
        statuses = asyncio.run(attack())
    finally:
        stop(server)
    log = serve_log(tmp_path, port)
    assert statuses == ["202"] * 15, log[-2000:]
    assert "up to 768 connections (open-file limit 1024)" in log
    assert log.count("connection cap reached") == 1


def rss_mib(pid: int, field: str) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(rf"^{field}:\s+(\d+) kB", status, re.M)
    assert match, f"no {field} in /proc/{pid}/status"
    return int(match.group(1)) / 1024


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc to read the server's memory")
def test_unsigned_bodies_of_the_largest_size_at_once_hold_a_bounded_amount_of_memory(tmp_path: Path) -> None:
    port = free_port()
    server = start(tmp_path, port)
    async def unsigned_post(n: int, size: int) -> str:
        """Sends the body while watching for an early answer, as a careful client does."""
        headers = {**github_headers(b"{}", "ping", f"big-{n}", secret="not-the-secret"), "host": "bot", "content-length": str(size)}
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /webhooks HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()).encode() + b"\r\n")
        answer = asyncio.create_task(asyncio.wait_for(reader.readline(), 60))
        chunk = b"{" + b" " * (1024 * 1024 - 2) + b"}"
        try:
            for _ in range(size // len(chunk)):
                if answer.done():
                    break  # refused before the body was read
                writer.write(chunk)
                await writer.drain()
        except OSError:
            pass  # the server stopped listening to the rest; its answer may be in already
        try:
            line = await answer
            return line.split()[1].decode() if line else "closed"
        except OSError as exc:
            return type(exc).__name__
        finally:
            writer.close()

    async def flood(size: int) -> list[str]:
        return list(await asyncio.gather(*(unsigned_post(n, size) for n in range(32))))

    try:
        time.sleep(0.5)
        before = rss_mib(server.pid, "VmRSS")
        statuses = asyncio.run(flood(25 * 1024 * 1024))  # FORGEBOT_MAX_BODY_BYTES's default, GitHub's own cap
        peak = rss_mib(server.pid, "VmHWM")
        time.sleep(1.0)
        after = rss_mib(server.pid, "VmRSS")
        asyncio.run(flood(5 * 1024 * 1024))  # smaller ones next: their buffers too are given back
        time.sleep(1.0)
        after_smaller = rss_mib(server.pid, "VmRSS")
    finally:
        stop(server)
    # One body of the largest size fits the budget's half for large bodies (64 MiB by default);
    # the others are told to come back. Whatever was read is given back once answered.
    assert set(statuses) <= {"401", "503"} and statuses.count("401") >= 1, statuses
    assert peak - before < 150, f"RSS went from {before:.0f} MiB to a peak of {peak:.0f} MiB"
    assert after - before < 20, f"RSS {after:.0f} MiB after the flood, {before:.0f} MiB before"
    assert after_smaller - before < 20, f"RSS {after_smaller:.0f} MiB after the smaller bodies, {before:.0f} MiB before"


def test_a_database_path_that_cannot_be_written_is_one_line_and_exit_2(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FORGEBOT_")}
    env |= {"FORGEBOT_WEBHOOK_SECRETS": SECRET, "FORGEBOT_DATABASE": str(blocker / "forgebot.db")}
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "serve", "--port", str(free_port())],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"forgebot: cannot open the database {blocker / 'forgebot.db'}: a file is in the way of its directory ({blocker})"
    ]
