"""Git smart HTTP at /{owner}/{repo}.git/... through `git http-backend` (CGI), Basic auth by token."""

from __future__ import annotations

import re
import urllib.parse
from typing import TYPE_CHECKING, Any

import anyio

from .auth import credentials, token_identity
from .gitrepo import ZERO_SHA
from .server import LoggedRequest
from .state import level_at_least

if TYPE_CHECKING:
    from .forge import FakeForge

_PATH = re.compile(r"^/(?P<owner>[^/]+)/(?P<repo>[^/]+?)(?:\.git)?"
                   r"(?P<rest>/(?:info/refs|git-upload-pack|git-receive-pack|HEAD|objects/.+))$")

Answer = tuple[int, list[tuple[bytes, bytes]], bytes]


def _text(status: int, message: str, extra: list[tuple[bytes, bytes]] | None = None) -> Answer:
    return status, [(b"content-type", b"text/plain; charset=utf-8"), *(extra or [])], message.encode() + b"\n"


async def handle(forge: FakeForge, scope: dict[str, Any], body: bytes, headers: dict[str, str]) -> Answer:
    path = scope["path"]
    query = scope.get("query_string", b"").decode("latin-1")
    entry = LoggedRequest("git", scope["method"], path, dict(urllib.parse.parse_qsl(query)), None)
    forge.requests.append(entry)
    status, out, raw = await _serve(forge, scope, body, headers, path, query, entry)
    entry.status = status
    return status, out, raw


async def _serve(forge: FakeForge, scope: dict[str, Any], body: bytes, headers: dict[str, str], path: str,
                 query: str, entry: LoggedRequest) -> Answer:
    m = _PATH.match(path)
    repo = forge.state.repo(f"{m['owner']}/{m['repo']}") if m else None
    if m is None or repo is None:
        return _text(404, "Not Found")
    creds = credentials(headers)
    identity = token_identity(forge, creds[1]) if creds else None
    if identity is None:
        return _text(401, "Authentication required", [(b"www-authenticate", b'Basic realm="fakeforge"')])
    entry.user = identity.login
    pushing = "git-receive-pack" in (m["rest"] + query)
    level = forge.state.level(repo, identity.login)
    if level == "none":
        return _text(404, "Not Found")
    if not level_at_least(level, "write" if pushing else "read"):
        return _text(403, "Permission denied")
    before = repo.git.refs("refs/") if pushing and scope["method"] == "POST" else None
    env = {
        **repo.git.env, "GIT_PROJECT_ROOT": str(forge.repos_root), "GIT_HTTP_EXPORT_ALL": "1",
        "PATH_INFO": f"/{repo.owner}/{repo.name}.git{m['rest']}", "QUERY_STRING": query,
        "REQUEST_METHOD": scope["method"], "CONTENT_TYPE": headers.get("content-type", ""),
        "CONTENT_LENGTH": str(len(body)), "REMOTE_USER": identity.login or "", "REMOTE_ADDR": "127.0.0.1",
        "SERVER_PROTOCOL": "HTTP/1.1",
    }
    if "content-encoding" in headers:
        env["HTTP_CONTENT_ENCODING"] = headers["content-encoding"]
    if "git-protocol" in headers:
        env["HTTP_GIT_PROTOCOL"] = headers["git-protocol"]
    proc = await anyio.run_process(["git", "http-backend"], input=body, env=env, check=False)
    status, out, raw = _parse_cgi(proc.stdout)
    if before is not None:
        await _record_push(forge, repo, identity.login or "", before)
    return status, out, raw


def _parse_cgi(output: bytes) -> Answer:
    head, sep, raw = output.partition(b"\r\n\r\n")
    if not sep:
        head, _, raw = output.partition(b"\n\n")
    status, out = 200, []
    for line in head.splitlines():
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"status":
            status = int(value.strip().split()[0])
        else:
            out.append((name.strip().lower(), value.strip()))
    return status, out, raw


async def _record_push(forge: FakeForge, repo: Any, login: str, before: dict[str, str]) -> None:
    """Turns the refs a push moved into push/create/delete (and synchronize) webhooks."""
    after = repo.git.refs("refs/")
    for name in sorted(set(before) | set(after)):
        old, new = before.get(name, ZERO_SHA), after.get(name, ZERO_SHA)
        if old != new:
            forge.ops.ref_updated(repo, login, f"refs/{name}", old, new)
    await forge.after_api_change()
