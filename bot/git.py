"""Running git with credentials that never reach a command line, a log or `.git/config`.

The token travels in the child's environment as an HTTP header scoped to the forge's URL
(`GIT_CONFIG_COUNT` / `GIT_CONFIG_KEY_n` / `GIT_CONFIG_VALUE_n`, git >= 2.31): the argument
list and the clone URL stay clean, so `ps`, git's own messages and the repository's config
show nothing secret. Every command is an argument list; there is no shell.
"""

from __future__ import annotations

import asyncio
import base64
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

FORBIDDEN_IN_REF = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]|\.\.|//|@\{")


class GitError(Exception):
    """A git command failed; the message is git's own stderr with credentials removed."""


def valid_ref_name(name: str) -> bool:
    """git-check-ref-format's rules for a branch or tag name, plus: no leading '-' (an option)."""
    if not 0 < len(name) <= 200 or name == "@" or FORBIDDEN_IN_REF.search(name):
        return False
    if name.startswith(("-", "/")) or name.endswith(("/", ".")):
        return False
    return all(part and not part.startswith(".") and not part.endswith(".lock") for part in name.split("/"))


@dataclass(frozen=True)
class GitCredentials:
    """A token for one forge; `scope` is the URL prefix the header is sent to."""

    scope: str
    token: str
    username: str = "x-access-token"

    def __post_init__(self) -> None:
        parts = urlsplit(self.scope)
        if parts.scheme not in ("http", "https") or not parts.netloc or "@" in parts.netloc:
            raise ValueError("credential scope must be an http(s) URL without user info")

    def environment(self) -> dict[str, str]:
        basic = base64.b64encode(f"{self.username}:{self.token}".encode()).decode()
        scope = self.scope.rstrip("/") + "/"
        return {
            "GIT_CONFIG_COUNT": "1",
            "GIT_CONFIG_KEY_0": f"http.{scope}.extraHeader",
            "GIT_CONFIG_VALUE_0": f"Authorization: Basic {basic}",
        }

    def redact(self, text: str) -> str:
        basic = base64.b64encode(f"{self.username}:{self.token}".encode()).decode()
        return text.replace(self.token, "***").replace(basic, "***")


def clean_url(url: str) -> str:
    """Refuse URLs that carry credentials: tokens belong in GitCredentials, not in URLs."""
    parts = urlsplit(url)
    if parts.username or parts.password:
        raise ValueError("a git URL must not carry credentials")
    return url


def base_environment() -> dict[str, str]:
    """A predictable environment for git: no prompts, no system or global config surprises.

    HOME stays (some tools want one), but neither ~/.gitconfig nor $XDG_CONFIG_HOME/git/config
    is read (GIT_CONFIG_GLOBAL, git >= 2.32): an operator's aliases, `url.insteadOf` or `init.defaultBranch` must not change
    what the bot's git does.
    """
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR", "SSL_CERT_FILE", "SSL_CERT_DIR")}
    return {
        **keep,
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_AUTHOR_NAME": "forgebot",
        "GIT_AUTHOR_EMAIL": "forgebot@localhost",
        "GIT_COMMITTER_NAME": "forgebot",
        "GIT_COMMITTER_EMAIL": "forgebot@localhost",
    }


async def run_git(
    args: Sequence[str],
    *,
    cwd: Path | None = None,
    credentials: GitCredentials | None = None,
    timeout: float = 300.0,
) -> str:
    """Run `git ARGS...` and return its stdout; GitError with git's message on failure."""
    env = base_environment()
    if credentials is not None:
        env.update(credentials.environment())
    process = await asyncio.create_subprocess_exec(
        "git", *args, cwd=cwd, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        stdin=asyncio.subprocess.DEVNULL,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise GitError(f"git {args[0]} timed out after {timeout:g}s") from None
    if process.returncode != 0:
        message = stderr.decode(errors="replace").strip() or f"exit status {process.returncode}"
        if credentials is not None:
            message = credentials.redact(message)
        raise GitError(f"git {args[0]}: {message.splitlines()[-1] if message else ''}")
    return stdout.decode(errors="replace")


async def clone(url: str, destination: Path, *, credentials: GitCredentials | None = None, bare: bool = False) -> None:
    """Clone `url` (no credentials in it) into `destination`."""
    args = ["clone", "--quiet"]
    if bare:
        args.append("--bare")
    await run_git([*args, "--", clean_url(url), str(destination)], credentials=credentials)
