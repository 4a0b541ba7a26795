"""One lock per mirror, held across tasks of this process and across processes.

fcntl.flock locks belong to an open file description, so two opens of the same lock file
exclude each other even inside one process; the asyncio.Lock in front keeps the tasks of one
process from polling against each other. The lock dies with its process (kill -9 included), so a
crash never leaves a mirror locked.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

_LOCAL: dict[str, asyncio.Lock] = {}


class LockTimeout(Exception):
    pass


@contextlib.asynccontextmanager
async def mirror_lock(path: Path, timeout: float = 600.0) -> AsyncIterator[None]:
    key = str(path)
    local = _LOCAL.setdefault(key, asyncio.Lock())
    async with local:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            deadline = time.monotonic() + timeout
            delay = 0.01
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise LockTimeout(f"{path.name} stayed locked for {timeout:g}s") from None
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 0.25)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
