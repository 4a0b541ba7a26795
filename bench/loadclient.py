"""A small keep-alive HTTP/1.1 load client on asyncio, bounded in count and time.

Used by the benchmarks when wrk is not installed, and for checks that need to know the answer
to every single request (which wrk does not report).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class LoadResult:
    statuses: list[int] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    errors: int = 0
    seconds: float = 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))]

    @property
    def ok(self) -> int:
        return sum(1 for s in self.statuses if 200 <= s < 300)


RequestFactory = Callable[[int], tuple[str, bytes]]
STALL_GRACE = 30.0


async def _one_connection(
    host: str, port: int, make: RequestFactory, counter: list[int], limit: int, deadline: float, result: LoadResult
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.monotonic() < deadline and counter[0] < limit:
            n = counter[0]
            counter[0] += 1
            delivery_id, raw = make(n)
            started = time.perf_counter()
            writer.write(raw)
            status_line = await reader.readline()
            if not status_line:
                result.errors += 1
                return
            length = 0
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b"\n", b""):
                    break
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            if length:
                await reader.readexactly(length)
            result.latencies.append(time.perf_counter() - started)
            result.statuses.append(int(status_line.split()[1]))
            result.ids.append(delivery_id)
    except (ConnectionError, asyncio.IncompleteReadError):
        result.errors += 1
    finally:
        writer.close()


async def run_load(
    host: str, port: int, make: RequestFactory, *, concurrency: int, seconds: float, limit: int = 10_000_000
) -> LoadResult:
    """Send requests from `concurrency` connections until `seconds` pass or `limit` are sent."""
    result = LoadResult()
    counter = [0]
    started = time.monotonic()
    deadline = started + seconds
    connections = [
        asyncio.ensure_future(_one_connection(host, port, make, counter, limit, deadline, result))
        for _ in range(concurrency)
    ]
    # The deadline is checked between requests: a connection still waiting for an answer
    # STALL_GRACE seconds past the deadline is stopped and counted as an error.
    try:
        done, stalled = await asyncio.wait(connections, timeout=seconds + STALL_GRACE)
    finally:  # also when the caller cancels the run
        for task in connections:
            task.cancel()
        await asyncio.gather(*connections, return_exceptions=True)
    result.errors += len(stalled)
    for task in done:
        task.result()  # a connection's unexpected exception still surfaces
    result.seconds = time.monotonic() - started
    return result


def http_request(path: str, host: str, headers: dict[str, str], body: bytes) -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body
