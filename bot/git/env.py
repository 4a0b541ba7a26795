"""The environment every git call runs in, and how credentials reach git.

Repositories are untrusted input. git reads no system or global configuration, runs no hooks
(core.hooksPath points at an empty directory of ours), never prompts, speaks only the forge's own
URL scheme, and never recurses into submodules.

Credentials reach git only as `http.<clone url>.extraHeader` through GIT_CONFIG_COUNT /
GIT_CONFIG_KEY_n / GIT_CONFIG_VALUE_n: the environment of the one git process that needs them.
Never argv (visible in `ps`), never a remote URL, never a config file, never a log line.
"""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Mapping
from pathlib import Path

from bot.forges.base import GitAccess

# Values every call sets through GIT_CONFIG_*; they outrank any file git might still read.
HARDENING = (
    ("core.hooksPath", ""),  # replaced with the empty hooks directory by `hardened_env`
    ("core.fsmonitor", "false"),
    ("core.askPass", ""),
    ("credential.helper", ""),
    ("submodule.recurse", "false"),
    ("fetch.recurseSubmodules", "false"),
    ("protocol.file.allow", "never"),
    ("protocol.ext.allow", "never"),
    ("checkout.workers", "0"),  # parallel checkout, one worker per CPU: a worktree add is mostly writing files
    ("gc.auto", "0"),  # git gc runs when we say, under the mirror's lock
    ("maintenance.auto", "false"),
    ("advice.detachedHead", "false"),
    ("init.defaultBranch", "main"),
    ("user.name", "forgebot"),
    ("user.email", "forgebot@localhost"),
)


class BadRemote(ValueError):
    """A clone URL forgebot will not hand to git."""


def check_clone_url(url: str) -> str:
    """The URL as given, once it is http(s), has a host, and carries no credentials."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadRemote("the forge's clone URL is not an http(s) URL")
    if parts.username or parts.password:
        raise BadRemote("the forge's clone URL carries credentials; forgebot sends them as a header instead")
    if any(c in url for c in "\r\n\0 "):
        raise BadRemote("the forge's clone URL has characters git would misread")
    return url


def hardened_env(hooks_dir: Path, access: GitAccess | None = None, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The whole environment for one git process (nothing of forgebot's own environment leaks in)."""
    home = hooks_dir.parent
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_ASKPASS": "",
        "SSH_ASKPASS": "",
        "GIT_ALLOW_PROTOCOL": access.scheme if access is not None else "https",
        "LANG": "C",
        "LC_ALL": "C",
    }
    config = [(k, str(hooks_dir) if k == "core.hooksPath" else v) for k, v in HARDENING]
    if access is not None:
        config.append((f"http.{check_clone_url(access.clone_url)}.extraHeader", access.auth_header))
    env["GIT_CONFIG_COUNT"] = str(len(config))
    for i, (key, value) in enumerate(config):
        env[f"GIT_CONFIG_KEY_{i}"] = key
        env[f"GIT_CONFIG_VALUE_{i}"] = value
    env.update(extra or {})
    return env
