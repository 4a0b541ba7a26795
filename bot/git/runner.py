"""git as a subprocess: argument lists only (never a shell), a timeout on every call.

Errors carry git's own words with every secret the caller names masked, so a token that git
echoes back (it does not, but a future git or a remote might) never reaches a log or an answer.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 120.0
MASK = "***"


class GitFailed(Exception):
    """git exited non-zero or ran out of time; the message is safe to show."""

    def __init__(self, message: str, code: int | None = None, stderr: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.stderr = stderr


class GitTimeout(GitFailed):
    pass


@dataclass(frozen=True)
class GitResult:
    code: int
    stdout: str
    stderr: str


def mask(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    return text


async def run_git(
    args: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    input: bytes | None = None,
    ok: tuple[int, ...] = (0,),
    secrets: Sequence[str] = (),
) -> GitResult:
    """Run `git ARGS` and return its output; GitFailed when the exit code is not in `ok`.

    The process gets its own process group, so a timeout kills git and every helper it started
    (git-remote-http, index-pack) rather than leaving them to hold a lock.
    """
    if any(not isinstance(a, str) for a in args):
        raise TypeError("git arguments must be strings")
    proc = await asyncio.create_subprocess_exec(
        "git", *args,
        stdin=asyncio.subprocess.PIPE if input is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env=dict(env), cwd=str(cwd) if cwd else None, start_new_session=True,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(input), timeout)
    except (asyncio.TimeoutError, asyncio.CancelledError) as exc:
        _kill_group(proc.pid)
        await proc.wait()
        if isinstance(exc, asyncio.CancelledError):
            raise
        raise GitTimeout(f"git {args[0]} took longer than {timeout:g}s and was stopped") from None
    code = proc.returncode if proc.returncode is not None else -1
    stdout, stderr = out.decode(errors="replace"), mask(err.decode(errors="replace"), secrets)
    if code not in ok:
        last = stderr.strip().splitlines()[-1] if stderr.strip() else f"exit code {code}"
        raise GitFailed(f"git {args[0]} failed: {last}", code, stderr)
    return GitResult(code, stdout, stderr)


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
