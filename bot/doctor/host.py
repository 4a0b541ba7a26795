"""Checks of this host: the database, the git root, the public URL. Each reads, none changes anything
(the git root's write test makes a temporary file and removes it)."""

from __future__ import annotations

import ipaddress
import shutil
import socket
import sqlite3
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from bot.doctor.findings import HOST, Finding, fail, ok, warn

GiB = 1024**3
MiB = 1024**2
# Worktrees of large repositories need room; below these forgebot's git work starts failing.
SPACE_FAIL_BYTES = 256 * MiB
SPACE_WARN_BYTES = 2 * GiB


def check_database(path: Path) -> Finding:
    """Opens the database and takes (then gives back) its write lock; writes nothing."""
    if not path.exists():
        parent = path.parent if str(path.parent) else Path(".")
        if parent.is_dir() and _can_create_in(parent):
            return ok(HOST, "database", f"{path} does not exist yet; forgebot serve creates it in {parent}")
        return fail(HOST, "database", f"{path} does not exist and cannot be created",
                    "set FORGEBOT_DATABASE to a file in a directory forgebot may write")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=rw", uri=True, timeout=2.0)
    except sqlite3.Error as exc:
        return fail(HOST, "database", f"{path} cannot be opened for writing: {exc}", "check its owner and mode")
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
    except sqlite3.OperationalError as exc:
        reason = str(exc)
        if "locked" in reason or "busy" in reason:
            return warn(HOST, "database", f"{path} is locked by another process for more than 2 s",
                        "look for a long-running forgebot command")
        return fail(HOST, "database", f"{path} does not take writes: {reason}",
                    "check the file's and its directory's owner and mode, and free space")
    finally:
        conn.close()
    return ok(HOST, "database", f"{path} takes writes")


def _can_create_in(folder: Path) -> bool:
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".forgebot-doctor-"):
            return True
    except OSError:
        return False


def check_git_root(path: Path) -> list[Finding]:
    """FORGEBOT_GIT_ROOT, the folder forgebot keeps mirrors and worktrees in: writable, with room."""
    origin = f"FORGEBOT_GIT_ROOT ({path})"
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return [fail(HOST, "git root", f"{origin}: {existing} is not a directory", "point it at a directory")]
    if not _can_create_in(existing):
        return [fail(HOST, "git root", f"{origin}: {existing} is not writable", "give forgebot's user write access")]
    where = "writable" if existing == path else f"does not exist yet; {existing.resolve()} is writable"
    usage = shutil.disk_usage(existing)
    return [ok(HOST, "git root", f"{origin} {where}"), judge_space(usage.free, usage.total, existing)]


def judge_space(free: int, total: int, where: Path) -> Finding:
    shown = f"{free / GiB:.1f} GiB free of {total / GiB:.1f} GiB at {where}"
    if free < SPACE_FAIL_BYTES:
        return fail(HOST, "free space", shown, "free space: git work there will fail")
    if free < SPACE_WARN_BYTES:
        return warn(HOST, "free space", shown, "free space before large repositories fill it")
    return ok(HOST, "free space", shown)


async def check_public_url(public_url: str | None, http: httpx.AsyncClient) -> Finding:
    if not public_url:
        return fail(HOST, "public url", "FORGEBOT_PUBLIC_URL is not set: forgebot cannot recognise its own webhooks, "
                    "and doctor cannot check them", "set it to the URL the forges reach forgebot at")
    try:
        resp = await http.get(f"{public_url}/healthz", timeout=5.0)
    except httpx.HTTPError as exc:
        return fail(HOST, "public url", f"{public_url} is not reachable from this host ({type(exc).__name__})",
                    "check DNS, the proxy in front of forgebot and the firewall")
    if resp.status_code != 200:
        return fail(HOST, "public url", f"{public_url}/healthz answered {resp.status_code}",
                    "the URL reaches something that is not forgebot, or not its root; check the proxy")
    return ok(HOST, "public url", f"{public_url} answers /healthz from this host")


def is_private_url(url: str) -> bool:
    """Whether the URL's host is loopback, private or link-local (by name resolution when needed)."""
    host = urlsplit(url).hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        try:
            infos = socket.getaddrinfo(host, None)
        except (OSError, UnicodeError):
            return False
        addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
    return any(a.is_private or a.is_loopback or a.is_link_local for a in addresses)
